// Fused AVX-512 kernels of the heartllm encoder (see the header for the plan).
//
// Buffers of one lead, rows of 32 lanes (channels-last), each with kPad zero rows in front:
//   X  f32  the block input of stages >= 1 (the stride-2 conv's output); X16 its bf16 copy (bf16 mode)
//   Y  f32  the block output before GroupNorm; normalised in place (f32) or into A16 (bf16) for the stride-2 conv
// Rows past a stage's length are read by the conv taps: the first kTailZero of them are zeroed per stage (the
// 'same' and stride-2 paddings); further rows only feed discarded outputs of the last register tile.
#include "diagecg/tokenizer/heartllm-encoder-kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace diagecg {

namespace {

constexpr int kLanes = 32;        // C: two 16-wide vectors per row
constexpr int kMr = 12;           // rows per register tile: 2 x 12 accumulators + weights + broadcast < 32 zmm
constexpr int64_t kPad = 4;       // zero rows in front of every buffer (the k7 'same' conv reads 3)
constexpr int64_t kTailZero = 4;  // zero rows after a stage's last row
constexpr int kTerms = 8;         // taps -3..3 and the pooled input

// Lane i -> the authors' channel: lanes [k7 | k5 | k3 | pool], theirs [k3 | k5 | k7 | pool], 8 each.
int torch_channel(int i) {
    return i < 8 ? i + 16 : i < 16 ? i : i < 24 ? i - 16 : i;
}
// Branch of lane i: its kernel half-width (3, 2, 1) or -1 for the pooled branch.
int lane_half_width(int i) {
    return i < 8 ? 3 : i < 16 ? 2 : i < 24 ? 1 : -1;
}
int lane_branch_row(int i) {
    return i % 8;
}  // output row within its branch's weight

uint16_t to_bf16(float f) {  // round to nearest even (weights and activations are finite)
    uint32_t u;
    std::memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1);
    return static_cast<uint16_t>(u >> 16);
}

struct AlignedFloats {
    float* p = nullptr;
    size_t n = 0;
    void reserve(size_t count) {
        if (count <= n) return;
        std::free(p);
        const size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
        p = static_cast<float*>(std::aligned_alloc(64, bytes));
        if (!p) throw std::bad_alloc();
        std::memset(p, 0, bytes);
        n = count;
    }
    ~AlignedFloats() { std::free(p); }
};

// Per-thread scratch of one lead (sizes grow to the largest T seen).
struct Scratch {
    AlignedFloats xin, pin, x, y, x16, a16;  // the bf16 buffers hold 2 values per float slot
    int64_t t = -1;
    void size_for(int64_t n_samples) {
        if (n_samples == t) return;
        const int64_t t1 = (n_samples + 1) / 2;
        xin.reserve(static_cast<size_t>(kPad + n_samples + kMr + 8));
        pin.reserve(static_cast<size_t>(n_samples + kMr + 8));
        x.reserve(static_cast<size_t>((kPad + t1 + kMr + 8) * kLanes));
        y.reserve(static_cast<size_t>((kPad + n_samples + 2 * kMr + 8) * kLanes));
        x16.reserve(static_cast<size_t>((kPad + t1 + kMr + 8) * kLanes / 2));
        a16.reserve(static_cast<size_t>((kPad + n_samples + 2 * kMr + 8) * kLanes / 2));
        t = n_samples;
    }
};

// Everything up to the pop runs only where heartllm_kernels_supported() said yes.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bf16")

// [16 lanes] f32 -> bf16, round to nearest even.
inline __m256i cvt_bf16(__m512 v) {
    return (__m256i)_mm512_cvtneps_pbh(v);
}
inline __m512 widen_bf16(__m256i v) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}
inline __m256i narrow_exact_bf16(__m512 v) {
    return _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(v), 16));
}

// ---- f32 micro-kernels: acc[r] += sum_c w[c][lanes] * src[r * stride + c] ---------------------------------
template <int MR, bool LO, bool HI>
inline __attribute__((always_inline)) void term_f32(const float* src, int64_t stride, const float* w, int cin,
                                                    __m512 (&acc)[MR][2]) {
    for (int c = 0; c < cin; ++c) {
        const __m512 wl = LO ? _mm512_loadu_ps(w + c * kLanes) : _mm512_setzero_ps();
        const __m512 wh = HI ? _mm512_loadu_ps(w + c * kLanes + 16) : _mm512_setzero_ps();
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
            const __m512 xb = _mm512_set1_ps(src[r * stride + c]);
            if (LO) acc[r][0] = _mm512_fmadd_ps(wl, xb, acc[r][0]);
            if (HI) acc[r][1] = _mm512_fmadd_ps(wh, xb, acc[r][1]);
        }
    }
}

