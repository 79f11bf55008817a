// The decode-step matmul kernels behind Linear's fast path (x86: AVX-512, AVX512_BF16, AVX2+FMA), their
// run-time selection, and fast_linear / fast_linear_group (declared in linear.h).
#include "diagecg/llm/linear.h"

// GCC 12 reports a false "may be used uninitialized" inside _mm512_reduce_add_ps.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/Parallel.h>

#include "diagecg/util/torch-compat.h"

namespace diagecg {

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
    static void store(T* p, float v) { *p = c10::BFloat16(v).x; }   // round to nearest even, as Tensor::to
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
    static void store(T* p, float v) { *p = v; }
    static float scalar(T v) { return v; }
};

// Every kernel computes y[m, n] = sum_k x[m, k] w[n, k] for the weight rows n in [n0, n1) of one matrix, M
// input rows (<= 8), with f32 accumulation, and writes y in the weight's dtype (row stride n_total).

// R weight rows at a time: each x vector load serves R rows and the R weight streams are read side by side.
template <typename W, int M, int R>
__attribute__((target("avx512f"))) void rows_avx512(const float* x, const typename W::T* w, typename W::T* y, int64_t k,
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
                W::store(y + m * n_total + n + r, s);
            }
        }
    }
    if (n < n1) rows_avx512<W, M, 1>(x, w, y, k, n_total, n, n1);
}

template <typename W, int M, int R>
__attribute__((target("avx2,fma"))) void rows_avx2(const float* x, const typename W::T* w, typename W::T* y, int64_t k,
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
                W::store(y + m * n_total + n + r, s);
            }
        }
    }
    if (n < n1) rows_avx2<W, M, 1>(x, w, y, k, n_total, n, n1);
}

template <typename W>
using RowsFn = void (*)(const float*, const typename W::T*, typename W::T*, int64_t, int64_t, int64_t, int64_t);

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

// bf16 weights, AVX-512: one 64-byte load holds 32 weights; shifting each 32-bit lane left by 16 gives the
// even-indexed ones as f32 and masking off the low half the odd-indexed ones, so a load costs two integer ops
// instead of two widening converts. x is pre-arranged per 32-block as [16 even | 16 odd] (xperm: [M, k32]).
template <int M, int R>
__attribute__((target("avx512f"))) void rows_bf16_pairs(const float* x, const float* xperm, const uint16_t* w, uint16_t* y,
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
                Bf16::store(y + m * n_total + n + r, s);
            }
        }
    }
    if (n < n1) rows_bf16_pairs<M, 1>(x, xperm, w, y, k, n_total, n, n1);
}

// One weight row at a time, two accumulators per input row: each thread reads its share of W as one
// sequential stream. Streaming R adjacent rows at once (R streams that each end after one row) reached only
// ~2/3 of the sequential read rate on this machine (AMD Zen 5 under KVM), so this is the batch-1 kernel.
template <int M>
__attribute__((target("avx512f"))) void rows_f32_seq(const float* x, const float* w, float* y, int64_t k,
                                                    int64_t n_total, int64_t n0, int64_t n1) {
    const int64_t k32 = k / 32 * 32;
    for (int64_t n = n0; n < n1; ++n) {
        const float* wr = w + n * k;
        __m512 a0[M], a1[M];
        for (int m = 0; m < M; ++m) a0[m] = a1[m] = _mm512_setzero_ps();
        for (int64_t i = 0; i < k32; i += 32) {
            const __m512 w0 = _mm512_loadu_ps(wr + i), w1 = _mm512_loadu_ps(wr + i + 16);
            for (int m = 0; m < M; ++m) {
                a0[m] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + m * k + i), a0[m]);
                a1[m] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + m * k + i + 16), a1[m]);
            }
        }
        for (int m = 0; m < M; ++m) {
            float s = _mm512_reduce_add_ps(_mm512_add_ps(a0[m], a1[m]));
            for (int64_t j = k32; j < k; ++j) s += wr[j] * x[m * k + j];
            y[m * n_total + n] = s;
        }
    }
}

