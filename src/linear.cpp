#include "diagecg/linear.h"

// GCC 12 reports a false "may be used uninitialized" inside _mm512_reduce_add_ps.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstring>

#include <ATen/Parallel.h>

namespace diagecg {

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias) {
    // nn.Linear's default init: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    weight = register_parameter("weight", torch::empty({out_features, in_features}).uniform_(-bound, bound));
    if (with_bias) bias = register_parameter("bias", torch::empty({out_features}).uniform_(-bound, bound));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
    auto y = diagecg::linear(x, weight, bias);
    if (!lora_a.defined()) return y;
    const auto xl = lora_dropout > 0 ? torch::dropout(x, lora_dropout, is_training()) : x;
    // Under bf16 autocast the matmuls run in bf16; otherwise the adapter runs in f32 and is cast back.
    const auto delta = torch::matmul(torch::matmul(xl.to(lora_a.scalar_type()), lora_a.t()), lora_b.t()) * lora_scale;
    return y + delta.to(y.scalar_type());
}

void LinearImpl::attach_lora(int64_t rank, double alpha, double dropout) {
    if (lora_a.defined()) throw std::logic_error("a LoRA adapter is attached already");
    if (rank <= 0) throw std::invalid_argument("LoRA rank must be > 0");
    const int64_t out = weight.size(0), in = weight.size(1);
    auto opts = torch::TensorOptions().dtype(torch::kFloat).device(weight.device());
    // PEFT's init: kaiming_uniform_(a = sqrt(5)) on A, i.e. U(-1/sqrt(in), 1/sqrt(in)); B = 0, so the
    // adapted layer starts equal to the base layer.
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    lora_a = register_parameter("lora_A", torch::empty({rank, in}, opts).uniform_(-bound, bound));
    lora_b = register_parameter("lora_B", torch::zeros({out, rank}, opts));
    lora_scale = alpha / static_cast<double>(rank);
    lora_dropout = dropout;
}

torch::Tensor LinearImpl::merged_weight() const {
    if (!lora_a.defined()) return weight.detach();
    torch::NoGradGuard ng;
    const auto delta = torch::matmul(lora_b.to(torch::kFloat), lora_a.to(torch::kFloat)) * lora_scale;
    return (weight.to(torch::kFloat) + delta).to(weight.scalar_type());
}

void LinearImpl::merge_lora() {
    if (!lora_a.defined()) return;
    {
        torch::NoGradGuard ng;
        weight.copy_(merged_weight());
    }
    // LibTorch 1.13 has no unregister_parameter; the parameter dict is a protected member.
    parameters_.erase("lora_A");
    parameters_.erase("lora_B");
    lora_a = lora_b = torch::Tensor();
    lora_scale = 0;
}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
    const int64_t k = w.size(1);
    const auto dt = w.scalar_type();
    if ((dt == torch::kBFloat16 || dt == torch::kFloat) && x.scalar_type() == dt && x.device().is_cpu() &&
        !torch::GradMode::is_enabled() && x.numel() / k <= kFastLinearMaxRows && w.is_contiguous()) {
        auto y = fast_linear(x.reshape({-1, k}), w);
        if (y.defined()) {
            auto shape = x.sizes().vec();
            shape.back() = w.size(0);
            y = y.view(shape);
            return b.defined() ? y + b : y;
        }
    }
    return torch::nn::functional::linear(x, w, b);
}

namespace {

// Weight loads widened to f32 vectors. bf16 is the high half of an f32, so a shift widens it.
struct Bf16 {
    using T = uint16_t;
    __attribute__((target("avx512f"))) static __m512 load16(const T* p) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
    }
    __attribute__((target("avx2,fma"))) static __m256 load8(const T* p) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
    }
    static float scalar(T v) {
        const uint32_t bits = static_cast<uint32_t>(v) << 16;
        float f;
        std::memcpy(&f, &bits, 4);
        return f;
    }
};
struct F32 {
    using T = float;
    __attribute__((target("avx512f"))) static __m512 load16(const T* p) { return _mm512_loadu_ps(p); }
    __attribute__((target("avx2,fma"))) static __m256 load8(const T* p) { return _mm256_loadu_ps(p); }
    static float scalar(T v) { return v; }
};