// bf16 pairs: acc[r] += sum_cp w[cp][lanes] . (src[r * stride + 2cp], src[... + 2cp + 1]); w [cp][2 halves][16][2]
template <int MR, bool LO, bool HI>
inline __attribute__((always_inline)) void term_bf16(const uint16_t* src, int64_t stride, const uint16_t* w,
                                                     __m512 (&acc)[MR][2]) {
    for (int cp = 0; cp < kLanes / 2; ++cp) {
        const __m512i wl = LO ? _mm512_loadu_si512(w + (cp * 2) * 32) : _mm512_setzero_si512();
        const __m512i wh = HI ? _mm512_loadu_si512(w + (cp * 2 + 1) * 32) : _mm512_setzero_si512();
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
            int32_t pair;
            std::memcpy(&pair, src + r * stride + 2 * cp, 4);
            const __m512i xb = _mm512_set1_epi32(pair);
            if (LO) acc[r][0] = _mm512_dpbf16_ps(acc[r][0], (__m512bh)wl, (__m512bh)xb);
            if (HI) acc[r][1] = _mm512_dpbf16_ps(acc[r][1], (__m512bh)wh, (__m512bh)xb);
        }
    }
}

template <int MR>
inline __attribute__((always_inline)) void zero(__m512 (&acc)[MR][2]) {
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
}

// Max over rows t-1, t, t+1 (MaxPool1d(3, 1, 1): the padding never wins) of rows [t0, t0 + MR) of x.
template <typename Load, typename Store>
inline void pool_rows(int64_t t0, int64_t t, Load load, Store store) {
    for (int r = 0; r < kMr; ++r) {
        const int64_t i = t0 + r;
        for (int h = 0; h < 2; ++h) {
            __m512 m = load(i, h);
            if (i > 0) m = _mm512_max_ps(m, load(i - 1, h));
            if (i + 1 < t) m = _mm512_max_ps(m, load(i + 1, h));
            store(r, h, m);
        }
    }
}

// ---- one block ----------------------------------------------------------------------------------------------
// First block: 1-channel input xin (rows = samples, kPad zeros in front), pooled pin. y rows [0, t).
void first_block(const float* xin, const float* pin, const float* w, int64_t t, float* y) {
    for (int64_t t0 = 0; t0 < t; t0 += kMr) {
        __m512 acc[kMr][2];
        zero(acc);
        const float* x = xin + t0;
        for (int d = -3; d <= 3; ++d) term_f32<kMr, true, true>(x + d, 1, w + (d + 3) * kLanes, 1, acc);
        term_f32<kMr, true, true>(pin + t0, 1, w + 7 * kLanes, 1, acc);  // pooled branch
        term_f32<kMr, true, true>(x, 1, w + 8 * kLanes, 1, acc);         // the 1x1 residual conv
        const int n = static_cast<int>(std::min<int64_t>(kMr, t - t0));
        for (int r = 0; r < n; ++r) {
            _mm512_store_ps(y + (t0 + r) * kLanes, acc[r][0]);
            _mm512_store_ps(y + (t0 + r) * kLanes + 16, acc[r][1]);
        }
    }
}

