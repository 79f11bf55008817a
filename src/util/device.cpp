#include "diagecg/util/device.h"

#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

// GCC 12 reports a false "used uninitialized" inside _mm512_reduce_add_ps.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <new>
#include <stdexcept>
#include <thread>

namespace diagecg {

int init_threads(int requested) {
    int n = requested;
    if (n <= 0) {
        n = static_cast<int>(std::thread::hardware_concurrency());
        if (n <= 0) n = 1;
    }
    at::set_num_threads(n);
    return n;
}

torch::Device parse_device(const std::string& s) {
    if (s == "cpu") return torch::kCPU;
    const bool index = s.size() > 5 && s.rfind("cuda:", 0) == 0 &&
                       s.find_first_not_of("0123456789", 5) == std::string::npos && s.size() <= 8;
    if (s != "cuda" && !index) throw std::invalid_argument("--device must be cpu, cuda or cuda:N, got \"" + s + "\"");
    // libtorch_cuda registers its hooks when it is loaded: absent in a CPU-only LibTorch such as Debian's.
    if (!at::CUDAHooksRegistry()->Has("CUDAHooks"))
        throw std::invalid_argument("--device " + s +
                                    ": this diagecg is built with a CPU-only LibTorch (" TORCH_VERSION
                                    "); build with scripts/build.sh --torch pip for CUDA");
    const int64_t n = static_cast<int64_t>(torch::cuda::device_count());
    if (n == 0)
        throw std::invalid_argument("--device " + s +
                                    ": no CUDA GPU is visible (LibTorch " TORCH_VERSION " has CUDA; 0 devices)");
    if (!index) return torch::Device(torch::kCUDA);  // the current device (training: cuda:LOCAL_RANK)
    const int64_t i = std::stoll(s.substr(5));
    if (i >= n)
        throw std::invalid_argument("--device " + s + ": there are " + std::to_string(n) + " CUDA devices (0.." +
                                    std::to_string(n - 1) + ")");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i));
}

torch::Dtype parse_dtype_flag(const std::string& s) {
    if (s == "f32" || s == "fp32" || s == "float32") return torch::kFloat;
    if (s == "bf16" || s == "bfloat16") return torch::kBFloat16;
    if (s == "f16" || s == "fp16" || s == "float16") return torch::kHalf;
    throw std::invalid_argument("--dtype must be f32, bf16 or f16, got \"" + s + "\"");
}

std::string dtype_string(torch::Dtype d) {
    switch (d) {
        case torch::kFloat:
            return "f32";
        case torch::kBFloat16:
            return "bf16";
        case torch::kHalf:
            return "f16";
        default:
            return std::string(c10::toString(d));
    }
}

namespace {

constexpr size_t kHugePage = size_t(2) << 20;

size_t round_up(size_t n, size_t to) {
    return (n + to - 1) / to * to;
}

// A 2 MiB-aligned buffer advised for transparent huge pages (advice only: where THP is off it has no effect).
std::shared_ptr<void> alloc_huge(size_t bytes) {
    void* p = std::aligned_alloc(kHugePage, round_up(bytes, kHugePage));
    if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    madvise(p, round_up(bytes, kHugePage), MADV_HUGEPAGE);
#endif
    return {p, std::free};
}

// Sums p[b, e) in S streams (S contiguous parts of the range read side by side), 2 accumulators per stream.
// S = 1 is the access pattern of the decode kernels (one weight row after another); S = 4 keeps more
// streams in flight, which is faster on some machines. e - b: a multiple of 32 * S floats.
template <int S>
__attribute__((target("avx512f"))) float sum_avx512(const float* p, int64_t b, int64_t e) {
    const int64_t q = (e - b) / S;
    __m512 a0[S], a1[S];
    for (int s = 0; s < S; ++s) a0[s] = a1[s] = _mm512_setzero_ps();
    for (int64_t i = 0; i < q; i += 32) {
        for (int s = 0; s < S; ++s) {
            a0[s] = _mm512_add_ps(a0[s], _mm512_loadu_ps(p + b + s * q + i));
            a1[s] = _mm512_add_ps(a1[s], _mm512_loadu_ps(p + b + s * q + i + 16));
        }
    }
    __m512 t = _mm512_setzero_ps();
    for (int s = 0; s < S; ++s) t = _mm512_add_ps(t, _mm512_add_ps(a0[s], a1[s]));
    return _mm512_reduce_add_ps(t);
}

template <int S>
__attribute__((target("avx2"))) float sum_avx2(const float* p, int64_t b, int64_t e) {
    const int64_t q = (e - b) / S;
    __m256 a0[S], a1[S];
    for (int s = 0; s < S; ++s) a0[s] = a1[s] = _mm256_setzero_ps();
    for (int64_t i = 0; i < q; i += 16) {
        for (int s = 0; s < S; ++s) {
            a0[s] = _mm256_add_ps(a0[s], _mm256_loadu_ps(p + b + s * q + i));
            a1[s] = _mm256_add_ps(a1[s], _mm256_loadu_ps(p + b + s * q + i + 8));
        }
    }
    __m256 t = _mm256_setzero_ps();
    for (int s = 0; s < S; ++s) t = _mm256_add_ps(t, _mm256_add_ps(a0[s], a1[s]));
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, t);
    float r = 0;
    for (const float l : lanes) r += l;
    return r;
}