// bf16 weights and bf16 x with the AVX512_BF16 pair dot product: one instruction multiplies 32 weights by 32
// inputs and adds the pairs into 16 f32 lanes (exact products, f32 sums). R = 1: rows sequential as above,
// two accumulators per input; R > 1: R rows share each x load (more inputs: the x loads become the cost).
// x comes block-interleaved (interleave_x): the M inputs' values for one 32-block of k lie side by side, then
// the tails [M, k % 32]. Plain [M, k] rows 4 KiB apart (k = 2048) all fall into the same L1 sets.
template <int M, int R>
__attribute__((target("avx512f,avx512bf16"))) void rows_bf16_dot(const uint16_t* x, const uint16_t* w, uint16_t* y,
                                                                 int64_t k, int64_t n_total, int64_t n0, int64_t n1) {
    constexpr int A = R == 1 ? 2 : 1;
    const int64_t k32 = k / 32 * 32;
    const uint16_t* xt = x + k32 * M;
    int64_t n = n0;
    for (; n + R <= n1; n += R) {
        __m512 acc[R][M][A];
        for (int r = 0; r < R; ++r)
            for (int m = 0; m < M; ++m)
                for (int a = 0; a < A; ++a) acc[r][m][a] = _mm512_setzero_ps();
        int64_t i = 0;
        for (; i + 32 * A <= k32; i += 32 * A) {
            for (int a = 0; a < A; ++a) {
                __m512bh wv[R];
                for (int r = 0; r < R; ++r)
                    wv[r] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(w + (n + r) * k + i + 32 * a));
                for (int m = 0; m < M; ++m) {
                    const auto xv = reinterpret_cast<__m512bh>(_mm512_loadu_si512(x + (i / 32 + a) * M * 32 + m * 32));
                    for (int r = 0; r < R; ++r) acc[r][m][a] = _mm512_dpbf16_ps(acc[r][m][a], wv[r], xv);
                }
            }
        }
        for (; i < k32; i += 32) {
            for (int r = 0; r < R; ++r) {
                const auto wv = reinterpret_cast<__m512bh>(_mm512_loadu_si512(w + (n + r) * k + i));
                for (int m = 0; m < M; ++m) {
                    const auto xv = reinterpret_cast<__m512bh>(_mm512_loadu_si512(x + (i / 32) * M * 32 + m * 32));
                    acc[r][m][0] = _mm512_dpbf16_ps(acc[r][m][0], wv, xv);
                }
            }
        }
        for (int r = 0; r < R; ++r) {
            const uint16_t* wr = w + (n + r) * k;
            for (int m = 0; m < M; ++m) {
                __m512 t = acc[r][m][0];
                for (int a = 1; a < A; ++a) t = _mm512_add_ps(t, acc[r][m][a]);
                float s = _mm512_reduce_add_ps(t);
                for (int64_t j = k32; j < k; ++j) s += Bf16::scalar(wr[j]) * Bf16::scalar(xt[m * (k - k32) + j - k32]);
                Bf16::store(y + m * n_total + n + r, s);
            }
        }
    }
    if (n < n1) rows_bf16_dot<M, 1>(x, w, y, k, n_total, n, n1);
}

// x [M, k] -> groups of 8 rows (as run_seq hands them out), each [k/32, rows, 32] then its tails [rows, k % 32].
// A group keeps the size of its rows, so group g still starts at g * 8 * k. One row is left as it is.
torch::Tensor interleave_x(const torch::Tensor& x) {
    const int64_t m = x.size(0), k = x.size(1), k32 = k / 32 * 32;
    if (m == 1) return x;
    std::vector<torch::Tensor> parts;
    for (int64_t m0 = 0; m0 < m; m0 += 8) {
        const auto g = x.narrow(0, m0, std::min<int64_t>(8, m - m0));
        parts.push_back(g.narrow(1, 0, k32).reshape({g.size(0), k32 / 32, 32}).transpose(0, 1).reshape({-1}));
        parts.push_back(g.narrow(1, k32, k - k32).reshape({-1}));
    }
    return torch::cat(parts);
}

// Several weight matrices [n_i, k] read with the same x, as one range of sum(n_i) output rows: one parallel
// pass (one fork and join) for all of them, each thread taking a contiguous share.
struct Group {
    std::vector<const void*> w;   // [n_i, k]
    std::vector<void*> y;         // [M, n_i]
    std::vector<int64_t> n;
};

// Weights a task must hold before a matmul is shared out over the threads.
constexpr int64_t kMinWeightsPerTask = 65536;

