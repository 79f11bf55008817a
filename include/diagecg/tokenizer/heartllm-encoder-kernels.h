// Fused CPU kernels for the heartllm encoder at inference (heartllm-tokenizer.h), one lead at a time:
//   1. every activation is channels-last [t][C] in a per-thread scratch of ~1 MB that stays in L2, instead of
//      LibTorch's [B*L, C, T] tensors per op (the whole batch's activation chain, reallocated per call);
//   2. an inception block is one pass of register-tiled AVX-512 FMAs over 7 taps + the pooled input (its four
//      branches are lanes of two 16-wide vectors), the residual added in the tile epilogue and the GroupNorm
//      sums gathered there too; GroupNorm + LeakyReLU are then one in-place pass;
//   3. bf16: convolution inputs and weights in bf16 pairs through AVX512_BF16 dot products (f32 accumulation,
//      f32 GroupNorm statistics).
// Channel order inside: lanes [k7 | k5] [k3 | pool] (the authors' concatenation is k3, k5, k7, pool); the
// output is written back in the authors' order. Only C = 32 is implemented (the reference shape).
// This file does not include LibTorch: the caller parallelises over lead rows.
#pragma once

#include <cstdint>
#include <vector>

namespace diagecg {

struct HeartllmEncoderShape {
    int64_t n_samples = 5000;  // T
    int64_t channels = 32;     // C
    int64_t n_stages = 4;
    int64_t groups = 8;
    double negative_slope = 0.01;
};

// One ResInception's weights in PyTorch layout (f32, contiguous): k3 [C/4, in, 3], k5 [C/4, in, 5],
// k7 [C/4, in, 7], pool [C/4, in, 1], residual [C, in, 1] or null (identity), gamma/beta [C].
struct HeartllmBlockWeights {
    const float *k3 = nullptr, *k5 = nullptr, *k7 = nullptr, *pool = nullptr, *residual = nullptr;
    const float *gamma = nullptr, *beta = nullptr;
};
struct HeartllmEncoderWeights {
    std::vector<HeartllmBlockWeights> blocks;  // n_stages + 1 (the last is the bottleneck)
    std::vector<const float*> down;            // n_stages x [C, C, 3]
};

// Whether this CPU runs the kernels for `channels` (AVX-512F; bf16 also needs AVX512_BF16).
bool heartllm_kernels_supported(int64_t channels, bool bf16);

class HeartllmEncoderKernel {
public:
    // Packs the weights (copied: the arguments need not outlive the kernel). bf16: weights rounded to bf16.
    HeartllmEncoderKernel(const HeartllmEncoderShape& shape, const HeartllmEncoderWeights& w, bool bf16);
    // x: one lead [T] f32 -> out [P, C] f32, channels in the authors' order. Thread-safe.
    void run_row(const float* x, float* out) const;

private:
    struct Block {
        std::vector<float> taps;         // stage 0: [7 taps + pool + residual][32 lanes]; else [8 terms][C][32]
        std::vector<uint16_t> taps16;    // bf16 pairs of the C-input terms: [8][C/2][2 x 16 lanes][2]
        std::vector<float> gamma, beta;  // [32] in lane order
        bool first = false;              // input is the 1-channel signal
    };
    HeartllmEncoderShape s_;
    bool bf16_;
    std::vector<Block> blocks_;
    std::vector<std::vector<float>> down_;       // [3 taps][C][32 lanes]
    std::vector<std::vector<uint16_t>> down16_;  // [3][C/2][2 x 16 lanes][2]
};

}  // namespace diagecg
