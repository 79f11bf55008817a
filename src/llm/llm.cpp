#include "diagecg/llm/llm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include <ATen/Parallel.h>

#include "diagecg/util/torch-compat.h"

namespace diagecg {

namespace F = torch::nn::functional;

// ---------------------------------------------------------------------------------------------
KvCache::KvCache(const LlmConfig& cfg, int64_t batch, int64_t capacity, torch::Dtype dtype, torch::Device device)
    : batch_(batch), capacity_(capacity) {
    TORCH_CHECK(batch > 0 && capacity > 0, "kv cache: batch and capacity must be positive");
    const auto opts = torch::TensorOptions().dtype(dtype).device(device);
    for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
        k_.push_back(torch::zeros({batch, cfg.num_key_value_heads, capacity, cfg.dim_head()}, opts));
        v_.push_back(torch::zeros({batch, cfg.num_key_value_heads, capacity, cfg.dim_head()}, opts));
    }
}

std::pair<torch::Tensor, torch::Tensor> KvCache::append(int64_t layer, const torch::Tensor& k, const torch::Tensor& v) {
    const int64_t n = k.size(2);
    TORCH_CHECK(k.size(0) == batch_, "kv cache: batch ", k.size(0), " != cache batch ", batch_);
    TORCH_CHECK(n_past_ + n <= capacity_, "kv cache: ", n_past_, " + ", n, " tokens exceed its capacity ", capacity_);
    k_[layer].narrow(2, n_past_, n).copy_(k);
    v_[layer].narrow(2, n_past_, n).copy_(v);
    return {k_[layer].narrow(2, 0, n_past_ + n), v_[layer].narrow(2, 0, n_past_ + n)};
}

// ---------------------------------------------------------------------------------------------
RmsNormImpl::RmsNormImpl(int64_t dim, double eps) : eps_(eps) {
    weight = register_parameter("weight", torch::ones({dim}));
}

namespace {

// Decoding on the CPU runs each small LibTorch op for a few microseconds of dispatch; these two layer parts
// are written as one loop each for that case (no autograd, as few rows as Linear's fast path takes) with the
// rounding of the op chains they replace: f32 math, one rounding to the dtype where the chain rounds.
bool small_cpu_step(const torch::Tensor& x, int64_t rows) {
    return x.is_cpu() && !torch::GradMode::is_enabled() && rows <= kFastLinearMaxRows &&
           (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kBFloat16);
}

template <typename T>
void rms_norm_rows(const T* x, const T* w, T* y, int64_t rows, int64_t d, float eps) {
    for (int64_t r = 0; r < rows; ++r) {
        const T* xr = x + r * d;
        float ss = 0;
        for (int64_t i = 0; i < d; ++i) ss += static_cast<float>(xr[i]) * static_cast<float>(xr[i]);
        const float inv = 1.0f / std::sqrt(ss / static_cast<float>(d) + eps);
        for (int64_t i = 0; i < d; ++i) {
            const T normed = static_cast<T>(static_cast<float>(xr[i]) * inv);   // y.to(x's dtype)
            y[r * d + i] = static_cast<T>(static_cast<float>(w[i]) * static_cast<float>(normed));
        }
    }
}

}  // namespace

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) {
    const int64_t d = x.size(-1);
    if (small_cpu_step(x, x.numel() / d) && weight.scalar_type() == x.scalar_type() && weight.is_cpu()) {
        const auto xc = x.contiguous();
        auto y = torch::empty_like(xc);
        const auto eps = static_cast<float>(eps_);
        if (x.scalar_type() == torch::kFloat) {
            rms_norm_rows(xc.data_ptr<float>(), weight.data_ptr<float>(), y.data_ptr<float>(), x.numel() / d, d, eps);
        } else {
            rms_norm_rows(xc.data_ptr<at::BFloat16>(), weight.data_ptr<at::BFloat16>(), y.data_ptr<at::BFloat16>(),
                          x.numel() / d, d, eps);
        }
        return y;
    }
    const auto xf = x.to(torch::kFloat);
    const auto y = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps_);
    return weight * y.to(x.scalar_type());
}

