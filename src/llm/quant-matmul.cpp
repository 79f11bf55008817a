// Quantized weights x int8-quantized activations (see quant-matmul.h for the arithmetic and why it is shaped
// like llama.cpp's). One templated loop per ISA; the block formats are ggml's.
#include "diagecg/llm/quant-matmul.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <ATen/Parallel.h>

namespace diagecg {

namespace {

constexpr int kQk = 32;  // elements per block of every type here

#pragma pack(push, 1)
struct BlockQ4_0 {
    uint16_t d;
    uint8_t qs[16];
};
struct BlockQ4_1 {
    uint16_t d, m;
    uint8_t qs[16];
};
struct BlockQ8_0 {
    uint16_t d;
    int8_t qs[32];
};
struct BlockQ8_1 {
    uint16_t d, s;
    int8_t qs[32];
};
#pragma pack(pop)
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);

// f16 -> f32 by table, as ggml does (exact).
const float* fp16_table() {
    static const std::vector<float> t = [] {
        std::vector<float> v(1 << 16);
        for (uint32_t h = 0; h < (1u << 16); ++h) v[h] = fp16_to_fp32(static_cast<uint16_t>(h));
        return v;
    }();
    return t.data();
}

// llama.cpp's hsum_float_8: (x4 + x0) + (x6 + x2), (x5 + x1) + (x7 + x3), then the two.
inline float hsum8(const float* a) {
    const float r0 = a[4] + a[0], r1 = a[5] + a[1], r2 = a[6] + a[2], r3 = a[7] + a[3];
    return (r0 + r2) + (r1 + r3);
}

// ---- weight formats: the activation block type and the per-block lane sums (8 lanes of 4 products) ------------
struct Q4_0 {
    using W = BlockQ4_0;
    using A = BlockQ8_0;
    static constexpr bool kHasMin = false;
    static void lanes(const W& w, const A& a, int32_t* l) {
        for (int L = 0; L < 8; ++L) {
            int32_t s = 0;
            for (int j = 4 * L; j < 4 * L + 4; ++j) {
                const int v = j < 16 ? (w.qs[j] & 15) : (w.qs[j - 16] >> 4);
                s += (v - 8) * a.qs[j];
            }
            l[L] = s;
        }
    }
};
struct Q4_1 {
    using W = BlockQ4_1;
    using A = BlockQ8_1;
    static constexpr bool kHasMin = true;
    static void lanes(const W& w, const A& a, int32_t* l) {
        for (int L = 0; L < 8; ++L) {
            int32_t s = 0;
            for (int j = 4 * L; j < 4 * L + 4; ++j) s += (j < 16 ? (w.qs[j] & 15) : (w.qs[j - 16] >> 4)) * a.qs[j];
            l[L] = s;
        }
    }
};
struct Q8_0 {
    using W = BlockQ8_0;
    using A = BlockQ8_0;
    static constexpr bool kHasMin = false;
    static void lanes(const W& w, const A& a, int32_t* l) {
        for (int L = 0; L < 8; ++L) {
            int32_t s = 0;
            for (int j = 4 * L; j < 4 * L + 4; ++j) s += w.qs[j] * a.qs[j];
            l[L] = s;
        }
    }
};

// ---- one dot product of a weight row with an activation row, per ISA -----------------------------------------
template <typename F>
float dot_portable1(const typename F::W* w, const typename F::A* a, int64_t nb) {
    const float* h = fp16_table();
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    float summs = 0;
    int32_t l[8];
    for (int64_t b = 0; b < nb; ++b) {
        const float d = h[w[b].d] * h[a[b].d];
        if constexpr (F::kHasMin) summs = std::fma(h[w[b].m], h[a[b].s], summs);
        F::lanes(w[b], a[b], l);
        for (int L = 0; L < 8; ++L) acc[L] = std::fma(d, static_cast<float>(l[L]), acc[L]);
    }
    return hsum8(acc) + summs;
}

__attribute__((target("avx2"))) inline __m256i nibbles32(const uint8_t* qs) {
    const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    const __m256i b = _mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(15));
}

