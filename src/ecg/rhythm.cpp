#include "diagecg/ecg/rhythm.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

namespace diagecg {

namespace {

// The q-quantile (0..1) of v, by partial sort of a copy (nearest rank).
double quantile(std::vector<double> v, double q) {
    if (v.empty()) return 0;
    const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

}  // namespace

std::vector<int64_t> detect_beats(const float* x, int64_t n_leads, int64_t n_samples, double fs) {
    if (!(fs > 0)) throw std::invalid_argument("beat detection: sample rate must be > 0");
    if (n_leads <= 0 || n_samples <= 0) throw std::invalid_argument("beat detection: empty window");
    const int64_t k = std::max<int64_t>(1, std::llround(0.008 * fs));
    if (n_samples <= 2 * k) return {};
    std::vector<double> e(static_cast<size_t>(n_samples), 0.0), d(static_cast<size_t>(n_samples), 0.0);
    auto at = [&](int64_t l, int64_t n) {
        const float v = x[l * n_samples + n];
        return std::isfinite(v) ? static_cast<double>(v) : 0.0;
    };
    for (int64_t l = 0; l < n_leads; ++l) {
        std::vector<double> mag;
        mag.reserve(static_cast<size_t>(n_samples));
        std::fill(d.begin(), d.end(), 0.0);
        for (int64_t n = k; n < n_samples - k; ++n) {
            d[static_cast<size_t>(n)] = at(l, n + k) - at(l, n - k);
            mag.push_back(std::abs(d[static_cast<size_t>(n)]));
        }
        const double s = quantile(std::move(mag), 0.9);
        if (!(s > 0)) continue;   // a flat lead
        for (int64_t n = 0; n < n_samples; ++n) {
            const double z = d[static_cast<size_t>(n)] / s;
            e[static_cast<size_t>(n)] += z * z;
        }
    }
    // 100 ms moving average (centred), by a running sum
    const int64_t w = std::max<int64_t>(1, std::llround(0.1 * fs));
    std::vector<double> prefix(static_cast<size_t>(n_samples) + 1, 0.0);
    for (int64_t n = 0; n < n_samples; ++n) prefix[static_cast<size_t>(n) + 1] = prefix[static_cast<size_t>(n)] + e[static_cast<size_t>(n)];
    std::vector<double> ei(static_cast<size_t>(n_samples), 0.0);
    for (int64_t n = 0; n < n_samples; ++n) {
        const int64_t a = std::max<int64_t>(0, n - w / 2), b = std::min<int64_t>(n_samples, n - w / 2 + w);
        ei[static_cast<size_t>(n)] = (prefix[static_cast<size_t>(b)] - prefix[static_cast<size_t>(a)]) / static_cast<double>(w);
    }
    const int64_t edge = std::llround(0.1 * fs);
    for (int64_t n = 0; n < n_samples; ++n)
        if (n < edge || n >= n_samples - edge) ei[static_cast<size_t>(n)] = 0;
    const double threshold = 0.3 * quantile(ei, 0.98);
    if (!(threshold > 0)) return {};
    std::vector<int64_t> cand;
    for (int64_t n = 1; n + 1 < n_samples; ++n) {
        const double v = ei[static_cast<size_t>(n)];
        if (v > threshold && v >= ei[static_cast<size_t>(n - 1)] && v > ei[static_cast<size_t>(n + 1)]) cand.push_back(n);
    }
    std::stable_sort(cand.begin(), cand.end(), [&](int64_t a, int64_t b) { return ei[static_cast<size_t>(a)] > ei[static_cast<size_t>(b)]; });
    const int64_t refractory = std::llround(0.2 * fs);
    std::vector<int64_t> beats;
    for (const int64_t n : cand) {
        bool clear = true;
        for (const int64_t b : beats)
            if (std::llabs(n - b) < refractory) { clear = false; break; }
        if (clear) beats.push_back(n);
    }
    std::sort(beats.begin(), beats.end());
    return beats;
}

RhythmMeasure measure_rhythm(const float* x, int64_t n_leads, int64_t n_samples, double fs) {
    RhythmMeasure m;
    const auto beats = detect_beats(x, n_leads, n_samples, fs);
    m.n_beats = static_cast<int64_t>(beats.size());
    if (beats.size() < 3) return m;
    std::vector<double> rr;
    for (size_t i = 1; i < beats.size(); ++i) rr.push_back(static_cast<double>(beats[i] - beats[i - 1]) / fs);
    const double med = quantile(rr, 0.5);
    const double mean = std::accumulate(rr.begin(), rr.end(), 0.0) / static_cast<double>(rr.size());
    double var = 0;
    for (const double r : rr) var += (r - mean) * (r - mean);
    var /= static_cast<double>(rr.size());
    m.rate_bpm = 60.0 / med;
    m.rr_variation = std::sqrt(var) / mean;
    m.shortest_rr = *std::min_element(rr.begin(), rr.end()) / med;
    return m;
}

std::string rhythm_text(const RhythmMeasure& m) {
    if (!m.measured()) return "not measurable";
    const long rate = std::lround(m.rate_bpm), variation = std::lround(100 * m.rr_variation);
    return fmt::format("rate {}/min ({}), RR variation {}% ({}), shortest RR {}%", rate,
                       rate > 100 ? "fast" : rate < 60 ? "slow" : "normal", variation, variation >= 10 ? "irregular" : "regular",
                       std::lround(100 * m.shortest_rr));
}

}  // namespace diagecg
