// Weights kept in ggml's 4- and 8-bit blocks, multiplied as llama.cpp does on a CPU: each input row is
// quantized to 8-bit blocks of 32 (Q8_0: f16 d, i8 q[32]; Q8_1 adds f16 s = d * sum(q)), and each weight block
// is dotted with the matching activation block in integer arithmetic, then scaled:
//   Q8_0 x Q8_0:  d_w d_x sum(w_j x_j)
//   Q4_0 x Q8_0:  d_w d_x sum((w_j - 8) x_j)
//   Q4_1 x Q8_1:  d_w d_x sum(w_j x_j) + m_w s_x
//   Q4_K, Q6_K x Q8_K (super-blocks of 256, f32 d_x, 16 sums of 16): per super-block one exact integer total
//   of sub-block scales x products (and of mins x sums for Q4_K), then scaled in float (see quant-matmul.cpp)
// The activation rounding follows llama.cpp's x86 quantizer (id = 127 / amax, round half to even, scales
// rounded to f16), and the per-block sums go into 8 float lanes of 4 products each with one fused
// multiply-add, summed at the end as llama.cpp's AVX2 code does, so the results track llama.cpp's to float
// rounding. Kernels: AVX-512 VNNI (256-bit dpbusd), AVX2 (maddubs), and portable C++, all giving the same
// bits; picked at run time.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "diagecg/util/gguf-quants.h"

