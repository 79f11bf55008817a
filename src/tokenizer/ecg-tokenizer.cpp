#include "diagecg/tokenizer/ecg-tokenizer.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "diagecg/util/json-config.h"

namespace diagecg {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

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
    // per lead: conv(1->C, k7) at T; per stage at length t: convs k3+k5+k7+1x1 (C->C) at t, stride-2 conv k3 to
    // ceil(t/2); bottleneck 1x1 at P; then the L*C -> Z linear per step.
    const double c = static_cast<double>(channels);
    double per_lead = 2.0 * c * 7 * n_samples;
    int64_t t = n_samples;
    for (int64_t s = 0; s < n_stages; ++s) {
        per_lead += 2.0 * c * c * (3 + 5 + 7 + 1) * t;
        t = (t + 1) / 2;
        per_lead += 2.0 * c * c * 3 * t;
    }
    per_lead += 2.0 * c * c * t;
    return per_lead * n_leads + 2.0 * n_leads * c * latent_dim() * t;
}

void EcgTokenizerConfig::validate() const {
    if (n_leads <= 0 || n_samples <= 0 || channels <= 0 || n_stages < 0)
        throw std::invalid_argument("ecg tokenizer: n_leads, n_samples, channels must be positive and n_stages >= 0");
    if (groups <= 0 || channels % groups != 0)
        throw std::invalid_argument("ecg tokenizer: channels " + std::to_string(channels) + " must be a multiple of groups " +
                                    std::to_string(groups));
    if (fsq_levels.empty()) throw std::invalid_argument("ecg tokenizer: fsq_levels is empty");
    for (const int64_t l : fsq_levels)
        if (l < 2 || l > 1024) throw std::invalid_argument("ecg tokenizer: every FSQ level count must be in [2, 1024]");
    if (codebook_size() > (int64_t(1) << 24)) throw std::invalid_argument("ecg tokenizer: codebook larger than 2^24");
}

EcgTokenizerConfig ecg_tokenizer_config_from_json(const nlohmann::json& j, const std::string& path) {
    EcgTokenizerConfig c;
    JsonObject o(j, path);
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
    return {{"n_leads", c.n_leads}, {"n_samples", c.n_samples}, {"channels", c.channels}, {"n_stages", c.n_stages},
            {"groups", c.groups}, {"negative_slope", c.negative_slope}, {"fsq_levels", c.fsq_levels}};
}

// ---------------------------------------------------------------------------------------------
Fsq::Fsq(std::vector<int64_t> levels) : levels_(std::move(levels)) {
    for (const int64_t l : levels_) size_ *= l;
}

torch::Tensor Fsq::quantize(const torch::Tensor& z) const {
    TORCH_CHECK(z.size(-1) == static_cast<int64_t>(levels_.size()), "fsq: latent has ", z.size(-1), " dims, expected ",
                levels_.size());
    const auto top = torch::tensor(levels_, torch::kFloat).to(z.device()) - 1;       // [Z]
    const auto bounded = torch::sigmoid(z) * top;                                     // [.., Z] in [0, n-1]
    return bounded + (torch::round(bounded) - bounded).detach();                      // straight-through
}

torch::Tensor Fsq::levels_to_codes(const torch::Tensor& q) const {
    auto idx = q.detach().round().to(torch::kLong);
    auto codes = torch::zeros(idx.sizes().slice(0, idx.dim() - 1), idx.options());
    for (size_t d = 0; d < levels_.size(); ++d) codes = codes * levels_[d] + idx.select(-1, static_cast<int64_t>(d));
    return codes;
}

torch::Tensor Fsq::codes_to_levels(const torch::Tensor& codes) const {
    TORCH_CHECK(codes.scalar_type() == torch::kLong, "fsq: codes must be int64");
    TORCH_CHECK(codes.numel() == 0 || (codes.min().item<int64_t>() >= 0 && codes.max().item<int64_t>() < size_),
                "fsq: codes outside [0, ", size_, ")");
    std::vector<torch::Tensor> dims(levels_.size());
    auto rest = codes.clone();
    for (int64_t d = static_cast<int64_t>(levels_.size()) - 1; d >= 0; --d) {
        dims[d] = torch::remainder(rest, levels_[d]);
        rest = torch::div(rest, levels_[d], "floor");
    }
    return torch::stack(dims, -1).to(torch::kFloat);
}

torch::Tensor Fsq::normalize(const torch::Tensor& q) const {
    const auto half = (torch::tensor(levels_, torch::kFloat).to(q.device()) - 1) / 2;
    return (q - half) / half;
}

// ---------------------------------------------------------------------------------------------
namespace {
nn::Conv1d conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1) {
    return nn::Conv1d(nn::Conv1dOptions(in, out, k).stride(stride).padding(k / 2));
}
}  // namespace