// y[m, n] = sum_k x[m, k] w[n, k] for n in [n0, n1), R weight rows at a time: each x vector load serves
// R rows and the R weight streams are read in parallel. M input rows (<= 8), f32 accumulation.
template <typename W, int M, int R>
__attribute__((target("avx512f"))) void rows_avx512(const float* x, const typename W::T* w, float* y, int64_t k,
                                                    int64_t n_total, int64_t n0, int64_t n1) {
    int64_t n = n0;
    for (; n + R <= n1; n += R) {
        __m512 acc[R][M];
        for (int r = 0; r < R; ++r)
            for (int m = 0; m < M; ++m) acc[r][m] = _mm512_setzero_ps();
        int64_t i = 0;
        for (; i + 16 <= k; i += 16) {
            __m512 wv[R];
            for (int r = 0; r < R; ++r) wv[r] = W::load16(w + (n + r) * k + i);
            for (int m = 0; m < M; ++m) {
                const __m512 xv = _mm512_loadu_ps(x + m * k + i);
                for (int r = 0; r < R; ++r) acc[r][m] = _mm512_fmadd_ps(wv[r], xv, acc[r][m]);
            }
        }
        for (int r = 0; r < R; ++r) {
            for (int m = 0; m < M; ++m) {
                float s = _mm512_reduce_add_ps(acc[r][m]);
                for (int64_t j = i; j < k; ++j) s += W::scalar(w[(n + r) * k + j]) * x[m * k + j];
                y[m * n_total + n + r] = s;
            }
        }
    }
    if (n < n1) rows_avx512<W, M, 1>(x, w, y, k, n_total, n, n1);
}

template <typename W, int M, int R>
__attribute__((target("avx2,fma"))) void rows_avx2(const float* x, const typename W::T* w, float* y, int64_t k,
                                                   int64_t n_total, int64_t n0, int64_t n1) {
    int64_t n = n0;
    for (; n + R <= n1; n += R) {
        __m256 acc[R][M];
        for (int r = 0; r < R; ++r)
            for (int m = 0; m < M; ++m) acc[r][m] = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 8 <= k; i += 8) {
            __m256 wv[R];
            for (int r = 0; r < R; ++r) wv[r] = W::load8(w + (n + r) * k + i);
            for (int m = 0; m < M; ++m) {
                const __m256 xv = _mm256_loadu_ps(x + m * k + i);
                for (int r = 0; r < R; ++r) acc[r][m] = _mm256_fmadd_ps(wv[r], xv, acc[r][m]);
            }
        }
        for (int r = 0; r < R; ++r) {
            for (int m = 0; m < M; ++m) {
                alignas(32) float lanes[8];
                _mm256_store_ps(lanes, acc[r][m]);
                float s = 0;
                for (const float l : lanes) s += l;
                for (int64_t j = i; j < k; ++j) s += W::scalar(w[(n + r) * k + j]) * x[m * k + j];
                y[m * n_total + n + r] = s;
            }
        }
    }
    if (n < n1) rows_avx2<W, M, 1>(x, w, y, k, n_total, n, n1);
}

template <typename W>
using RowsFn = void (*)(const float*, const typename W::T*, float*, int64_t, int64_t, int64_t, int64_t);