// Shares the group's weight rows (k weights each) out over the threads.
template <typename F>
void for_rows(const Group& g, int64_t k, F body) {
    int64_t total = 0;
    for (const int64_t n : g.n) total += n;
    // grain: >= 64 weight rows and >= 64K weights per task; a smaller matrix (stories260K's 64 x 64) costs less
    // than the threads' fork and join and runs on the calling thread
    const int64_t grain = std::max<int64_t>(64, kMinWeightsPerTask / std::max<int64_t>(1, k));
    at::parallel_for(0, total, grain, [&](int64_t a, int64_t b) {
        int64_t base = 0;
        for (size_t i = 0; i < g.n.size(); ++i) {
            const int64_t lo = std::max(a, base), hi = std::min(b, base + g.n[i]);
            if (lo < hi) body(i, lo - base, hi - base);
            base += g.n[i];
        }
    });
}

template <typename W>
void run_rows(const float* x, int64_t m_total, int64_t k, const Group& g, bool avx512) {
    using T = typename W::T;
    for (int64_t m0 = 0; m0 < m_total; m0 += 8) {
        const RowsFn<W> fn = pick<W>(avx512, static_cast<int>(std::min<int64_t>(8, m_total - m0)));
        const float* xp = x + m0 * k;
        for_rows(g, k, [&](size_t i, int64_t n0, int64_t n1) {
            fn(xp, static_cast<const T*>(g.w[i]), static_cast<T*>(g.y[i]) + m0 * g.n[i], k, g.n[i], n0, n1);
        });
    }
}

using PairsFn = void (*)(const float*, const float*, const uint16_t*, uint16_t*, int64_t, int64_t, int64_t, int64_t);

// Batch 1-2: one row at a time (one sequential stream, see rows_f32_seq); more inputs: 2-4 rows share each x load.
PairsFn pick_pairs(int m) {
    switch (m) {
        case 1: return rows_bf16_pairs<1, 1>;
        case 2: return rows_bf16_pairs<2, 1>;
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

void run_rows_bf16_pairs(const torch::Tensor& xf, const Group& g) {
    const int64_t m_total = xf.size(0), k = xf.size(1);
    const auto xperm = pair_order(xf);
    for (int64_t m0 = 0; m0 < m_total; m0 += 8) {
        const PairsFn fn = pick_pairs(static_cast<int>(std::min<int64_t>(8, m_total - m0)));
        const float* xp = xf.data_ptr<float>() + m0 * k;
        const float* xq = xperm.data_ptr<float>() + m0 * xperm.size(1);
        for_rows(g, k, [&](size_t i, int64_t n0, int64_t n1) {
            fn(xp, xq, static_cast<const uint16_t*>(g.w[i]), static_cast<uint16_t*>(g.y[i]) + m0 * g.n[i], k, g.n[i], n0, n1);
        });
    }
}

// M input rows at a time (M <= 8): kernel K<M>::fn.
template <typename X, typename W, typename Y, template <int> class K>
void run_seq(const X* xp, const Group& g, int64_t m_total, int64_t k) {
    using Fn = void (*)(const X*, const W*, Y*, int64_t, int64_t, int64_t, int64_t);
    static const Fn fns[8] = {K<1>::fn, K<2>::fn, K<3>::fn, K<4>::fn, K<5>::fn, K<6>::fn, K<7>::fn, K<8>::fn};
    for (int64_t m0 = 0; m0 < m_total; m0 += 8) {
        const Fn fn = fns[std::min<int64_t>(8, m_total - m0) - 1];
        for_rows(g, k, [&](size_t i, int64_t n0, int64_t n1) {
            fn(xp + m0 * k, static_cast<const W*>(g.w[i]), static_cast<Y*>(g.y[i]) + m0 * g.n[i], k, g.n[i], n0, n1);
        });
    }
}
template <int M>
struct F32Seq {
    static constexpr auto fn = rows_f32_seq<M>;
};
// One input (decode): eight weight rows per x load, eight streams and independent sums (the 1.1B shape's BF16
// decode, share of the bandwidth bound in alternating bench llm runs, 2026-12-05, Xeon: one row 63-65% vs four
// 79-82%; two / four / eight 75-85% / 81-85% / 82-87%; one vs eight 60-61% vs 73-74% on a slower moment).
// 2-4 inputs: one row at a time; more: two rows per x load (measured, bench llm --batch 2 4 8: R = 2 was slower
// at batch 4, faster at 8).
template <int M>
struct Bf16Dot {
    static constexpr auto fn = rows_bf16_dot<M, (M == 1 ? 8 : M <= 4 ? 1 : 2)>;
};

enum class Isa { kNone, kAvx2, kAvx512, kAvx512Bf16 };
Isa detect_isa() {
    static const Isa isa = [] {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f")) {
            return __builtin_cpu_supports("avx512bf16") ? Isa::kAvx512Bf16 : Isa::kAvx512;
        }
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
        return Isa::kNone;
    }();
    return isa;
}

std::atomic<LinearKernel> g_kernel_choice{LinearKernel::kAuto};

}  // namespace

