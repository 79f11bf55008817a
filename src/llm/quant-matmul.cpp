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

#include "diagecg/util/torch-compat.h"

namespace diagecg {

namespace {

constexpr int kQk = 32;   // elements per block of Q4_0, Q4_1, Q8_0 (and their activations Q8_0, Q8_1)
constexpr int kQkK = 256;  // elements per super-block of Q4_K, Q6_K (and their activations, Q8_K)

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
struct BlockQ4_K {
    uint16_t d, dmin;     // super-block scales of the 6-bit sub-block scales and mins
    uint8_t scales[12];   // 8 scales + 8 mins, 6 bits each (unpack_q4k_scales)
    uint8_t qs[128];      // 64-element chunk c: byte 32c + l holds element 64c + l (low) and 64c + 32 + l (high)
};
struct BlockQ6_K {
    uint8_t ql[128];      // low 4 bits
    uint8_t qh[64];       // high 2 bits
    int8_t scales[16];    // one per 16 elements
    uint16_t d;
};
struct BlockQ8_K {
    float d;
    int8_t qs[256];
    int16_t bsums[16];    // sums of each 16 qs
};
#pragma pack(pop)
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);

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
    static constexpr bool kHasMin = false, kSuper = false;
    static constexpr int kBlock = kQk;
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
    static constexpr bool kHasMin = true, kSuper = false;
    static constexpr int kBlock = kQk;
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
    static constexpr bool kHasMin = false, kSuper = false;
    static constexpr int kBlock = kQk;
    static void lanes(const W& w, const A& a, int32_t* l) {
        for (int L = 0; L < 8; ++L) {
            int32_t s = 0;
            for (int j = 4 * L; j < 4 * L + 4; ++j) s += w.qs[j] * a.qs[j];
            l[L] = s;
        }
    }
};

// Super-block formats, dotted with Q8_K activations (f32 d, 256 int8, the sums of each 16). Within a super-block
// every sub-block's products sum to an exact integer, and so do the scaled totals: the ISA paths compute the same
// two integers and combine them in one float order, so they agree bit for bit.
//   Q4_K: d_x (d_w sum_j sc_j sum_{l in j} q_l x_l - dmin_w sum_j m_j sum_{l in j} x_l)   (8 sub-blocks of 32)
//   Q6_K: d_x d_w sum_g sc_g sum_{l in g} (q_l - 32) x_l                                 (16 groups of 16)
struct Q4_K {
    using W = BlockQ4_K;
    using A = BlockQ8_K;
    static constexpr bool kHasMin = true, kSuper = true;
    static constexpr int kBlock = kQkK;
};
struct Q6_K {
    using W = BlockQ6_K;
    using A = BlockQ8_K;
    static constexpr bool kHasMin = false, kSuper = true;
    static constexpr int kBlock = kQkK;
};