// ---------------------------------------------------------------------------------------------
namespace {

// c[i, j] = sum_t a[i, t] b[j, t] (a [m, k], b [n, k]); 16 lane sums, so the compiler vectorizes without
// reassociating.
__attribute__((target_clones("avx512f", "default"))) void mm_nt(const float* a, const float* b, float* c, int64_t m,
                                                                int64_t n, int64_t k) {
    for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
            float lanes[16] = {};
            int64_t t = 0;
            for (; t + 16 <= k; t += 16)
                for (int l = 0; l < 16; ++l) lanes[l] += a[i * k + t + l] * b[j * k + t + l];
            float sum = 0;
            for (const float l : lanes) sum += l;
            for (; t < k; ++t) sum += a[i * k + t] * b[j * k + t];
            c[i * n + j] = sum;
        }
    }
}

// c[i, t] = sum_j a[i, j] b[j, t] (a [m, n], b [n, k]), as a sum of scaled rows of b.
__attribute__((target_clones("avx512f", "default"))) void mm_nn(const float* a, const float* b, float* c, int64_t m,
                                                                int64_t n, int64_t k) {
    for (int64_t i = 0; i < m; ++i) {
        float* ci = c + i * k;
        std::fill(ci, ci + k, 0.0f);
        for (int64_t j = 0; j < n; ++j) {
            const float p = a[i * n + j];
            const float* bj = b + j * k;
            for (int64_t t = 0; t < k; ++t) ci[t] += p * bj[t];
        }
    }
}

// The stride between consecutive matrices of x's leading dimensions when each matrix (the last two dimensions)
// is contiguous and the leading dimensions flatten to one stride (a KV cache narrowed to its filled keys); 0
// otherwise.
int64_t matrix_stride(const torch::Tensor& x) {
    const int64_t d = x.dim();
    if (d < 3 || x.stride(d - 1) != 1 || x.stride(d - 2) != x.size(d - 1)) return 0;
    for (int64_t i = 0; i + 3 < d; ++i)
        if (x.stride(i) != x.stride(i + 1) * x.size(i + 1)) return 0;
    return x.stride(d - 3);
}

// f32 [P, M, K] x [P, N, K]^T (transpose_b) or [P, M, N] x [P, N, K], over the leading dimensions. b (the keys or
// values) is read in place when its matrices are contiguous, as a KV cache's are, without a copy.
torch::Tensor small_bmm(const torch::Tensor& a, const torch::Tensor& b, bool transpose_b) {
    const auto ac = a.contiguous();
    const int64_t b_stride = matrix_stride(b);
    const auto bc = b_stride > 0 ? b : b.contiguous();
    const int64_t m = a.size(-2), inner = a.size(-1);
    const int64_t cols = transpose_b ? b.size(-2) : b.size(-1);
    TORCH_CHECK(ac.scalar_type() == torch::kFloat && bc.scalar_type() == torch::kFloat && ac.dim() == bc.dim() &&
                    (transpose_b ? b.size(-1) : b.size(-2)) == inner,
                "small_bmm: bad operands ", a.sizes(), " ", b.sizes());
    auto shape = a.sizes().vec();
    shape.back() = cols;
    auto c = torch::empty(shape, ac.options());
    const int64_t batches = m == 0 ? 0 : ac.numel() / (m * inner);
    const float *ap = ac.data_ptr<float>(), *bp = bc.data_ptr<float>();
    float* cp = c.data_ptr<float>();
    // a head's product must be worth the threads' fork and join (>= 64K multiply-adds per task)
    const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, m * inner * cols));
    at::parallel_for(0, batches, grain, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const float* bm = bp + p * (b_stride > 0 ? b_stride : cols * inner);
            if (transpose_b) mm_nt(ap + p * m * inner, bm, cp + p * m * cols, m, cols, inner);
            else mm_nn(ap + p * m * inner, bm, cp + p * m * cols, m, inner, cols);
        }
    });
    return c;
}