// Lane sums of u8 x s8 (4 adjacent products each) as floats.
__attribute__((target("avx2"))) inline __m256 us8_avx2(__m256i u, __m256i s) {
    const __m256i p = _mm256_maddubs_epi16(u, s);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}
__attribute__((target("avx2,avx512f,avx512vl,avx512vnni"))) inline __m256 us8_vnni(__m256i u, __m256i s) {
    return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s));
}

// One body, compiled twice: for AVX2 (maddubs) and for AVX-512 VNNI (dpbusd on 256-bit vectors, as llama.cpp).
// W weight rows (w, w + w_stride, ...) against R activation rows (a, a + a_stride, ...): each weight block is
// loaded and unpacked once for the R rows (prefill), and the W x R sums are independent chains (decode has one
// input row). Each pair's arithmetic is the single-pair one, so results do not depend on W or R.
// out[i * R + j] = weight row i . activation row j.
#define DIAGECG_QUANT_DOT(NAME, TARGET, US8)                                                                    \
    template <typename F, int W, int R>                                                                         \
    __attribute__((target(TARGET))) void NAME(const typename F::W* w, int64_t w_stride, const typename F::A* a, \
                                              int64_t a_stride, int64_t nb, float* out) {                       \
        __m256 acc[W * R];                                                                                      \
        float summs[W * R];                                                                                     \
        for (int k = 0; k < W * R; ++k) {                                                                       \
            acc[k] = _mm256_setzero_ps();                                                                       \
            summs[k] = 0;                                                                                       \
        }                                                                                                       \
        for (int64_t b = 0; b < nb; ++b) {                                                                      \
            __m256i x[W], ax[W];                                                                                \
            float dw[W];                                                                                        \
            for (int i = 0; i < W; ++i) {                                                                       \
                const auto& wb = w[i * w_stride + b];                                                           \
                dw[i] = _cvtsh_ss(wb.d); /* f16 scales by F16C (exact) */                                       \
                if constexpr (std::is_same_v<F, Q4_1>)                                                          \
                    x[i] = nibbles32(wb.qs);                                                                    \
                else if constexpr (std::is_same_v<F, Q4_0>)                                                     \
                    x[i] = _mm256_sub_epi8(nibbles32(wb.qs), _mm256_set1_epi8(8));                              \
                else                                                                                            \
                    x[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb.qs));                         \
                ax[i] = _mm256_sign_epi8(x[i], x[i]); /* |x|, the sign moved onto y */                          \
            }                                                                                                   \
            for (int j = 0; j < R; ++j) {                                                                       \
                const auto& ab = a[j * a_stride + b];                                                           \
                const float da = _cvtsh_ss(ab.d);                                                               \
                const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab.qs));                  \
                for (int i = 0; i < W; ++i) {                                                                   \
                    const int k = i * R + j;                                                                    \
                    const __m256 d = _mm256_set1_ps(dw[i] * da);                                                \
                    __m256 q;                                                                                   \
                    if constexpr (std::is_same_v<F, Q4_1>) {                                                    \
                        summs[k] = std::fma(_cvtsh_ss(w[i * w_stride + b].m), _cvtsh_ss(ab.s), summs[k]);       \
                        q = US8(x[i], y);                                                                       \
                    } else {                                                                                    \
                        q = US8(ax[i], _mm256_sign_epi8(y, x[i]));                                              \
                    }                                                                                           \
                    acc[k] = _mm256_fmadd_ps(d, q, acc[k]);                                                     \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
        for (int k = 0; k < W * R; ++k) {                                                                       \
            alignas(32) float l[8];                                                                             \
            _mm256_store_ps(l, acc[k]);                                                                         \
            out[k] = hsum8(l) + summs[k];                                                                       \
        }                                                                                                       \
    }