// Q4_K's 12 scale bytes -> 8 scales and 8 mins of 6 bits: j < 4 in the low 6 bits of bytes j (scale) and j + 4
// (min); j >= 4 in the nibbles of byte j + 4, their top 2 bits in the top bits of bytes j - 4 and j.
inline void unpack_q4k_scales(const uint8_t* q, uint8_t* sc, uint8_t* mn) {
    for (int j = 0; j < 4; ++j) {
        sc[j] = q[j] & 63;
        mn[j] = q[j + 4] & 63;
    }
    for (int j = 4; j < 8; ++j) {
        sc[j] = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        mn[j] = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}
inline void pack_q4k_scales(const uint8_t* sc, const uint8_t* mn, uint8_t* q) {
    for (int j = 0; j < 4; ++j) {
        q[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
        q[j + 4] = static_cast<uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
        q[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
    }
}

// sum_j m_j * (sum of the activations of sub-block j): the mins' share, the same integer on every path.
inline int32_t q4k_min_total(const uint8_t* mn, const BlockQ8_K& a) {
    int32_t m = 0;
    for (int j = 0; j < 8; ++j) m += mn[j] * (a.bsums[2 * j] + a.bsums[2 * j + 1]);
    return m;
}
// 32 * sum_g sc_g * (sum of the activations of group g): Q6_K's -32 offset.
inline int32_t q6k_offset_total(const BlockQ6_K& w, const BlockQ8_K& a) {
    int32_t o = 0;
    for (int g = 0; g < 16; ++g) o += w.scales[g] * a.bsums[g];
    return 32 * o;
}

void q4k_totals_portable(const BlockQ4_K& w, const BlockQ8_K& a, int32_t* sumi, int32_t* summ) {
    uint8_t sc[8], mn[8];
    unpack_q4k_scales(w.scales, sc, mn);
    int32_t s = 0;
    for (int c = 0; c < 4; ++c) {
        int32_t lo = 0, hi = 0;
        for (int l = 0; l < 32; ++l) {
            lo += (w.qs[32 * c + l] & 15) * a.qs[64 * c + l];
            hi += (w.qs[32 * c + l] >> 4) * a.qs[64 * c + 32 + l];
        }
        s += sc[2 * c] * lo + sc[2 * c + 1] * hi;
    }
    *sumi = s;
    *summ = q4k_min_total(mn, a);
}

// Element 128h + 32k + l of a Q6_K super-block (h < 2, k < 4, l < 32): low 4 bits in ql[64h + l (+32 if k odd)]
// (low nibble for k < 2, high for k >= 2), high 2 bits at bit 2k of qh[32h + l]; group 8h + 2k + l / 16.
int32_t q6k_total_portable(const BlockQ6_K& w, const BlockQ8_K& a) {
    int32_t s = 0;
    for (int h = 0; h < 2; ++h)
        for (int k = 0; k < 4; ++k)
            for (int g = 0; g < 2; ++g) {
                int32_t t = 0;
                for (int l = 16 * g; l < 16 * g + 16; ++l) {
                    const int b = w.ql[64 * h + l + (k & 1) * 32];
                    const int q = ((k < 2 ? b & 15 : b >> 4) | (((w.qh[32 * h + l] >> (2 * k)) & 3) << 4)) - 32;
                    t += q * a.qs[128 * h + 32 * k + l];
                }
                s += w.scales[8 * h + 2 * k + g] * t;
            }
    return s;
}

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

// Lane sums of u8 x s8 (4 adjacent products each), as i32 (AVX2: the u8 side must stay below 128, or the i16
// pair sums of maddubs could saturate).
__attribute__((target("avx2"))) inline __m256i us8_avx2(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
__attribute__((target("avx2,avx512f,avx512vl,avx512vnni"))) inline __m256i us8_vnni(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

// One body, compiled twice: for AVX2 (maddubs) and for AVX-512 VNNI (dpbusd on 256-bit vectors, as llama.cpp).
// W weight rows (w, w + w_stride, ...) against R activation rows (a, a + a_stride, ...): each weight block is
// loaded and unpacked once for the R rows (prefill), and the W x R sums are independent chains (decode has one
// input row). Each pair's arithmetic is the single-pair one, so results do not depend on W or R.
// The u8 side of each product: Q4 nibbles as stored (Q4_0's -8 comes out of each lane as 8 x the lane's sum of
// x, one vector per activation block shared by the W rows), Q8_0 w + 128 on VNNI (the 128 taken out the same
// way), |w| against sign(x, w) on AVX2. The lanes are the same integers either way.
// out[i * R + j] = weight row i . activation row j.
#define DIAGECG_QUANT_DOT(NAME, TARGET, US8, VNNI)                                                              \
    template <typename F, int W, int R>                                                                         \
    __attribute__((target(TARGET))) void NAME(const typename F::W* w, int64_t w_stride, const typename F::A* a, \
                                              int64_t a_stride, int64_t nb, float* out) {                       \
        __m256 acc[W * R];                                                                                      \
        float summs[W * R];                                                                                     \
        for (int k = 0; k < W * R; ++k) {                                                                       \
            acc[k] = _mm256_setzero_ps();                                                                       \
            summs[k] = 0;                                                                                       \
        }                                                                                                       \
        /* The next W rows (the caller's next pass; one run of memory) are read ahead, a block's share per     \
           block: without it the hardware prefetcher left decode at a quarter to a third of one core's         \
           bandwidth. */                                                                                        \
        const char* next = reinterpret_cast<const char*>(w + W * w_stride);                                     \
        constexpr int64_t kAhead = W * static_cast<int64_t>(sizeof(typename F::W));                              \
        for (int64_t b = 0; b < nb; ++b) {                                                                      \
            for (int64_t p = b * kAhead; p < (b + 1) * kAhead; p += 64) _mm_prefetch(next + p, _MM_HINT_T0);    \
            __m256i x[W], ax[W];                                                                                \
            float dw[W];                                                                                        \
            for (int i = 0; i < W; ++i) {                                                                       \
                const auto& wb = w[i * w_stride + b];                                                           \
                dw[i] = _cvtsh_ss(wb.d); /* f16 scales by F16C (exact) */                                       \
                if constexpr (std::is_same_v<F, Q8_0>) {                                                        \
                    x[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb.qs));                         \
                    if constexpr (VNNI) x[i] = _mm256_xor_si256(x[i], _mm256_set1_epi8(-128)); /* w + 128 */    \
                    else ax[i] = _mm256_sign_epi8(x[i], x[i]); /* |w|, the sign moved onto x */                 \
                } else {                                                                                        \
                    x[i] = nibbles32(wb.qs);                                                                    \
                }                                                                                               \
            }                                                                                                   \
            for (int j = 0; j < R; ++j) {                                                                       \
                const auto& ab = a[j * a_stride + b];                                                           \
                const float da = _cvtsh_ss(ab.d);                                                               \
                const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab.qs));                  \
                constexpr int kOffset = std::is_same_v<F, Q4_0> ? 8 : std::is_same_v<F, Q8_0> && VNNI ? 128 : 0; \
                __m256i off = _mm256_setzero_si256();                                                           \
                if constexpr (kOffset != 0)                                                                     \
                    off = _mm256_mullo_epi32(US8(_mm256_set1_epi8(1), y), _mm256_set1_epi32(kOffset));          \
                for (int i = 0; i < W; ++i) {                                                                   \
                    const int k = i * R + j;                                                                    \
                    const __m256 d = _mm256_set1_ps(dw[i] * da);                                                \
                    __m256i l;                                                                                  \
                    if constexpr (std::is_same_v<F, Q4_1>)                                                      \
                        summs[k] = std::fma(_cvtsh_ss(w[i * w_stride + b].m), _cvtsh_ss(ab.s), summs[k]);       \
                    if constexpr (std::is_same_v<F, Q8_0> && !VNNI)                                             \
                        l = US8(ax[i], _mm256_sign_epi8(y, x[i]));                                              \
                    else                                                                                        \
                        l = _mm256_sub_epi32(US8(x[i], y), off);                                                \
                    acc[k] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(l), acc[k]);                                 \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
        for (int k = 0; k < W * R; ++k) {                                                                       \
            alignas(32) float l[8];                                                                             \
            _mm256_store_ps(l, acc[k]);                                                                         \
            out[k] = hsum8(l) + summs[k];                                                                       \
        }                                                                                                       \
    }
DIAGECG_QUANT_DOT(dot_avx2, "avx2,fma,f16c", us8_avx2, false)
DIAGECG_QUANT_DOT(dot_vnni, "avx2,fma,f16c,avx512f,avx512vl,avx512vnni", us8_vnni, true)
#undef DIAGECG_QUANT_DOT

// Super-block totals on 256-bit vectors: SCALED(u, s, a, b) = the int32 lanes of u8 x s8 products, those of
// elements 0-15 times a and 16-31 times b (AVX2: maddubs, then madd by the scales; VNNI: dpbusd, then mullo).
__attribute__((target("avx2"))) inline __m256i scaled_avx2(__m256i u, __m256i s, int a, int b) {
    const __m256i sc =
        _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(b)), _mm_set1_epi16(static_cast<int16_t>(a)));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), sc);
}
__attribute__((target("avx2,avx512f,avx512vl,avx512vnni"))) inline __m256i scaled_vnni(__m256i u, __m256i s, int a,
                                                                                       int b) {
    const __m256i sc = _mm256_set_m128i(_mm_set1_epi32(b), _mm_set1_epi32(a));
    return _mm256_mullo_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s), sc);
}
#define DIAGECG_KQUANT_TOTALS(SUFFIX, TARGET, SCALED)                                                           \
    __attribute__((target(TARGET))) inline int32_t hsum_i32_##SUFFIX(__m256i v) {                               \
        __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));                  \
        x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0x4E));                                                        \
        x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0xB1));                                                        \
        return _mm_cvtsi128_si32(x);                                                                             \
    }                                                                                                            \
    __attribute__((target(TARGET))) void q4k_totals_##SUFFIX(const BlockQ4_K& w, const BlockQ8_K& a,            \
                                                             int32_t* sumi, int32_t* summ) {                     \
        uint8_t sc[8], mn[8];                                                                                    \
        unpack_q4k_scales(w.scales, sc, mn);                                                                     \
        const __m256i m4 = _mm256_set1_epi8(15);                                                                 \
        __m256i acc = _mm256_setzero_si256();                                                                    \
        for (int c = 0; c < 4; ++c) {                                                                            \
            const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs + 32 * c));              \
            const __m256i y0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs + 64 * c));             \
            const __m256i y1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs + 64 * c + 32));        \
            acc = _mm256_add_epi32(acc, SCALED(_mm256_and_si256(q, m4), y0, sc[2 * c], sc[2 * c]));             \
            acc = _mm256_add_epi32(acc, SCALED(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), y1, sc[2 * c + 1], \
                                               sc[2 * c + 1]));                                                  \
        }                                                                                                        \
        *sumi = hsum_i32_##SUFFIX(acc);                                                                          \
        *summ = q4k_min_total(mn, a);                                                                            \
    }                                                                                                            \
    __attribute__((target(TARGET))) int32_t q6k_total_##SUFFIX(const BlockQ6_K& w, const BlockQ8_K& a) {       \
        const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);                                       \
        __m256i acc = _mm256_setzero_si256();                                                                    \
        for (int h = 0; h < 2; ++h) {                                                                            \
            const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.ql + 64 * h));            \
            const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.ql + 64 * h + 32));       \
            const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qh + 32 * h));            \
            const __m256i lo[4] = {_mm256_and_si256(l0, m4), _mm256_and_si256(l1, m4),                          \
                                   _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),                               \
                                   _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4)};                              \
            const __m256i hi[4] = {_mm256_and_si256(qh, m2), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2),    \
                                   _mm256_and_si256(_mm256_srli_epi16(qh, 4), m2),                               \
                                   _mm256_and_si256(_mm256_srli_epi16(qh, 6), m2)};                              \
            for (int k = 0; k < 4; ++k) {                                                                        \
                const __m256i u = _mm256_or_si256(lo[k], _mm256_slli_epi16(hi[k], 4)); /* 0..63 */              \
                const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs + 128 * h + 32 * k)); \
                acc = _mm256_add_epi32(acc, SCALED(u, y, w.scales[8 * h + 2 * k], w.scales[8 * h + 2 * k + 1])); \
            }                                                                                                    \
        }                                                                                                        \
        return hsum_i32_##SUFFIX(acc) - q6k_offset_total(w, a);                                                  \
    }
