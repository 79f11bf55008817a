// The one place where LibTorch versions differ: Debian's 1.13.1 (CPU, the default build) and a current 2.x
// (the PyPI wheel with CUDA: scripts/build.sh --torch pip). Code elsewhere uses these names and no version test.
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <optional>

namespace c10d {
class ProcessGroup;
class Backend;
}  // namespace c10d

namespace diagecg::compat {

constexpr int kTorchMajor = TORCH_VERSION_MAJOR;
constexpr int kTorchMinor = TORCH_VERSION_MINOR;

// A c10d group's collectives (allreduce, barrier): ProcessGroupGloo/NCCL derive from c10d::ProcessGroup in 1.13
// and from c10d::Backend since 2.0.
#if TORCH_VERSION_MAJOR >= 2
using C10dBackend = c10d::Backend;
#else
using C10dBackend = c10d::ProcessGroup;
#endif

// t in dtype dt; t itself, without a dispatch, when it is one already (Tensor::to dispatches even as a no-op:
// a few hundred ns that count in a decode step of small layers).
inline torch::Tensor as_dtype(const torch::Tensor& t, at::ScalarType dt) { return t.scalar_type() == dt ? t : t.to(dt); }

// Autocast state per device type (kCPU, kCUDA): one setter per device since 2.4; the older per-device names
// still exist there but warn at every call.
inline bool autocast_enabled(c10::DeviceType d) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    return at::autocast::is_autocast_enabled(d);
#else
    return d == c10::DeviceType::CPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}
inline void set_autocast(c10::DeviceType d, bool on, at::ScalarType dtype) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(d, on);
    if (on) at::autocast::set_autocast_dtype(d, dtype);
#else
    if (d == c10::DeviceType::CPU) {
        at::autocast::set_cpu_enabled(on);
        if (on) at::autocast::set_autocast_cpu_dtype(dtype);
    } else {
        at::autocast::set_enabled(on);
        if (on) at::autocast::set_autocast_gpu_dtype(dtype);
    }
#endif
}

// at::scaled_dot_product_attention (2.0+): the fused CPU kernel (flash attention for CPU), and flash /
// memory-efficient kernels on CUDA. GQA without repeating k/v (enable_gqa) from 2.5.
constexpr bool kHasSdpa = TORCH_VERSION_MAJOR >= 2;

// softmax(q k^T * scale + mask) v. q: [B, H, N, Dh], k/v: [B, Hkv, S, Dh] (H a multiple of Hkv), mask: additive
// [B or 1, 1, N, S] f32 or undefined -> [B, H, N, Dh] in q's dtype. Only where kHasSdpa.
inline torch::Tensor sdpa(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                          const torch::Tensor& mask, double scale) {
#if TORCH_VERSION_MAJOR >= 2
    std::optional<torch::Tensor> m;
    if (mask.defined()) {
        // In q's dtype and finite in bf16 too (bf16 autocast casts it): a fully masked row (a padding query)
        // gets a uniform distribution, never NaN.
        const double lowest = q.scalar_type() == torch::kHalf ? -65504.0 : -3.3895313892515355e38;
        m = mask.clamp_min(lowest).to(q.scalar_type());
    }
    const int64_t g = q.size(1) / k.size(1);
#if TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 5
    return at::scaled_dot_product_attention(q, k, v, m, 0.0, false, scale, /*enable_gqa=*/g > 1);
#else
    return at::scaled_dot_product_attention(q, g > 1 ? k.repeat_interleave(g, 1) : k,
                                            g > 1 ? v.repeat_interleave(g, 1) : v, m, 0.0, false, scale);
#endif
#else
    (void)q, (void)k, (void)v, (void)mask, (void)scale;
    TORCH_CHECK(false, "scaled_dot_product_attention needs LibTorch >= 2.0, this is ", TORCH_VERSION);
#endif
}

}  // namespace diagecg::compat