namespace diagecg {

struct QuantWeight {
    GgmlType type = GgmlType::kF32;
    int64_t rows = 0, cols = 0;  // [out, in], as a PyTorch weight
    torch::Tensor blocks;        // uint8 [rows, ggml_row_bytes(type, cols)]
    // Each row's bytes in the AVX-512 decode layout (interleave_for_cpu) instead of ggml's: the same bytes, reordered
    // within the row. Everything here reads both; ggml_layout gives ggml's back.
    bool interleaved = false;
    bool defined() const { return blocks.defined(); }
    int64_t n_bytes() const { return defined() ? blocks.numel() : 0; }
};

// The weight types kept quantized: Q4_0, Q4_1, Q8_0 (blocks of 32), Q4_K, Q6_K (super-blocks of 256).
bool quant_matmul_supported(GgmlType t);
// The activation blocks a weight type is dotted with: Q8_1 for Q4_1, Q8_K for Q4_K and Q6_K, Q8_0 otherwise.
GgmlType quant_activation_type(GgmlType weight);
// Elements per block of a kept or activation type: 256 for the K types, 32 otherwise. Rows (the input size)
// must be a multiple of it.
int64_t quant_block_size(GgmlType t);
// The type a matrix with `cols` inputs gets when `t` is asked for: t when cols is whole blocks of it; for the K
// types on other sizes (SmolLM2's 576) the nearest type of blocks of 32, as llama.cpp falls back (Q4_K -> Q4_1,
// Q6_K -> Q8_0); F32 when not even blocks of 32 fit.
GgmlType quant_type_for_cols(GgmlType t, int64_t cols);

// `rows` rows of packed blocks (a GGUF tensor's bytes): copied, or, given `owner`, viewed in place (read-only,
// e.g. a mapped file) and kept alive through it. Throws std::invalid_argument for a type that is not kept
// quantized or a row length that is not a multiple of 32.
QuantWeight quant_weight_from_blocks(GgmlType t, int64_t rows, int64_t cols, const void* data,
                                     std::shared_ptr<const void> owner = nullptr);
// f32/bf16 [N, K] -> blocks: Q4_0/Q4_1 with ggml's reference quantizers (quantize_row_*_ref); Q8_0 with the
// reference too, except a block of 32 that a step putting its values' evenly spaced grid on whole steps reproduces
// exactly (weights dequantized from Q4_0 or Q8_0 blocks): it keeps that step and comes back unchanged
// (quant-matmul.cpp); Q4_K/Q6_K with a plain range fit per sub-block (valid ggml blocks, not ggml's search).
QuantWeight quantize_weight(const torch::Tensor& w, GgmlType t);
// Blocks -> f32 [N, K] (ggml's dequantizers).
torch::Tensor dequantize_weight(const QuantWeight& w);
// Rows `index` (int64, any shape) of w dequantized: [index.., K] f32 (an embedding lookup on blocks).
torch::Tensor dequantize_rows(const QuantWeight& w, const torch::Tensor& index);
// The rows `index` (int64) of w, as a QuantWeight (e.g. Q/K rows un-permuted).
QuantWeight quant_weight_rows(const QuantWeight& w, const torch::Tensor& index);

// The AVX-512 decode layout of Q4_0, Q4_1 and Q8_0: each row's blocks in groups of 16, a group's 16 scales (and
// Q4_1's 16 mins) first, then its quants interleaved so that one 64-byte load holds 4 quant bytes of each of the 16
// blocks (the row's last group has blocks % 16 if that is not 0, read with masked loads). One 512-bit dpbusd then
// advances all 16 blocks' sums at once and the scales apply to 16 blocks per multiply-add. The results differ from
// llama.cpp's (and the other paths') only in float rounding: each block's integer sum is scaled whole instead of
// in 8 lanes.
// quant_interleave_available: the CPU has AVX-512 BW and VNNI and t is one of the three.
// interleave_weight: w in that layout, a copy (into `dst`, w.n_bytes() bytes kept alive by `owner`, e.g. a
// huge-page arena, when one is given); throws where it cannot run. interleave_for_cpu: interleave_weight(w) where
// available, else w as it is. ggml_layout: w in ggml's layout (a copy if it was interleaved).
bool quant_interleave_available(GgmlType t);
QuantWeight interleave_weight(const QuantWeight& w, void* dst = nullptr, std::shared_ptr<void> owner = nullptr);
QuantWeight interleave_for_cpu(const QuantWeight& w);
QuantWeight ggml_layout(const QuantWeight& w);

enum class QuantIsa { kAuto, kPortable, kAvx2, kAvx512Vnni };

// One row of k floats (k a multiple of the block size) -> its activation blocks of type Q8_0, Q8_1 or Q8_K at `out`.
// Q8_0/Q8_1 run an AVX-512 loop where the CPU has AVX-512 BW (isa kAuto or kAvx512Vnni), else the portable one: the
// same bytes either way.
void quantize_activation_row(GgmlType act, const float* x, int64_t k, void* out, QuantIsa isa = QuantIsa::kAuto);

bool quant_isa_available(QuantIsa isa);
const char* quant_isa_name(QuantIsa isa);
QuantIsa quant_isa_auto();  // the fastest available

// Input rows from which quant_matmul with QuantIsa::kAuto (a prompt, a large batch) dequantizes the weight to a
// dense matrix (bf16 where the CPU has AVX512_BF16, else f32) and multiplies with LibTorch's GEMM: 2-3x the int8
// kernels' prefill here. Those rows then differ from the int8 arithmetic by the dense dtype's rounding.
constexpr int64_t kQuantGemmRows = 64;
// The same for interleaved weights: their int8 kernel keeps up with the dense GEMM for longer (a 128-token prompt
// of the TinyLlama-1.1B shape in Q4_0: 1.8x the dense path's tok/s; of SmolLM2 in Q4_0/Q8_0 within 11%; at 512
// tokens the dense path was equal or faster).
constexpr int64_t kQuantGemmRowsInterleaved = 256;

// x [.., K] (float dtype, CPU) -> [.., N] f32 = x W^T in llama.cpp's arithmetic (see above; with isa kAuto and at
// least kQuantGemmRows rows, the dense GEMM instead; an interleaved weight with isa kAuto or kAvx512Vnni runs the
// 512-bit group kernel, with any other isa it is put back in ggml's layout first). Throws std::invalid_argument for
// a shape mismatch or an ISA this CPU lacks.
torch::Tensor quant_matmul(const torch::Tensor& x, const QuantWeight& w, QuantIsa isa = QuantIsa::kAuto);
// quant_matmul for several weights of one type and input size (q/k/v, gate/up): x quantized once, one parallel
// pass over all their rows; the same values as one call each.
std::vector<torch::Tensor> quant_matmul_group(const torch::Tensor& x, const std::vector<const QuantWeight*>& ws,
                                              QuantIsa isa = QuantIsa::kAuto);
// The int8 path of quant_matmul_group on raw f32 buffers (the CPU decode step): ys[g] [m, rows_g] = x [m, k]
// W_g^T for weights of one type and width k, on the fastest kernels here, whatever m.
void quant_matmul_f32(const float* x, int64_t m, const std::vector<const QuantWeight*>& ws,
                      const std::vector<float*>& ys);

}  // namespace diagecg