DIAGECG_KQUANT_TOTALS(avx2, "avx2,fma,f16c", scaled_avx2)
DIAGECG_KQUANT_TOTALS(vnni, "avx2,fma,f16c,avx512f,avx512vl,avx512vnni", scaled_vnni)
#undef DIAGECG_KQUANT_TOTALS

// W super-block weight rows x R activation rows; the portable path's Q6_K total also subtracts the offset inside.
template <typename F, int W, int R, QuantIsa I>
void dot_super(const typename F::W* w, int64_t w_stride, const typename F::A* a, int64_t a_stride, int64_t nb,
               float* out) {
    const float* h = fp16_table();
    for (int i = 0; i < W; ++i)
        for (int j = 0; j < R; ++j) {
            const typename F::W* wr = w + i * w_stride;
            const BlockQ8_K* ar = a + j * a_stride;
            float acc = 0, accm = 0;
            for (int64_t b = 0; b < nb; ++b) {
                if constexpr (std::is_same_v<F, Q4_K>) {
                    int32_t sumi, summ;
                    if constexpr (I == QuantIsa::kAvx512Vnni)
                        q4k_totals_vnni(wr[b], ar[b], &sumi, &summ);
                    else if constexpr (I == QuantIsa::kAvx2)
                        q4k_totals_avx2(wr[b], ar[b], &sumi, &summ);
                    else
                        q4k_totals_portable(wr[b], ar[b], &sumi, &summ);
                    acc = std::fma(h[wr[b].d] * ar[b].d, static_cast<float>(sumi), acc);
                    accm = std::fma(h[wr[b].dmin] * ar[b].d, static_cast<float>(summ), accm);
                } else {
                    const int32_t s = I == QuantIsa::kAvx512Vnni ? q6k_total_vnni(wr[b], ar[b])
                                      : I == QuantIsa::kAvx2     ? q6k_total_avx2(wr[b], ar[b])
                                                                 : q6k_total_portable(wr[b], ar[b]);
                    acc = std::fma(h[wr[b].d] * ar[b].d, static_cast<float>(s), acc);
                }
            }
            out[i * R + j] = acc - accm;
        }
}

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
    if constexpr (F::kSuper) {
        switch (isa) {
            case QuantIsa::kAvx512Vnni:
                return dot_super<F, W, R, QuantIsa::kAvx512Vnni>;
            case QuantIsa::kAvx2:
                return dot_super<F, W, R, QuantIsa::kAvx2>;
            default:
                return dot_super<F, W, R, QuantIsa::kPortable>;
        }
    } else {
        switch (isa) {
            case QuantIsa::kAvx512Vnni:
                return dot_vnni<F, W, R>;
            case QuantIsa::kAvx2:
                return dot_avx2<F, W, R>;
            default:
                return dot_portable<F, W, R>;
        }
    }
}

// ---- activation rows -----------------------------------------------------------------------------------------
// llama.cpp's x86 quantize_row_q8_0/q8_1, one block: d = amax / 127, q = round-half-even(x * (127 / amax)); emit(b,
// qs, d, sum of qs) per block b. The AVX-512 loop gives the portable one's bytes (the same products, and
// vcvtps2dq rounds half to even as nearbyint does in the default rounding mode; tested): a decode step quantizes
// ~12k floats a layer on one thread while the other waits, and the scalar loop (nearbyint is a libm call on
// x86-64's baseline) took ~2.5 ns a float, ~2% of a TinyLlama-shape Q4_0 step.
template <typename Emit>
void q8_blocks_portable(const float* x, int64_t nb, const Emit& emit) {
    int8_t qs[kQk];
    for (int64_t b = 0; b < nb; ++b) {
        const float* xb = x + b * kQk;
        float amax = 0;
        for (int j = 0; j < kQk; ++j) amax = std::max(amax, std::fabs(xb[j]));
        const float id = amax != 0.f ? 127.f / amax : 0.f;
        int32_t sum = 0;
        for (int j = 0; j < kQk; ++j) {
            qs[j] = static_cast<int8_t>(std::nearbyint(xb[j] * id));
            sum += qs[j];
        }
        emit(b, qs, amax / 127.f, sum);
    }
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
template <typename Emit>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void q8_blocks_avx512(const float* x, int64_t nb,
                                                                          const Emit& emit) {
    alignas(32) int8_t qs[kQk];
    for (int64_t b = 0; b < nb; ++b) {
        const __m512 x0 = _mm512_loadu_ps(x + b * kQk), x1 = _mm512_loadu_ps(x + b * kQk + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
        const __m512 id = _mm512_set1_ps(amax != 0.f ? 127.f / amax : 0.f);
        const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, id)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, id));
        _mm_store_si128(reinterpret_cast<__m128i*>(qs), _mm512_cvtepi32_epi8(q0));
        _mm_store_si128(reinterpret_cast<__m128i*>(qs + 16), _mm512_cvtepi32_epi8(q1));
        emit(b, qs, amax / 127.f, _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1)));
    }
}
#pragma GCC diagnostic pop

bool q8_avx512_available() {
    static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512vl");
    return ok;
}

// The row's k / 32 blocks on the AVX-512 loop where the CPU has it, unless `isa` asks for a path without it.
template <typename Emit>
void q8_blocks(const float* x, int64_t k, QuantIsa isa, const Emit& emit) {
    if ((isa == QuantIsa::kAuto || isa == QuantIsa::kAvx512Vnni) && q8_avx512_available())
        q8_blocks_avx512(x, k / kQk, emit);
    else
        q8_blocks_portable(x, k / kQk, emit);
}

template <bool kSum>
void quantize_q8(const float* x, int64_t k, void* out, QuantIsa isa) {
    auto* o = static_cast<uint8_t*>(out);
    constexpr size_t kBytes = kSum ? sizeof(BlockQ8_1) : sizeof(BlockQ8_0);
    q8_blocks(x, k, isa, [&](int64_t b, const int8_t* qs, float d, int32_t sum) {
        uint8_t* ob = o + b * kBytes;
        const uint16_t dh = fp32_to_fp16(d);
        std::memcpy(ob, &dh, 2);
        if (kSum) {
            const uint16_t sh = fp32_to_fp16(d * static_cast<float>(sum));
            std::memcpy(ob + 2, &sh, 2);
        }
        std::memcpy(ob + (kSum ? 4 : 2), qs, kQk);
    });
}

// Q8_K, as ggml's quantize_row_q8_K: per 256, the value of largest magnitude sets iscale = -127 / max,
// q = min(127, round-half-even(iscale x)), d = 1 / iscale (f32), and the sums of each 16 q.
void quantize_q8k(const float* x, int64_t k, BlockQ8_K* o) {
    for (int64_t b = 0; b < k / kQkK; ++b, ++o) {
        const float* xb = x + b * kQkK;
        float amax = 0, max = 0;
        for (int j = 0; j < kQkK; ++j)
            if (std::fabs(xb[j]) > amax) {
                amax = std::fabs(xb[j]);
                max = xb[j];
            }
        if (amax == 0.f) {
            std::memset(o, 0, sizeof(*o));
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < kQkK; ++j)
            o->qs[j] = static_cast<int8_t>(std::min(127, static_cast<int>(std::nearbyint(iscale * xb[j]))));
        for (int g = 0; g < 16; ++g) {
            int s = 0;
            for (int j = 0; j < 16; ++j) s += o->qs[16 * g + j];
            o->bsums[g] = static_cast<int16_t>(s);
        }
        o->d = 1.f / iscale;
    }
}