// Row blocking: 4 weight rows for 1-2 inputs, 2 for 3-8 (acc[R][M] stays within the 32 / 16 vector registers).
template <typename W>
RowsFn<W> pick(bool avx512, int m) {
    switch (m) {
        case 1: return avx512 ? rows_avx512<W, 1, 4> : rows_avx2<W, 1, 4>;
        case 2: return avx512 ? rows_avx512<W, 2, 4> : rows_avx2<W, 2, 4>;
        case 3: return avx512 ? rows_avx512<W, 3, 2> : rows_avx2<W, 3, 2>;
        case 4: return avx512 ? rows_avx512<W, 4, 2> : rows_avx2<W, 4, 2>;
        case 5: return avx512 ? rows_avx512<W, 5, 2> : rows_avx2<W, 5, 2>;
        case 6: return avx512 ? rows_avx512<W, 6, 2> : rows_avx2<W, 6, 1>;
        case 7: return avx512 ? rows_avx512<W, 7, 2> : rows_avx2<W, 7, 1>;
        default: return avx512 ? rows_avx512<W, 8, 2> : rows_avx2<W, 8, 1>;
    }
}

enum class Isa { kNone, kAvx2, kAvx512 };
Isa detect_isa() {
    static const Isa isa = [] {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f")) return Isa::kAvx512;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
        return Isa::kNone;
    }();
    return isa;
}

template <typename W>
void run_rows(const torch::Tensor& xf, const typename W::T* wp, torch::Tensor& y, bool avx512) {
    const int64_t m_total = xf.size(0), k = xf.size(1), n = y.size(1);
    for (int64_t m0 = 0; m0 < m_total; m0 += 8) {
        const int mc = static_cast<int>(std::min<int64_t>(8, m_total - m0));
        const RowsFn<W> fn = pick<W>(avx512, mc);
        const float* xp = xf.data_ptr<float>() + m0 * k;
        float* yp = y.data_ptr<float>() + m0 * n;
        // grain: >= 64 weight rows per task, a multiple of the row block
        at::parallel_for(0, n, 64, [&](int64_t n0, int64_t n1) { fn(xp, wp, yp, k, n, n0, n1); });
    }
}


// bf16 weights, AVX-512: one 64-byte load holds 32 weights; shifting each 32-bit lane left by 16 gives the
// even-indexed ones as f32 and masking off the low half the odd-indexed ones, so a load costs two integer ops
// instead of two widening converts. x is pre-arranged per 32-block as [16 even | 16 odd] (xperm: [M, k32]).
template <int M, int R>
__attribute__((target("avx512f"))) void rows_bf16_pairs(const float* x, const float* xperm, const uint16_t* w, float* y,
                                                        int64_t k, int64_t n_total, int64_t n0, int64_t n1) {
    const int64_t k32 = k / 32 * 32;
    const __m512i odd_mask = _mm512_set1_epi32(static_cast<int>(0xFFFF0000u));
    int64_t n = n0;
    for (; n + R <= n1; n += R) {
        __m512 acc[R][M];
        for (int r = 0; r < R; ++r)
            for (int m = 0; m < M; ++m) acc[r][m] = _mm512_setzero_ps();
        for (int64_t i = 0; i < k32; i += 32) {
            __m512 we[R], wo[R];
            for (int r = 0; r < R; ++r) {
                const __m512i v = _mm512_loadu_si512(w + (n + r) * k + i);
                we[r] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
                wo[r] = _mm512_castsi512_ps(_mm512_and_si512(v, odd_mask));
            }
            for (int m = 0; m < M; ++m) {
                const __m512 xe = _mm512_loadu_ps(xperm + m * k32 + i), xo = _mm512_loadu_ps(xperm + m * k32 + i + 16);
                for (int r = 0; r < R; ++r) acc[r][m] = _mm512_fmadd_ps(wo[r], xo, _mm512_fmadd_ps(we[r], xe, acc[r][m]));
            }
        }
        for (int r = 0; r < R; ++r) {
            for (int m = 0; m < M; ++m) {
                float s = _mm512_reduce_add_ps(acc[r][m]);
                for (int64_t j = k32; j < k; ++j) s += Bf16::scalar(w[(n + r) * k + j]) * x[m * k + j];
                y[m * n_total + n + r] = s;
            }
        }
    }
    if (n < n1) rows_bf16_pairs<M, 1>(x, xperm, w, y, k, n_total, n, n1);
}

