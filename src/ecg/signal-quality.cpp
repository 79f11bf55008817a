#include "diagecg/ecg/signal-quality.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace diagecg {

namespace {

// Share of samples inside runs of unchanged value at least min_run long.
double flat_share(const float* x, int64_t n, int64_t min_run, double tol) {
    if (n == 0) return 1.0;
    int64_t flat = 0, run = 1;
    for (int64_t i = 1; i <= n; ++i) {
        if (i < n && std::abs(x[i] - x[i - 1]) <= tol) {
            ++run;
            continue;
        }
        if (run >= min_run) flat += run;
        run = 1;
    }
    return static_cast<double>(flat) / static_cast<double>(n);
}

double stddev(const float* x, int64_t n) {
    if (n < 2) return 0;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mean += x[i];
    mean /= static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
    return std::sqrt(var / static_cast<double>(n));
}

LeadQuality assess_lead(const float* x, int64_t n, double fs, const SignalQualityThresholds& th) {
    LeadQuality q;
    float lo = 0, hi = 0, peak = 0;
    if (n > 0) {
        const auto [mn, mx] = std::minmax_element(x, x + n);
        lo = *mn;
        hi = *mx;
        peak = std::max(std::abs(lo), std::abs(hi));
    }
    const double tol = 1e-6 * peak + 1e-30;
    q.flat = flat_share(x, n, std::max<int64_t>(2, std::llround(th.flat_run_s * fs)), tol);
    const double sd = stddev(x, n);
    if (sd <= 0 || hi - lo <= tol) {
        q.flat = 1.0;
        return q;
    }
    const double band = 1e-3 * (hi - lo);
    int64_t at_extreme = 0;
    for (int64_t i = 0; i < n; ++i) at_extreme += (x[i] <= lo + band) || (x[i] >= hi - band);
    q.clipped = static_cast<double>(at_extreme) / static_cast<double>(n);
    double dvar = 0, dmean = 0;
    for (int64_t i = 1; i < n; ++i) dmean += x[i] - x[i - 1];
    dmean /= static_cast<double>(n - 1);
    for (int64_t i = 1; i < n; ++i) dvar += (x[i] - x[i - 1] - dmean) * (x[i] - x[i - 1] - dmean);
    q.noise = std::sqrt(dvar / static_cast<double>(n - 1)) / (std::sqrt(2.0) * sd);
    // 1-s moving average (centred, shrinking at the ends), via a prefix sum.
    const int64_t half = std::max<int64_t>(1, std::llround(fs / 2));
    std::vector<double> prefix(static_cast<size_t>(n + 1), 0.0);
    for (int64_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + x[i];
    std::vector<float> ma(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        const int64_t a = std::max<int64_t>(0, i - half), b = std::min(n, i + half + 1);
        ma[i] = static_cast<float>((prefix[b] - prefix[a]) / static_cast<double>(b - a));
    }
    q.wander = stddev(ma.data(), n) / sd;
    return q;
}

std::string join_leads(const std::vector<std::string>& names) {
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
    return s;
}

}  // namespace

const char* quality_verdict_name(QualityVerdict v) {
    switch (v) {
        case QualityVerdict::kGood: return "good";
        case QualityVerdict::kBorderline: return "borderline";
        case QualityVerdict::kPoor: return "poor";
    }
    return "?";
}

std::string SignalQuality::summary() const {
    std::string s = quality_verdict_name(verdict);
    for (size_t i = 0; i < reasons.size(); ++i) s += (i == 0 ? ": " : "; ") + reasons[i];
    return s;
}

SignalQuality assess_signal_quality(const std::vector<const float*>& leads, const std::vector<std::string>& names,
                                    int64_t n_signal, int64_t n_window, double fs, const SignalQualityThresholds& th) {
    SignalQuality q;
    const int64_t n = std::max<int64_t>(0, n_signal);
    const int64_t window = std::max<int64_t>(n_window, n);
    // Constant stretches common to every lead at either end are padding too (a short recording zero-filled).
    int64_t front = n, back = n;
    for (const float* x : leads) {
        int64_t f = 0, b = 0;
        while (f + 1 < n && x[f + 1] == x[0]) ++f;
        while (b + 1 < n && x[n - 2 - b] == x[n - 1]) ++b;
        const int64_t min_run = std::llround(th.flat_run_s * fs);
        front = std::min(front, f + 1 >= min_run ? f + 1 : 0);
        back = std::min(back, b + 1 >= min_run ? b + 1 : 0);
    }
    if (leads.empty()) front = back = n;
    const int64_t padded = std::min(window, (window - n) + front + back);
    q.padding = window > 0 ? static_cast<double>(padded) / static_cast<double>(window) : 1.0;

    std::vector<std::string> flat, clipped, noisy, wandering;
    std::vector<double> noise;
    for (size_t l = 0; l < leads.size(); ++l) {
        LeadQuality lq = assess_lead(leads[l], n, fs, th);
        lq.lead = l < names.size() ? names[l] : std::to_string(l);
        if (lq.flat >= th.flat_lead) {
            flat.push_back(lq.lead);
        } else {
            if (lq.clipped >= th.clipped_lead) clipped.push_back(lq.lead);
            if (lq.noise > th.borderline_noise) noisy.push_back(lq.lead);
            if (lq.wander > th.borderline_wander) wandering.push_back(lq.lead);
            noise.push_back(lq.noise);
        }
        q.leads.push_back(std::move(lq));
    }
    double median_noise = 0;
    if (!noise.empty()) {
        std::nth_element(noise.begin(), noise.begin() + static_cast<std::ptrdiff_t>(noise.size() / 2), noise.end());
        median_noise = noise[noise.size() / 2];
    }

    auto poor = [&](const std::string& why) {
        q.verdict = QualityVerdict::kPoor;
        q.reasons.push_back(why);
    };
    auto borderline = [&](const std::string& why) {
        if (q.verdict == QualityVerdict::kGood) q.verdict = QualityVerdict::kBorderline;
        q.reasons.push_back(why);
    };
    if (!leads.empty() && flat.size() == leads.size()) poor("every lead is flat (no signal)");
    else if (static_cast<int>(flat.size()) >= th.poor_flat_leads) poor(fmt::format("{} of {} leads flat ({})", flat.size(), leads.size(), join_leads(flat)));
    else if (!flat.empty()) borderline(fmt::format("lead{} {} flat", flat.size() > 1 ? "s" : "", join_leads(flat)));
    if (q.padding > th.poor_padding) poor(fmt::format("{:.0f}% of the {:g} s window is padding, not signal", 100 * q.padding, window / fs));
    else if (q.padding > th.borderline_padding) borderline(fmt::format("{:.0f}% of the window is padding", 100 * q.padding));
    if (flat.size() < leads.size()) {
        if (median_noise > th.poor_noise) poor(fmt::format("broadband noise: median noise ratio {:.2f} (white noise is 1.0, ECG < 0.4)", median_noise));
        else if (!noisy.empty()) borderline(fmt::format("noisy lead{} {}", noisy.size() > 1 ? "s" : "", join_leads(noisy)));
        if (!clipped.empty()) borderline(fmt::format("clipped lead{} {}", clipped.size() > 1 ? "s" : "", join_leads(clipped)));
        if (wandering.size() >= 3) borderline(fmt::format("baseline wander in {}", join_leads(wandering)));
    }
    return q;
}

nlohmann::json signal_quality_to_json(const SignalQuality& q) {
    nlohmann::json leads = nlohmann::json::object();
    auto r3 = [](double v) { return std::round(v * 1000) / 1000; };
    for (const auto& l : q.leads)
        leads[l.lead] = {{"flat", r3(l.flat)}, {"clipped", r3(l.clipped)}, {"noise", r3(l.noise)}, {"wander", r3(l.wander)}};
    return {{"verdict", quality_verdict_name(q.verdict)}, {"padding", r3(q.padding)}, {"reasons", q.reasons}, {"leads", leads}};
}

}  // namespace diagecg