DIAGECG_QUANT_DOT(dot_avx2, "avx2,fma,f16c", us8_avx2)
DIAGECG_QUANT_DOT(dot_vnni, "avx2,fma,f16c,avx512f,avx512vl,avx512vnni", us8_vnni)
#undef DIAGECG_QUANT_DOT

template <typename F, int W, int R>
void dot_portable(const typename F::W* w, int64_t w_stride, const typename F::A* a, int64_t a_stride, int64_t nb,
                  float* out) {
    for (int i = 0; i < W; ++i)
        for (int j = 0; j < R; ++j) out[i * R + j] = dot_portable1<F>(w + i * w_stride, a + j * a_stride, nb);
}

// W weight rows x R activation rows (see DIAGECG_QUANT_DOT).
template <typename F>
using DotFn = void (*)(const typename F::W*, int64_t, const typename F::A*, int64_t, int64_t, float*);

template <typename F, int W, int R>
DotFn<F> pick_dot(QuantIsa isa) {
    switch (isa) {
        case QuantIsa::kAvx512Vnni:
            return dot_vnni<F, W, R>;
        case QuantIsa::kAvx2:
            return dot_avx2<F, W, R>;
        default:
            return dot_portable<F, W, R>;
    }
}

// ---- activation rows -----------------------------------------------------------------------------------------
// llama.cpp's x86 quantize_row_q8_0/q8_1: d = amax / 127, q = round-half-even(x * (127 / amax)), s = d * sum(q).
template <bool kSum>
void quantize_q8(const float* x, int64_t k, void* out) {
    auto* o = static_cast<uint8_t*>(out);
    const size_t bytes = kSum ? sizeof(BlockQ8_1) : sizeof(BlockQ8_0);
    for (int64_t b = 0; b < k / kQk; ++b, o += bytes) {
        const float* xb = x + b * kQk;
        float amax = 0;
        for (int j = 0; j < kQk; ++j) amax = std::max(amax, std::fabs(xb[j]));
        const float d = amax / 127.f;
        const float id = amax != 0.f ? 127.f / amax : 0.f;
        int8_t* qs = reinterpret_cast<int8_t*>(o + (kSum ? 4 : 2));
        int32_t sum = 0;
        for (int j = 0; j < kQk; ++j) {
            const float v = xb[j] * id;
            qs[j] = static_cast<int8_t>(std::nearbyint(v));
            sum += qs[j];
        }
        const uint16_t dh = fp32_to_fp16(d);
        std::memcpy(o, &dh, 2);
        if (kSum) {
            const uint16_t sh = fp32_to_fp16(d * static_cast<float>(sum));
            std::memcpy(o + 2, &sh, 2);
        }
    }
}