constexpr int64_t kPairedBf16MaxRows = 2;

using PairsFn = void (*)(const float*, const float*, const uint16_t*, float*, int64_t, int64_t, int64_t, int64_t);

PairsFn pick_pairs(int m) {
    switch (m) {
        case 1: return rows_bf16_pairs<1, 4>;
        case 2: return rows_bf16_pairs<2, 4>;
        case 3: return rows_bf16_pairs<3, 2>;
        case 4: return rows_bf16_pairs<4, 2>;
        case 5: return rows_bf16_pairs<5, 2>;
        case 6: return rows_bf16_pairs<6, 2>;
        case 7: return rows_bf16_pairs<7, 2>;
        default: return rows_bf16_pairs<8, 2>;
    }
}

// x [M, k] f32 -> [M, k32] with each 32-block reordered to [even 16 | odd 16].
torch::Tensor pair_order(const torch::Tensor& xf) {
    const int64_t m = xf.size(0), k = xf.size(1), k32 = k / 32 * 32;
    return xf.narrow(1, 0, k32).reshape({m, k32 / 32, 16, 2}).transpose(2, 3).contiguous().reshape({m, k32});
}

void run_rows_bf16_pairs(const torch::Tensor& xf, const uint16_t* wp, torch::Tensor& y) {
    const int64_t m_total = xf.size(0), k = xf.size(1), n = y.size(1);
    const auto xperm = pair_order(xf);
    for (int64_t m0 = 0; m0 < m_total; m0 += 8) {
        const int mc = static_cast<int>(std::min<int64_t>(8, m_total - m0));
        const PairsFn fn = pick_pairs(mc);
        const float* xp = xf.data_ptr<float>() + m0 * k;
        const float* xq = xperm.data_ptr<float>() + m0 * xperm.size(1);
        float* yp = y.data_ptr<float>() + m0 * n;
        at::parallel_for(0, n, 64, [&](int64_t n0, int64_t n1) { fn(xp, xq, wp, yp, k, n, n0, n1); });
    }
}

}  // namespace

torch::Tensor fast_linear(const torch::Tensor& x, const torch::Tensor& w) {
    const Isa isa = detect_isa();
    if (isa == Isa::kNone) return {};
    TORCH_CHECK(x.dim() == 2 && w.dim() == 2 && x.size(1) == w.size(1), "fast_linear: bad shapes ", x.sizes(), " ", w.sizes());
    TORCH_CHECK(w.is_contiguous() && w.device().is_cpu(), "fast_linear: weight must be contiguous on the CPU");
    const auto xf = x.to(torch::kFloat).contiguous();
    auto y = torch::empty({x.size(0), w.size(0)}, torch::kFloat);
    const bool avx512 = isa == Isa::kAvx512;
    if (w.scalar_type() == torch::kBFloat16) {
        const auto* wp = reinterpret_cast<const uint16_t*>(w.data_ptr<at::BFloat16>());
        // The paired loads win while the weight stream is the cost (few rows); with more rows the x reloads of
        // the [even | odd] layout cost more than the saved conversions (measured: bench llm, batch 1 vs 8).
        if (avx512 && x.size(0) <= kPairedBf16MaxRows) run_rows_bf16_pairs(xf, wp, y);
        else run_rows<Bf16>(xf, wp, y, avx512);
        return y.to(torch::kBFloat16);
    }
    TORCH_CHECK(w.scalar_type() == torch::kFloat, "fast_linear: weight must be bf16 or f32");
    run_rows<F32>(xf, w.data_ptr<float>(), y, avx512);
    return y;
}

}  // namespace diagecg
