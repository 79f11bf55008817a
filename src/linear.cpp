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

torch::Tensor LinearImpl::forward(const torch::Tensor& x) { return diagecg::linear(x, weight, bias); }

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
    const int64_t k = w.size(1);
    if (x.scalar_type() == torch::kBFloat16 && w.scalar_type() == torch::kBFloat16 && x.device().is_cpu() &&
        !torch::GradMode::is_enabled() && x.numel() / k <= kFastLinearMaxRows && w.is_contiguous()) {
        auto y = fast_linear_bf16(x.reshape({-1, k}), w);
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

// 16 bf16 -> 16 f32: bf16 is the high half of an f32.
__attribute__((target("avx512f"))) inline __m512 load_bf16_16(const uint16_t* p) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}

template <int M>
__attribute__((target("avx512f"))) void rows_avx512(const float* x, const uint16_t* w, float* y, int64_t k,
                                                    int64_t n_total, int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
        const uint16_t* wr = w + n * k;
        // two accumulator sets: independent FMA chains hide the FMA latency
        __m512 acc[M], acc2[M];
        for (int m = 0; m < M; ++m) acc[m] = acc2[m] = _mm512_setzero_ps();
        int64_t i = 0;
        for (; i + 32 <= k; i += 32) {
            const __m512 wv = load_bf16_16(wr + i);
            const __m512 wv2 = load_bf16_16(wr + i + 16);
            for (int m = 0; m < M; ++m) {
                acc[m] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + m * k + i), acc[m]);
                acc2[m] = _mm512_fmadd_ps(wv2, _mm512_loadu_ps(x + m * k + i + 16), acc2[m]);
            }
        }
        for (; i + 16 <= k; i += 16) {
            const __m512 wv = load_bf16_16(wr + i);
            for (int m = 0; m < M; ++m) acc[m] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + m * k + i), acc[m]);
        }
        for (int m = 0; m < M; ++m) {
            float s = _mm512_reduce_add_ps(_mm512_add_ps(acc[m], acc2[m]));
            for (int64_t j = i; j < k; ++j) {
                uint32_t bits = static_cast<uint32_t>(wr[j]) << 16;
                float wf;
                std::memcpy(&wf, &bits, 4);
                s += wf * x[m * k + j];
            }
            y[m * n_total + n] = s;
        }
    }
}

__attribute__((target("avx2,fma"))) inline __m256 load_bf16_8(const uint16_t* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
}

template <int M>
__attribute__((target("avx2,fma"))) void rows_avx2(const float* x, const uint16_t* w, float* y, int64_t k,
                                                   int64_t n_total, int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
        const uint16_t* wr = w + n * k;
        __m256 acc[M], acc2[M];
        for (int m = 0; m < M; ++m) acc[m] = acc2[m] = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 16 <= k; i += 16) {
            const __m256 wv = load_bf16_8(wr + i);
            const __m256 wv2 = load_bf16_8(wr + i + 8);
            for (int m = 0; m < M; ++m) {
                acc[m] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + m * k + i), acc[m]);
                acc2[m] = _mm256_fmadd_ps(wv2, _mm256_loadu_ps(x + m * k + i + 8), acc2[m]);
            }
        }
        for (; i + 8 <= k; i += 8) {
            const __m256 wv = load_bf16_8(wr + i);
            for (int m = 0; m < M; ++m) acc[m] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + m * k + i), acc[m]);
        }
        for (int m = 0; m < M; ++m) {
            alignas(32) float lanes[8];
            _mm256_store_ps(lanes, _mm256_add_ps(acc[m], acc2[m]));
            float s = 0;
            for (float l : lanes) s += l;
            for (int64_t j = i; j < k; ++j) {
                uint32_t bits = static_cast<uint32_t>(wr[j]) << 16;
                float wf;
                std::memcpy(&wf, &bits, 4);
                s += wf * x[m * k + j];
            }
            y[m * n_total + n] = s;
        }
    }
}

using RowsFn = void (*)(const float*, const uint16_t*, float*, int64_t, int64_t, int64_t, int64_t);

template <template <int> class Pick>
RowsFn pick_rows(int m) {
    switch (m) {
        case 1: return Pick<1>::fn;
        case 2: return Pick<2>::fn;
        case 3: return Pick<3>::fn;
        case 4: return Pick<4>::fn;
        case 5: return Pick<5>::fn;
        case 6: return Pick<6>::fn;
        case 7: return Pick<7>::fn;
        default: return Pick<8>::fn;
    }
}
template <int M> struct Avx512Rows { static constexpr RowsFn fn = rows_avx512<M>; };
template <int M> struct Avx2Rows { static constexpr RowsFn fn = rows_avx2<M>; };

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

}  // namespace

torch::Tensor fast_linear_bf16(const torch::Tensor& x, const torch::Tensor& w) {
    const Isa isa = detect_isa();
    if (isa == Isa::kNone) return {};
    TORCH_CHECK(x.dim() == 2 && w.dim() == 2 && x.size(1) == w.size(1), "fast_linear_bf16: bad shapes ", x.sizes(), " ", w.sizes());
    const int64_t m_total = x.size(0), k = x.size(1), n = w.size(0);
    const auto xf = x.to(torch::kFloat).contiguous();
    auto y = torch::empty({m_total, n}, torch::kFloat);
    const auto* wp = reinterpret_cast<const uint16_t*>(w.data_ptr<at::BFloat16>());
    // Output rows in chunks of 8 input rows; weight rows split across threads.
    for (int64_t m0 = 0; m0 < m_total; m0 += 8) {
        const int mc = static_cast<int>(std::min<int64_t>(8, m_total - m0));
        const RowsFn fn = isa == Isa::kAvx512 ? pick_rows<Avx512Rows>(mc) : pick_rows<Avx2Rows>(mc);
        const float* xp = xf.data_ptr<float>() + m0 * k;
        float* yp = y.data_ptr<float>() + m0 * n;
        at::parallel_for(0, n, 16, [&](int64_t n0, int64_t n1) { fn(xp, wp, yp, k, n, n0, n1); });
    }
    return y.to(torch::kBFloat16);
}

}  // namespace diagecg