InceptionBlockImpl::InceptionBlockImpl(int64_t c, int64_t groups, double negative_slope) : slope_(negative_slope) {
    k3_ = register_module("k3", conv(c, c, 3));
    k5_ = register_module("k5", conv(c, c, 5));
    k7_ = register_module("k7", conv(c, c, 7));
    pool_proj_ = register_module("pool_proj", conv(c, c, 1));
    norm_ = register_module("norm", nn::GroupNorm(nn::GroupNormOptions(groups, c)));
}

torch::Tensor InceptionBlockImpl::forward(const torch::Tensor& x) {
    const auto pooled = F::max_pool1d(x, F::MaxPool1dFuncOptions(3).stride(1).padding(1));
    const auto y = k3_(x) + k5_(x) + k7_(x) + pool_proj_(pooled);
    return x + F::leaky_relu(norm_(y), F::LeakyReLUFuncOptions().negative_slope(slope_));
}

EcgTokenizerImpl::EcgTokenizerImpl(const EcgTokenizerConfig& cfg) : cfg_(cfg), fsq_(cfg.fsq_levels) {
    cfg.validate();
    const int64_t c = cfg.channels;
    input_conv_ = register_module("input_conv", conv(1, c, 7));
    enc_blocks_ = register_module("enc_blocks", nn::ModuleList());
    enc_down_ = register_module("enc_down", nn::ModuleList());
    dec_up_ = register_module("dec_up", nn::ModuleList());
    dec_blocks_ = register_module("dec_blocks", nn::ModuleList());
    for (int64_t s = 0; s < cfg.n_stages; ++s) {
        enc_blocks_->push_back(InceptionBlock(c, cfg.groups, cfg.negative_slope));
        enc_down_->push_back(conv(c, c, 3, 2));                                     // T -> ceil(T/2)
        dec_up_->push_back(nn::ConvTranspose1d(nn::ConvTranspose1dOptions(c, c, 4).stride(2).padding(1)));   // T -> 2T
        dec_blocks_->push_back(InceptionBlock(c, cfg.groups, cfg.negative_slope));
    }
    bottleneck_ = register_module("bottleneck", conv(c, c, 1));
    to_latent_ = register_module("to_latent", nn::Linear(cfg.n_leads * c, cfg.latent_dim()));
    from_latent_ = register_module("from_latent", nn::Linear(cfg.latent_dim(), cfg.n_leads * c));
    output_conv_ = register_module("output_conv", conv(c, 1, 7));
}

torch::Tensor EcgTokenizerImpl::lead_features(const torch::Tensor& x) {
    TORCH_CHECK(x.dim() == 3 && x.size(1) == cfg_.n_leads && x.size(2) == cfg_.n_samples, "ecg tokenizer: input must be [B, ",
                cfg_.n_leads, ", ", cfg_.n_samples, "], got ", x.sizes());
    const int64_t b = x.size(0), l = x.size(1);
    auto h = input_conv_(x.reshape({b * l, 1, x.size(2)}));                        // [B*L, C, T]
    for (int64_t s = 0; s < cfg_.n_stages; ++s) {
        h = enc_blocks_[s]->as<InceptionBlock>()->forward(h);
        h = enc_down_[s]->as<nn::Conv1d>()->forward(h);                            // halves T
    }
    h = F::leaky_relu(bottleneck_(h), F::LeakyReLUFuncOptions().negative_slope(cfg_.negative_slope));
    return h.view({b, l, cfg_.channels, h.size(-1)});                               // [B, L, C, P]
}

EcgEncoding EcgTokenizerImpl::encode(const torch::Tensor& x) {
    const auto f = lead_features(x);                                                // [B, L, C, P]
    const int64_t b = f.size(0), p = f.size(3);
    const auto per_step = f.permute({0, 3, 1, 2}).reshape({b, p, cfg_.n_leads * cfg_.channels});   // [B, P, L*C]
    EcgEncoding e;
    e.latent = to_latent_(per_step);                                                // [B, P, Z]
    e.levels = fsq_.quantize(e.latent);
    e.codes = fsq_.levels_to_codes(e.levels);                                       // [B, P]
    return e;
}

torch::Tensor EcgTokenizerImpl::decode(const torch::Tensor& levels) {
    const int64_t b = levels.size(0), p = levels.size(1);
    auto h = from_latent_(fsq_.normalize(levels))                                   // [B, P, L*C]
                 .view({b, p, cfg_.n_leads, cfg_.channels})
                 .permute({0, 2, 3, 1})
                 .reshape({b * cfg_.n_leads, cfg_.channels, p});                    // [B*L, C, P]
    for (int64_t s = 0; s < cfg_.n_stages; ++s) {
        h = dec_up_[s]->as<nn::ConvTranspose1d>()->forward(h);                     // doubles T
        h = dec_blocks_[s]->as<InceptionBlock>()->forward(h);
    }
    h = output_conv_(h).narrow(-1, 0, cfg_.n_samples);                              // [B*L, 1, T]
    return h.view({b, cfg_.n_leads, cfg_.n_samples});
}

torch::Tensor EcgTokenizerImpl::decode_codes(const torch::Tensor& codes) { return decode(fsq_.codes_to_levels(codes)); }

}  // namespace diagecg