// Block on 32-channel input x (f32, rows [0, t)), identity residual. Terms: taps -3..3 then the pool.
void block_f32(const float* x, const float* w, int64_t t, float* y) {
    alignas(64) float pool[kMr * kLanes];
    for (int64_t t0 = 0; t0 < t; t0 += kMr) {
        pool_rows(
            t0, t, [&](int64_t i, int h) { return _mm512_load_ps(x + i * kLanes + 16 * h); },
            [&](int r, int h, __m512 m) { _mm512_store_ps(pool + r * kLanes + 16 * h, m); });
        __m512 acc[kMr][2];
        zero(acc);
        const float* xr = x + t0 * kLanes;
        constexpr int64_t S = kLanes, W = kLanes * kLanes;
        term_f32<kMr, true, false>(xr - 3 * S, S, w + 0 * W, kLanes, acc);  // k7 only
        term_f32<kMr, true, false>(xr - 2 * S, S, w + 1 * W, kLanes, acc);  // k7, k5
        term_f32<kMr, true, true>(xr - 1 * S, S, w + 2 * W, kLanes, acc);   // k7, k5, k3
        term_f32<kMr, true, true>(xr, S, w + 3 * W, kLanes, acc);
        term_f32<kMr, true, true>(xr + 1 * S, S, w + 4 * W, kLanes, acc);
        term_f32<kMr, true, false>(xr + 2 * S, S, w + 5 * W, kLanes, acc);
        term_f32<kMr, true, false>(xr + 3 * S, S, w + 6 * W, kLanes, acc);
        term_f32<kMr, false, true>(pool, S, w + 7 * W, kLanes, acc);  // pool only
        const int n = static_cast<int>(std::min<int64_t>(kMr, t - t0));
        for (int r = 0; r < n; ++r) {
            const float* res = xr + r * kLanes;
            _mm512_store_ps(y + (t0 + r) * kLanes, _mm512_add_ps(acc[r][0], _mm512_load_ps(res)));
            _mm512_store_ps(y + (t0 + r) * kLanes + 16, _mm512_add_ps(acc[r][1], _mm512_load_ps(res + 16)));
        }
    }
}

void block_bf16(const uint16_t* x16, const float* x, const uint16_t* w, int64_t t, float* y) {
    alignas(64) uint16_t pool[kMr * kLanes];
    for (int64_t t0 = 0; t0 < t; t0 += kMr) {
        pool_rows(
            t0, t,
            [&](int64_t i, int h) {
                return widen_bf16(_mm256_load_si256(reinterpret_cast<const __m256i*>(x16 + i * kLanes + 16 * h)));
            },
            [&](int r, int h, __m512 m) {  // exact: m is one of the bf16 inputs
                _mm256_store_si256(reinterpret_cast<__m256i*>(pool + r * kLanes + 16 * h), narrow_exact_bf16(m));
            });
        __m512 acc[kMr][2];
        zero(acc);
        const uint16_t* xr = x16 + t0 * kLanes;
        constexpr int64_t S = kLanes, W = kLanes * kLanes;
        term_bf16<kMr, true, false>(xr - 3 * S, S, w + 0 * W, acc);
        term_bf16<kMr, true, false>(xr - 2 * S, S, w + 1 * W, acc);
        term_bf16<kMr, true, true>(xr - 1 * S, S, w + 2 * W, acc);
        term_bf16<kMr, true, true>(xr, S, w + 3 * W, acc);
        term_bf16<kMr, true, true>(xr + 1 * S, S, w + 4 * W, acc);
        term_bf16<kMr, true, false>(xr + 2 * S, S, w + 5 * W, acc);
        term_bf16<kMr, true, false>(xr + 3 * S, S, w + 6 * W, acc);
        term_bf16<kMr, false, true>(pool, S, w + 7 * W, acc);
        const int n = static_cast<int>(std::min<int64_t>(kMr, t - t0));
        for (int r = 0; r < n; ++r) {
            const float* res = x + (t0 + r) * kLanes;
            _mm512_store_ps(y + (t0 + r) * kLanes, _mm512_add_ps(acc[r][0], _mm512_load_ps(res)));
            _mm512_store_ps(y + (t0 + r) * kLanes + 16, _mm512_add_ps(acc[r][1], _mm512_load_ps(res + 16)));
        }
    }
}

// Stride-2 conv (k3, pad 1) of a (rows [0, t_in), row -1 and row t_in zero) to x rows [0, t_out).
void down_f32(const float* a, const float* w, int64_t t_out, float* x) {
    constexpr int64_t S = kLanes, W = kLanes * kLanes;
    for (int64_t t0 = 0; t0 < t_out; t0 += kMr) {
        __m512 acc[kMr][2];
        zero(acc);
        const float* ar = a + 2 * t0 * S;
        term_f32<kMr, true, true>(ar - S, 2 * S, w, kLanes, acc);
        term_f32<kMr, true, true>(ar, 2 * S, w + W, kLanes, acc);
        term_f32<kMr, true, true>(ar + S, 2 * S, w + 2 * W, kLanes, acc);
        const int n = static_cast<int>(std::min<int64_t>(kMr, t_out - t0));
        for (int r = 0; r < n; ++r) {
            _mm512_store_ps(x + (t0 + r) * S, acc[r][0]);
            _mm512_store_ps(x + (t0 + r) * S + 16, acc[r][1]);
        }
    }
}