bool linear_kernel_available(LinearKernel kernel, torch::Dtype weight_dtype) {
    const Isa isa = detect_isa();
    const bool bf16 = weight_dtype == torch::kBFloat16, f32 = weight_dtype == torch::kFloat;
    const bool avx512 = isa == Isa::kAvx512 || isa == Isa::kAvx512Bf16;
    switch (kernel) {
        case LinearKernel::kAuto: return (bf16 || f32) && isa != Isa::kNone;
        case LinearKernel::kLibTorch: return true;
        case LinearKernel::kRows: return (bf16 || f32) && isa != Isa::kNone;
        case LinearKernel::kF32Seq: return f32 && avx512;
        case LinearKernel::kBf16Pairs: return bf16 && avx512;
        case LinearKernel::kBf16Dot: return bf16 && isa == Isa::kAvx512Bf16;
    }
    return false;
}

LinearKernel auto_linear_kernel(torch::Dtype weight_dtype, int64_t rows, int64_t weight_elements) {
    const auto can = [&](LinearKernel k) { return linear_kernel_available(k, weight_dtype); };
    if (weight_dtype == torch::kBFloat16) {
        // With bf16 instructions the dot kernel up to 8 rows, LibTorch's own bf16 matmul (oneDNN) beyond for large
        // weights. Measured per TinyLlama-shape step (bench llm --kernel bf16-dot auto): AMD Zen 5, batch 4 53 ms
        // vs 85 with LibTorch, batch 8 92 vs 87, batch 16 172-176 vs 111-120; Intel Xeon (AMX host), batch 8
        // 137-138 vs 246-251 (2 alternating rounds). For small weights LibTorch's fixed cost dominates
        // (stories260K, batch 8: 0.56 ms per step with the dot kernel, 0.85 with LibTorch).
        if (can(LinearKernel::kBf16Dot)) {
            return rows <= 8 || weight_elements < (int64_t(1) << 20) ? LinearKernel::kBf16Dot : LinearKernel::kLibTorch;
        }
        // The paired loads win while the weight stream is the cost (few rows); with more rows the x reloads of
        // the [even | odd] layout cost more than the saved conversions (measured: bench llm, batch 1 vs 8).
        if (rows <= 2 && can(LinearKernel::kBf16Pairs)) return LinearKernel::kBf16Pairs;
        return LinearKernel::kRows;
    }
    if (rows <= 2 && can(LinearKernel::kF32Seq)) return LinearKernel::kF32Seq;
    return LinearKernel::kRows;
}

const char* linear_kernel_name(LinearKernel kernel) {
    switch (kernel) {
        case LinearKernel::kAuto: return "auto";
        case LinearKernel::kLibTorch: return "libtorch";
        case LinearKernel::kRows: return "rows";
        case LinearKernel::kF32Seq: return "f32-seq";
        case LinearKernel::kBf16Pairs: return "bf16-pairs";
        case LinearKernel::kBf16Dot: return "bf16-dot";
    }
    return "?";
}

LinearKernel parse_linear_kernel(const std::string& s) {
    for (const auto k : {LinearKernel::kAuto, LinearKernel::kLibTorch, LinearKernel::kRows, LinearKernel::kF32Seq,
                         LinearKernel::kBf16Pairs, LinearKernel::kBf16Dot}) {
        if (s == linear_kernel_name(k)) return k;
    }
    throw std::invalid_argument("--kernel must be auto, libtorch, rows, f32-seq, bf16-pairs or bf16-dot, got \"" + s + "\"");
}

void set_linear_kernel(LinearKernel kernel) { g_kernel_choice.store(kernel); }
LinearKernel linear_kernel() { return g_kernel_choice.load(); }

