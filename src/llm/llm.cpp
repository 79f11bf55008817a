#include "diagecg/llm/llm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

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

// 8 floats as one vector (GCC's vector extension: one ymm in the AVX-512 clone, two xmm in the default one).
typedef float V8 __attribute__((vector_size(32)));

// An unaligned load (written out, not returned: a vector return value changes the ABI without AVX).
[[gnu::always_inline]] inline void load8(V8& v, const float* p) { std::memcpy(&v, p, sizeof v); }

// mm_nn for a head size K, a multiple of 8, with the output row in registers: acc += a[i, j] b[j, :].
template <int K>
[[gnu::always_inline]] inline void mm_nn_fixed(const float* a, const float* b, float* c, int64_t m, int64_t n) {
    constexpr int kV = K / 8;
    for (int64_t i = 0; i < m; ++i) {
        V8 acc[kV] = {};
        for (int64_t j = 0; j < n; ++j) {
            const float p = a[i * n + j];
            for (int v = 0; v < kV; ++v) {
                V8 x;
                load8(x, b + j * K + v * 8);
                acc[v] += p * x;
            }
        }
        std::memcpy(c + i * K, acc, sizeof acc);
    }
}

// mm_nt for a head size K, a multiple of 8: each product's K terms in 8 lane sums, then the lanes folded.
template <int K>
[[gnu::always_inline]] inline void mm_nt_fixed(const float* a, const float* b, float* c, int64_t m, int64_t n) {
    constexpr int kV = K / 8;
    for (int64_t i = 0; i < m; ++i) {
        V8 q[kV];
        for (int v = 0; v < kV; ++v) load8(q[v], a + i * K + v * 8);
        for (int64_t j = 0; j < n; ++j) {
            V8 acc = {}, x;
            for (int v = 0; v < kV; ++v) {
                load8(x, b + j * K + v * 8);
                acc += q[v] * x;
            }
            c[i * n + j] = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        }
    }
}