void down_bf16(const uint16_t* a16, const uint16_t* w, int64_t t_out, float* x, uint16_t* x16) {
    constexpr int64_t S = kLanes, W = kLanes * kLanes;
    for (int64_t t0 = 0; t0 < t_out; t0 += kMr) {
        __m512 acc[kMr][2];
        zero(acc);
        const uint16_t* ar = a16 + 2 * t0 * S;
        term_bf16<kMr, true, true>(ar - S, 2 * S, w, acc);
        term_bf16<kMr, true, true>(ar, 2 * S, w + W, acc);
        term_bf16<kMr, true, true>(ar + S, 2 * S, w + 2 * W, acc);
        const int n = static_cast<int>(std::min<int64_t>(kMr, t_out - t0));
        for (int r = 0; r < n; ++r) {
            for (int h = 0; h < 2; ++h) {
                _mm512_store_ps(x + (t0 + r) * S + 16 * h, acc[r][h]);
                _mm256_store_si256(reinterpret_cast<__m256i*>(x16 + (t0 + r) * S + 16 * h), cvt_bf16(acc[r][h]));
            }
        }
    }
}

// GroupNorm statistics of y rows [0, t) -> per-lane scale and shift (y * scale + shift = GN(y)).
void group_norm_affine(const float* y, int64_t t, int64_t groups, const float* gamma, const float* beta, float* scale,
                       float* shift) {
    __m512d sum[4], sq[4];
    for (int k = 0; k < 4; ++k) sum[k] = sq[k] = _mm512_setzero_pd();
    for (int64_t i = 0; i < t; ++i) {
        for (int k = 0; k < 4; ++k) {
            const __m512d v = _mm512_cvtps_pd(_mm256_load_ps(y + i * kLanes + 8 * k));
            sum[k] = _mm512_add_pd(sum[k], v);
            sq[k] = _mm512_fmadd_pd(v, v, sq[k]);
        }
    }
    alignas(64) double s[kLanes], q[kLanes];
    for (int k = 0; k < 4; ++k) {
        _mm512_store_pd(s + 8 * k, sum[k]);
        _mm512_store_pd(q + 8 * k, sq[k]);
    }
    const int64_t per_group = kLanes / groups;
    double gs[kLanes] = {}, gq[kLanes] = {};
    for (int i = 0; i < kLanes; ++i) {
        gs[torch_channel(i) / per_group] += s[i];
        gq[torch_channel(i) / per_group] += q[i];
    }
    const double n = static_cast<double>(t * per_group);
    for (int i = 0; i < kLanes; ++i) {
        const int64_t g = torch_channel(i) / per_group;
        const double mean = gs[g] / n, var = std::max(0.0, gq[g] / n - mean * mean);
        const double rstd = 1.0 / std::sqrt(var + 1e-5);  // GroupNorm's default eps
        scale[i] = static_cast<float>(rstd * gamma[i]);
        shift[i] = static_cast<float>(beta[i] - mean * rstd * gamma[i]);
    }
}

// LeakyReLU(y * scale + shift) of rows [0, t); out (f32, may be y) or out16 (bf16); torch_order: lanes permuted
// back to the authors' channel order (the encoder's output).
void normalize_bf16(const float* y, int64_t t, const float* scale, const float* shift, float slope, uint16_t* out16) {
    const __m512 sl[2] = {_mm512_loadu_ps(scale), _mm512_loadu_ps(scale + 16)};
    const __m512 sh[2] = {_mm512_loadu_ps(shift), _mm512_loadu_ps(shift + 16)};
    const __m512 ns = _mm512_set1_ps(slope);
    for (int64_t i = 0; i < t; ++i)
        for (int h = 0; h < 2; ++h) {
            __m512 v = _mm512_fmadd_ps(_mm512_load_ps(y + i * kLanes + 16 * h), sl[h], sh[h]);
            v = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, ns);
            _mm256_store_si256(reinterpret_cast<__m256i*>(out16 + i * kLanes + 16 * h), cvt_bf16(v));
        }
}