// >= 16 weight rows and >= 64K weights per task of a matmul's parallel pass: a smaller matmul runs on the calling
// thread (the threads' fork and join cost more than it)
constexpr int64_t kMinWeightsPerTask = 65536;

// x [M, K] -> y_g [M, N_g] for each weight g (all of type F, same K): the activations are quantized once and
// every weight's rows are shared out in one parallel pass.
template <typename F>
void matmul_typed(const float* x, int64_t m, int64_t k, const std::vector<const QuantWeight*>& ws,
                  const std::vector<float*>& ys, QuantIsa isa) {
    using A = typename F::A;
    const int64_t nb = k / F::kBlock;
    thread_local std::vector<A> act;  // the calling thread's; lambdas below use the pointer, not the name
    act.resize(static_cast<size_t>(m * nb));
    A* const ap = act.data();
    const GgmlType at = quant_activation_type(ws[0]->type);
    if (m == 1) {
        quantize_activation_row(at, x, k, ap, isa);
    } else {
        at::parallel_for(0, m, 16, [&](int64_t a, int64_t b) {
            for (int64_t i = a; i < b; ++i) quantize_activation_row(at, x + i * k, k, ap + i * nb, isa);
        });
    }
    int64_t total = 0;
    for (const auto* w : ws) total += w->rows;
    const DotFn<F> dot1 = pick_dot<F, 1, 1>(isa), rows4 = pick_dot<F, 1, 4>(isa), weights4 = pick_dot<F, 4, 1>(isa),
                   tile4 = pick_dot<F, 4, 4>(isa);
    at::parallel_for(0, total, std::max<int64_t>(16, kMinWeightsPerTask / k), [&](int64_t r0, int64_t r1) {
        float out[4];
        int64_t base = 0;
        for (size_t g = 0; g < ws.size(); base += ws[g]->rows, ++g) {
            const int64_t lo = std::max(r0, base), hi = std::min(r1, base + ws[g]->rows), n = ws[g]->rows;
            const auto* wb = static_cast<const typename F::W*>(ws[g]->blocks.data_ptr());
            float* y = ys[g];
            int64_t r = lo - base;
            if (m == 1)  // one input row: four weight rows per pass (independent chains), results in place
                for (; r + 4 <= hi - base; r += 4) weights4(wb + r * nb, nb, ap, nb, nb, y + r);
            // several input rows: tiles of 4 weight rows x 4 input rows (each weight block loaded once for four
            // rows, each activation block for four weight rows), the rest four weight rows per input row
            for (; m > 1 && r + 4 <= hi - base; r += 4) {
                int64_t i = 0;
                for (; i + 4 <= m; i += 4) {
                    float t[16];
                    tile4(wb + r * nb, nb, ap + i * nb, nb, nb, t);
                    for (int wi = 0; wi < 4; ++wi)
                        for (int j = 0; j < 4; ++j) y[(i + j) * n + r + wi] = t[wi * 4 + j];
                }
                for (; i < m; ++i) {
                    weights4(wb + r * nb, nb, ap + i * nb, nb, nb, out);
                    for (int wi = 0; wi < 4; ++wi) y[i * n + r + wi] = out[wi];
                }
            }
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

// ---- the interleaved layout (quant-matmul.h): groups of 16 blocks for 512-bit VNNI ---------------------------
constexpr int kGroup = 16;
constexpr int64_t kActGroupBytes = 640;  // a group of activations: 512 quant bytes, 16 f32 d, 16 i32/f32 extras

// Where a block's parts lie in ggml's layout.
struct BlockShape {
    int bytes, qs_offset, qs_bytes;
    bool has_min;
};
BlockShape block_shape(GgmlType t) {
    switch (t) {
        case GgmlType::kQ4_0:
            return {sizeof(BlockQ4_0), 2, 16, false};
        case GgmlType::kQ4_1:
            return {sizeof(BlockQ4_1), 4, 16, true};
        case GgmlType::kQ8_0:
            return {sizeof(BlockQ8_0), 2, 32, false};
        default:
            throw std::invalid_argument(std::string("the interleaved layout is for Q4_0, Q4_1 and Q8_0, not ") +
                                        ggml_type_name(t));
    }
}

// One row of nb blocks, ggml's layout -> the interleaved one (kToGroups) or back. A group of n blocks (16; the
// row's last group has nb % 16 if that is not 0): their n f16 d, Q4_1's n f16 m, then chunks of 4n bytes whose
// bytes 4L..4L+3 are quant bytes 4c..4c+3 of block L (chunk c). The same bytes, so the row's size is ggml's.
template <bool kToGroups>
void reorder_row(const BlockShape& s, const uint8_t* src, uint8_t* dst, int64_t nb) {
    const auto move = [&](int64_t plain, int64_t grouped, size_t n) {
        std::memcpy(dst + (kToGroups ? grouped : plain), src + (kToGroups ? plain : grouped), n);
    };
    for (int64_t first = 0; first < nb; first += kGroup) {
        const int n = static_cast<int>(std::min<int64_t>(kGroup, nb - first));
        const int64_t at = first * s.bytes;  // the group's first byte, in either layout
        const int hdr = 2 * n * (s.has_min ? 2 : 1);
        for (int L = 0; L < n; ++L) {
            const int64_t block = at + L * s.bytes;
            move(block, at + 2 * L, 2);                                  // d
            if (s.has_min) move(block + 2, at + 2 * n + 2 * L, 2);       // m
            for (int c = 0; c < s.qs_bytes / 4; ++c)                     // quant bytes 4c..4c+3
                move(block + s.qs_offset + 4 * c, at + hdr + 4 * n * c + 4 * L, 4);
        }
    }
}

QuantWeight reorder_weight(const QuantWeight& w, bool to_groups, void* dst = nullptr,
                           std::shared_ptr<void> owner = nullptr) {
    const BlockShape s = block_shape(w.type);
    const int64_t nb = w.cols / kQk, rb = nb * s.bytes;
    QuantWeight o = w;
    o.blocks = dst ? torch::from_blob(
                         dst, {w.rows, rb}, [owner](void*) {}, torch::kUInt8)
                   : torch::empty({w.rows, rb}, torch::kUInt8);
    o.interleaved = to_groups;
    const auto src = w.blocks.contiguous();
    const uint8_t* sp = src.data_ptr<uint8_t>();
    uint8_t* dp = o.blocks.data_ptr<uint8_t>();
    at::parallel_for(0, w.rows, 256, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            if (to_groups)
                reorder_row<true>(s, sp + r * rb, dp + r * rb, nb);
            else
                reorder_row<false>(s, sp + r * rb, dp + r * rb, nb);
        }
    });
    return o;
}

// One activation row for the interleaved kernel, a 640-byte group per weight group: the quants reordered like the
// weights' (chunk c, bytes 4L..: quant bytes 4c.. of block L; a Q4 weight chunk c meets activation chunks c and
// c + 4), then per block the f32 d and the extra: Q4_0 8 x sum(q) and Q8_0 128 x sum(q) (the offsets of the
// unsigned sides), Q4_1 the f32 s. A short last group is zero past its blocks. The blocks are llama.cpp's
// (quantize_q8).
template <typename F>
void prepare_interleaved_row(const float* x, int64_t k, uint8_t* groups) {
    const int64_t nb = k / kQk, ng = (nb + kGroup - 1) / kGroup;
    const float* h = fp16_table();
    if (nb % kGroup) std::memset(groups + (ng - 1) * kActGroupBytes, 0, kActGroupBytes);
    q8_blocks(x, k, QuantIsa::kAuto, [&](int64_t b, const int8_t* qs, float d, int32_t sum) {
        uint8_t* o = groups + b / kGroup * kActGroupBytes;
        const int L = static_cast<int>(b % kGroup);
        for (int c = 0; c < 8; ++c) std::memcpy(o + 64 * c + 4 * L, qs + 4 * c, 4);
        const float dr = h[fp32_to_fp16(d)];  // the block's d as its f16 rounds it
        std::memcpy(o + 512 + 4 * L, &dr, 4);
        if constexpr (std::is_same_v<F, Q4_1>) {
            const float sr = h[fp32_to_fp16(d * static_cast<float>(sum))];
            std::memcpy(o + 576 + 4 * L, &sr, 4);
        } else {
            const int32_t off = (std::is_same_v<F, Q4_0> ? 8 : 128) * sum;
            std::memcpy(o + 576 + 4 * L, &off, 4);
        }
    });
}

constexpr int kAheadRows = 16;
// GCC 12 warns that _mm512_cvtph_ps and _mm512_reduce_add_ps use an uninitialized __Y inside the intrinsics'
// headers (GCC bug 105593, fixed in 13)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// W interleaved weight rows (w, w + w_stride bytes, ...) of nb blocks x R prepared activation rows:
// out[i * R + j]. Per group and pair, 8 dpbusd give the 16 blocks' integer sums in one vector; the offset comes
// off, and one multiply-add by d_w d_x adds the 16 blocks to the float accumulator. A short last group is read
// with masked loads (its lanes past the row's blocks are zero, and so are the activations there).
template <typename F, int W, int R>
__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"))) void dot_groups(
    const uint8_t* w, int64_t w_stride, const uint8_t* a, int64_t a_stride, int64_t nb, float* out) {
    constexpr int kBlockBytes = static_cast<int>(sizeof(typename F::W));
    constexpr int kChunks = std::is_same_v<F, Q8_0> ? 8 : 4;
    __m512 acc[W * R];
    for (auto& v : acc) v = _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(15), flip = _mm512_set1_epi8(-128);
    const int64_t ng = (nb + kGroup - 1) / kGroup;
    // W rows, kAheadRows on (rows are one run of memory), their share per group, into L2: this kernel runs through
    // a row about 2x faster than DIAGECG_QUANT_DOT, and the next pass's rows prefetched into L1 arrived too late
    // (one thread streamed 10-12 GB/s from memory against 15-17 GB/s with this; scratch timing loop)
    const char* next = reinterpret_cast<const char*>(w + kAheadRows * w_stride);
    const int64_t ahead = ng > 0 ? (W * w_stride + ng - 1) / ng : 0;
    for (int64_t g = 0; g < ng; ++g) {
        // the group's share of prefetches, spread over its W x kChunks loads (a few per load, not all at the
        // group's start: that burst stalled on the fill buffers, TinyLlama-shape Q4_0 decode 77-79% -> 83-84% of the
        // bandwidth bound in 3 alternating rounds on a Xeon; the distance rescanned with it: 8-48 rows, 16 best)
        const char* const pf = next + g * ahead;
        const int64_t pf_lines = (ahead + 63) / 64;
        const auto prefetch_slot = [pf, pf_lines](int slot) {
            constexpr int kSlots = kChunks * W;
            for (int64_t l = slot * pf_lines / kSlots; l < (slot + 1) * pf_lines / kSlots; ++l)
                _mm_prefetch(pf + 64 * l, _MM_HINT_T1);
        };
        const int n = static_cast<int>(std::min<int64_t>(kGroup, nb - g * kGroup));  // blocks in this group
        const __mmask64 mq = n == kGroup ? ~0ull : (1ull << (4 * n)) - 1;             // bytes of a chunk
        const __mmask16 md = static_cast<__mmask16>((1u << n) - 1);                    // its f16 scales
        const int stride = 4 * n, hdr = 2 * n * (std::is_same_v<F, Q4_1> ? 2 : 1);
        const int64_t at = g * kGroup * kBlockBytes;
        // s: the integer sums per pair; Q4: s2 the high nibbles' (x 16), Q8_0: one pair (a decode pass over one row)
        // splits its sums over s and s2, two dependency chains
        constexpr bool kSplit = W * R == 1;
        __m512i s[W * R], s2[W * R];
#pragma GCC unroll 8
        for (int k = 0; k < W * R; ++k) s[k] = s2[k] = _mm512_setzero_si512();
        if constexpr (std::is_same_v<F, Q8_0>) {
#pragma GCC unroll 8
            for (int c = 0; c < kChunks; ++c) {
#pragma GCC unroll 4
                for (int i = 0; i < W; ++i) {
                    prefetch_slot(c * W + i);
                    const uint8_t* wq = w + i * w_stride + at + hdr + stride * c;
                    const __m512i q = _mm512_xor_si512(
                        n == kGroup ? _mm512_loadu_si512(wq) : _mm512_maskz_loadu_epi8(mq, wq), flip);
#pragma GCC unroll 2
                    for (int j = 0; j < R; ++j) {
                        __m512i& t = kSplit && c % 2 ? s2[i * R + j] : s[i * R + j];
                        t = _mm512_dpbusd_epi32(t, q, _mm512_loadu_si512(a + j * a_stride + g * kActGroupBytes + 64 * c));
                    }
                }
            }
        } else {
            // the high nibbles stay in place (16 x their value) and sum in s2: one op fewer per chunk than shifting
            // each down, and a second dependency chain per pair; s2 / 16 is exact
#pragma GCC unroll 4
            for (int c = 0; c < kChunks; ++c) {
#pragma GCC unroll 4
                for (int i = 0; i < W; ++i) {
                    prefetch_slot(c * W + i);
                    const uint8_t* wq = w + i * w_stride + at + hdr + stride * c;
                    const __m512i q = n == kGroup ? _mm512_loadu_si512(wq) : _mm512_maskz_loadu_epi8(mq, wq);
                    const __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_andnot_si512(m4, q);
#pragma GCC unroll 2
                    for (int j = 0; j < R; ++j) {
                        const uint8_t* ag = a + j * a_stride + g * kActGroupBytes;
                        s[i * R + j] = _mm512_dpbusd_epi32(s[i * R + j], lo, _mm512_loadu_si512(ag + 64 * c));
                        s2[i * R + j] = _mm512_dpbusd_epi32(s2[i * R + j], hi, _mm512_loadu_si512(ag + 64 * (c + 4)));
                    }
                }
            }
#pragma GCC unroll 8
            for (int k = 0; k < W * R; ++k) s[k] = _mm512_add_epi32(s[k], _mm512_srai_epi32(s2[k], 4));
        }
        if constexpr (kSplit && std::is_same_v<F, Q8_0>) s[0] = _mm512_add_epi32(s[0], s2[0]);
#pragma GCC unroll 4
        for (int i = 0; i < W; ++i) {
            const uint8_t* wg = w + i * w_stride + at;
            const __m512 dw = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(md, wg));
            for (int j = 0; j < R; ++j) {
                const uint8_t* ag = a + j * a_stride + g * kActGroupBytes;
                const __m512 dx = _mm512_loadu_ps(ag + 512);
                const int k = i * R + j;
                if constexpr (std::is_same_v<F, Q4_1>) {
                    acc[k] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dx), _mm512_cvtepi32_ps(s[k]), acc[k]);
                    const __m512 mw = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(md, wg + 2 * n));
                    acc[k] = _mm512_fmadd_ps(mw, _mm512_loadu_ps(ag + 576), acc[k]);
                } else {
                    const __m512i sum = _mm512_sub_epi32(s[k], _mm512_loadu_si512(ag + 576));
                    acc[k] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dx), _mm512_cvtepi32_ps(sum), acc[k]);
                }
            }
        }
    }
    for (int k = 0; k < W * R; ++k) out[k] = _mm512_reduce_add_ps(acc[k]);
}