// c[i, j] = sum_t a[i, t] b[j, t] (a [m, k], b [n, k]); other head sizes in 16 lane sums, so the compiler
// vectorizes without reassociating.
__attribute__((target_clones("avx512f", "default"))) void mm_nt(const float* a, const float* b, float* c, int64_t m,
                                                                int64_t n, int64_t k) {
    switch (k) {   // the usual head sizes: vectors of the query row held in registers
        case 8: return mm_nt_fixed<8>(a, b, c, m, n);
        case 16: return mm_nt_fixed<16>(a, b, c, m, n);
        case 32: return mm_nt_fixed<32>(a, b, c, m, n);
        case 64: return mm_nt_fixed<64>(a, b, c, m, n);
        case 128: return mm_nt_fixed<128>(a, b, c, m, n);
        default: break;
    }
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
    // the usual head sizes with the output row held in registers
    switch (k) {
        case 8: return mm_nn_fixed<8>(a, b, c, m, n);
        case 16: return mm_nn_fixed<16>(a, b, c, m, n);
        case 32: return mm_nn_fixed<32>(a, b, c, m, n);
        case 64: return mm_nn_fixed<64>(a, b, c, m, n);
        case 128: return mm_nn_fixed<128>(a, b, c, m, n);
        default: break;
    }
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

// One rotated value of the rotate-half convention, x * cos + rot * sin, rounded as the op chain it replaces
// rounds: each product to T, then the sum.
template <typename T>
inline T rope_value(float x, float rot, float c, float s) {
    const T a = static_cast<T>(x * c);
    const T b = static_cast<T>(rot * s);
    return static_cast<T>(static_cast<float>(a) + static_cast<float>(b));
}

// dh values of one head rotated: in [dh], cos/sin [dh] -> out [dh] (out may be float: the T value widened).
template <typename T, typename O>
void rope_head(const T* in, const T* cos, const T* sin, O* out, int64_t dh) {
    const int64_t half = dh / 2;
    for (int64_t i = 0; i < dh; ++i) {
        const float rot = i < half ? -static_cast<float>(in[i + half]) : static_cast<float>(in[i - half]);
        out[i] = static_cast<O>(
            rope_value<T>(static_cast<float>(in[i]), rot, static_cast<float>(cos[i]), static_cast<float>(sin[i])));
    }
}

// The shapes of one decode step's attention (step_attention).
struct StepShape {
    int64_t b, n, n_head, hkv, cap, dh, n_past;
    bool mask_per_row;   // the mask has a [N, S] block per batch row (else one for all)
};

// Attention of a decode step on the CPU (a few rows, no autograd) as one pass per (batch row, kv head): this
// step's keys rotated and its values written into the cache buffers at n_past, the g query heads that share the
// kv head rotated, then scores, softmax and the weighted sum over the filled keys in f32, read in place from the
// buffers. It replaces about fifteen LibTorch ops (RoPE, cache copies, two products, scale, mask, softmax,
// casts, transposes), each a few microseconds of dispatch, with one parallel region; the values are rounded
// where those ops round (rotated q/k and the cache in T, the rest f32, the output to T).
// q [B, N, H*Dh], k and v [B, N, Hkv*Dh], cos and sin [B*N, Dh], all T; mask [B or 1, N, S] f32 or null;
// kb and vb [B, Hkv, capacity, Dh] T -> y [B, N, H*Dh] T.
template <typename T>
void step_attention_rows(const T* qp, const T* kp, const T* vp, const T* cp, const T* sp, const float* mp, T* kb,
                         T* vb, T* yp, const StepShape& sh) {
    const int64_t n = sh.n, hkv = sh.hkv, cap = sh.cap, dh = sh.dh, n_past = sh.n_past, n_head = sh.n_head;
    const int64_t g = n_head / hkv, s = n_past + n, rows = g * n;
    TORCH_CHECK(s <= cap, "kv cache: ", n_past, " + ", n, " tokens exceed its capacity ", cap);
    const auto scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dh)));
    constexpr bool kF32 = std::is_same<T, float>::value;
    // a task must be worth the threads' fork and join (>= 64K multiply-adds)
    const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, 2 * rows * s * dh));
    at::parallel_for(0, sh.b * hkv, grain, [&](int64_t p0, int64_t p1) {
        thread_local std::vector<float> scratch;   // grows to the longest context seen; no per-step allocation
        scratch.resize(static_cast<size_t>(2 * rows * dh + rows * s + (kF32 ? 0 : 2 * s * dh)));
        float* qg = scratch.data();
        float* out = qg + rows * dh;
        float* sc = out + rows * dh;
        for (int64_t p = p0; p < p1; ++p) {
            const int64_t bi = p / hkv, j = p % hkv;
            T* kh = kb + p * cap * dh;
            T* vh = vb + p * cap * dh;
            for (int64_t t = 0; t < n; ++t) {
                const int64_t row = bi * n + t;
                rope_head(kp + (row * hkv + j) * dh, cp + row * dh, sp + row * dh, kh + (n_past + t) * dh, dh);
                std::copy(vp + (row * hkv + j) * dh, vp + (row * hkv + j + 1) * dh, vh + (n_past + t) * dh);
            }
            // query head h = j*g + i at row i*n + t, as q.reshape({B, Hkv, g*N, Dh}) orders them
            for (int64_t i = 0; i < g; ++i)
                for (int64_t t = 0; t < n; ++t) {
                    const int64_t row = bi * n + t;
                    rope_head(qp + (row * n_head + j * g + i) * dh, cp + row * dh, sp + row * dh,
                              qg + (i * n + t) * dh, dh);
                }
            const float *kf = nullptr, *vf = nullptr;
            if constexpr (kF32) {
                kf = kh;
                vf = vh;
            } else {
                float* conv = sc + rows * s;
                for (int64_t e = 0; e < s * dh; ++e) conv[e] = static_cast<float>(kh[e]);
                for (int64_t e = 0; e < s * dh; ++e) conv[s * dh + e] = static_cast<float>(vh[e]);
                kf = conv;
                vf = conv + s * dh;
            }
            mm_nt(qg, kf, sc, rows, s, dh);
            for (int64_t r = 0; r < rows; ++r) {
                float* sr = sc + r * s;
                const float* mr = mp ? mp + ((sh.mask_per_row ? bi : 0) * n + r % n) * s : nullptr;
                float mx = -std::numeric_limits<float>::infinity();
                for (int64_t c = 0; c < s; ++c) {
                    sr[c] = sr[c] * scale + (mr ? mr[c] : 0.0f);
                    mx = std::max(mx, sr[c]);
                }
                float sum = 0;
                for (int64_t c = 0; c < s; ++c) sum += sr[c] = std::exp(sr[c] - mx);
                const float inv = 1.0f / sum;
                for (int64_t c = 0; c < s; ++c) sr[c] *= inv;
            }
            mm_nn(sc, vf, out, rows, s, dh);
            for (int64_t i = 0; i < g; ++i)
                for (int64_t t = 0; t < n; ++t) {
                    const float* o = out + (i * n + t) * dh;
                    T* yr = yp + ((bi * n + t) * n_head + j * g + i) * dh;
                    for (int64_t e = 0; e < dh; ++e) yr[e] = static_cast<T>(o[e]);
                }
        }
    });
}