void normalize_f32(float* y, int64_t t, const float* scale, const float* shift, float slope, float* out,
                   bool torch_order) {
    const __m512 sl[2] = {_mm512_loadu_ps(scale), _mm512_loadu_ps(scale + 16)};
    const __m512 sh[2] = {_mm512_loadu_ps(shift), _mm512_loadu_ps(shift + 16)};
    const __m512 ns = _mm512_set1_ps(slope);
    for (int64_t i = 0; i < t; ++i) {
        __m512 v[2];
        for (int h = 0; h < 2; ++h) {
            v[h] = _mm512_fmadd_ps(_mm512_load_ps(y + i * kLanes + 16 * h), sl[h], sh[h]);
            v[h] = _mm512_mask_mul_ps(v[h], _mm512_cmp_ps_mask(v[h], _mm512_setzero_ps(), _CMP_LT_OQ), v[h], ns);
        }
        float* o = out + i * kLanes;
        if (!torch_order) {
            _mm512_storeu_ps(o, v[0]);
            _mm512_storeu_ps(o + 16, v[1]);
        } else {  // lanes [k7 | k5 | k3 | pool] -> [k3 | k5 | k7 | pool]
            _mm256_storeu_ps(o + 16, _mm512_castps512_ps256(v[0]));
            _mm256_storeu_ps(o + 8, _mm512_extractf32x8_ps(v[0], 1));
            _mm256_storeu_ps(o, _mm512_castps512_ps256(v[1]));
            _mm256_storeu_ps(o + 24, _mm512_extractf32x8_ps(v[1], 1));
        }
    }
}

#pragma GCC pop_options

}  // namespace

bool heartllm_kernels_supported(int64_t channels, bool bf16) {
    if (channels != kLanes) return false;
    static const bool f32 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    static const bool b16 = f32 && __builtin_cpu_supports("avx512bf16");
    return bf16 ? b16 : f32;
}

HeartllmEncoderKernel::HeartllmEncoderKernel(const HeartllmEncoderShape& s, const HeartllmEncoderWeights& w, bool bf16)
    : s_(s), bf16_(bf16) {
    if (!heartllm_kernels_supported(s.channels, bf16)) throw std::logic_error("heartllm kernels: not supported here");
    if (s.n_stages < 1 || static_cast<int64_t>(w.blocks.size()) != s.n_stages + 1 ||
        static_cast<int64_t>(w.down.size()) != s.n_stages || kLanes % s.groups != 0)
        throw std::logic_error("heartllm kernels: weights do not match the shape");
    constexpr int C = kLanes, B = kLanes / 4;
    // Pairs layout of a [C in][32 lanes] f32 term: [C/2][2 halves][16 lanes][2].
    const auto pairs = [](const float* term, uint16_t* out) {
        for (int cp = 0; cp < C / 2; ++cp)
            for (int h = 0; h < 2; ++h)
                for (int l = 0; l < 16; ++l)
                    for (int e = 0; e < 2; ++e)
                        out[((cp * 2 + h) * 16 + l) * 2 + e] = to_bf16(term[(2 * cp + e) * kLanes + h * 16 + l]);
    };
    const auto round_bf16 = [bf16](float v) {
        if (!bf16) return v;
        const uint32_t u = static_cast<uint32_t>(to_bf16(v)) << 16;
        float f;
        std::memcpy(&f, &u, 4);
        return f;
    };
    for (size_t bi = 0; bi < w.blocks.size(); ++bi) {
        const HeartllmBlockWeights& bw = w.blocks[bi];
        Block blk;
        blk.first = bi == 0;
        const int in = blk.first ? 1 : C;
        if (blk.first != (bw.residual != nullptr))
            throw std::logic_error("heartllm kernels: residual conv only in the first block");
        const float* branch[4] = {bw.k7, bw.k5, bw.k3, bw.pool};  // per 8 lanes
        const int ksize[4] = {7, 5, 3, 1};
        blk.taps.assign(static_cast<size_t>((blk.first ? 9 : kTerms) * in * kLanes), 0.0f);
        for (int i = 0; i < kLanes; ++i) {
            const int br = i / B, o = lane_branch_row(i), half = lane_half_width(i);
            for (int c = 0; c < in; ++c) {
                const int ct = blk.first ? 0 : torch_channel(c);  // the input lane's channel in PyTorch order
                if (half < 0) {
                    blk.taps[(7 * in + c) * kLanes + i] = round_bf16(branch[br][o * in + ct]);
                } else {
                    for (int d = -half; d <= half; ++d)
                        blk.taps[((d + 3) * in + c) * kLanes + i] =
                            round_bf16(branch[br][(o * in + ct) * ksize[br] + d + half]);
                }
                if (blk.first) blk.taps[(8 * in + c) * kLanes + i] = round_bf16(bw.residual[torch_channel(i)]);
            }
            blk.gamma.push_back(bw.gamma[torch_channel(i)]);
            blk.beta.push_back(bw.beta[torch_channel(i)]);
        }
        if (bf16 && !blk.first) {
            blk.taps16.resize(static_cast<size_t>(kTerms * C * kLanes));
            for (int term = 0; term < kTerms; ++term)
                pairs(&blk.taps[term * C * kLanes], &blk.taps16[term * C * kLanes]);
        }
        blocks_.push_back(std::move(blk));
    }
    for (const float* dw : w.down) {  // [C out][C in][3] -> [3][C in lanes][32 out lanes]
        std::vector<float> t(static_cast<size_t>(3 * C * kLanes));
        for (int k = 0; k < 3; ++k)
            for (int c = 0; c < C; ++c)
                for (int o = 0; o < kLanes; ++o)
                    t[(k * C + c) * kLanes + o] = round_bf16(dw[(torch_channel(o) * C + torch_channel(c)) * 3 + k]);
        if (bf16) {
            std::vector<uint16_t> t16(t.size());
            for (int k = 0; k < 3; ++k) pairs(&t[k * C * kLanes], &t16[k * C * kLanes]);
            down16_.push_back(std::move(t16));
        }
        down_.push_back(std::move(t));
    }
}

