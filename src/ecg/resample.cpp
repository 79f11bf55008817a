// Rational resampling y = downsample_D(h * upsample_U(x)) done as a polyphase filter bank: each
// output needs only the taps of one phase, so no product with an inserted zero is ever computed.
//   1. rates rounded to 1e-3 Hz, ratio reduced to up/down by their gcd
//   2. h: Kaiser-windowed sinc at rate in_hz*up, odd length, centred (zero delay), gain up
//   3. bank row p holds h[p], h[p+up], h[p+2up], ... reversed and zero-padded to a multiple of
//      kLanes, so each output is one contiguous dot product with the edge-padded input
#include "diagecg/ecg/resample.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace diagecg {

namespace {

constexpr int64_t kLanes = 8;     // independent accumulators: lets the compiler vectorise the dot
constexpr int64_t kMaxTerm = 10000;       // largest up or down factor (filter bank rows)
constexpr double kMaxRatioError = 1e-6;   // relative error allowed when approximating a finer ratio
constexpr size_t kCacheSize = 4;  // filter banks kept per thread (a data set usually has 1-2 rates)

// Modified Bessel function of the first kind, order 0 (power series).
double bessel_i0(double x) {
    double sum = 1.0, term = 1.0;
    const double q = x * x / 4.0;
    for (int k = 1; k < 200; ++k) {
        term *= q / (static_cast<double>(k) * k);
        sum += term;
        if (term < sum * 1e-17) break;
    }
    return sum;
}

struct FilterBank {
    int64_t up = 0, down = 0;
    int64_t centre = 0;       // delay of the prototype filter, in upsampled samples
    int64_t n_row = 0;        // taps per phase, a multiple of kLanes
    std::vector<float> rows;  // [up, n_row]: rows[p*n_row + q] = h[p + (n_row-1-q)*up] (0 past the end)
};

// Kaiser design (Oppenheim & Schafer 7.6): 80 dB stop band, transition 10% of the lower Nyquist
// rate ending at it, so the -6 dB cut-off sits at 0.95 * 0.5 * min(in_hz, out_hz). Depends on
// up/down only (frequencies relative to the upsampled rate in_hz*up).
FilterBank design(int64_t up, int64_t down) {
    constexpr double kAttenuationDb = 80.0;
    const double nyquist = 0.5 / static_cast<double>(std::max(up, down));  // cycles per upsampled sample
    const double transition = 0.1 * nyquist;
    const double cutoff = nyquist - 0.5 * transition;
    const double beta = 0.1102 * (kAttenuationDb - 8.7);
    int64_t n = static_cast<int64_t>(std::ceil((kAttenuationDb - 8.0) / (2.285 * 2.0 * M_PI * transition))) + 1;
    n |= 1;  // odd: integer centre
    const double centre = (n - 1) / 2.0;
    const double i0_beta = bessel_i0(beta);
    std::vector<double> h(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) {
        const double x = k - centre;
        const double sinc = x == 0 ? 2.0 * cutoff : std::sin(2.0 * M_PI * cutoff * x) / (M_PI * x);
        const double r = 2.0 * k / static_cast<double>(n - 1) - 1.0;
        const double w = bessel_i0(beta * std::sqrt(std::max(0.0, 1.0 - r * r))) / i0_beta;
        h[k] = sinc * w * static_cast<double>(up);
    }
    FilterBank f;
    f.up = up;
    f.down = down;
    f.centre = (n - 1) / 2;
    const int64_t per_phase = (n + up - 1) / up;
    f.n_row = (per_phase + kLanes - 1) / kLanes * kLanes;
    f.rows.assign(static_cast<size_t>(up * f.n_row), 0.0f);
    for (int64_t p = 0; p < up; ++p)
        for (int64_t j = 0; j < f.n_row; ++j) {
            const int64_t k = p + j * up;
            if (k < n) f.rows[p * f.n_row + (f.n_row - 1 - j)] = static_cast<float>(h[k]);
        }
    return f;
}

const FilterBank& cached_bank(int64_t up, int64_t down) {
    thread_local std::vector<FilterBank> cache;  // most recently used last
    for (size_t i = 0; i < cache.size(); ++i)
        if (cache[i].up == up && cache[i].down == down) {
            std::rotate(cache.begin() + i, cache.begin() + i + 1, cache.end());
            return cache.back();
        }
    if (cache.size() == kCacheSize) cache.erase(cache.begin());
    cache.push_back(design(up, down));
    return cache.back();
}

float dot(const float* a, const float* b, int64_t n) {
    float acc[kLanes] = {};
    for (int64_t i = 0; i < n; i += kLanes)
        for (int64_t j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
    float s = 0.0f;
    for (float v : acc) s += v;
    return s;
}

// The last continued-fraction convergent p/q of num/den with p, q <= kMaxTerm (num/den in lowest terms).
std::pair<int64_t, int64_t> closest_fraction(int64_t num, int64_t den) {
    int64_t p0 = 0, q0 = 1, p1 = 1, q1 = 0;  // convergents k-2 and k-1
    while (den != 0) {
        const int64_t a = num / den;
        const int64_t p2 = a * p1 + p0, q2 = a * q1 + q0;
        if (p2 > kMaxTerm || q2 > kMaxTerm) break;
        p0 = p1, q0 = q1, p1 = p2, q1 = q2;
        const int64_t r = num - a * den;
        num = den, den = r;
    }
    return {std::max<int64_t>(p1, 1), std::max<int64_t>(q1, 1)};
}

}  // namespace

std::vector<float> resample(const std::vector<float>& x, double in_hz, double out_hz) {
    if (!(in_hz > 0) || !(out_hz > 0) || !std::isfinite(in_hz) || !std::isfinite(out_hz))
        throw std::invalid_argument(fmt::format("resample: sample rates must be positive and finite, got {:.6g} -> {:.6g} Hz", in_hz, out_hz));
    const int64_t in_mhz = std::llround(in_hz * 1000.0), out_mhz = std::llround(out_hz * 1000.0);
    if (in_mhz <= 0 || out_mhz <= 0)
        throw std::invalid_argument(fmt::format("resample: a sample rate of {:.6g} Hz (-> {:.6g} Hz) is below 0.001 Hz", in_hz, out_hz));
    if (in_mhz == out_mhz || x.empty()) return x;
    const int64_t g = std::gcd(in_mhz, out_mhz);
    int64_t up = out_mhz / g, down = in_mhz / g;
    if (up > kMaxTerm || down > kMaxTerm) {
        // Rates that are not whole mHz (SCP-ECG's 1667 us interval is 599.880024 Hz): the closest fraction
        // with terms <= kMaxTerm (500/599.880024 -> 1667/2000, the exact ratio), when within kMaxRatioError.
        const auto [p, q] = closest_fraction(up, down);
        const double error = std::fabs(static_cast<double>(p) / q * down / up - 1.0);
        if (error > kMaxRatioError)
            throw std::invalid_argument("resample: ratio " + std::to_string(out_hz) + "/" + std::to_string(in_hz) +
                                        " Hz reduces to " + std::to_string(up) + "/" + std::to_string(down) +
                                        ", too fine (at most 10000/10000, or within 1e-6 of such a ratio)");
        up = p, down = q;
    }
    const FilterBank& f = cached_bank(up, down);
    const int64_t len = static_cast<int64_t>(x.size());
    const int64_t n_out = (len * up + down - 1) / down;

    // Output m sits at upsampled time t = m*down + centre; its phase is t % up and its newest input
    // sample i_hi = t / up. Input index i lives at xp[i + pad_front]; outside [0, len) it holds the
    // edge value.
    const int64_t pad_front = f.n_row;
    const int64_t i_hi_last = ((n_out - 1) * down + f.centre) / up;
    const int64_t pad_back = std::max<int64_t>(0, i_hi_last - (len - 1));
    std::vector<float> xp(static_cast<size_t>(pad_front + len + pad_back));
    std::fill(xp.begin(), xp.begin() + pad_front, x.front());
    std::copy(x.begin(), x.end(), xp.begin() + pad_front);
    std::fill(xp.begin() + pad_front + len, xp.end(), x.back());

    std::vector<float> y(static_cast<size_t>(n_out));
    for (int64_t m = 0; m < n_out; ++m) {
        const int64_t t = m * down + f.centre;
        const int64_t phase = t % up, i_hi = t / up;
        const float* row = f.rows.data() + phase * f.n_row;
        const float* xs = xp.data() + pad_front + i_hi - (f.n_row - 1);
        y[m] = dot(row, xs, f.n_row);
    }
    return y;
}

}  // namespace diagecg