// x [M, K] -> y_g [M, N_g] for each weight g (all of type F, same K): the activations are quantized once and
// every weight's rows are shared out in one parallel pass.
template <typename F>
void matmul_typed(const float* x, int64_t m, int64_t k, const std::vector<const QuantWeight*>& ws,
                  const std::vector<float*>& ys, QuantIsa isa) {
    using A = typename F::A;
    const int64_t nb = k / kQk;
    thread_local std::vector<A> act;  // the calling thread's; lambdas below use the pointer, not the name
    act.resize(static_cast<size_t>(m * nb));
    A* const ap = act.data();
    const GgmlType at = quant_activation_type(ws[0]->type);
    if (m == 1) {
        quantize_activation_row(at, x, k, ap);
    } else {
        at::parallel_for(0, m, 16, [&](int64_t a, int64_t b) {
            for (int64_t i = a; i < b; ++i) quantize_activation_row(at, x + i * k, k, ap + i * nb);
        });
    }
    int64_t total = 0;
    for (const auto* w : ws) total += w->rows;
    const DotFn<F> dot1 = pick_dot<F, 1, 1>(isa), rows4 = pick_dot<F, 1, 4>(isa), weights4 = pick_dot<F, 4, 1>(isa);
    at::parallel_for(0, total, 16, [&](int64_t r0, int64_t r1) {
        float out[4];
        int64_t base = 0;
        for (size_t g = 0; g < ws.size(); base += ws[g]->rows, ++g) {
            const int64_t lo = std::max(r0, base), hi = std::min(r1, base + ws[g]->rows), n = ws[g]->rows;
            const auto* wb = static_cast<const typename F::W*>(ws[g]->blocks.data_ptr());
            float* y = ys[g];
            int64_t r = lo - base;
            if (m == 1)  // one input row: four weight rows per pass (independent chains), results in place
                for (; r + 4 <= hi - base; r += 4) weights4(wb + r * nb, nb, ap, nb, nb, y + r);
            for (; r < hi - base; ++r) {
                int64_t i = 0;
                for (; i + 4 <= m; i += 4) {  // four input rows per pass over the weight row
                    rows4(wb + r * nb, nb, ap + i * nb, nb, nb, out);
                    for (int j = 0; j < 4; ++j) y[(i + j) * n + r] = out[j];
                }
                for (; i < m; ++i) {
                    dot1(wb + r * nb, nb, ap + i * nb, nb, nb, out);
                    y[i * n + r] = out[0];
                }
            }
        }
    });
}

void check_type(GgmlType t) {
    if (!quant_matmul_supported(t))
        throw std::invalid_argument(std::string("weights of type ") + ggml_type_name(t) +
                                    " are not kept quantized (Q4_0, Q4_1, Q8_0 are)");
}

uint16_t h16(float f) {
    return fp32_to_fp16(f);
}

}  // namespace

bool quant_matmul_supported(GgmlType t) {
    return t == GgmlType::kQ4_0 || t == GgmlType::kQ4_1 || t == GgmlType::kQ8_0;
}

GgmlType quant_activation_type(GgmlType weight) {
    return weight == GgmlType::kQ4_1 ? GgmlType::kQ8_1 : GgmlType::kQ8_0;
}

QuantWeight quant_weight_from_blocks(GgmlType t, int64_t rows, int64_t cols, const void* data,
                                     std::shared_ptr<const void> owner) {
    check_type(t);
    if (rows <= 0 || cols <= 0 || cols % kQk != 0)
        throw std::invalid_argument("quantized weight of shape [" + std::to_string(rows) + ", " + std::to_string(cols) +
                                    "]: rows must be whole blocks of 32");
    const std::vector<int64_t> shape{rows, static_cast<int64_t>(ggml_row_bytes(t, cols))};
    if (owner)  // never written: the blocks are only read
        return {t, rows, cols,
                torch::from_blob(
                    const_cast<void*>(data), shape, [owner](void*) {}, torch::kUInt8)};
    QuantWeight w{t, rows, cols, torch::empty(shape, torch::kUInt8)};
    std::memcpy(w.blocks.data_ptr(), data, static_cast<size_t>(w.blocks.numel()));
    return w;
}

