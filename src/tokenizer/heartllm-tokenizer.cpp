#include "diagecg/tokenizer/heartllm-tokenizer.h"

#include "diagecg/tokenizer/heartllm-encoder-kernels.h"
#include "diagecg/util/log.h"

namespace diagecg {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace {
// 'same' padding of an odd kernel is symmetric: (k - 1) / 2 on each side.
nn::Conv1d conv_same(int64_t in, int64_t out, int64_t k) {
    return nn::Conv1d(nn::Conv1dOptions(in, out, k).padding(k / 2).bias(false));
}
}  // namespace

ResInceptionImpl::ResInceptionImpl(int64_t in_c, int64_t out_c, int64_t groups, double slope) : negative_slope(slope) {
    const int64_t b = out_c / 4;
    k3 = register_module("k3", conv_same(in_c, b, 3));
    k5 = register_module("k5", conv_same(in_c, b, 5));
    k7 = register_module("k7", conv_same(in_c, b, 7));
    pool_proj = register_module("pool_proj", conv_same(in_c, b, 1));
    if (in_c != out_c) residual = register_module("residual", conv_same(in_c, out_c, 1));
    norm = register_module("norm", nn::GroupNorm(nn::GroupNormOptions(groups, out_c)));
}

torch::Tensor ResInceptionImpl::forward(const torch::Tensor& x) {
    const auto pooled = F::max_pool1d(x, F::MaxPool1dFuncOptions(3).stride(1).padding(1));
    const auto y = torch::cat({k3(x), k5(x), k7(x), pool_proj(pooled)}, 1);  // [N, out, T]
    return F::leaky_relu(norm(y + (residual ? residual(x) : x)),
                         F::LeakyReLUFuncOptions().negative_slope(negative_slope));
}

HeartllmTokenizerImpl::HeartllmTokenizerImpl(const EcgTokenizerConfig& cfg) : EcgTokenizerImpl(cfg) {
    const int64_t c = cfg.channels, lc = cfg.n_leads * cfg.channels;
    enc_blocks = register_module("enc_blocks", nn::ModuleList());
    enc_down = register_module("enc_down", nn::ModuleList());
    dec_up = register_module("dec_up", nn::ModuleList());
    dec_blocks = register_module("dec_blocks", nn::ModuleList());
    for (int64_t s = 0; s < cfg.n_stages; ++s) {
        enc_blocks->push_back(ResInception(s == 0 ? 1 : c, c, cfg.groups, cfg.negative_slope));
        enc_down->push_back(nn::Conv1d(nn::Conv1dOptions(c, c, 3).stride(2).padding(1).bias(false)));  // T -> ceil(T/2)
        dec_up->push_back(
            nn::ConvTranspose1d(nn::ConvTranspose1dOptions(lc, lc, 3).stride(2).padding(1).output_padding(1)));
        dec_blocks->push_back(ResInception(lc, lc, cfg.groups, cfg.negative_slope));
    }
    bottleneck = register_module("bottleneck", ResInception(c, c, cfg.groups, cfg.negative_slope));
    to_latent = register_module("to_latent", nn::Linear(lc, cfg.latent_dim()));
    from_latent = register_module("from_latent", nn::Linear(cfg.latent_dim(), lc));
    output_conv = register_module("output_conv", nn::Conv1d(nn::Conv1dOptions(lc, cfg.n_leads, 1)));
}

bool HeartllmTokenizerImpl::uses_fused_kernels(const torch::Tensor& x) const {
    if (kernel_ == EncoderKernel::kLibtorch || torch::GradMode::is_enabled() || !x.device().is_cpu()) return false;
    const auto dt = to_latent->weight.scalar_type();
    if (dt != torch::kFloat && dt != torch::kBFloat16) return false;
    return heartllm_kernels_supported(cfg_.channels, dt == torch::kBFloat16);
}

torch::Tensor HeartllmTokenizerImpl::lead_features(const torch::Tensor& x) {
    check_input(x);
    return uses_fused_kernels(x) ? lead_features_fused(x) : lead_features_libtorch(x);
}

torch::Tensor HeartllmTokenizerImpl::lead_features_libtorch(const torch::Tensor& x) {
    const int64_t b = x.size(0), l = x.size(1);
    auto h = x.reshape({b * l, 1, x.size(2)});  // [B*L, 1, T]
    for (int64_t s = 0; s < cfg_.n_stages; ++s) {
        h = enc_blocks[s]->as<ResInception>()->forward(h);  // [B*L, C, t]
        h = enc_down[s]->as<nn::Conv1d>()->forward(h);      // halves t
    }
    h = bottleneck(h);                                 // [B*L, C, P]
    return h.view({b, l, cfg_.channels, h.size(-1)});  // [B, L, C, P]
}

EcgEncoding HeartllmTokenizerImpl::encode(const torch::Tensor& x) {
    check_input(x);
    if (!uses_fused_kernels(x)) return quantize_features(lead_features_libtorch(x), to_latent);
    EcgEncoding e = quantize_features(lead_features_fused(x), to_latent);
    if (kernel_ != EncoderKernel::kAuto || to_latent->weight.scalar_type() != torch::kFloat) return e;
    // The fused kernels sum in another order than LibTorch's convolutions: latents differ by ~1e-6. An ECG with a
    // value within kNearBoundary of a rounding boundary (sigmoid(z) * (n-1) = k + 1/2) is encoded again through
    // LibTorch's ops, the authors' arithmetic, so that its codes are theirs (a few % of ECGs).
    constexpr double kNearBoundary = 1e-5;
    const auto top = torch::tensor(cfg_.fsq_levels, torch::kFloat) - 1;
    const auto c = torch::sigmoid(e.latent) * top;                                      // [B, P, Z]
    const auto near = ((c - c.floor() - 0.5).abs() < kNearBoundary).flatten(1).any(1);  // [B]
    const auto rows = near.nonzero().flatten();
    if (rows.numel() == 0) return e;
    log::debug("heartllm encoder: {} of {} ECGs near a rounding boundary, re-encoded through LibTorch", rows.numel(),
               x.size(0));
    const EcgEncoding r = quantize_features(lead_features_libtorch(x.index_select(0, rows)), to_latent);
    e.latent.index_copy_(0, rows, r.latent);
    e.levels.index_copy_(0, rows, r.levels);
    e.codes.index_copy_(0, rows, r.codes);
    return e;
}

torch::Tensor HeartllmTokenizerImpl::decode(const torch::Tensor& levels) {
    auto h = from_latent(fsq_.unit(levels)).transpose(1, 2);  // [B, L*C, P]
    for (int64_t s = 0; s < cfg_.n_stages; ++s) {
        h = dec_up[s]->as<nn::ConvTranspose1d>()->forward(h);  // doubles t
        h = dec_blocks[s]->as<ResInception>()->forward(h);
    }
    return output_conv(h).narrow(-1, 0, cfg_.n_samples);  // [B, L, T]
}

torch::Tensor HeartllmTokenizerImpl::lead_features_fused(const torch::Tensor& x) {
    const bool bf16 = to_latent->weight.scalar_type() == torch::kBFloat16;
    HeartllmEncoderShape shape{cfg_.n_samples, cfg_.channels, cfg_.n_stages, cfg_.groups, cfg_.negative_slope};
    // Weights as f32 in PyTorch layout (a bf16 model's are widened exactly; the kernel narrows them again).
    std::vector<torch::Tensor> keep;
    const auto f32 = [&keep](const torch::Tensor& t) {
        keep.push_back(t.detach().to(torch::kFloat).contiguous());
        return keep.back().data_ptr<float>();
    };
    const auto block = [&](ResInceptionImpl& r) {
        HeartllmBlockWeights w;
        w.k3 = f32(r.k3->weight);
        w.k5 = f32(r.k5->weight);
        w.k7 = f32(r.k7->weight);
        w.pool = f32(r.pool_proj->weight);
        w.residual = r.residual ? f32(r.residual->weight) : nullptr;
        w.gamma = f32(r.norm->weight);
        w.beta = f32(r.norm->bias);
        return w;
    };
    HeartllmEncoderWeights w;
    for (int64_t s = 0; s < cfg_.n_stages; ++s) {
        w.blocks.push_back(block(*enc_blocks[s]->as<ResInception>()));
        w.down.push_back(f32(enc_down[s]->as<nn::Conv1d>()->weight));
    }
    w.blocks.push_back(block(*bottleneck));
    const HeartllmEncoderKernel kernel(shape, w, bf16);

    const int64_t b = x.size(0), l = x.size(1), p = cfg_.n_steps();
    const auto xf = x.to(torch::kFloat).contiguous();                  // [B, L, T]
    auto out = torch::empty({b, l, p, cfg_.channels}, torch::kFloat);  // channels-last per lead
    const float* xp = xf.data_ptr<float>();
    float* op = out.data_ptr<float>();
    at::parallel_for(0, b * l, 1, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) kernel.run_row(xp + r * cfg_.n_samples, op + r * p * cfg_.channels);
    });
    return out.permute({0, 1, 3, 2}).to(x.scalar_type());  // [B, L, C, P]
}

}  // namespace diagecg