template <typename T>
void rope_rows(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin, torch::Tensor& y) {
    const auto xa = x.accessor<T, 4>();
    const auto ca = cos.accessor<T, 4>(), sa = sin.accessor<T, 4>();
    auto ya = y.accessor<T, 4>();
    const int64_t half = x.size(3) / 2;
    for (int64_t b = 0; b < x.size(0); ++b)
        for (int64_t h = 0; h < x.size(1); ++h)
            for (int64_t n = 0; n < x.size(2); ++n)
                for (int64_t i = 0; i < x.size(3); ++i) {
                    // x * cos + cat(-x2, x1) * sin, each product rounded to T, then the sum
                    const float rot = i < half ? -static_cast<float>(xa[b][h][n][i + half]) : static_cast<float>(xa[b][h][n][i - half]);
                    const T a = static_cast<T>(static_cast<float>(xa[b][h][n][i]) * static_cast<float>(ca[b][0][n][i]));
                    const T c = static_cast<T>(rot * static_cast<float>(sa[b][0][n][i]));
                    ya[b][h][n][i] = static_cast<T>(static_cast<float>(a) + static_cast<float>(c));
                }
}

// x: [B, H, N, Dh]; rotate-half convention: (x1, x2) -> (-x2, x1)
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
    if (small_cpu_step(x, x.size(0) * x.size(2)) && cos.scalar_type() == x.scalar_type() && cos.is_cpu()) {
        auto y = torch::empty(x.sizes(), x.options());
        if (x.scalar_type() == torch::kFloat) rope_rows<float>(x, cos, sin, y);
        else rope_rows<at::BFloat16>(x, cos, sin, y);
        return y;
    }
    const int64_t half = x.size(-1) / 2;
    const auto x1 = x.narrow(-1, 0, half);
    const auto x2 = x.narrow(-1, half, half);
    return x * cos + torch::cat({-x2, x1}, -1) * sin;
}

}  // namespace

namespace {
std::atomic<AttentionKernel> g_attention_kernel{AttentionKernel::kAuto};
}  // namespace

AttentionKernel parse_attention_kernel(const std::string& name) {
    if (name == "auto") return AttentionKernel::kAuto;
    if (name == "manual") return AttentionKernel::kManual;
    if (name == "sdpa") return AttentionKernel::kSdpa;
    throw std::invalid_argument("attention kernel must be auto, manual or sdpa, got \"" + name + "\"");
}

const char* attention_kernel_name(AttentionKernel kernel) {
    switch (kernel) {
        case AttentionKernel::kAuto: return "auto";
        case AttentionKernel::kManual: return "manual";
        case AttentionKernel::kSdpa: return "sdpa";
    }
    return "?";
}

bool attention_kernel_available(AttentionKernel kernel) { return kernel != AttentionKernel::kSdpa || compat::kHasSdpa; }

void set_attention_kernel(AttentionKernel kernel) {
    if (!attention_kernel_available(kernel))
        throw std::invalid_argument(std::string("attention kernel ") + attention_kernel_name(kernel) + " needs LibTorch >= 2.0");
    g_attention_kernel = kernel;
}

AttentionKernel attention_kernel() { return g_attention_kernel; }

