// Linear layer y = x W^T (+ b) with a memory-bound fast path for decoding: bf16 or f32 weights on a
// CPU, few input rows, no autograd. Decoding one token reads every weight once, so the kernels stream W
// once for all input rows with f32 accumulation: bf16 x bf16 dot products where the CPU has AVX512_BF16,
// else bf16 widened to f32 in registers (AVX-512F or AVX2+FMA). Everything else (training, prefill, GPU)
// goes through LibTorch's matmul.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "diagecg/llm/quant-matmul.h"

namespace diagecg {

// While one lives, new Linear layers leave their weights uninitialised (untouched memory, not resident): for
// models whose every weight is loaded next.
class SkipParameterInit {
public:
    SkipParameterInit();
    ~SkipParameterInit();
    SkipParameterInit(const SkipParameterInit&) = delete;
    SkipParameterInit& operator=(const SkipParameterInit&) = delete;
    static bool active();

private:
    bool prev_;
};

class LinearImpl : public torch::nn::Module {
public:
    LinearImpl(int64_t in_features, int64_t out_features, bool bias);
    // [.., in] -> [.., out]: x W^T + b, plus scale * dropout(x) A^T B^T when a LoRA adapter is attached.
    torch::Tensor forward(const torch::Tensor& x);
    // y + the adapter's term for input x (y itself without an adapter): forward = add_lora(x, x W^T + b).
    torch::Tensor add_lora(const torch::Tensor& x, const torch::Tensor& y) const;
    torch::Tensor weight;                              // [out, in]; [out, 0] when the weight is held quantized
    torch::Tensor bias;                                // [out] or undefined
    // Weights kept in ggml blocks (a GGUF's Q4_0/Q4_1/Q8_0/Q4_K/Q6_K, --dtype native): the f32 weight is dropped; forward
    // runs quant_matmul without autograd, and with autograd on (QLoRA training) an exact matmul with the weight
    // dequantized in forward and again in backward: the base stays frozen, adapters and inputs get gradients.
    // Such a layer cannot merge an adapter.
    QuantWeight qweight;
    // The blocks dequantized for every matmul, with or without autograd (training and its validation: one
    // arithmetic for both), instead of the int8 kernels when autograd is off.
    bool quant_exact = false;
    void set_quantized(QuantWeight q);
    int64_t in_features() const { return qweight.defined() ? qweight.cols : weight.size(1); }
    int64_t out_features() const { return qweight.defined() ? qweight.rows : weight.size(0); }

    // LoRA (Hu et al. 2021): registers lora_A [r, in] (Kaiming-uniform, as PEFT) and lora_B [out, r] (zeros)
    // as f32 parameters, scale = alpha / r. Throws when one is attached already.
    void attach_lora(int64_t rank, double alpha, double dropout);
    bool has_lora() const { return lora_a.defined(); }
    // W += scale * B A (in W's dtype) and drops the adapter parameters.
    void merge_lora();
    // W + scale * B A in W's dtype, without changing the layer (W itself without an adapter).
    torch::Tensor merged_weight() const;
    torch::Tensor lora_a, lora_b;
    double lora_scale = 0;
    double lora_dropout = 0;
};
TORCH_MODULE(Linear);

// x W^T for weights held in blocks: with autograd on (QLoRA training) or `exact`, a matmul on the weight
// dequantized in forward and again in backward (x gets a gradient, the blocks none); otherwise quant_matmul's
// int8 kernels. [.., K] -> [.., N] in x's dtype.
torch::Tensor quant_linear(const torch::Tensor& x, const QuantWeight& w, bool exact = false);

// x W^T + b, with the fast path when it applies (see above); b may be undefined.
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b = {});

// layers[i]->forward(x) for each layer, the same values; on the fast path the weights of all layers are
// streamed in one parallel pass (q/k/v and gate/up projections of a decode step: fewer, longer passes).
std::vector<torch::Tensor> linear_group(const torch::Tensor& x, const std::vector<LinearImpl*>& layers);

// Rows of x at or below which the fast path is taken (larger batches are compute-bound enough).
constexpr int64_t kFastLinearMaxRows = 16;

// The fast path's kernels (src/llm/linear.cpp): kRows streams a few adjacent weight rows per x load (AVX-512F or
// AVX2+FMA, bf16 widened by a shift); kF32Seq and kBf16Pairs read one row at a time as one sequential stream
// (AVX-512F); kBf16Dot multiplies bf16 by bf16 with the AVX512_BF16 pair dot product. kAuto picks per dtype and
// batch from measurements (diagecg bench llm --kernel), LibTorch itself for bf16 from 9 rows on (large weights)
// on CPUs with AVX512_BF16.
// kLibTorch: no fast path (LibTorch's matmul), the baseline.
enum class LinearKernel { kAuto, kLibTorch, kRows, kF32Seq, kBf16Pairs, kBf16Dot };
bool linear_kernel_available(LinearKernel kernel, torch::Dtype weight_dtype);
// The kernel kAuto runs for `rows` inputs and weights of `weight_elements` in all (requires kAuto available).
LinearKernel auto_linear_kernel(torch::Dtype weight_dtype, int64_t rows, int64_t weight_elements = int64_t(1) << 30);
const char* linear_kernel_name(LinearKernel kernel);
LinearKernel parse_linear_kernel(const std::string& name);   // throws std::invalid_argument
// Process-wide choice used when fast_linear is asked for kAuto (benchmarks compare kernels with it).
void set_linear_kernel(LinearKernel kernel);
LinearKernel linear_kernel();

// x: [M, K], w: [N, K] contiguous, both bf16 or both f32, CPU -> [M, N] in w's dtype, f32 accumulation.
// Returns an undefined tensor when this CPU has neither AVX-512F nor AVX2+FMA or kLibTorch is asked for; throws std::invalid_argument
// when a kernel named explicitly cannot run here.
torch::Tensor fast_linear(const torch::Tensor& x, const torch::Tensor& w, LinearKernel kernel = LinearKernel::kAuto);
// fast_linear for several weights [N_i, K] of one dtype in one parallel pass; empty where fast_linear would
// return an undefined tensor.
std::vector<torch::Tensor> fast_linear_group(const torch::Tensor& x, const std::vector<torch::Tensor>& ws,
                                             LinearKernel kernel = LinearKernel::kAuto);
// fast_linear_group for f32 weights on raw buffers (the CPU decode step): ys[i] [m, n[i]] = x [m, k] ws[i]^T with
// ws[i] [n[i], k] contiguous, on the kernel linear_kernel() names (kAuto: the measured choice); false, with
// nothing written, where fast_linear_group would return an empty vector.
bool fast_linear_f32(const float* x, int64_t m, int64_t k, const std::vector<const float*>& ws,
                     const std::vector<int64_t>& n, const std::vector<float*>& ys);

}  // namespace diagecg