QuantWeight quantize_weight(const torch::Tensor& w, GgmlType t) {
    check_type(t);
    if (w.dim() != 2 || w.size(1) % kQk != 0)
        throw std::invalid_argument("quantize_weight: expected [N, K] with K a multiple of 32");
    const auto wf = w.to(torch::kCPU, torch::kFloat).contiguous();
    const int64_t n = wf.size(0), k = wf.size(1), nb = k / kQk;
    QuantWeight q{t, n, k, torch::empty({n, static_cast<int64_t>(ggml_row_bytes(t, k))}, torch::kUInt8)};
    const float* src = wf.data_ptr<float>();
    uint8_t* dst = q.blocks.data_ptr<uint8_t>();
    at::parallel_for(0, n * nb, 256, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
            const float* x = src + b * kQk;
            if (t == GgmlType::kQ8_0) {  // quantize_row_q8_0_ref
                float amax = 0;
                for (int j = 0; j < kQk; ++j) amax = std::max(amax, std::fabs(x[j]));
                const float d = amax / 127.f, id = d != 0.f ? 1.f / d : 0.f;
                auto& o = reinterpret_cast<BlockQ8_0*>(dst)[b];
                o.d = h16(d);
                for (int j = 0; j < kQk; ++j) o.qs[j] = static_cast<int8_t>(std::round(x[j] * id));
            } else if (t == GgmlType::kQ4_0) {  // quantize_row_q4_0_ref
                float amax = 0, max = 0;
                for (int j = 0; j < kQk; ++j)
                    if (std::fabs(x[j]) > amax) {
                        amax = std::fabs(x[j]);
                        max = x[j];
                    }
                const float d = max / -8.f, id = d != 0.f ? 1.f / d : 0.f;
                auto& o = reinterpret_cast<BlockQ4_0*>(dst)[b];
                o.d = h16(d);
                for (int j = 0; j < 16; ++j) {
                    const int lo = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
                    const int hi = std::min(15, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 8.5f)));
                    o.qs[j] = static_cast<uint8_t>(lo | (hi << 4));
                }
            } else {  // quantize_row_q4_1_ref
                float lo = x[0], hi = x[0];
                for (int j = 1; j < kQk; ++j) {
                    lo = std::min(lo, x[j]);
                    hi = std::max(hi, x[j]);
                }
                const float d = (hi - lo) / 15.f, id = d != 0.f ? 1.f / d : 0.f;
                auto& o = reinterpret_cast<BlockQ4_1*>(dst)[b];
                o.d = h16(d);
                o.m = h16(lo);
                for (int j = 0; j < 16; ++j) {
                    const int a = std::min(15, static_cast<int>(static_cast<int8_t>((x[j] - lo) * id + 0.5f)));
                    const int c = std::min(15, static_cast<int>(static_cast<int8_t>((x[j + 16] - lo) * id + 0.5f)));
                    o.qs[j] = static_cast<uint8_t>(a | (c << 4));
                }
            }
        }
    });
    return q;
}

torch::Tensor dequantize_weight(const QuantWeight& w) {
    check_type(w.type);
    auto out = torch::empty({w.rows, w.cols}, torch::kFloat);
    const auto rb = static_cast<int64_t>(ggml_row_bytes(w.type, w.cols));
    at::parallel_for(0, w.rows, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
            dequantize(w.type, w.blocks.data_ptr<uint8_t>() + r * rb, out.data_ptr<float>() + r * w.cols, w.cols);
    });
    return out;
}

torch::Tensor dequantize_rows(const QuantWeight& w, const torch::Tensor& index) {
    check_type(w.type);
    const auto idx = index.to(torch::kCPU, torch::kLong).contiguous();
    auto out = torch::empty({idx.numel(), w.cols}, torch::kFloat);
    const auto rb = static_cast<int64_t>(ggml_row_bytes(w.type, w.cols));
    const int64_t* ix = idx.data_ptr<int64_t>();
    for (int64_t i = 0; i < idx.numel(); ++i) {
        if (ix[i] < 0 || ix[i] >= w.rows)
            throw std::out_of_range("row " + std::to_string(ix[i]) + " outside [0, " + std::to_string(w.rows) + ")");
        dequantize(w.type, w.blocks.data_ptr<uint8_t>() + ix[i] * rb, out.data_ptr<float>() + i * w.cols, w.cols);
    }
    auto sizes = index.sizes().vec();
    sizes.push_back(w.cols);
    return out.view(sizes);
}

QuantWeight quant_weight_rows(const QuantWeight& w, const torch::Tensor& index) {
    QuantWeight q = w;
    q.blocks = w.blocks.index_select(0, index.to(torch::kLong)).contiguous();
    q.rows = q.blocks.size(0);
    return q;
}

