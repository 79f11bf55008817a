#include "diagecg/tokenizer/diagecg-v1-tokenizer.h"

namespace diagecg {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

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

DiagecgV1TokenizerImpl::DiagecgV1TokenizerImpl(const EcgTokenizerConfig& cfg) : EcgTokenizerImpl(cfg) {
    const int64_t c = cfg.channels;
    input_conv_ = register_module("input_conv", conv(1, c, 7));
    enc_blocks_ = register_module("enc_blocks", nn::ModuleList());
    enc_down_ = register_module("enc_down", nn::ModuleList());
    dec_up_ = register_module("dec_up", nn::ModuleList());
    dec_blocks_ = register_module("dec_blocks", nn::ModuleList());
    for (int64_t s = 0; s < cfg.n_stages; ++s) {
        enc_blocks_->push_back(InceptionBlock(c, cfg.groups, cfg.negative_slope));
        enc_down_->push_back(conv(c, c, 3, 2));  // T -> ceil(T/2)
        dec_up_->push_back(nn::ConvTranspose1d(nn::ConvTranspose1dOptions(c, c, 4).stride(2).padding(1)));  // T -> 2T
        dec_blocks_->push_back(InceptionBlock(c, cfg.groups, cfg.negative_slope));
    }
    bottleneck_ = register_module("bottleneck", conv(c, c, 1));
    to_latent_ = register_module("to_latent", nn::Linear(cfg.n_leads * c, cfg.latent_dim()));
    from_latent_ = register_module("from_latent", nn::Linear(cfg.latent_dim(), cfg.n_leads * c));
    output_conv_ = register_module("output_conv", conv(c, 1, 7));
}

torch::Tensor DiagecgV1TokenizerImpl::lead_features(const torch::Tensor& x) {
    check_input(x);
    const int64_t b = x.size(0), l = x.size(1);
    auto h = input_conv_(x.reshape({b * l, 1, x.size(2)}));  // [B*L, C, T]
    for (int64_t s = 0; s < cfg_.n_stages; ++s) {
        h = enc_blocks_[s]->as<InceptionBlock>()->forward(h);
        h = enc_down_[s]->as<nn::Conv1d>()->forward(h);  // halves T
    }
    h = F::leaky_relu(bottleneck_(h), F::LeakyReLUFuncOptions().negative_slope(cfg_.negative_slope));
    return h.view({b, l, cfg_.channels, h.size(-1)});  // [B, L, C, P]
}

EcgEncoding DiagecgV1TokenizerImpl::encode(const torch::Tensor& x) {
    return quantize_features(lead_features(x), to_latent_);
}

torch::Tensor DiagecgV1TokenizerImpl::decode(const torch::Tensor& levels) {
    const int64_t b = levels.size(0), p = levels.size(1);
    auto h = from_latent_(fsq_.normalize(levels))  // [B, P, L*C]
                 .view({b, p, cfg_.n_leads, cfg_.channels})
                 .permute({0, 2, 3, 1})
                 .reshape({b * cfg_.n_leads, cfg_.channels, p});  // [B*L, C, P]
    for (int64_t s = 0; s < cfg_.n_stages; ++s) {
        h = dec_up_[s]->as<nn::ConvTranspose1d>()->forward(h);  // doubles T
        h = dec_blocks_[s]->as<InceptionBlock>()->forward(h);
    }
    h = output_conv_(h).narrow(-1, 0, cfg_.n_samples);  // [B*L, 1, T]
    return h.view({b, cfg_.n_leads, cfg_.n_samples});
}

}  // namespace diagecg