// step_attention_rows on tensors: q [B, N, H*Dh], k and v [B, N, Hkv*Dh], cos and sin [B, 1, N, Dh], all T; mask
// [B or 1, 1, N, S] f32 or undefined; kbuf and vbuf [B, Hkv, capacity, Dh] T -> [B, N, H*Dh] T.
template <typename T>
torch::Tensor step_attention(const torch::Tensor& q_in, const torch::Tensor& k_in, const torch::Tensor& v_in,
                             const torch::Tensor& cos_in, const torch::Tensor& sin_in, const torch::Tensor& mask_in,
                             const torch::Tensor& kbuf, const torch::Tensor& vbuf, int64_t n_past, int64_t n_head) {
    const auto q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    const auto cosc = cos_in.contiguous(), sinc = sin_in.contiguous();
    const auto mask = mask_in.defined() ? compat::as_dtype(mask_in, torch::kFloat).contiguous() : mask_in;
    const StepShape sh{q.size(0), q.size(1), n_head, kbuf.size(1), kbuf.size(2), kbuf.size(3), n_past,
                       mask.defined() && mask.size(0) > 1};
    const int64_t s = n_past + sh.n;
    TORCH_CHECK(kbuf.is_contiguous() && vbuf.is_contiguous() && kbuf.size(0) == sh.b && q.size(2) == n_head * sh.dh &&
                    k.size(2) == sh.hkv * sh.dh && v.size(2) == sh.hkv * sh.dh,
                "attention: bad step operands ", q.sizes(), " ", k.sizes(), " ", kbuf.sizes());
    TORCH_CHECK(!mask.defined() ||
                    ((mask.size(0) == sh.b || mask.size(0) == 1) && mask.size(2) == sh.n && mask.size(3) == s),
                "attention: mask ", mask.sizes(), " does not match ", sh.b, " x ", sh.n, " queries over ", s, " keys");
    auto y = torch::empty({sh.b, sh.n, n_head * sh.dh}, q.options());
    step_attention_rows<T>(q.data_ptr<T>(), k.data_ptr<T>(), v.data_ptr<T>(), cosc.data_ptr<T>(), sinc.data_ptr<T>(),
                           mask.defined() ? mask.data_ptr<float>() : nullptr, kbuf.data_ptr<T>(), vbuf.data_ptr<T>(),
                           y.data_ptr<T>(), sh);
    return y;
}

