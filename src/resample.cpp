#include "diagecg/resample.h"

#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

namespace diagecg {

namespace {

// Modified Bessel function of the first kind, order 0 (power series).
double bessel_i0(double x) {
    double sum = 1.0, term = 1.0;
    const double q = x * x / 4.0;
    for (int k = 1; k < 64; ++k) {
        term *= q / (static_cast<double>(k) * k);
        sum += term;
        if (term < sum * 1e-17) break;
    }
    return sum;
}

struct Filter {
    int64_t up = 0, down = 0;
    std::vector<float> taps;   // odd length, centred, gain `up`
};

// Kaiser-windowed sinc low-pass at the upsampled rate in_hz*up.
Filter design(int64_t up, int64_t down, double in_hz, double out_hz) {
    constexpr double kAttenuationDb = 80.0;
    const double nyquist = 0.5 * std::min(in_hz, out_hz);
    const double transition_hz = 0.1 * nyquist;
    const double cutoff_hz = nyquist - 0.5 * transition_hz;        // -6 dB point
    const double fu = in_hz * static_cast<double>(up);
    const double beta = 0.1102 * (kAttenuationDb - 8.7);
    int64_t n = static_cast<int64_t>(std::ceil((kAttenuationDb - 8.0) / (2.285 * 2.0 * M_PI * transition_hz / fu))) + 1;
    n |= 1;                                                          // odd: integer centre
    const double wc = cutoff_hz / fu;                                // cycles per upsampled sample
    const double centre = (n - 1) / 2.0;
    Filter f{up, down, std::vector<float>(static_cast<size_t>(n))};
    const double i0_beta = bessel_i0(beta);
    for (int64_t k = 0; k < n; ++k) {
        const double x = k - centre;
        const double sinc = x == 0 ? 2.0 * wc : std::sin(2.0 * M_PI * wc * x) / (M_PI * x);
        const double r = 2.0 * k / (n - 1) - 1.0;
        const double w = bessel_i0(beta * std::sqrt(std::max(0.0, 1.0 - r * r))) / i0_beta;
        f.taps[k] = static_cast<float>(sinc * w * up);
    }
    return f;
}

const Filter& cached_filter(int64_t up, int64_t down, double in_hz, double out_hz) {
    thread_local Filter last;
    if (last.up != up || last.down != down) last = design(up, down, in_hz, out_hz);
    return last;
}

}  // namespace

std::vector<float> resample(const std::vector<float>& x, double in_hz, double out_hz) {
    if (!(in_hz > 0) || !(out_hz > 0) || !std::isfinite(in_hz) || !std::isfinite(out_hz))
        throw std::invalid_argument("resample: sample rates must be positive, got " + std::to_string(in_hz) + " -> " +
                                    std::to_string(out_hz) + " Hz");
    const int64_t in_mhz = std::llround(in_hz * 1000.0), out_mhz = std::llround(out_hz * 1000.0);
    if (in_mhz == out_mhz || x.empty()) return x;
    const int64_t g = std::gcd(in_mhz, out_mhz);
    const int64_t up = out_mhz / g, down = in_mhz / g;
    if (up > 10000 || down > 10000)
        throw std::invalid_argument("resample: ratio " + std::to_string(out_hz) + "/" + std::to_string(in_hz) +
                                    " Hz reduces to " + std::to_string(up) + "/" + std::to_string(down) + ", too fine");
    const Filter& f = cached_filter(up, down, in_hz, out_hz);
    const int64_t n_taps = static_cast<int64_t>(f.taps.size());
    const int64_t centre = (n_taps - 1) / 2;
    const int64_t len = static_cast<int64_t>(x.size());
    const int64_t n_out = (len * up + down - 1) / down;
    std::vector<float> y(static_cast<size_t>(n_out));
    // y[m] = sum_i x[i] h[m*down + centre - i*up]; samples beyond the ends hold the edge value.
    for (int64_t m = 0; m < n_out; ++m) {
        const int64_t t = m * down + centre;
        const int64_t i_hi = t / up;                            // h index >= 0
        const int64_t num = t - (n_taps - 1);                   // h index <= n_taps-1: i >= ceil(num/up)
        const int64_t i_lo = num >= 0 ? (num + up - 1) / up : -((-num) / up);
        double acc = 0.0;
        for (int64_t i = i_lo; i <= i_hi; ++i) {
            const int64_t k = t - i * up;
            if (k < 0 || k >= n_taps) continue;
            const float v = x[static_cast<size_t>(std::min(std::max<int64_t>(i, 0), len - 1))];
            acc += static_cast<double>(f.taps[k]) * v;
        }
        y[m] = static_cast<float>(acc);
    }
    return y;
}

}  // namespace diagecg