namespace {

// The kernel a call runs: `kernel`, else the process-wide choice, else the measured one for m rows of `elements`
// weights; kLibTorch where kAuto has no kernel on this CPU.
LinearKernel resolve_kernel(LinearKernel kernel, torch::Dtype dt, int64_t m, int64_t elements) {
    if (kernel == LinearKernel::kAuto) kernel = linear_kernel();
    if (kernel != LinearKernel::kAuto) return kernel;
    return linear_kernel_available(LinearKernel::kAuto, dt) ? auto_linear_kernel(dt, m, elements) : LinearKernel::kLibTorch;
}

// x [m, k] f32 times the group's f32 weights on an f32 kernel (kF32Seq, else kRows).
void run_f32(const float* x, int64_t m, int64_t k, const Group& g, LinearKernel kernel) {
    const bool avx512 = detect_isa() == Isa::kAvx512 || detect_isa() == Isa::kAvx512Bf16;
    if (kernel == LinearKernel::kF32Seq) run_seq<float, float, float, F32Seq>(x, g, m, k);
    else run_rows<F32>(x, m, k, g, avx512);
}

}  // namespace

std::vector<torch::Tensor> fast_linear_group(const torch::Tensor& x, const std::vector<torch::Tensor>& ws,
                                             LinearKernel kernel) {
    TORCH_CHECK(!ws.empty() && x.dim() == 2, "fast_linear: x must be [M, K] and at least one weight given");
    const auto dt = ws[0].scalar_type();
    for (const auto& w : ws) {
        TORCH_CHECK(w.dim() == 2 && x.size(1) == w.size(1), "fast_linear: bad shapes ", x.sizes(), " ", w.sizes());
        TORCH_CHECK(w.is_contiguous() && w.device().is_cpu(), "fast_linear: weight must be contiguous on the CPU");
        TORCH_CHECK(w.scalar_type() == dt, "fast_linear: grouped weights must share one dtype");
    }
    TORCH_CHECK(dt == torch::kBFloat16 || dt == torch::kFloat, "fast_linear: weight must be bf16 or f32");
    int64_t elements = 0;
    for (const auto& w : ws) elements += w.numel();
    kernel = resolve_kernel(kernel, dt, x.size(0), elements);
    if (kernel == LinearKernel::kLibTorch) return {};
    if (!linear_kernel_available(kernel, dt)) {
        throw std::invalid_argument(std::string("linear kernel ") + linear_kernel_name(kernel) + " cannot run " +
                                    c10::toString(dt) + " weights on this CPU");
    }
    const int64_t m = x.size(0), k = x.size(1);
    std::vector<torch::Tensor> ys;
    Group g;
    for (const auto& w : ws) {
        ys.push_back(torch::empty({m, w.size(0)}, dt));   // the kernels round each f32 sum to y's dtype
        g.w.push_back(w.data_ptr());
        g.y.push_back(ys.back().data_ptr());
        g.n.push_back(w.size(0));
    }
    if (m == 0) return ys;
    const bool avx512 = detect_isa() == Isa::kAvx512 || detect_isa() == Isa::kAvx512Bf16;
    if (dt == torch::kBFloat16) {
        if (kernel == LinearKernel::kBf16Dot) {
            const auto xb = interleave_x(x.to(torch::kBFloat16).contiguous());
            run_seq<uint16_t, uint16_t, uint16_t, Bf16Dot>(static_cast<const uint16_t*>(xb.data_ptr()), g, m, k);
        } else if (kernel == LinearKernel::kBf16Pairs) {
            run_rows_bf16_pairs(x.to(torch::kFloat).contiguous(), g);
        } else {
            const auto xf = x.to(torch::kFloat).contiguous();
            run_rows<Bf16>(xf.data_ptr<float>(), m, k, g, avx512);
        }
        return ys;
    }
    run_f32(compat::as_dtype(x, torch::kFloat).contiguous().data_ptr<float>(), m, k, g, kernel);
    return ys;
}

bool fast_linear_f32(const float* x, int64_t m, int64_t k, const std::vector<const float*>& ws,
                     const std::vector<int64_t>& n, const std::vector<float*>& ys) {
    int64_t elements = 0;
    for (const int64_t r : n) elements += r * k;
    const LinearKernel kernel = resolve_kernel(LinearKernel::kAuto, torch::kFloat, m, elements);
    if (kernel == LinearKernel::kLibTorch || !linear_kernel_available(kernel, torch::kFloat)) return false;
    Group g;
    for (size_t i = 0; i < ws.size(); ++i) {
        g.w.push_back(ws[i]);
        g.y.push_back(ys[i]);
        g.n.push_back(n[i]);
    }
    if (m > 0) run_f32(x, m, k, g, kernel);
    return true;
}

torch::Tensor fast_linear(const torch::Tensor& x, const torch::Tensor& w, LinearKernel kernel) {
    auto ys = fast_linear_group(x, {w}, kernel);
    return ys.empty() ? torch::Tensor() : ys[0];
}

}  // namespace diagecg