void quantize_activation_row(GgmlType act, const float* x, int64_t k, void* out) {
    if (k % kQk != 0) throw std::invalid_argument("activation rows must be whole blocks of 32");
    if (act == GgmlType::kQ8_1)
        quantize_q8<true>(x, k, out);
    else if (act == GgmlType::kQ8_0)
        quantize_q8<false>(x, k, out);
    else
        throw std::invalid_argument(std::string("activations are quantized to Q8_0 or Q8_1, not ") +
                                    ggml_type_name(act));
}

bool quant_isa_available(QuantIsa isa) {
    __builtin_cpu_init();
    switch (isa) {
        case QuantIsa::kAuto:
        case QuantIsa::kPortable:
            return true;
        case QuantIsa::kAvx2:
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
        case QuantIsa::kAvx512Vnni:
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c") &&
                   __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    }
    return false;
}

const char* quant_isa_name(QuantIsa isa) {
    switch (isa) {
        case QuantIsa::kAuto:
            return "auto";
        case QuantIsa::kPortable:
            return "portable";
        case QuantIsa::kAvx2:
            return "avx2";
        case QuantIsa::kAvx512Vnni:
            return "avx512-vnni";
    }
    return "?";
}

QuantIsa quant_isa_auto() {
    static const QuantIsa isa = quant_isa_available(QuantIsa::kAvx512Vnni) ? QuantIsa::kAvx512Vnni
                                : quant_isa_available(QuantIsa::kAvx2)     ? QuantIsa::kAvx2
                                                                           : QuantIsa::kPortable;
    return isa;
}

std::vector<torch::Tensor> quant_matmul_group(const torch::Tensor& x, const std::vector<const QuantWeight*>& ws,
                                              QuantIsa isa) {
    if (ws.empty()) return {};
    for (const auto* w : ws) {
        check_type(w->type);
        if (w->type != ws[0]->type) throw std::invalid_argument("quant_matmul_group: weights of different types");
        if (x.size(-1) != w->cols)
            throw std::invalid_argument("quant_matmul: input has " + std::to_string(x.size(-1)) +
                                        " features, the weight " + std::to_string(w->cols));
    }
    if (!x.device().is_cpu()) throw std::invalid_argument("quantized weights run on the CPU");
    if (isa == QuantIsa::kAuto) isa = quant_isa_auto();
    if (!quant_isa_available(isa))
        throw std::invalid_argument(std::string("this CPU cannot run the ") + quant_isa_name(isa) +
                                    " quantized kernels");
    const int64_t k = ws[0]->cols;
    const auto xf = x.reshape({-1, k}).to(torch::kFloat).contiguous();
    const int64_t m = xf.size(0);
    std::vector<torch::Tensor> out;
    std::vector<float*> ys;
    for (const auto* w : ws) {
        out.push_back(torch::empty({m, w->rows}, torch::kFloat));
        ys.push_back(out.back().data_ptr<float>());
    }
    switch (ws[0]->type) {
        case GgmlType::kQ4_0:
            matmul_typed<Q4_0>(xf.data_ptr<float>(), m, k, ws, ys, isa);
            break;
        case GgmlType::kQ4_1:
            matmul_typed<Q4_1>(xf.data_ptr<float>(), m, k, ws, ys, isa);
            break;
        default:
            matmul_typed<Q8_0>(xf.data_ptr<float>(), m, k, ws, ys, isa);
            break;
    }
    for (size_t g = 0; g < ws.size(); ++g) {
        auto sizes = x.sizes().vec();
        sizes.back() = ws[g]->rows;
        out[g] = out[g].view(sizes);
    }
    return out;
}

torch::Tensor quant_matmul(const torch::Tensor& x, const QuantWeight& w, QuantIsa isa) {
    return quant_matmul_group(x, {&w}, isa).at(0);
}

}  // namespace diagecg