AttentionImpl::AttentionImpl(const LlmConfig& cfg)
    : n_head_(cfg.num_attention_heads), n_kv_head_(cfg.num_key_value_heads), head_dim_(cfg.dim_head()) {
    const int64_t d = cfg.hidden_size;
    const bool bias = cfg.attention_bias;
    q_proj = register_module("q_proj", Linear(d, n_head_ * head_dim_, bias));
    k_proj = register_module("k_proj", Linear(d, n_kv_head_ * head_dim_, bias));
    v_proj = register_module("v_proj", Linear(d, n_kv_head_ * head_dim_, bias));
    o_proj = register_module("o_proj", Linear(n_head_ * head_dim_, d, false));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                     const torch::Tensor& mask, KvCache* cache, int64_t layer) {
    const int64_t b = x.size(0), n = x.size(1);
    const int64_t g = n_head_ / n_kv_head_;
    const auto qkv = linear_group(x, {q_proj.get(), k_proj.get(), v_proj.get()});
    auto q = qkv[0].view({b, n, n_head_, head_dim_}).transpose(1, 2);      // [B, H, N, Dh]
    auto k = qkv[1].view({b, n, n_kv_head_, head_dim_}).transpose(1, 2);   // [B, Hkv, N, Dh]
    auto v = qkv[2].view({b, n, n_kv_head_, head_dim_}).transpose(1, 2);
    q = apply_rope(q, cos, sin);
    k = apply_rope(k, cos, sin);
    if (cache) std::tie(k, v) = cache->append(layer, k, v);                  // [B, Hkv, S, Dh]
    const int64_t s = k.size(2);

    // Decoding a few tokens on the CPU: the two attention products are small, and LibTorch's batched matmul
    // took ~70 us for each in bf16 and ~27 us in f32 (bench llm, TinyLlama, 160 keys); the loops of
    // small_bmm take them in f32. Long prompts keep the input dtype (oneDNN's bf16 kernels win there).
    const bool small = small_cpu_step(q, b * n);
    const AttentionKernel kernel = attention_kernel();
    if (compat::kHasSdpa && (kernel == AttentionKernel::kSdpa || (kernel == AttentionKernel::kAuto && !small))) {
        const auto out = compat::sdpa(q, k, v, mask, 1.0 / std::sqrt(static_cast<double>(head_dim_)));   // [B, H, N, Dh]
        return o_proj(out.transpose(1, 2).reshape({b, n, n_head_ * head_dim_}).to(x.scalar_type()));
    }
    const auto adt = small ? torch::kFloat : q.scalar_type();
    // Query heads h = j*g + i share kv head j: fold the g query heads into the row dimension.
    const auto qg = q.reshape({b, n_kv_head_, g * n, head_dim_}).to(adt);
    auto scores = (small ? small_bmm(qg, k.to(adt), true) : torch::matmul(qg, k.to(adt).transpose(-1, -2)))
                      .view({b, n_head_, n, s});                              // [B, H, N, S]
    scores = scores.to(torch::kFloat) * (1.0 / std::sqrt(static_cast<double>(head_dim_)));
    if (mask.defined()) scores = scores + mask;
    const auto probs = torch::softmax(scores, -1).to(adt).view({b, n_kv_head_, g * n, s});
    const auto out = (small ? small_bmm(probs, v.to(adt), false) : torch::matmul(probs, v.to(adt)))   // [B, Hkv, g*N, Dh]
                         .view({b, n_head_, n, head_dim_})
                         .transpose(1, 2)
                         .reshape({b, n, n_head_ * head_dim_})
                         .to(x.scalar_type());
    return o_proj(out);
}

// ---------------------------------------------------------------------------------------------
MlpImpl::MlpImpl(const LlmConfig& cfg) {
    const auto lin = [](int64_t i, int64_t o) { return Linear(i, o, false); };
    gate_proj = register_module("gate_proj", lin(cfg.hidden_size, cfg.intermediate_size));
    up_proj = register_module("up_proj", lin(cfg.hidden_size, cfg.intermediate_size));
    down_proj = register_module("down_proj", lin(cfg.intermediate_size, cfg.hidden_size));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
    const auto gate_up = linear_group(x, {gate_proj.get(), up_proj.get()});
    return down_proj(F::silu(gate_up[0]) * gate_up[1]);
}

BlockImpl::BlockImpl(const LlmConfig& cfg) {
    input_layernorm = register_module("input_layernorm", RmsNorm(cfg.hidden_size, cfg.rms_norm_eps));
    self_attn = register_module("self_attn", Attention(cfg));
    post_attention_layernorm = register_module("post_attention_layernorm", RmsNorm(cfg.hidden_size, cfg.rms_norm_eps));
    mlp = register_module("mlp", Mlp(cfg));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                 const torch::Tensor& mask, KvCache* cache, int64_t layer) {
    const auto h = x + self_attn(input_layernorm(x), cos, sin, mask, cache, layer);
    return h + mlp(post_attention_layernorm(h));
}