float sum_scalar(const float* p, int64_t b, int64_t e) {
    float s = 0;
    for (int64_t i = b; i < e; ++i) s += p[i];
    return s;
}

}  // namespace

void place_parameters_in_huge_pages(torch::nn::Module& module) {
    torch::NoGradGuard ng;
    constexpr size_t kAlign = 64;
    auto params = module.parameters(/*recurse=*/true);
    size_t total = 0;
    for (const auto& p : params)
        if (p.device().is_cpu()) total += round_up(p.nbytes(), kAlign);
    if (total == 0) return;
    const auto arena = alloc_huge(total);
    size_t off = 0;
    for (auto& p : params) {
        if (!p.device().is_cpu()) continue;
        // Each view keeps the whole buffer alive; its pages fill as the old parameters are freed one by one.
        auto t = torch::from_blob(
            static_cast<char*>(arena.get()) + off, p.sizes(), [arena](void*) {}, p.options().requires_grad(false));
        t.copy_(p.detach());
        p.set_data(t);
        off += round_up(p.nbytes(), kAlign);
    }
}

void place_tensors_in_huge_pages(const std::vector<torch::Tensor*>& tensors) {
    constexpr size_t kAlign = 64;
    size_t total = 0;
    for (const auto* t : tensors)
        if (t->defined() && t->device().is_cpu()) total += round_up(t->nbytes(), kAlign);
    if (total == 0) return;
    const auto arena = alloc_huge(total);
    size_t off = 0;
    for (auto* t : tensors) {
        if (!t->defined() || !t->device().is_cpu()) continue;
        auto v = torch::from_blob(
            static_cast<char*>(arena.get()) + off, t->sizes(), [arena](void*) {}, t->options());
        v.copy_(*t);
        *t = v;
        off += round_up(v.nbytes(), kAlign);
    }
}

std::shared_ptr<void> alloc_huge_pages(size_t bytes) {
    return alloc_huge(bytes);
}

BandwidthProbe::BandwidthProbe(size_t bytes)
    : n_(static_cast<int64_t>(bytes / sizeof(float)) / 1024 * 1024),
      mem_(alloc_huge(static_cast<size_t>(n_) * sizeof(float))) {
    auto* buf = static_cast<float*>(mem_.get());
    at::parallel_for(0, n_, 1 << 16,
                     [&](int64_t b, int64_t e) { std::fill(buf + b, buf + e, 1.0f); });  // no page faults while timing
}

double BandwidthProbe::measure(int reps) const {
    const float* buf = static_cast<const float*>(mem_.get());
    const int64_t n = n_;
    const bool avx512 = __builtin_cpu_supports("avx512f"), avx2 = __builtin_cpu_supports("avx2");
    double best = 1e30;
    for (const int streams : {1, 4}) {
        for (int r = 0; r < reps; ++r) {
            std::atomic<double> total{0};
            const auto t0 = std::chrono::steady_clock::now();
            // 1024-float blocks: every thread's range is a multiple of 32 * 4 floats
            at::parallel_for(0, n / 1024, 256, [&](int64_t b, int64_t e) {
                b *= 1024;
                e *= 1024;
                float s;
                if (avx512)
                    s = streams == 1 ? sum_avx512<1>(buf, b, e) : sum_avx512<4>(buf, b, e);
                else if (avx2)
                    s = streams == 1 ? sum_avx2<1>(buf, b, e) : sum_avx2<4>(buf, b, e);
                else
                    s = sum_scalar(buf, b, e);
                double cur = total.load();
                while (!total.compare_exchange_weak(cur, cur + s)) {
                }
            });
            const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (total.load() != static_cast<double>(n)) throw std::logic_error("bandwidth probe: wrong sum");
            best = std::min(best, dt);
        }
    }
    return static_cast<double>(n) * sizeof(float) / best;
}

bool cpu_has_fast_bf16() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("flags", 0) == 0) {
            return line.find(" amx_bf16") != std::string::npos || line.find(" avx512_bf16") != std::string::npos;
        }
    }
    return false;
}

}  // namespace diagecg
