// diagecg-v1: this project's first ECG tokenizer, built from an earlier (wrong) reading of the paper. Kept so
// that v1 model directories (models/ecg-tokenizer, models/diagecg/*/ecg-tokenizer) load and tokenize as before.
//   encoder, per lead: Conv1d(1, C, 7) -> n_stages x [InceptionBlock, Conv1d(C, C, 3, stride 2)] -> Conv1d(C, C, 1)
//            + LeakyReLU; the L leads' [C, P] features -> Linear(L*C, Z) per step.
//   FSQ:     level = round(sigmoid(z) * (n-1)), code = most significant dim first.
//   decoder: Linear(Z, L*C) of the levels in [-1, 1], per lead n_stages x [ConvTranspose1d(C, C, 4, 2, 1),
//            InceptionBlock], Conv1d(C, 1, 7), cropped to T.
#pragma once

#include "diagecg/tokenizer/ecg-tokenizer.h"

namespace diagecg {

// Parallel convs (k = 3, 5, 7) and maxpool -> 1x1 conv, summed, GroupNorm, LeakyReLU, residual add.
// [N, C, T] -> [N, C, T]
class InceptionBlockImpl : public torch::nn::Module {
public:
    InceptionBlockImpl(int64_t channels, int64_t groups, double negative_slope);
    torch::Tensor forward(const torch::Tensor& x);

private:
    torch::nn::Conv1d k3_{nullptr}, k5_{nullptr}, k7_{nullptr}, pool_proj_{nullptr};
    torch::nn::GroupNorm norm_{nullptr};
    double slope_;
};
TORCH_MODULE(InceptionBlock);

class DiagecgV1TokenizerImpl : public EcgTokenizerImpl {
public:
    explicit DiagecgV1TokenizerImpl(const EcgTokenizerConfig& cfg);
    torch::Tensor lead_features(const torch::Tensor& x) override;
    EcgEncoding encode(const torch::Tensor& x) override;
    torch::Tensor decode(const torch::Tensor& levels) override;

private:
    torch::nn::Conv1d input_conv_{nullptr}, bottleneck_{nullptr}, output_conv_{nullptr};
    torch::nn::ModuleList enc_blocks_{nullptr}, enc_down_{nullptr}, dec_up_{nullptr}, dec_blocks_{nullptr};
    torch::nn::Linear to_latent_{nullptr}, from_latent_{nullptr};
};

}  // namespace diagecg