#pragma GCC diagnostic pop

// A W x R tile of an interleaved weight: y[j * n + i] = weight row i . activation row j.
template <typename F, int W, int R>
void interleaved_tile(const uint8_t* w, int64_t rb, const uint8_t* ga, int64_t nb, float* y, int64_t n) {
    float t[W * R];
    const int64_t ng = (nb + kGroup - 1) / kGroup;
    dot_groups<F, W, R>(w, rb, ga, ng * kActGroupBytes, nb, t);
    for (int i = 0; i < W; ++i)
        for (int j = 0; j < R; ++j) y[j * n + i] = t[i * R + j];
}

// matmul_typed's pass for interleaved weights (AVX-512 VNNI): 4 weight rows x 2 input rows per tile.
template <typename F>
void matmul_interleaved(const float* x, int64_t m, int64_t k, const std::vector<const QuantWeight*>& ws,
                        const std::vector<float*>& ys) {
    const int64_t nb = k / kQk, ng = (nb + kGroup - 1) / kGroup;
    const int64_t rb = nb * static_cast<int64_t>(sizeof(typename F::W));
    thread_local std::vector<uint8_t> groups;  // the calling thread's; lambdas below use the pointer
    groups.resize(static_cast<size_t>(m * ng * kActGroupBytes));
    uint8_t* const gp = groups.data();
    const auto prep = [&](int64_t i) { prepare_interleaved_row<F>(x + i * k, k, gp + i * ng * kActGroupBytes); };
    if (m == 1)
        prep(0);
    else
        at::parallel_for(0, m, 16, [&](int64_t a, int64_t b) {
            for (int64_t i = a; i < b; ++i) prep(i);
        });
    int64_t total = 0;
    for (const auto* w : ws) total += w->rows;
    at::parallel_for(0, total, std::max<int64_t>(16, kMinWeightsPerTask / k), [&](int64_t r0, int64_t r1) {
        int64_t base = 0;
        for (size_t g = 0; g < ws.size(); base += ws[g]->rows, ++g) {
            const int64_t lo = std::max(r0, base), hi = std::min(r1, base + ws[g]->rows), n = ws[g]->rows;
            const uint8_t* wb = ws[g]->blocks.data_ptr<uint8_t>();
            float* y = ys[g];
            for (int64_t r = lo - base; r < hi - base;) {
                const bool four = r + 4 <= hi - base;
                int64_t i = 0;
                for (; i + 2 <= m; i += 2) {
                    const uint8_t* ga = gp + i * ng * kActGroupBytes;
                    if (four)
                        interleaved_tile<F, 4, 2>(wb + r * rb, rb, ga, nb, y + i * n + r, n);
                    else
                        interleaved_tile<F, 1, 2>(wb + r * rb, rb, ga, nb, y + i * n + r, n);
                }
                for (; i < m; ++i) {
                    const uint8_t* ga = gp + i * ng * kActGroupBytes;
                    if (four)
                        interleaved_tile<F, 4, 1>(wb + r * rb, rb, ga, nb, y + i * n + r, n);
                    else
                        interleaved_tile<F, 1, 1>(wb + r * rb, rb, ga, nb, y + i * n + r, n);
                }
                r += four ? 4 : 1;
            }
        }
    });
}

