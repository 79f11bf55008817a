// The ECG tokenizer (REFERENCE.md section 2): a lead-wise 1-D conv encoder, a finite scalar quantizer (FSQ)
// and, for training and reconstruction, a conv decoder. One ECG [12, 5000] becomes P = 313 codes in [0, K).
// Two architectures share this interface:
//   heartllm    the authors' FSQ_AE (HeartLLM ecg_tokenizer/tokenizer.py): ResInception encoder, lead-mixing
//               384-channel decoder, code = sum_i v_i * n^i (heartllm-tokenizer.h). The default.
//   diagecg-v1  this project's first tokenizer (summed inception branches, per-lead decoder, code =
//               most significant dim first; diagecg-v1-tokenizer.h), kept so v1 model directories load.
// Shapes: B batch, L leads, T samples, C channels per lead, P code steps, Z latent dims, K codebook size.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/torch.h>

namespace diagecg {

enum class EcgTokenizerArch { kHeartllm, kDiagecgV1 };
const char* ecg_tokenizer_arch_name(EcgTokenizerArch a);          // "heartllm" | "diagecg-v1"
EcgTokenizerArch parse_ecg_tokenizer_arch(const std::string& s);   // throws std::invalid_argument

struct EcgTokenizerConfig {
    EcgTokenizerArch architecture = EcgTokenizerArch::kHeartllm;
    int64_t n_leads = 12;                   // L
    int64_t n_samples = 5000;               // T (500 Hz x 10 s)
    int64_t channels = 32;                  // C, per lead (heartllm: 4 inception branches of C/4)
    int64_t n_stages = 4;                   // each halves time: 5000 -> 313 after 4
    int64_t groups = 8;                     // GroupNorm groups (heartllm: also the decoder's)
    double negative_slope = 0.01;           // LeakyReLU
    std::vector<int64_t> fsq_levels{6, 6, 6, 6};   // levels per latent dim; K = product (1296)

    int64_t latent_dim() const { return static_cast<int64_t>(fsq_levels.size()); }
    int64_t codebook_size() const;
    int64_t n_steps() const;                // P = ceil(T / 2^n_stages)
    double encoder_flops() const;           // multiply-adds x 2 of encode() for one ECG
    void validate() const;                  // throws std::invalid_argument
};
// Strict. A JSON object without "architecture" means `if_missing`: model directories written before the key
// existed hold v1 weights (load_ecg_tokenizer passes kDiagecgV1), new training configs mean heartllm.
EcgTokenizerConfig ecg_tokenizer_config_from_json(const nlohmann::json& j, const std::string& path,
                                                  EcgTokenizerArch if_missing = EcgTokenizerArch::kHeartllm);
nlohmann::json ecg_tokenizer_config_to_json(const EcgTokenizerConfig& c);   // always names the architecture

// Finite scalar quantization (Mentzer et al. 2023): each latent dim squashed by a sigmoid to [0, n-1] and
// rounded (half to even) with a straight-through gradient; a code is the mixed-radix number of the levels.
class Fsq {
public:
    enum class CodeOrder {
        kFirstDimMostSignificant,    // diagecg-v1: ((v_0 * n_1 + v_1) * n_2 + v_2) ...
        kFirstDimLeastSignificant,   // heartllm (q2idx): v_0 + v_1 * n_0 + v_2 * n_0 * n_1 ...
    };
    Fsq(std::vector<int64_t> levels, CodeOrder order);
    // z: [.., Z] f32 -> levels [.., Z] f32 (integer values round(sigmoid(z) * (n-1)), straight-through gradient)
    torch::Tensor quantize(const torch::Tensor& z) const;
    torch::Tensor levels_to_codes(const torch::Tensor& q) const;     // [.., Z] -> [..] i64
    torch::Tensor codes_to_levels(const torch::Tensor& codes) const; // [..] i64 -> [.., Z] f32
    torch::Tensor normalize(const torch::Tensor& q) const;           // levels -> [-1, 1] (v1 decoder input)
    torch::Tensor unit(const torch::Tensor& q) const;                // levels -> q / (n-1) in [0, 1] (heartllm's)
    int64_t codebook_size() const { return size_; }
    CodeOrder order() const { return order_; }
private:
    std::vector<int64_t> levels_;
    CodeOrder order_;
    int64_t size_ = 1;
};

// How inference runs the encoder of an architecture with fused CPU kernels (heartllm; v1 has none).
enum class EncoderKernel {
    kAuto,      // the fused kernels, and the ECGs whose latents come within 1e-5 of a rounding boundary encoded
                // again through LibTorch's ops: codes equal LibTorch's, i.e. the authors' module's
    kFused,     // the fused kernels only: fastest; a code can differ from LibTorch's where a latent lies within
                // their ~3e-6 difference of a rounding boundary
    kLibtorch,  // LibTorch's ops (what training runs)
};
EncoderKernel parse_encoder_kernel(const std::string& s);   // "auto" | "fused" | "libtorch"; std::invalid_argument

struct EcgEncoding {
    torch::Tensor latent;   // [B, P, Z] f32, before quantization
    torch::Tensor levels;   // [B, P, Z] quantized (straight-through)
    torch::Tensor codes;    // [B, P] i64 in [0, K)
};

// The interface both architectures implement. Build one with EcgTokenizer(config).
class EcgTokenizerImpl : public torch::nn::Module {
public:
    explicit EcgTokenizerImpl(const EcgTokenizerConfig& cfg);
    ~EcgTokenizerImpl() override = default;

    // x: [B, L, T] -> per-lead features [B, L, C, P]. Leads are folded into the batch: nothing mixes
    // between leads here.
    virtual torch::Tensor lead_features(const torch::Tensor& x) = 0;
    // x: [B, L, T] -> latent, levels, codes (the only cross-lead step: a linear map of the L*C features).
    virtual EcgEncoding encode(const torch::Tensor& x) = 0;
    // levels: [B, P, Z] -> reconstruction [B, L, T]
    virtual torch::Tensor decode(const torch::Tensor& levels) = 0;
    torch::Tensor decode_codes(const torch::Tensor& codes);    // [B, P] i64 -> [B, L, T]

    const EcgTokenizerConfig& config() const { return cfg_; }
    const Fsq& fsq() const { return fsq_; }

    void set_encoder_kernel(EncoderKernel k) { kernel_ = k; }   // default kAuto
    EncoderKernel encoder_kernel() const { return kernel_; }

protected:
    void check_input(const torch::Tensor& x) const;           // [B, L, T] with the configured L and T
    // features [B, L, C, P] -> latent/levels/codes through `to_latent` over the lead-major L*C features.
    EcgEncoding quantize_features(const torch::Tensor& features, torch::nn::Linear& to_latent) const;

    EcgTokenizerConfig cfg_;
    Fsq fsq_;
    EncoderKernel kernel_ = EncoderKernel::kAuto;
};

// Holder (LibTorch's module-holder idiom): EcgTokenizer(cfg) builds cfg.architecture's implementation.
class EcgTokenizer : public torch::nn::ModuleHolder<EcgTokenizerImpl> {
public:
    EcgTokenizer(std::nullptr_t) : ModuleHolder(nullptr) {}
    EcgTokenizer(std::shared_ptr<EcgTokenizerImpl> impl) : ModuleHolder(std::move(impl)) {}
    explicit EcgTokenizer(const EcgTokenizerConfig& cfg);
};

}  // namespace diagecg