void HeartllmEncoderKernel::run_row(const float* signal, float* out) const {
    thread_local Scratch sc;
    sc.size_for(s_.n_samples);
    const float slope = static_cast<float>(s_.negative_slope);
    float* xin = sc.xin.p + kPad;
    float* x = sc.x.p + kPad * kLanes;
    float* y = sc.y.p + kPad * kLanes;
    auto* x16 = reinterpret_cast<uint16_t*>(sc.x16.p) + kPad * kLanes;
    auto* a16 = reinterpret_cast<uint16_t*>(sc.a16.p) + kPad * kLanes;
    alignas(64) float scale[kLanes], shift[kLanes];

    int64_t t = s_.n_samples;
    std::copy(signal, signal + t, xin);
    std::fill(xin + t, xin + t + kMr + 8, 0.0f);
    for (int64_t i = 0; i < t; ++i) {
        float m = xin[i];
        if (i > 0) m = std::max(m, xin[i - 1]);
        if (i + 1 < t) m = std::max(m, xin[i + 1]);
        sc.pin.p[i] = m;
    }
    for (size_t bi = 0; bi < blocks_.size(); ++bi) {
        const Block& blk = blocks_[bi];
        if (blk.first)
            first_block(xin, sc.pin.p, blk.taps.data(), t, y);
        else if (bf16_)
            block_bf16(x16, x, blk.taps16.data(), t, y);
        else
            block_f32(x, blk.taps.data(), t, y);
        group_norm_affine(y, t, s_.groups, blk.gamma.data(), blk.beta.data(), scale, shift);
        if (bi + 1 == blocks_.size()) {  // the bottleneck: the encoder's output
            normalize_f32(y, t, scale, shift, slope, out, true);
            break;
        }
        const int64_t t_out = (t + 1) / 2;
        if (bf16_) {
            normalize_bf16(y, t, scale, shift, slope, a16);
            std::memset(a16 + t * kLanes, 0, kTailZero * kLanes * sizeof(uint16_t));
            down_bf16(a16, down16_[bi].data(), t_out, x, x16);
            std::memset(x16 + t_out * kLanes, 0, kTailZero * kLanes * sizeof(uint16_t));
        } else {
            normalize_f32(y, t, scale, shift, slope, y, false);
            std::memset(y + t * kLanes, 0, kTailZero * kLanes * sizeof(float));
            down_f32(y, down_[bi].data(), t_out, x);
        }
        std::memset(x + t_out * kLanes, 0, kTailZero * kLanes * sizeof(float));
        t = t_out;
    }
}

}  // namespace diagecg