uint16_t h16(float f) {
    return fp32_to_fp16(f);
}

void check_type(GgmlType t) {
    if (!quant_matmul_supported(t))
        throw std::invalid_argument(std::string("weights of type ") + ggml_type_name(t) +
                                    " are not kept quantized (Q4_0, Q4_1, Q8_0, Q4_K, Q6_K are)");
}

int nearest(float x) {
    return static_cast<int>(std::nearbyint(x));
}

// One Q8_0 block from 32 floats: ggml's reference (d = amax / 127, q = round(x / d)), except for a block whose
// values all lie on a coarser evenly spaced grid lo + g k that a step g / a (a = 1, 2, ... while the block still
// fits in +-127) reproduces exactly, as a block dequantized from Q4_0 or Q8_0 does: there the reference step cuts
// across the grid (each level off by up to half a step) and that step is kept instead, so re-quantizing such
// weights to Q8_0 loses nothing. Other blocks keep the reference's bytes: for a model's own weights the common
// step falls below the reference step and the search stops; a Q4_1 block's offset rarely falls on a whole step, and taking the closest inexact grid
// step there (2.5x lower RMS weight error on SmolLM2-135M's Q4_1 matrices) did not lower perplexity (measured:
// +0.42% vs f32 where the reference gave +0.24%, 15,281 held-out tokens), so it is not used.
void quantize_block_q8_0(const float* x, BlockQ8_0& o) {
    float amax = 0, lo = x[0];
    for (int j = 0; j < kQk; ++j) {
        amax = std::max(amax, std::fabs(x[j]));
        lo = std::min(lo, x[j]);
    }
    const float d = amax / 127.f, id = d != 0.f ? 1.f / d : 0.f;
    o.d = h16(d);
    for (int j = 0; j < kQk; ++j) o.qs[j] = static_cast<int8_t>(std::round(x[j] * id));
    if (amax == 0.f || !std::isfinite(amax)) return;
    // the grid's step g: the greatest common divisor of the distances from the lowest value (Euclid's algorithm
    // with a tolerance for float rounding), given up once it is finer than the reference step (then it cannot
    // help)
    const float tol = amax * 1e-4f;
    float g = 0;
    for (int j = 0; j < kQk && (g == 0 || g >= d * 0.99f); ++j) {
        float b = x[j] - lo;
        if (b <= tol) continue;
        float a = g;
        if (a == 0) {
            g = b;
            continue;
        }
        if (a < b) std::swap(a, b);
        while (b > tol) {
            float r = std::fmod(a, b);
            if (b - r <= tol) r = 0;
            a = b;
            b = r;
        }
        g = a;
    }
    if (!(g >= d * 0.99f)) return;   // also a NaN g
    for (int j = 0; j < kQk; ++j) {   // every value a whole number of steps from the lowest
        const float u = (x[j] - lo) / g;
        if (std::fabs(u - std::nearbyint(u)) > 1e-3f) return;
    }
    for (int a = 1; g / a >= d * 0.99f; ++a) {
        const uint16_t dh = h16(g / a);
        const float s = fp16_to_fp32(dh);
        if (!(s > 0) || !std::isfinite(s)) continue;
        int8_t q[kQk];
        bool exact = true;
        for (int j = 0; j < kQk && exact; ++j) {
            const float r = std::nearbyint(x[j] / s);
            exact = std::fabs(r) <= 127.f && s * r == x[j];
            q[j] = static_cast<int8_t>(r);
        }
        if (exact) {
            o.d = dh;
            std::copy(q, q + kQk, o.qs);
            return;
        }
    }
}