template <typename T>
void rope_rows(const torch::Tensor& x_in, const torch::Tensor& cos_in, const torch::Tensor& sin_in, torch::Tensor& y) {
    const auto x = x_in.contiguous(), cos = cos_in.contiguous(), sin = sin_in.contiguous();
    const int64_t b = x.size(0), h = x.size(1), n = x.size(2), dh = x.size(3);
    const T *xp = x.data_ptr<T>(), *cp = cos.data_ptr<T>(), *sp = sin.data_ptr<T>();
    T* yp = y.data_ptr<T>();
    for (int64_t bi = 0; bi < b; ++bi)
        for (int64_t hi = 0; hi < h; ++hi)
            for (int64_t t = 0; t < n; ++t) {
                const int64_t row = (bi * h + hi) * n + t;
                rope_head(xp + row * dh, cp + (bi * n + t) * dh, sp + (bi * n + t) * dh, yp + row * dh, dh);
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
    const auto dt = qkv[0].scalar_type();
    const AttentionKernel kernel = attention_kernel();
    // Decoding a few tokens on the CPU: RoPE, the cache writes and attention in one pass (step_attention).
    if (kernel != AttentionKernel::kSdpa && small_cpu_step(qkv[0], b * n) && cos.scalar_type() == dt && cos.is_cpu() &&
        (!cache || cache->keys(layer).scalar_type() == dt)) {
        torch::Tensor kbuf, vbuf;
        int64_t n_past = 0;
        if (cache) {
            kbuf = cache->keys(layer);
            vbuf = cache->values(layer);
            n_past = cache->n_past();
        } else {   // no cache: the step's own keys and values are all there is
            kbuf = torch::empty({b, n_kv_head_, n, head_dim_}, qkv[1].options());
            vbuf = torch::empty_like(kbuf);
        }
        const auto out = dt == torch::kFloat
                             ? step_attention<float>(qkv[0], qkv[1], qkv[2], cos, sin, mask, kbuf, vbuf, n_past, n_head_)
                             : step_attention<at::BFloat16>(qkv[0], qkv[1], qkv[2], cos, sin, mask, kbuf, vbuf, n_past,
                                                           n_head_);
        return o_proj(out);
    }
    auto q = qkv[0].view({b, n, n_head_, head_dim_}).transpose(1, 2);      // [B, H, N, Dh]
    auto k = qkv[1].view({b, n, n_kv_head_, head_dim_}).transpose(1, 2);   // [B, Hkv, N, Dh]
    auto v = qkv[2].view({b, n, n_kv_head_, head_dim_}).transpose(1, 2);
    q = apply_rope(q, cos, sin);
    k = apply_rope(k, cos, sin);
    if (cache) std::tie(k, v) = cache->append(layer, k, v);                  // [B, Hkv, S, Dh]
    const int64_t s = k.size(2);

    if (compat::kHasSdpa && kernel != AttentionKernel::kManual) {
        const auto out = compat::sdpa(q, k, v, mask, 1.0 / std::sqrt(static_cast<double>(head_dim_)));   // [B, H, N, Dh]
        return o_proj(out.transpose(1, 2).reshape({b, n, n_head_ * head_dim_}).to(x.scalar_type()));
    }
    // Query heads h = j*g + i share kv head j: fold the g query heads into the row dimension.
    const auto qg = q.reshape({b, n_kv_head_, g * n, head_dim_});
    auto scores = torch::matmul(qg, k.transpose(-1, -2)).view({b, n_head_, n, s});   // [B, H, N, S]
    scores = scores.to(torch::kFloat) * (1.0 / std::sqrt(static_cast<double>(head_dim_)));
    if (mask.defined()) scores = scores + mask;
    const auto probs = torch::softmax(scores, -1).to(q.scalar_type()).view({b, n_kv_head_, g * n, s});
    const auto out = torch::matmul(probs, v)   // [B, Hkv, g*N, Dh]
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

namespace {

// silu(g) * u over n values, rounded as the two ops it replaces round: silu(g) to T, then the product.
template <typename T>
void silu_mul(const T* g, const T* u, T* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const float gf = static_cast<float>(g[i]);
        const T s = static_cast<T>(gf / (1.0f + std::exp(-gf)));
        y[i] = static_cast<T>(static_cast<float>(s) * static_cast<float>(u[i]));
    }
}

}  // namespace

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
    const auto gate_up = linear_group(x, {gate_proj.get(), up_proj.get()});
    const auto& gt = gate_up[0];
    const auto& up = gate_up[1];
    if (small_cpu_step(gt, gt.numel() / std::max<int64_t>(1, gt.size(-1))) && up.scalar_type() == gt.scalar_type() &&
        gt.is_contiguous() && up.is_contiguous()) {
        auto h = torch::empty_like(gt);
        if (gt.scalar_type() == torch::kFloat)
            silu_mul(gt.data_ptr<float>(), up.data_ptr<float>(), h.data_ptr<float>(), gt.numel());
        else
            silu_mul(gt.data_ptr<at::BFloat16>(), up.data_ptr<at::BFloat16>(), h.data_ptr<at::BFloat16>(), gt.numel());
        return down_proj(h);
    }
    return down_proj(F::silu(gt) * up);
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

namespace {

// cos/sin [B, 1, N, Dh] of a few rows on the CPU in one loop (the op chain of LlamaImpl::hidden is about ten
// dispatches): angle = float(position) * inv_freq in f32, its cos and sin rounded to the model dtype.
template <typename T>
void fill_rope_tables(const int64_t* pos, int64_t rows, int64_t n_past, int64_t n, const float* inv, int64_t half,
                      T* cos, T* sin) {
    for (int64_t r = 0; r < rows; ++r) {
        const float p = static_cast<float>(pos ? pos[r] : n_past + r % n);
        for (int64_t i = 0; i < half; ++i) {
            const float a = p * inv[i];
            cos[r * 2 * half + i] = cos[r * 2 * half + half + i] = static_cast<T>(std::cos(a));
            sin[r * 2 * half + i] = sin[r * 2 * half + half + i] = static_cast<T>(std::sin(a));
        }
    }
}

std::pair<torch::Tensor, torch::Tensor> rope_tables_small(const torch::Tensor& positions, int64_t b, int64_t n,
                                                          int64_t n_past, const torch::Tensor& inv_freq,
                                                          torch::Dtype dtype) {
    const auto pos = positions.defined() ? positions.to(torch::kCPU).to(torch::kLong).contiguous() : positions;
    const auto inv = inv_freq.to(torch::kFloat).contiguous();
    const int64_t half = inv.size(0);
    auto cos = torch::empty({b, 1, n, 2 * half}, torch::TensorOptions().dtype(dtype));
    auto sin = torch::empty_like(cos);
    const int64_t* pp = pos.defined() ? pos.data_ptr<int64_t>() : nullptr;
    if (dtype == torch::kFloat)
        fill_rope_tables(pp, b * n, n_past, n, inv.data_ptr<float>(), half, cos.data_ptr<float>(), sin.data_ptr<float>());
    else
        fill_rope_tables(pp, b * n, n_past, n, inv.data_ptr<float>(), half, cos.data_ptr<at::BFloat16>(),
                         sin.data_ptr<at::BFloat16>());
    return {cos, sin};
}

}  // namespace

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

torch::Tensor LlamaImpl::embed(const torch::Tensor& tokens) {
    const auto dev = device();
    if (!embed_q.defined()) return embed_tokens(tokens.device() == dev ? tokens : tokens.to(dev));
    if (!embed_extra.defined()) return dequantize_rows(embed_q, tokens).to(dev);
    // base rows from the blocks, appended rows from embed_extra (with their gradient)
    const int64_t nb = embed_q.rows;
    const auto t = tokens.to(torch::kCPU);
    const auto base = dequantize_rows(embed_q, t.clamp_max(nb - 1)).to(dev);
    const auto extra = torch::embedding(embed_extra, (t - nb).clamp_min(0).to(dev));
    return torch::where(t.ge(nb).to(dev).unsqueeze(-1), extra.to(base.scalar_type()), base);
}

namespace {

// The decode step's layer ops on raw f32 buffers need every weight in a form their kernels read.
bool linear_step_ok(const LinearImpl& l) {
    if (l.has_lora() || l.quant_exact) return false;
    if (l.bias.defined() && (l.bias.scalar_type() != torch::kFloat || !l.bias.is_contiguous() || !l.bias.is_cpu()))
        return false;
    if (l.qweight.defined()) return true;
    return l.weight.scalar_type() == torch::kFloat && l.weight.is_contiguous() && l.weight.is_cpu();
}

bool f32_cpu(const torch::Tensor& t) { return t.scalar_type() == torch::kFloat && t.is_contiguous() && t.is_cpu(); }

// ys[i] = x ls[i]^T (+ bias) on raw f32 buffers (x [m, k], ys[i] [m, out_i]): one parallel pass for the
// weights of one kind, as linear_group's.
void step_linears(const std::vector<LinearImpl*>& ls, const float* x, int64_t m, const std::vector<float*>& ys) {
    bool quant = true, dense = true;
    for (const auto* l : ls) {
        quant = quant && l->qweight.defined() && l->qweight.type == ls[0]->qweight.type;
        dense = dense && !l->qweight.defined();
    }
    const int64_t k = ls[0]->in_features();
    if (quant) {
        std::vector<const QuantWeight*> ws;
        for (const auto* l : ls) ws.push_back(&l->qweight);
        quant_matmul_f32(x, m, ws, ys);
    } else if (dense) {
        std::vector<const float*> ws;
        std::vector<int64_t> n;
        for (const auto* l : ls) {
            ws.push_back(l->weight.data_ptr<float>());
            n.push_back(l->out_features());
        }
        if (!fast_linear_f32(x, m, k, ws, n, ys)) {   // no fast kernel here (or LibTorch asked for): its matmul
            const auto xt = torch::from_blob(const_cast<float*>(x), {m, k});
            for (size_t i = 0; i < ls.size(); ++i)
                torch::from_blob(ys[i], {m, n[i]}).copy_(torch::matmul(xt, ls[i]->weight.t()));
        }
    } else {
        for (size_t i = 0; i < ls.size(); ++i) step_linears({ls[i]}, x, m, {ys[i]});
        return;
    }
    for (size_t i = 0; i < ls.size(); ++i) {
        if (!ls[i]->bias.defined()) continue;
        const float* bp = ls[i]->bias.data_ptr<float>();
        const int64_t n = ls[i]->out_features();
        for (int64_t r = 0; r < m; ++r)
            for (int64_t j = 0; j < n; ++j) ys[i][r * n + j] += bp[j];
    }
}

}  // namespace

bool LlamaImpl::step_loops_apply(const torch::Tensor& tokens, const KvCache* cache) const {
    if (!cache || torch::GradMode::is_enabled() || !device().is_cpu() || dtype() != torch::kFloat ||
        attention_kernel() == AttentionKernel::kSdpa || tokens.numel() > kFastLinearMaxRows ||
        cache->batch() != tokens.size(0) || cache->keys(0).scalar_type() != torch::kFloat || !f32_cpu(norm->weight) ||
        !f32_cpu(inv_freq_))
        return false;
    for (const auto& m : *layers) {
        const auto* blk = m->as<BlockImpl>();
        const auto* at = blk->self_attn.get();
        const auto* mlp = blk->mlp.get();
        if (!f32_cpu(blk->input_layernorm->weight) || !f32_cpu(blk->post_attention_layernorm->weight)) return false;
        for (const auto* l : {at->q_proj.get(), at->k_proj.get(), at->v_proj.get(), at->o_proj.get(),
                              mlp->gate_proj.get(), mlp->up_proj.get(), mlp->down_proj.get()})
            if (!linear_step_ok(*l)) return false;
    }
    return true;
}

// The decode step of LlamaImpl::hidden in loops on raw f32 buffers: the same kernels and roundings as the
// modules' small-step path (RmsNorm's loop, linear_group's kernels, step_attention, SwiGLU's loop, f32 residual
// adds), without the twenty-odd LibTorch ops a layer costs there (a few hundred ns each: most of a stories260K
// step). Buffers are per thread and grow to the largest step seen.
torch::Tensor LlamaImpl::hidden_step(const torch::Tensor& tokens, KvCache& cache, const torch::Tensor& positions,
                                     const torch::Tensor& key_mask) {
    const int64_t b = tokens.size(0), n = tokens.size(1), m = b * n, n_past = cache.n_past(), s = n_past + n;
    const int64_t d = cfg_.hidden_size, inter = cfg_.intermediate_size, dh = cfg_.dim_head();
    const int64_t nh = cfg_.num_attention_heads, nkv = cfg_.num_key_value_heads;
    const auto eps = static_cast<float>(cfg_.rms_norm_eps);
    thread_local std::vector<float> buf;
    const int64_t mask_size = (n > 1 || key_mask.defined()) ? b * n * s : 0;
    buf.resize(static_cast<size_t>(m * (3 * d + 2 * nh * dh + 2 * nkv * dh + 2 * inter + 2 * dh) + mask_size));
    float* x = buf.data();
    float* xn = x + m * d;
    float* o = xn + m * d;
    float* q = o + m * d;
    float* att = q + m * nh * dh;
    float* k = att + m * nh * dh;
    float* v = k + m * nkv * dh;
    float* gate = v + m * nkv * dh;
    float* up = gate + m * inter;
    float* cos = up + m * inter;
    float* sin = cos + m * dh;
    float* mask = mask_size ? sin + m * dh : nullptr;

    const auto x0 = compat::as_dtype(embed(tokens), torch::kFloat).contiguous();
    std::copy(x0.data_ptr<float>(), x0.data_ptr<float>() + m * d, x);
    const auto pos = positions.defined() ? positions.to(torch::kCPU).to(torch::kLong).contiguous() : positions;
    fill_rope_tables(pos.defined() ? pos.data_ptr<int64_t>() : nullptr, m, n_past, n, inv_freq_.data_ptr<float>(),
                     dh / 2, cos, sin);
    if (mask) {   // query i (absolute n_past+i) sees key j <= n_past+i that is not padding; finite minimum as hidden()
        torch::Tensor km;
        if (key_mask.defined()) {
            TORCH_CHECK(key_mask.dim() == 2 && key_mask.size(0) == b && key_mask.size(1) == s,
                        "llm: key_mask must be [B, S] = [", b, ", ", s, "], got ", key_mask.sizes());
            km = key_mask.to(torch::kCPU).to(torch::kBool).contiguous();
        }
        const bool* kp = km.defined() ? km.data_ptr<bool>() : nullptr;
        for (int64_t bi = 0; bi < b; ++bi)
            for (int64_t i = 0; i < n; ++i)
                for (int64_t j = 0; j < s; ++j)
                    mask[(bi * n + i) * s + j] = j <= n_past + i && (!kp || kp[bi * s + j])
                                                     ? 0.0f
                                                     : std::numeric_limits<float>::lowest();
    }
    const StepShape sh{b, n, nh, nkv, cache.capacity(), dh, n_past, true};
    for (size_t l = 0; l < layers->size(); ++l) {
        auto* blk = layers[l]->as<BlockImpl>();
        auto* at = blk->self_attn.get();
        auto* mlp = blk->mlp.get();
        rms_norm_rows(x, blk->input_layernorm->weight.data_ptr<float>(), xn, m, d, eps);
        step_linears({at->q_proj.get(), at->k_proj.get(), at->v_proj.get()}, xn, m, {q, k, v});
        step_attention_rows<float>(q, k, v, cos, sin, mask, cache.keys(static_cast<int64_t>(l)).data_ptr<float>(),
                                   cache.values(static_cast<int64_t>(l)).data_ptr<float>(), att, sh);
        step_linears({at->o_proj.get()}, att, m, {o});
        for (int64_t i = 0; i < m * d; ++i) x[i] += o[i];
        rms_norm_rows(x, blk->post_attention_layernorm->weight.data_ptr<float>(), xn, m, d, eps);
        step_linears({mlp->gate_proj.get(), mlp->up_proj.get()}, xn, m, {gate, up});
        silu_mul(gate, up, gate, m * inter);
        step_linears({mlp->down_proj.get()}, gate, m, {o});
        for (int64_t i = 0; i < m * d; ++i) x[i] += o[i];
    }
    cache.advance(n);
    auto out = torch::empty({b, n, d});
    rms_norm_rows(x, norm->weight.data_ptr<float>(), out.data_ptr<float>(), m, d, eps);
    return out;
}

torch::Tensor LlamaImpl::hidden(const torch::Tensor& tokens, KvCache* cache, const torch::Tensor& positions,
                                const torch::Tensor& key_mask) {
    TORCH_CHECK(tokens.dim() == 2, "llm: tokens must be [B, N], got ", tokens.sizes());
    const int64_t b = tokens.size(0), n = tokens.size(1);
    const int64_t n_past = cache ? cache->n_past() : 0;
    const int64_t s = n_past + n;
    const auto dev = device();

    TORCH_CHECK(!positions.defined() || positions.sizes() == tokens.sizes(), "llm: positions ", positions.sizes(),
                " do not match tokens ", tokens.sizes());
    if (step_loops_apply(tokens, cache)) return hidden_step(tokens, *cache, positions, key_mask);
    // cos/sin: [B, 1, N, Dh], computed in f32 like HF, then cast to the model dtype.
    torch::Tensor cos, sin;
    if (small_cpu_step(embed_tokens->weight, b * n)) {
        std::tie(cos, sin) = rope_tables_small(positions, b, n, n_past, inv_freq_, dtype());
    } else {
        const auto pos = positions.defined()
                             ? positions.to(dev)
                             : torch::arange(n_past, s, torch::TensorOptions().dtype(torch::kLong).device(dev)).expand({b, n});
        const auto freqs = pos.to(torch::kFloat).unsqueeze(-1) * inv_freq_.to(dev);        // [B, N, Dh/2]
        const auto emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);
        cos = emb.cos().to(dtype());
        sin = emb.sin().to(dtype());
    }

    // Additive mask [B, 1, N, S]: query i (absolute n_past+i) may see key j <= n_past+i that is not padding.
    torch::Tensor mask;
    if (n > 1 || key_mask.defined()) {
        const auto opts = torch::TensorOptions().dtype(torch::kLong).device(dev);
        auto allowed = (torch::arange(s, opts).unsqueeze(0) <= torch::arange(n_past, s, opts).unsqueeze(1))
                           .unsqueeze(0).unsqueeze(0);                              // [1, 1, N, S]
        if (key_mask.defined() && key_mask.dim() == 3) {   // per query (packed sequences, prefix-pack.h)
            TORCH_CHECK(key_mask.size(0) == b && key_mask.size(1) == n && key_mask.size(2) == s,
                        "llm: a per-query key_mask must be [B, N, S] = [", b, ", ", n, ", ", s, "], got ", key_mask.sizes());
            allowed = allowed & key_mask.to(dev).to(torch::kBool).view({b, 1, n, s});
        } else if (key_mask.defined()) {
            TORCH_CHECK(key_mask.dim() == 2 && key_mask.size(0) == b && key_mask.size(1) == s,
                        "llm: key_mask must be [B, S] = [", b, ", ", s, "] or [B, N, S], got ", key_mask.sizes());
            allowed = allowed & key_mask.to(dev).to(torch::kBool).view({b, 1, 1, s});
        }
        // A finite minimum (not -inf) keeps fully masked rows (padding queries) free of NaN.
        mask = torch::zeros(allowed.sizes(), torch::TensorOptions().dtype(torch::kFloat).device(dev))
                   .masked_fill(allowed.logical_not(), std::numeric_limits<float>::lowest());
    }

    torch::Tensor x = embed(tokens);  // [B, N, D]
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
    return compat::as_dtype(out, torch::kFloat);
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
