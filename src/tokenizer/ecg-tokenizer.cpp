#include "diagecg/tokenizer/ecg-tokenizer.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "diagecg/tokenizer/diagecg-v1-tokenizer.h"
#include "diagecg/tokenizer/heartllm-tokenizer.h"
#include "diagecg/util/json-config.h"

namespace diagecg {

const char* ecg_tokenizer_arch_name(EcgTokenizerArch a) {
    return a == EcgTokenizerArch::kHeartllm ? "heartllm" : "diagecg-v1";
}

EcgTokenizerArch parse_ecg_tokenizer_arch(const std::string& s) {
    if (s == "heartllm") return EcgTokenizerArch::kHeartllm;
    if (s == "diagecg-v1") return EcgTokenizerArch::kDiagecgV1;
    throw std::invalid_argument("ecg tokenizer architecture must be heartllm or diagecg-v1, got \"" + s + "\"");
}

EncoderKernel parse_encoder_kernel(const std::string& s) {
    if (s == "auto") return EncoderKernel::kAuto;
    if (s == "fused") return EncoderKernel::kFused;
    if (s == "libtorch") return EncoderKernel::kLibtorch;
    throw std::invalid_argument("encoder kernel must be auto, fused or libtorch, got \"" + s + "\"");
}

int64_t EcgTokenizerConfig::codebook_size() const {
    int64_t k = 1;
    for (const int64_t l : fsq_levels) k *= l;
    return k;
}

int64_t EcgTokenizerConfig::n_steps() const {
    int64_t p = n_samples;
    for (int64_t s = 0; s < n_stages; ++s) p = (p + 1) / 2;
    return p;
}

double EcgTokenizerConfig::encoder_flops() const {
    const double c = static_cast<double>(channels);
    double per_lead = 0;
    int64_t t = n_samples;
    if (architecture == EcgTokenizerArch::kHeartllm) {
        // per stage at length t: branches k3+k5+k7+k1 (in -> C/4 each), the 1x1 residual when in != C, the
        // stride-2 conv k3 to ceil(t/2); the bottleneck's branches at P.
        double in = 1;
        for (int64_t s = 0; s < n_stages; ++s) {
            per_lead += 2.0 * in * (c / 4) * (3 + 5 + 7 + 1) * t + (in != c ? 2.0 * in * c * t : 0.0);
            t = (t + 1) / 2;
            per_lead += 2.0 * c * c * 3 * t;
            in = c;
        }
        per_lead += 2.0 * c * (c / 4) * (3 + 5 + 7 + 1) * t;
    } else {
        // input conv(1->C, k7) at T; per stage: convs k3+k5+k7+1x1 (C->C) at t, stride-2 conv k3 to ceil(t/2);
        // bottleneck 1x1 at P.
        per_lead = 2.0 * c * 7 * n_samples;
        for (int64_t s = 0; s < n_stages; ++s) {
            per_lead += 2.0 * c * c * (3 + 5 + 7 + 1) * t;
            t = (t + 1) / 2;
            per_lead += 2.0 * c * c * 3 * t;
        }
        per_lead += 2.0 * c * c * t;
    }
    return per_lead * n_leads + 2.0 * n_leads * c * latent_dim() * t;   // + the L*C -> Z linear per step
}

void EcgTokenizerConfig::validate() const {
    if (n_leads <= 0 || n_samples <= 0 || channels <= 0 || n_stages < 0)
        throw std::invalid_argument("ecg tokenizer: n_leads, n_samples, channels must be positive and n_stages >= 0");
    if (groups <= 0 || channels % groups != 0)
        throw std::invalid_argument("ecg tokenizer: channels " + std::to_string(channels) + " must be a multiple of groups " +
                                    std::to_string(groups));
    if (architecture == EcgTokenizerArch::kHeartllm && channels % 4 != 0)
        throw std::invalid_argument("ecg tokenizer: heartllm needs channels divisible by 4 (four inception branches), got " +
                                    std::to_string(channels));
    if (fsq_levels.empty()) throw std::invalid_argument("ecg tokenizer: fsq_levels is empty");
    for (const int64_t l : fsq_levels)
        if (l < 2 || l > 1024) throw std::invalid_argument("ecg tokenizer: every FSQ level count must be in [2, 1024]");
    if (codebook_size() > (int64_t(1) << 24)) throw std::invalid_argument("ecg tokenizer: codebook larger than 2^24");
}

EcgTokenizerConfig ecg_tokenizer_config_from_json(const nlohmann::json& j, const std::string& path, EcgTokenizerArch if_missing) {
    EcgTokenizerConfig c;
    c.architecture = if_missing;
    JsonObject o(j, path);
    std::string arch;
    if (o.get("architecture", arch)) {
        try {
            c.architecture = parse_ecg_tokenizer_arch(arch);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument(path + ".architecture: " + e.what());
        }
    }
    o.get("n_leads", c.n_leads);
    o.get("n_samples", c.n_samples);
    o.get("channels", c.channels);
    o.get("n_stages", c.n_stages);
    o.get("groups", c.groups);
    o.get("negative_slope", c.negative_slope);
    o.get("fsq_levels", c.fsq_levels);
    o.finish();
    c.validate();
    return c;
}

nlohmann::json ecg_tokenizer_config_to_json(const EcgTokenizerConfig& c) {
    return {{"architecture", ecg_tokenizer_arch_name(c.architecture)},
            {"n_leads", c.n_leads}, {"n_samples", c.n_samples}, {"channels", c.channels}, {"n_stages", c.n_stages},
            {"groups", c.groups}, {"negative_slope", c.negative_slope}, {"fsq_levels", c.fsq_levels}};
}

// ---------------------------------------------------------------------------------------------
Fsq::Fsq(std::vector<int64_t> levels, CodeOrder order) : levels_(std::move(levels)), order_(order) {
    for (const int64_t l : levels_) size_ *= l;
}

torch::Tensor Fsq::quantize(const torch::Tensor& z) const {
    TORCH_CHECK(z.size(-1) == static_cast<int64_t>(levels_.size()), "fsq: latent has ", z.size(-1), " dims, expected ",
                levels_.size());
    const auto top = torch::tensor(levels_, torch::kFloat).to(z.device(), z.scalar_type()) - 1;   // [Z]
    const auto bounded = torch::sigmoid(z) * top;                                     // [.., Z] in [0, n-1]
    return bounded + (torch::round(bounded) - bounded).detach();                      // straight-through
}

torch::Tensor Fsq::levels_to_codes(const torch::Tensor& q) const {
    const auto idx = q.detach().round().to(torch::kLong);
    auto codes = torch::zeros(idx.sizes().slice(0, idx.dim() - 1), idx.options());
    const auto n = static_cast<int64_t>(levels_.size());
    if (order_ == CodeOrder::kFirstDimMostSignificant) {
        for (int64_t d = 0; d < n; ++d) codes = codes * levels_[d] + idx.select(-1, d);
    } else {
        for (int64_t d = n - 1; d >= 0; --d) codes = codes * levels_[d] + idx.select(-1, d);
    }
    return codes;
}

torch::Tensor Fsq::codes_to_levels(const torch::Tensor& codes) const {
    TORCH_CHECK(codes.scalar_type() == torch::kLong, "fsq: codes must be int64");
    TORCH_CHECK(codes.numel() == 0 || (codes.min().item<int64_t>() >= 0 && codes.max().item<int64_t>() < size_),
                "fsq: codes outside [0, ", size_, ")");
    const auto n = static_cast<int64_t>(levels_.size());
    std::vector<torch::Tensor> dims(levels_.size());
    auto rest = codes.clone();
    for (int64_t i = 0; i < n; ++i) {
        const int64_t d = order_ == CodeOrder::kFirstDimMostSignificant ? n - 1 - i : i;   // least significant first
        dims[d] = torch::remainder(rest, levels_[d]);
        rest = torch::div(rest, levels_[d], "floor");
    }
    return torch::stack(dims, -1).to(torch::kFloat);
}

torch::Tensor Fsq::normalize(const torch::Tensor& q) const {
    const auto half = (torch::tensor(levels_, torch::kFloat).to(q.device(), q.scalar_type()) - 1) / 2;
    return (q - half) / half;
}

torch::Tensor Fsq::unit(const torch::Tensor& q) const {
    // Division, not a multiplication by 1/(n-1): round(c*(n-1)) / (n-1) is the authors' FSQ output bit for bit.
    return q / (torch::tensor(levels_, torch::kFloat).to(q.device(), q.scalar_type()) - 1);
}

// ---------------------------------------------------------------------------------------------
EcgTokenizerImpl::EcgTokenizerImpl(const EcgTokenizerConfig& cfg)
    : cfg_(cfg),
      fsq_(cfg.fsq_levels, cfg.architecture == EcgTokenizerArch::kHeartllm ? Fsq::CodeOrder::kFirstDimLeastSignificant
                                                                           : Fsq::CodeOrder::kFirstDimMostSignificant) {
    cfg.validate();
}

void EcgTokenizerImpl::check_input(const torch::Tensor& x) const {
    TORCH_CHECK(x.dim() == 3 && x.size(1) == cfg_.n_leads && x.size(2) == cfg_.n_samples, "ecg tokenizer: input must be [B, ",
                cfg_.n_leads, ", ", cfg_.n_samples, "], got ", x.sizes());
}

EcgEncoding EcgTokenizerImpl::quantize_features(const torch::Tensor& f, torch::nn::Linear& to_latent) const {
    const int64_t b = f.size(0), p = f.size(3);
    const auto per_step = f.permute({0, 3, 1, 2}).reshape({b, p, cfg_.n_leads * cfg_.channels});   // [B, P, L*C]
    EcgEncoding e;
    e.latent = to_latent(per_step);                                                 // [B, P, Z]
    e.levels = fsq_.quantize(e.latent);
    e.codes = fsq_.levels_to_codes(e.levels);                                       // [B, P]
    return e;
}

torch::Tensor EcgTokenizerImpl::decode_codes(const torch::Tensor& codes) {
    const auto& p = parameters();
    const auto dtype = p.empty() ? torch::kFloat : p.front().scalar_type();
    return decode(fsq_.codes_to_levels(codes).to(dtype));
}

EcgTokenizer::EcgTokenizer(const EcgTokenizerConfig& cfg)
    : ModuleHolder(cfg.architecture == EcgTokenizerArch::kHeartllm
                       ? std::shared_ptr<EcgTokenizerImpl>(std::make_shared<HeartllmTokenizerImpl>(cfg))
                       : std::shared_ptr<EcgTokenizerImpl>(std::make_shared<DiagecgV1TokenizerImpl>(cfg))) {}

}  // namespace diagecg