// One Q4_K super-block from 256 floats. Each sub-block of 32 gets the affine range [min(0, lo), hi] in 15 steps;
// the 8 steps and the 8 -mins are then coded in 6 bits against the super-block's largest (d, dmin), and the
// values rounded against the coded step and min. (A plain range fit: ggml's reference searches each
// sub-block's scale further, so its blocks are a little closer; llama.cpp reads both alike.)
void quantize_block_q4k(const float* x, BlockQ4_K& o) {
    float step[8], neg_min[8], max_step = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        float lo = 0, hi = x[32 * j];
        for (int l = 0; l < 32; ++l) {
            lo = std::min(lo, x[32 * j + l]);
            hi = std::max(hi, x[32 * j + l]);
        }
        step[j] = std::max(0.f, hi - lo) / 15.f;
        neg_min[j] = -lo;
        max_step = std::max(max_step, step[j]);
        max_min = std::max(max_min, neg_min[j]);
    }
    o.d = h16(max_step / 63.f);
    o.dmin = h16(max_min / 63.f);
    const float d = fp16_to_fp32(o.d), dmin = fp16_to_fp32(o.dmin);
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; ++j) {
        sc[j] = static_cast<uint8_t>(d > 0 ? std::clamp(nearest(step[j] / d), 0, 63) : 0);
        mn[j] = static_cast<uint8_t>(dmin > 0 ? std::clamp(nearest(neg_min[j] / dmin), 0, 63) : 0);
    }
    pack_q4k_scales(sc, mn, o.scales);
    uint8_t q[256];
    for (int j = 0; j < 8; ++j) {
        const float dj = d * sc[j], mj = dmin * mn[j];
        for (int l = 0; l < 32; ++l)
            q[32 * j + l] = static_cast<uint8_t>(dj > 0 ? std::clamp(nearest((x[32 * j + l] + mj) / dj), 0, 15) : 0);
    }
    for (int c = 0; c < 4; ++c)
        for (int l = 0; l < 32; ++l) o.qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
}

// One Q6_K super-block: each group of 16 gets the symmetric step that maps its largest-magnitude value to -32
// (as Q4_0 does with -8); the 16 steps are coded as int8 against the super-block's largest, and the values
// rounded against the coded step into [-32, 31].
void quantize_block_q6k(const float* x, BlockQ6_K& o) {
    float step[16], max_abs = 0;
    for (int g = 0; g < 16; ++g) {
        float amax = 0, max = 0;
        for (int l = 0; l < 16; ++l)
            if (std::fabs(x[16 * g + l]) > amax) {
                amax = std::fabs(x[16 * g + l]);
                max = x[16 * g + l];
            }
        step[g] = max / -32.f;
        max_abs = std::max(max_abs, std::fabs(step[g]));
    }
    o.d = h16(max_abs / 127.f);
    const float d = fp16_to_fp32(o.d);
    uint8_t q[256];
    for (int g = 0; g < 16; ++g) {
        o.scales[g] = static_cast<int8_t>(d > 0 ? std::clamp(nearest(step[g] / d), -127, 127) : 0);
        const float dg = d * o.scales[g];
        for (int l = 0; l < 16; ++l)
            q[16 * g + l] = static_cast<uint8_t>(dg != 0 ? std::clamp(nearest(x[16 * g + l] / dg), -32, 31) + 32 : 32);
    }
    std::memset(o.ql, 0, sizeof(o.ql));
    std::memset(o.qh, 0, sizeof(o.qh));
    for (int h = 0; h < 2; ++h)
        for (int k = 0; k < 4; ++k)
            for (int l = 0; l < 32; ++l) {
                const int v = q[128 * h + 32 * k + l];
                o.ql[64 * h + l + (k & 1) * 32] |= static_cast<uint8_t>((v & 15) << (k < 2 ? 0 : 4));
                o.qh[32 * h + l] |= static_cast<uint8_t>((v >> 4) << (2 * k));
            }
}

}  // namespace

bool quant_matmul_supported(GgmlType t) {
    return t == GgmlType::kQ4_0 || t == GgmlType::kQ4_1 || t == GgmlType::kQ8_0 || t == GgmlType::kQ4_K ||
           t == GgmlType::kQ6_K;
}

GgmlType quant_activation_type(GgmlType weight) {
    if (weight == GgmlType::kQ4_K || weight == GgmlType::kQ6_K) return GgmlType::kQ8_K;
    return weight == GgmlType::kQ4_1 ? GgmlType::kQ8_1 : GgmlType::kQ8_0;
}

int64_t quant_block_size(GgmlType t) {
    return t == GgmlType::kQ4_K || t == GgmlType::kQ6_K || t == GgmlType::kQ8_K ? kQkK : kQk;
}

GgmlType quant_type_for_cols(GgmlType t, int64_t cols) {
    check_type(t);
    if (cols % quant_block_size(t) == 0) return t;
    if (cols % kQk != 0) return GgmlType::kF32;
    return t == GgmlType::kQ4_K ? GgmlType::kQ4_1 : t == GgmlType::kQ6_K ? GgmlType::kQ8_0 : t;
}

