// The authors' ECG tokenizer, FSQ_AE of HeartLLM (ecg_tokenizer/tokenizer.py; REFERENCE.md section 2):
//   encoder, per lead [1, T]: n_stages x [ResInception(in -> C), Conv1d(C, C, 3, stride 2, pad 1, no bias)],
//            then a bottleneck ResInception(C -> C); the L leads' [C, P] features concatenated lead-major ->
//            Linear(L*C, Z) per step.
//   FSQ:     c = sigmoid(z), level = round(c * (n-1)), code = sum_i level_i * n^i (dim 0 least significant).
//   decoder: Linear(Z, L*C) of level / (n-1), n_stages x [ConvTranspose1d(LC, LC, 3, 2, pad 1, out pad 1),
//            ResInception(LC -> LC)], Conv1d(LC, L, 1), cropped to T. It mixes leads.
// ResInception(in, out): four branches of out/4 channels, concatenated: Conv1d k3, k5, k7 ('same', no bias) and
// MaxPool1d(3, 1, 1) -> Conv1d k1 (no bias); output = LeakyReLU(GroupNorm(groups, out)(branches(x) + r(x))),
// r = identity when in == out, else Conv1d(in, out, 1, no bias).
//
// Inference on the CPU (no grad, f32 or bf16 weights, AVX-512) runs the encoder through the fused kernels of
// heartllm-encoder-kernels.h; everything else (training, other CPUs, CUDA) through LibTorch's ops, which
// reproduce the authors' module op for op (bit for bit with the same LibTorch). With f32 weights and
// EncoderKernel::kAuto, encode() re-encodes through LibTorch's ops the ECGs whose fused latents come within 1e-5
// of a rounding boundary, so that the codes are the authors' even where the two summation orders could round
// apart (the fused latents differ from LibTorch's by up to ~3e-6 in sigmoid(z) * (n-1)).
#pragma once

#include "diagecg/tokenizer/ecg-tokenizer.h"

namespace diagecg {

class ResInceptionImpl : public torch::nn::Module {
public:
    ResInceptionImpl(int64_t in_c, int64_t out_c, int64_t groups, double negative_slope);
    torch::Tensor forward(const torch::Tensor& x);  // x: [N, in, T] -> [N, out, T]

    // Branch order of the concatenation: k3, k5, k7, pool_proj (as the authors' b1..b4).
    torch::nn::Conv1d k3{nullptr}, k5{nullptr}, k7{nullptr}, pool_proj{nullptr};
    torch::nn::Conv1d residual{nullptr};  // only when in != out
    torch::nn::GroupNorm norm{nullptr};
    double negative_slope;
};
TORCH_MODULE(ResInception);

class HeartllmTokenizerImpl : public EcgTokenizerImpl {
public:
    explicit HeartllmTokenizerImpl(const EcgTokenizerConfig& cfg);

    torch::Tensor lead_features(const torch::Tensor& x) override;
    EcgEncoding encode(const torch::Tensor& x) override;
    torch::Tensor decode(const torch::Tensor& levels) override;

    // Whether encode(x) would run the fused kernels now (no grad, CPU, f32/bf16, supported CPU).
    bool uses_fused_kernels(const torch::Tensor& x) const;

    torch::nn::ModuleList enc_blocks{nullptr}, enc_down{nullptr}, dec_up{nullptr}, dec_blocks{nullptr};
    ResInception bottleneck{nullptr};
    torch::nn::Linear to_latent{nullptr}, from_latent{nullptr};
    torch::nn::Conv1d output_conv{nullptr};

private:
    torch::Tensor lead_features_fused(const torch::Tensor& x);     // [B, L, T] -> [B, L, C, P]
    torch::Tensor lead_features_libtorch(const torch::Tensor& x);  // the same through LibTorch's ops
};

}  // namespace diagecg