// ---------------------------------------------------------------------------------------------
torch::Tensor rope_inv_freq(const LlmConfig& cfg) {
    const int64_t dh = cfg.dim_head();
    auto inv = 1.0 / torch::pow(cfg.rope_theta, torch::arange(0, dh, 2, torch::kDouble) / static_cast<double>(dh));
    const auto& rs = cfg.rope_scaling;
    if (rs.type == "linear") {
        inv = inv / rs.factor;
    } else if (rs.type == "llama3") {
        // Meta's Llama 3.1 rule: long wavelengths divided by factor, short kept, smooth blend between.
        const double old_ctx = static_cast<double>(rs.original_max_position_embeddings);
        const double low_wavelen = old_ctx / rs.low_freq_factor;
        const double high_wavelen = old_ctx / rs.high_freq_factor;
        auto acc = inv.accessor<double, 1>();
        for (int64_t i = 0; i < inv.size(0); ++i) {
            const double f = acc[i];
            const double wavelen = 2.0 * M_PI / f;
            if (wavelen < high_wavelen) continue;
            if (wavelen > low_wavelen) {
                acc[i] = f / rs.factor;
            } else {
                const double smooth = (old_ctx / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
                acc[i] = (1.0 - smooth) * f / rs.factor + smooth * f;
            }
        }
    }
    return inv.to(torch::kFloat);
}

LlamaImpl::LlamaImpl(const LlmConfig& cfg) : cfg_(cfg) {
    cfg.validate();
    auto embed_opts = torch::nn::EmbeddingOptions(cfg.vocab_size, cfg.hidden_size);
    if (SkipParameterInit::active()) embed_opts._weight(torch::empty({cfg.vocab_size, cfg.hidden_size}));  // loaded next
    embed_tokens = register_module("embed_tokens", torch::nn::Embedding(embed_opts));
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t l = 0; l < cfg.num_hidden_layers; ++l) layers->push_back(Block(cfg));
    norm = register_module("norm", RmsNorm(cfg.hidden_size, cfg.rms_norm_eps));
    if (!cfg.tie_word_embeddings) {
        lm_head = register_module("lm_head", Linear(cfg.hidden_size, cfg.vocab_size, false));
    }
    inv_freq_ = register_buffer("inv_freq", rope_inv_freq(cfg));
}

torch::Tensor LlamaImpl::hidden(const torch::Tensor& tokens, KvCache* cache, const torch::Tensor& positions,
                                const torch::Tensor& key_mask) {
    TORCH_CHECK(tokens.dim() == 2, "llm: tokens must be [B, N], got ", tokens.sizes());
    const int64_t b = tokens.size(0), n = tokens.size(1);
    const int64_t n_past = cache ? cache->n_past() : 0;
    const int64_t s = n_past + n;
    const auto dev = device();

    auto pos = positions.defined() ? positions.to(dev)
                                   : torch::arange(n_past, s, torch::TensorOptions().dtype(torch::kLong).device(dev)).expand({b, n});
    TORCH_CHECK(pos.sizes() == tokens.sizes(), "llm: positions ", pos.sizes(), " do not match tokens ", tokens.sizes());
    // cos/sin: [B, 1, N, Dh], computed in f32 like HF, then cast to the model dtype.
    const auto freqs = pos.to(torch::kFloat).unsqueeze(-1) * inv_freq_.to(dev);        // [B, N, Dh/2]
    const auto emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);
    const auto cos = emb.cos().to(dtype());
    const auto sin = emb.sin().to(dtype());

    // Additive mask [B, 1, N, S]: query i (absolute n_past+i) may see key j <= n_past+i that is not padding.
    torch::Tensor mask;
    if (n > 1 || key_mask.defined()) {
        const auto opts = torch::TensorOptions().dtype(torch::kLong).device(dev);
        auto allowed = (torch::arange(s, opts).unsqueeze(0) <= torch::arange(n_past, s, opts).unsqueeze(1))
                           .unsqueeze(0).unsqueeze(0);                              // [1, 1, N, S]
        if (key_mask.defined()) {
            TORCH_CHECK(key_mask.dim() == 2 && key_mask.size(0) == b && key_mask.size(1) == s,
                        "llm: key_mask must be [B, S] = [", b, ", ", s, "], got ", key_mask.sizes());
            allowed = allowed & key_mask.to(dev).to(torch::kBool).view({b, 1, 1, s});
        }
        // A finite minimum (not -inf) keeps fully masked rows (padding queries) free of NaN.
        mask = torch::zeros(allowed.sizes(), torch::TensorOptions().dtype(torch::kFloat).device(dev))
                   .masked_fill(allowed.logical_not(), std::numeric_limits<float>::lowest());
    }

    torch::Tensor x;  // [B, N, D]
    if (!embed_q.defined()) {
        x = embed_tokens(tokens.to(dev));
    } else if (!embed_extra.defined()) {
        x = dequantize_rows(embed_q, tokens).to(dev);
    } else {  // base rows from the blocks, appended rows from embed_extra (with their gradient)
        const int64_t nb = embed_q.rows;
        const auto t = tokens.to(torch::kCPU);
        const auto base = dequantize_rows(embed_q, t.clamp_max(nb - 1)).to(dev);
        const auto extra = torch::embedding(embed_extra, (t - nb).clamp_min(0).to(dev));
        x = torch::where(t.ge(nb).to(dev).unsqueeze(-1), extra.to(base.scalar_type()), base);
    }
    for (size_t l = 0; l < layers->size(); ++l) {
        x = layers[l]->as<Block>()->forward(x, cos, sin, mask, cache, static_cast<int64_t>(l));
    }
    if (cache) cache->advance(n);
    return norm(x);
}