QuantWeight quant_weight_from_blocks(GgmlType t, int64_t rows, int64_t cols, const void* data,
                                     std::shared_ptr<const void> owner) {
    check_type(t);
    if (rows <= 0 || cols <= 0 || cols % quant_block_size(t) != 0)
        throw std::invalid_argument("quantized weight of shape [" + std::to_string(rows) + ", " + std::to_string(cols) +
                                    "]: rows must be whole blocks of " + std::to_string(quant_block_size(t)));
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
    const int64_t bs = quant_block_size(t);
    if (w.dim() != 2 || w.size(1) % bs != 0)
        throw std::invalid_argument("quantize_weight: expected [N, K] with K a multiple of " + std::to_string(bs) +
                                    " for " + ggml_type_name(t));
    const auto wf = w.to(torch::kCPU, torch::kFloat).contiguous();
    const int64_t n = wf.size(0), k = wf.size(1), nb = k / bs;
    QuantWeight q{t, n, k, torch::empty({n, static_cast<int64_t>(ggml_row_bytes(t, k))}, torch::kUInt8)};
    const float* src = wf.data_ptr<float>();
    uint8_t* dst = q.blocks.data_ptr<uint8_t>();
    if (t == GgmlType::kQ4_K || t == GgmlType::kQ6_K) {
        at::parallel_for(0, n * nb, 16, [&](int64_t b0, int64_t b1) {
            for (int64_t b = b0; b < b1; ++b) {
                if (t == GgmlType::kQ4_K)
                    quantize_block_q4k(src + b * kQkK, reinterpret_cast<BlockQ4_K*>(dst)[b]);
                else
                    quantize_block_q6k(src + b * kQkK, reinterpret_cast<BlockQ6_K*>(dst)[b]);
            }
        });
        return q;
    }
    at::parallel_for(0, n * nb, 256, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
            const float* x = src + b * kQk;
            if (t == GgmlType::kQ8_0) {
                quantize_block_q8_0(x, reinterpret_cast<BlockQ8_0*>(dst)[b]);
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

namespace {

// Row r of w in ggml's layout: in place, or put back into `buf` from the interleaved one.
const uint8_t* ggml_row(const QuantWeight& w, int64_t r, std::vector<uint8_t>& buf) {
    const auto rb = static_cast<int64_t>(ggml_row_bytes(w.type, w.cols));
    const uint8_t* src = w.blocks.data_ptr<uint8_t>() + r * rb;
    if (!w.interleaved) return src;
    buf.resize(static_cast<size_t>(rb));
    reorder_row<false>(block_shape(w.type), src, buf.data(), w.cols / kQk);
    return buf.data();
}

// The weight as a dense [rows, cols] matrix of dt: f32, or bf16 (each row through f32, rounded to nearest even).
torch::Tensor dequantize_weight_as(const QuantWeight& w, torch::Dtype dt) {
    check_type(w.type);
    auto out = torch::empty({w.rows, w.cols}, dt);
    at::parallel_for(0, w.rows, 64, [&](int64_t r0, int64_t r1) {
        std::vector<float> row(dt == torch::kFloat ? 0 : static_cast<size_t>(w.cols));
        std::vector<uint8_t> buf;
        for (int64_t r = r0; r < r1; ++r) {
            const uint8_t* src = ggml_row(w, r, buf);
            if (dt == torch::kFloat) {
                dequantize(w.type, src, out.data_ptr<float>() + r * w.cols, w.cols);
                continue;
            }
            dequantize(w.type, src, row.data(), w.cols);
            auto* o = out.data_ptr<at::BFloat16>() + r * w.cols;
            for (int64_t c = 0; c < w.cols; ++c) o[c] = at::BFloat16(row[static_cast<size_t>(c)]);
        }
    });
    return out;
}

}  // namespace

torch::Tensor dequantize_weight(const QuantWeight& w) { return dequantize_weight_as(w, torch::kFloat); }

torch::Tensor dequantize_rows(const QuantWeight& w, const torch::Tensor& index) {
    check_type(w.type);
    const auto idx = index.to(torch::kCPU, torch::kLong).contiguous();
    auto out = torch::empty({idx.numel(), w.cols}, torch::kFloat);
    const int64_t* ix = idx.data_ptr<int64_t>();
    std::vector<uint8_t> buf;
    for (int64_t i = 0; i < idx.numel(); ++i) {
        if (ix[i] < 0 || ix[i] >= w.rows)
            throw std::out_of_range("row " + std::to_string(ix[i]) + " outside [0, " + std::to_string(w.rows) + ")");
        dequantize(w.type, ggml_row(w, ix[i], buf), out.data_ptr<float>() + i * w.cols, w.cols);
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

bool quant_interleave_available(GgmlType t) {
    static const bool cpu = quant_isa_available(QuantIsa::kAvx512Vnni) && __builtin_cpu_supports("avx512bw");
    return cpu && (t == GgmlType::kQ4_0 || t == GgmlType::kQ4_1 || t == GgmlType::kQ8_0);
}

QuantWeight interleave_weight(const QuantWeight& w, void* dst, std::shared_ptr<void> owner) {
    if (!quant_interleave_available(w.type))
        throw std::invalid_argument(std::string("the interleaved layout needs AVX-512 BW and VNNI and Q4_0, Q4_1 or "
                                                "Q8_0 weights (") + ggml_type_name(w.type) + ")");
    return w.interleaved ? w : reorder_weight(w, true, dst, std::move(owner));
}

QuantWeight interleave_for_cpu(const QuantWeight& w) {
    return quant_interleave_available(w.type) ? interleave_weight(w) : w;
}

QuantWeight ggml_layout(const QuantWeight& w) {
    return w.interleaved ? reorder_weight(w, false) : w;
}

void quantize_activation_row(GgmlType act, const float* x, int64_t k, void* out, QuantIsa isa) {
    if (k % quant_block_size(act) != 0)
        throw std::invalid_argument("activation rows must be whole blocks of " + std::to_string(quant_block_size(act)));
    if (act == GgmlType::kQ8_K)
        quantize_q8k(x, k, static_cast<BlockQ8_K*>(out));
    else if (act == GgmlType::kQ8_1)
        quantize_q8<true>(x, k, out, isa);
    else if (act == GgmlType::kQ8_0)
        quantize_q8<false>(x, k, out, isa);
    else
        throw std::invalid_argument(std::string("activations are quantized to Q8_0, Q8_1 or Q8_K, not ") +
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

namespace {

// x [m, k] f32 -> ys[g] [m, N_g] f32, on the int8 kernels of `isa`.
void matmul_int8(const float* xp, int64_t m, int64_t k, const std::vector<const QuantWeight*>& ws, QuantIsa isa,
                 const std::vector<float*>& ys) {
    if (!quant_isa_available(isa))
        throw std::invalid_argument(std::string("this CPU cannot run the ") + quant_isa_name(isa) +
                                    " quantized kernels");
    bool interleaved = false;
    for (const auto* w : ws) interleaved = interleaved || w->interleaved;
    if (interleaved && isa == QuantIsa::kAvx512Vnni && quant_interleave_available(ws[0]->type)) {
        std::vector<QuantWeight> held;  // any weight of the group not yet interleaved
        std::vector<const QuantWeight*> iw;
        held.reserve(ws.size());
        for (const auto* w : ws) iw.push_back(w->interleaved ? w : &held.emplace_back(interleave_weight(*w)));
        if (ws[0]->type == GgmlType::kQ4_0)
            matmul_interleaved<Q4_0>(xp, m, k, iw, ys);
        else if (ws[0]->type == GgmlType::kQ4_1)
            matmul_interleaved<Q4_1>(xp, m, k, iw, ys);
        else
            matmul_interleaved<Q8_0>(xp, m, k, iw, ys);
        return;
    }
    if (interleaved) {  // another ISA asked for: the ggml layout back, then as any weight
        std::vector<QuantWeight> plain;
        std::vector<const QuantWeight*> pw;
        plain.reserve(ws.size());
        for (const auto* w : ws) pw.push_back(&plain.emplace_back(ggml_layout(*w)));
        return matmul_int8(xp, m, k, pw, isa, ys);
    }
    switch (ws[0]->type) {
        case GgmlType::kQ4_0:
            matmul_typed<Q4_0>(xp, m, k, ws, ys, isa);
            break;
        case GgmlType::kQ4_1:
            matmul_typed<Q4_1>(xp, m, k, ws, ys, isa);
            break;
        case GgmlType::kQ4_K:
            matmul_typed<Q4_K>(xp, m, k, ws, ys, isa);
            break;
        case GgmlType::kQ6_K:
            matmul_typed<Q6_K>(xp, m, k, ws, ys, isa);
            break;
        default:
            matmul_typed<Q8_0>(xp, m, k, ws, ys, isa);
            break;
    }
}

}  // namespace

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
    const int64_t k = ws[0]->cols;
    std::vector<torch::Tensor> out;   // [M, N_g] each
    if (isa == QuantIsa::kAuto && x.numel() / k >= (ws[0]->interleaved ? kQuantGemmRowsInterleaved : kQuantGemmRows)) {
        // Many input rows (a prompt): the weights once as a dense matrix and LibTorch's GEMM beat the int8 tiles
        // (bf16 where the CPU multiplies bf16 natively, else f32)
        static const bool bf16 = __builtin_cpu_supports("avx512bf16");
        const auto dt = bf16 ? torch::kBFloat16 : torch::kFloat;
        const auto xd = x.reshape({-1, k}).to(dt);
        for (const auto* w : ws) out.push_back(torch::matmul(xd, dequantize_weight_as(*w, dt).t()).to(torch::kFloat));
    } else {
        const auto xf = compat::as_dtype(x.reshape({-1, k}), torch::kFloat).contiguous();
        const int64_t m = xf.size(0);
        std::vector<float*> ys;
        for (const auto* w : ws) {
            out.push_back(torch::empty({m, w->rows}, torch::kFloat));
            ys.push_back(out.back().data_ptr<float>());
        }
        matmul_int8(xf.data_ptr<float>(), m, k, ws, isa == QuantIsa::kAuto ? quant_isa_auto() : isa, ys);
    }
    for (size_t g = 0; g < ws.size(); ++g) {
        auto sizes = x.sizes().vec();
        sizes.back() = ws[g]->rows;
        out[g] = out[g].view(sizes);
    }
    return out;
}

void quant_matmul_f32(const float* x, int64_t m, const std::vector<const QuantWeight*>& ws,
                      const std::vector<float*>& ys) {
    if (ws.empty()) return;
    for (const auto* w : ws) {
        check_type(w->type);
        if (w->type != ws[0]->type || w->cols != ws[0]->cols)
            throw std::invalid_argument("quant_matmul_f32: weights of different types or widths");
    }
    matmul_int8(x, m, ws[0]->cols, ws, quant_isa_auto(), ys);
}

torch::Tensor quant_matmul(const torch::Tensor& x, const QuantWeight& w, QuantIsa isa) {
    return quant_matmul_group(x, {&w}, isa).at(0);
}

}  // namespace diagecg
