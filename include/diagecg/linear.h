// Linear layer y = x W^T (+ b) with a memory-bound fast path for decoding: bf16 or f32 weights on a
// CPU, few input rows, no autograd. Decoding one token reads every weight once, so the kernel streams
// W once for all rows, widening bf16 to f32 in registers (AVX-512F or AVX2+FMA; no bf16 instructions
// needed). Everything else (training, prefill, GPU) goes through LibTorch's matmul.
#pragma once

#include <torch/torch.h>

namespace diagecg {

class LinearImpl : public torch::nn::Module {
public:
    LinearImpl(int64_t in_features, int64_t out_features, bool bias);
    // [.., in] -> [.., out]: x W^T + b, plus scale * dropout(x) A^T B^T when a LoRA adapter is attached.
    torch::Tensor forward(const torch::Tensor& x);
    torch::Tensor weight;                              // [out, in]
    torch::Tensor bias;                                // [out] or undefined

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

// x W^T + b, with the fast path when it applies (see above); b may be undefined.
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b = {});

// Rows of x at or below which the fast path is taken (larger batches are compute-bound enough).
constexpr int64_t kFastLinearMaxRows = 16;

// x: [M, K], w: [N, K] contiguous, both bf16 or both f32, CPU -> [M, N] in w's dtype, f32 accumulation.
// Returns an undefined tensor when this CPU has neither AVX-512F nor AVX2+FMA.
torch::Tensor fast_linear(const torch::Tensor& x, const torch::Tensor& w);

}  // namespace diagecg
