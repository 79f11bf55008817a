// DiagECG stage 1 (REFERENCE.md section 2): a lead-wise 1-D conv encoder, a finite scalar quantizer (FSQ)
// and, for training only, a conv decoder. One ECG [12, 5000] becomes P = 313 discrete codes in [0, K).
// Shapes: B batch, L leads, T samples, C channels, P code steps, Z latent dims, K codebook size.
#pragma once

#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/torch.h>

namespace diagecg {

struct EcgTokenizerConfig {
    int64_t n_leads = 12;                   // L
    int64_t n_samples = 5000;               // T (500 Hz x 10 s)
    int64_t channels = 32;                  // C, per lead
    int64_t n_stages = 4;                   // each halves time: 5000 -> 313 after 4
    int64_t groups = 8;                     // GroupNorm groups
    double negative_slope = 0.01;           // LeakyReLU
    std::vector<int64_t> fsq_levels{6, 6, 6, 6};   // levels per latent dim; K = product (1296)

    int64_t latent_dim() const { return static_cast<int64_t>(fsq_levels.size()); }
    int64_t codebook_size() const;
    int64_t n_steps() const;                // P = ceil(T / 2^n_stages)
    double encoder_flops() const;           // multiply-adds x 2 of encode() for one ECG
    void validate() const;                  // throws std::invalid_argument
};
EcgTokenizerConfig ecg_tokenizer_config_from_json(const nlohmann::json& j, const std::string& path);   // strict
nlohmann::json ecg_tokenizer_config_to_json(const EcgTokenizerConfig& c);

// Finite scalar quantization (Mentzer et al. 2023): each latent dim squashed by a sigmoid to [0, n-1],
// rounded with a straight-through gradient; a code is the mixed-radix number of the level indices.
class Fsq {
public:
    explicit Fsq(std::vector<int64_t> levels);
    // z: [.., Z] f32 -> levels [.., Z] f32 (integer values, straight-through gradient)
    torch::Tensor quantize(const torch::Tensor& z) const;
    torch::Tensor levels_to_codes(const torch::Tensor& q) const;     // [.., Z] -> [..] i64
    torch::Tensor codes_to_levels(const torch::Tensor& codes) const; // [..] i64 -> [.., Z] f32
    torch::Tensor normalize(const torch::Tensor& q) const;           // levels -> [-1, 1] (decoder input)
    int64_t codebook_size() const { return size_; }
private:
    std::vector<int64_t> levels_;
    int64_t size_ = 1;
};

// Inception-style residual block: parallel convs (k = 3, 5, 7) and maxpool -> 1x1 conv, summed,
// GroupNorm, LeakyReLU, residual add. [N, C, T] -> [N, C, T]
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

struct EcgEncoding {
    torch::Tensor latent;   // [B, P, Z] f32, before quantization
    torch::Tensor levels;   // [B, P, Z] quantized (straight-through)
    torch::Tensor codes;    // [B, P] i64 in [0, K)
};

class EcgTokenizerImpl : public torch::nn::Module {
public:
    explicit EcgTokenizerImpl(const EcgTokenizerConfig& cfg);

    // x: [B, L, T] -> per-lead features [B, L, C, P]. Leads are folded into the batch: nothing mixes
    // between leads here.
    torch::Tensor lead_features(const torch::Tensor& x);
    // x: [B, L, T] -> latent, levels, codes (the only cross-lead step: a linear map of the L*C features).
    EcgEncoding encode(const torch::Tensor& x);
    // levels: [B, P, Z] -> reconstruction [B, L, T]
    torch::Tensor decode(const torch::Tensor& levels);
    torch::Tensor decode_codes(const torch::Tensor& codes);    // [B, P] i64 -> [B, L, T]

    const EcgTokenizerConfig& config() const { return cfg_; }
    const Fsq& fsq() const { return fsq_; }

private:
    EcgTokenizerConfig cfg_;
    Fsq fsq_;
    torch::nn::Conv1d input_conv_{nullptr}, bottleneck_{nullptr}, output_conv_{nullptr};
    torch::nn::ModuleList enc_blocks_{nullptr}, enc_down_{nullptr}, dec_up_{nullptr}, dec_blocks_{nullptr};
    torch::nn::Linear to_latent_{nullptr}, from_latent_{nullptr};
};
TORCH_MODULE(EcgTokenizer);

}  // namespace diagecg