torch::Tensor LlamaImpl::logits(const torch::Tensor& h) {
    auto out = lm_head                 ? lm_head(h)
               : tied_head_q.defined() ? quant_linear(h, tied_head_q, quant_exact_)
                                       : diagecg::linear(h, embed_tokens->weight);
    const torch::Tensor& extra = lm_head ? head_extra : embed_extra;
    if (extra.defined()) out = torch::cat({out.to(torch::kFloat), diagecg::linear(h, extra).to(torch::kFloat)}, -1);
    return out.to(torch::kFloat);
}

torch::Tensor LlamaImpl::forward(const torch::Tensor& tokens, KvCache* cache, const torch::Tensor& positions,
                                 const torch::Tensor& key_mask) {
    return logits(hidden(tokens, cache, positions, key_mask));
}

void LlamaImpl::set_quant_exact(bool on) {
    quant_exact_ = on;
    for (auto& kv : named_modules("", false))
        if (auto* l = kv.value()->as<LinearImpl>()) l->quant_exact = on;
}

void LlamaImpl::resize_vocab(int64_t new_vocab, const torch::Tensor& new_embed_rows, const torch::Tensor& new_head_rows) {
    const int64_t old = cfg_.vocab_size;
    TORCH_CHECK(new_vocab >= old, "llm: cannot shrink vocabulary from ", old, " to ", new_vocab);
    TORCH_CHECK(new_embed_rows.size(0) == new_vocab - old, "llm: expected ", new_vocab - old, " new embedding rows");
    torch::NoGradGuard ng;
    if (embed_q.defined()) {  // the base rows stay in their blocks; the new ones are f32 parameters beside them
        const bool quant_head = lm_head && lm_head->qweight.defined();
        TORCH_CHECK(!lm_head || (new_head_rows.defined() && new_head_rows.size(0) == new_vocab - old), "llm: expected ",
                    new_vocab - old, " new head rows");
        if (lm_head && !quant_head)  // an untied head the file does not hold in blocks (e.g. Q6_K): it grows itself
            lm_head->weight.set_data(
                torch::cat({lm_head->weight.detach(), new_head_rows.to(lm_head->weight.options())}, 0));
        const auto grow = [&](torch::Tensor& extra, const char* name, const torch::Tensor& rows) {
            const auto r = rows.to(torch::kFloat).to(device());
            const auto w = extra.defined() ? torch::cat({extra.detach(), r}, 0) : r.clone();
            if (extra.defined())
                extra.set_data(w);
            else
                extra = register_parameter(name, w, /*requires_grad=*/false);
        };
        grow(embed_extra, "embed_extra", new_embed_rows);
        if (quant_head) grow(head_extra, "head_extra", new_head_rows);
        cfg_.vocab_size = new_vocab;
        return;
    }
    TORCH_CHECK(!tied_head_q.defined() && !(lm_head && lm_head->qweight.defined()),
                "llm: the vocabulary of a model with quantized weights cannot grow (load it with --dtype f32)");
    const auto w = torch::cat({embed_tokens->weight.detach(), new_embed_rows.to(embed_tokens->weight.options())}, 0);
    embed_tokens->weight.set_data(w);
    embed_tokens->options.num_embeddings(new_vocab);
    if (lm_head) {
        TORCH_CHECK(new_head_rows.defined() && new_head_rows.size(0) == new_vocab - old, "llm: expected ", new_vocab - old, " new head rows");
        lm_head->weight.set_data(torch::cat({lm_head->weight.detach(), new_head_rows.to(lm_head->weight.options())}, 0));
    }
    cfg_.vocab_size = new_vocab;
}

}  // namespace diagecg
