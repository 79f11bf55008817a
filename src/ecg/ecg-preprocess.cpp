// preprocess(): any EcgRecord -> the model input [12, T] at cfg.sample_rate_hz. Steps, in order:
//   1. to_canonical_leads: leads by name, extra channels dropped, limb leads derived if needed
//   2. missing samples (NaN, inf): runs up to max_gap_s linearly interpolated, longer runs refused
//   3. resample to cfg.sample_rate_hz (polyphase Kaiser sinc, resample.h)
//   4. optional zero-phase filters: the 0.5-40 Hz band-pass the training data went through (4th-order
//      Butterworth band-pass run forward and backward, as scipy's butter + filtfilt: ptbxl-processed's README),
//      powerline notch (Q = 30)
//   5. crop or zero-pad to duration_s by the length policy (inside [window_start_s, + window_duration_s) if set)
//   6. per-lead z-normalisation (population std) over the recorded part; flat leads become zeros
#include "diagecg/ecg/ecg-preprocess.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <stdexcept>

#include <fmt/format.h>

#include "diagecg/ecg/lead-map.h"
#include "diagecg/ecg/resample.h"
#include "diagecg/util/json-config.h"

namespace diagecg {

LengthPolicy parse_length_policy(const std::string& s) {
    if (s == "center") return LengthPolicy::kCenter;
    if (s == "start") return LengthPolicy::kStart;
    if (s == "error") return LengthPolicy::kError;
    throw std::invalid_argument("length policy must be center, start or error, got \"" + s + "\"");
}

namespace {

// Linear interpolation over runs of missing samples (NaN or +-inf) of at most max_gap samples;
// runs at either end hold the nearest valid value.
void fill_gaps(float* x, int64_t n, int64_t max_gap, double rate_hz, const std::string& lead) {
    const auto missing = [x](int64_t k) { return !std::isfinite(x[k]); };
    int64_t n_valid = 0;
    for (int64_t k = 0; k < n; ++k) n_valid += !missing(k);
    if (n_valid == 0) throw std::invalid_argument("lead " + lead + " has no valid samples (all NaN or inf)");
    for (int64_t i = 0; i < n;) {
        if (!missing(i)) {
            ++i;
            continue;
        }
        int64_t j = i;
        while (j < n && missing(j)) ++j;  // missing run [i, j)
        if (j - i > max_gap)
            throw std::invalid_argument(fmt::format(
                "lead {}: {:.3f} s of missing samples (NaN) from {:.3f} s; at most {:.3f} s are interpolated", lead,
                (j - i) / rate_hz, i / rate_hz, max_gap / rate_hz));
        const float left = i > 0 ? x[i - 1] : x[j];
        const float right = j < n ? x[j] : x[i - 1];
        for (int64_t k = i; k < j; ++k) {
            const float a = static_cast<float>(k - i + 1) / static_cast<float>(j - i + 1);
            x[k] = left + a * (right - left);
        }
        i = j;
    }
}

// The notch: a second-order section (RBJ cookbook), run forward then backward: zero phase.
struct Biquad {
    double b0, b1, b2, a1, a2;
};

Biquad notch(double f0, double fs, double q) {
    const double w0 = 2 * M_PI * f0 / fs, c = std::cos(w0), alpha = std::sin(w0) / (2 * q);
    const double a0 = 1 + alpha;
    return {1 / a0, -2 * c / a0, 1 / a0, -2 * c / a0, (1 - alpha) / a0};
}

void run_biquad(const Biquad& f, std::vector<double>& x) {
    // start in the steady state of the first sample to avoid an edge transient
    double x1 = x[0], x2 = x[0];
    const double dc_gain = (f.b0 + f.b1 + f.b2) / (1 + f.a1 + f.a2);
    double y1 = x[0] * dc_gain, y2 = y1;
    for (auto& v : x) {
        const double y = f.b0 * v + f.b1 * x1 + f.b2 * x2 - f.a1 * y1 - f.a2 * y2;
        x2 = x1;
        x1 = v;
        y2 = y1;
        y1 = y;
        v = y;
    }
}

// The band-pass the training data went through (data README: 0.5-40 Hz, 4th-order Butterworth, zero phase),
// designed as scipy.signal.butter(4, [lo, hi], btype="band") designs it: the analog prototype's poles, the
// low-pass to band-pass transform at the pre-warped corners, the bilinear transform. Eight poles and the
// zeros (4 at z = 1, 4 at z = -1) are run as four sections 1 - z^-2 over each conjugate pole pair (the gain on
// the first), in direct form II transposed: the same transfer function, better conditioned than one order-8
// polynomial pair.
struct Section {
    double b0, b1, b2, a1, a2;
};

std::vector<Section> butter4_bandpass(double lo_hz, double hi_hz, double fs) {
    constexpr int kOrder = 4;
    const double fs2 = 4.0;  // bilinear transform at fs = 2 (normalised frequencies), 2 * fs
    const double w1 = fs2 * std::tan(M_PI * lo_hz / fs), w2 = fs2 * std::tan(M_PI * hi_hz / fs);  // pre-warped
    const double bw = w2 - w1, wo2 = w1 * w2;
    std::vector<std::complex<double>> poles;  // z-plane, upper half-plane member of each conjugate pair
    double gain = std::pow(bw, kOrder);
    std::complex<double> den = 1.0;
    for (int k = 0; k < kOrder; ++k) {
        const std::complex<double> p = -std::exp(std::complex<double>(0, M_PI * (2 * k - kOrder + 1) / (2.0 * kOrder)));
        const std::complex<double> pl = p * bw / 2.0, r = std::sqrt(pl * pl - wo2);
        for (const auto& s : {pl + r, pl - r}) {  // the band-pass's analog poles
            den *= fs2 - s;
            const std::complex<double> z = (fs2 + s) / (fs2 - s);
            if (z.imag() > 0) poles.push_back(z);
        }
    }
    gain *= std::pow(fs2, kOrder) / den.real();  // k * prod(fs2 - zeros) / prod(fs2 - poles); the 4 zeros at s = 0
    std::vector<Section> out;
    for (const auto& z : poles) out.push_back({1.0, 0.0, -1.0, -2.0 * z.real(), std::norm(z)});
    out[0].b0 *= gain;
    out[0].b2 *= gain;
    return out;
}

// One pass of the cascade from the steady state of a constant input x[0] (scipy's lfilter_zi * x[0]).
void run_sections(const std::vector<Section>& secs, std::vector<double>& x) {
    double u = x[0];  // each section's constant input in the steady state
    std::vector<std::array<double, 2>> st(secs.size());
    for (size_t i = 0; i < secs.size(); ++i) {
        const Section& f = secs[i];
        const double y = u * (f.b0 + f.b1 + f.b2) / (1 + f.a1 + f.a2);
        st[i][1] = f.b2 * u - f.a2 * y;
        st[i][0] = f.b1 * u - f.a1 * y + st[i][1];
        u = y;
    }
    for (auto& v : x) {
        double in = v;
        for (size_t i = 0; i < secs.size(); ++i) {
            const Section& f = secs[i];
            const double y = f.b0 * in + st[i][0];
            st[i][0] = f.b1 * in - f.a1 * y + st[i][1];
            st[i][1] = f.b2 * in - f.a2 * y;
            in = y;
        }
        v = in;
    }
}

// Zero phase as scipy.signal.filtfilt(b, a, x) runs it: odd extension by 3 * (order + 1) samples at both ends,
// forward and backward passes from the steady state of the first sample, extension cut off.
void filtfilt_bandpass(const std::vector<Section>& secs, float* data, int64_t n) {
    const int64_t pad = std::min<int64_t>(3 * (2 * static_cast<int64_t>(secs.size()) + 1), n - 1);
    std::vector<double> x(static_cast<size_t>(n + 2 * pad));
    for (int64_t i = 0; i < pad; ++i) {
        x[static_cast<size_t>(i)] = 2.0 * data[0] - data[pad - i];
        x[static_cast<size_t>(n + pad + i)] = 2.0 * data[n - 1] - data[n - 2 - i];
    }
    for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(pad + i)] = data[i];
    run_sections(secs, x);
    std::reverse(x.begin(), x.end());
    run_sections(secs, x);
    std::reverse(x.begin(), x.end());
    for (int64_t i = 0; i < n; ++i) data[i] = static_cast<float>(x[static_cast<size_t>(pad + i)]);
}

void filtfilt(const Biquad& f, float* data, int64_t n) {
    std::vector<double> x(data, data + n);
    run_biquad(f, x);
    std::reverse(x.begin(), x.end());
    run_biquad(f, x);
    std::reverse(x.begin(), x.end());
    for (int64_t i = 0; i < n; ++i) data[i] = static_cast<float>(x[i]);
}

}  // namespace

void validate(const PreprocessConfig& cfg) {
    if (!(cfg.sample_rate_hz > 0) || !(cfg.duration_s > 0))
        throw std::invalid_argument(fmt::format("preprocess: sample rate {} Hz and duration {} s must be positive",
                                                cfg.sample_rate_hz, cfg.duration_s));
    if (cfg.bandpass && cfg.sample_rate_hz <= 80.0)
        throw std::invalid_argument(
            fmt::format("preprocess: the 0.5-40 Hz band-pass needs a rate above 80 Hz, got {} Hz", cfg.sample_rate_hz));
    if (cfg.notch_hz < 0 || cfg.notch_hz >= 0.5 * cfg.sample_rate_hz)
        throw std::invalid_argument(fmt::format("preprocess: notch {} Hz must be 0 (off) or below half the rate {} Hz",
                                                cfg.notch_hz, cfg.sample_rate_hz));
    if (!(cfg.max_gap_s >= 0)) throw std::invalid_argument("preprocess: max_gap_s must be >= 0");
    if (!(cfg.flat_std >= 0)) throw std::invalid_argument("preprocess: flat_std must be >= 0");
    if (!(cfg.window_duration_s >= 0)) throw std::invalid_argument("preprocess: window_duration_s must be >= 0");
}

PreprocessConfig preprocess_config_from_json(const nlohmann::json& j, const std::string& path) {
    PreprocessConfig c;
    JsonObject o(j, path);
    o.get("sample_rate_hz", c.sample_rate_hz);
    o.get("duration_s", c.duration_s);
    std::string policy;
    if (o.get("length_policy", policy)) {
        try {
            c.length_policy = parse_length_policy(policy);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument(path + ".length_policy: " + e.what());
        }
    }
    o.get("max_gap_s", c.max_gap_s);
    o.get("bandpass", c.bandpass);
    o.get("notch_hz", c.notch_hz);
    o.get("flat_std", c.flat_std);
    o.get("normalize", c.normalize);
    o.get("window_start_s", c.window_start_s);
    o.get("window_duration_s", c.window_duration_s);
    o.finish();
    validate(c);
    return c;
}

nlohmann::json preprocess_config_to_json(const PreprocessConfig& c) {
    const char* policy = c.length_policy == LengthPolicy::kCenter ? "center"
                       : c.length_policy == LengthPolicy::kStart  ? "start" : "error";
    return {{"sample_rate_hz", c.sample_rate_hz}, {"duration_s", c.duration_s}, {"length_policy", policy},
            {"max_gap_s", c.max_gap_s}, {"bandpass", c.bandpass}, {"notch_hz", c.notch_hz},
            {"flat_std", c.flat_std}, {"normalize", c.normalize}, {"window_start_s", c.window_start_s},
            {"window_duration_s", c.window_duration_s}};
}

namespace {

// [first, first + len) of n samples is read, placed at pad_front of the target length.
struct Span {
    int64_t first = 0, len = 0, pad_front = 0, target = 0, w0 = 0, wn = 0;
};

Span model_span(const PreprocessConfig& cfg, int64_t n, const std::string& name) {
    Span sp;
    sp.target = std::llround(cfg.duration_s * cfg.sample_rate_hz);
    sp.wn = n;
    if (cfg.window_start_s >= 0) {
        sp.w0 = std::llround(cfg.window_start_s * cfg.sample_rate_hz);
        if (sp.w0 >= n)
            throw std::invalid_argument(fmt::format("record {}: the window starts at {:g} s but the record is {:.3f} s long", name,
                                                    cfg.window_start_s, n / cfg.sample_rate_hz));
        const double dur = cfg.window_duration_s > 0 ? cfg.window_duration_s : cfg.duration_s;
        sp.wn = std::min<int64_t>(n - sp.w0, std::llround(dur * cfg.sample_rate_hz));
    }
    if (sp.wn != sp.target && cfg.length_policy == LengthPolicy::kError)
        throw std::invalid_argument(
            fmt::format("record {} is {:.3f} s long{}; the model needs exactly {:g} s (length policy \"error\")", name,
                        sp.wn / cfg.sample_rate_hz, cfg.window_start_s >= 0 ? " in the window" : "", cfg.duration_s));
    const bool centre = cfg.length_policy == LengthPolicy::kCenter;
    sp.first = sp.w0 + (sp.wn > sp.target && centre ? (sp.wn - sp.target) / 2 : 0);
    sp.len = std::min(sp.wn, sp.target);
    sp.pad_front = sp.wn < sp.target && centre ? (sp.target - sp.wn) / 2 : 0;
    return sp;
}

}  // namespace

ModelWindow model_window(const PreprocessConfig& cfg, int64_t n_samples, const std::string& record_name) {
    validate(cfg);
    const Span sp = model_span(cfg, n_samples, record_name);
    const double fs = cfg.sample_rate_hz;
    return {sp.first / fs, sp.len / fs, n_samples / fs, sp.len < n_samples};
}

PreprocessResult preprocess(const EcgRecord& rec, const PreprocessConfig& cfg) {
    validate(cfg);
    if (!(rec.sample_rate_hz > 0)) throw std::invalid_argument("record " + rec.name + " has no sample rate");
    if (rec.n_samples <= 0) throw std::invalid_argument("record " + rec.name + " has no samples");
    PreprocessResult out;
    LeadMapping mapping;
    EcgRecord r = to_canonical_leads(rec, &mapping);
    out.notes = mapping.notes;

    const int64_t max_gap = static_cast<int64_t>(std::floor(cfg.max_gap_s * r.sample_rate_hz));
    for (int l = 0; l < kNumLeads; ++l) fill_gaps(r.lead(l), r.n_samples, max_gap, r.sample_rate_hz, r.lead_names[l]);

    // resample every lead to the model's rate
    std::vector<std::vector<float>> leads(kNumLeads);
    for (int l = 0; l < kNumLeads; ++l) {
        std::vector<float> x(r.lead(l), r.lead(l) + r.n_samples);
        leads[l] = resample(x, r.sample_rate_hz, cfg.sample_rate_hz);
    }
    if (std::llround(r.sample_rate_hz * 1000) != std::llround(cfg.sample_rate_hz * 1000))
        out.notes.push_back(fmt::format("resampled {:g} Hz -> {:g} Hz", r.sample_rate_hz, cfg.sample_rate_hz));
    const int64_t n = static_cast<int64_t>(leads[0].size());

    // The model window: [begin, begin + len) of the resampled signal, placed at pad_front of `target` samples.
    const Span sp = model_span(cfg, n, r.name);
    const int64_t target = sp.target, begin = sp.first, len = sp.len, pad_front = sp.pad_front;

    // Quality of what the model will see, before filters and normalisation (signal-quality.h).
    std::vector<const float*> window;
    for (const auto& x : leads) window.push_back(x.data() + begin);
    out.quality = assess_signal_quality(window, std::vector<std::string>(kCanonicalLeads.begin(), kCanonicalLeads.end()), len,
                                        target, cfg.sample_rate_hz);

    if (cfg.bandpass || cfg.notch_hz > 0) {
        const double fs = cfg.sample_rate_hz;
        for (auto& x : leads) {
            if (cfg.bandpass && n >= 2) filtfilt_bandpass(butter4_bandpass(0.5, 40.0, fs), x.data(), n);
            if (cfg.notch_hz > 0) filtfilt(notch(cfg.notch_hz, fs, 30.0), x.data(), n);
        }
        if (cfg.bandpass) out.notes.push_back("band-pass 0.5-40 Hz (zero phase)");
        if (cfg.notch_hz > 0) out.notes.push_back(fmt::format("notch {:g} Hz", cfg.notch_hz));
    }

    // crop (before normalising, so statistics describe what the model sees)
    if (cfg.window_start_s >= 0)
        out.notes.push_back(fmt::format("window {:.2f}-{:.2f} s of {:.2f} s", sp.w0 / cfg.sample_rate_hz,
                                        (sp.w0 + sp.wn) / cfg.sample_rate_hz, n / cfg.sample_rate_hz));
    if (sp.wn > target)
        out.notes.push_back(fmt::format("cropped {:.2f} s to {:g} s ({})", sp.wn / cfg.sample_rate_hz, cfg.duration_s,
                                        cfg.length_policy == LengthPolicy::kCenter ? "centre" : "start"));
    if (sp.wn < target)
        out.notes.push_back(fmt::format("padded {:.2f} s to {:g} s with zeros ({})", sp.wn / cfg.sample_rate_hz,
                                        cfg.duration_s,
                                        cfg.length_policy == LengthPolicy::kCenter ? "both ends" : "at the end"));

    out.n_samples = target;
    out.signal.assign(static_cast<size_t>(kNumLeads * target), 0.0f);
    for (int l = 0; l < kNumLeads; ++l) {
        const float* x = leads[l].data() + begin;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < len; ++i) mean += x[i];
        mean /= static_cast<double>(len);
        for (int64_t i = 0; i < len; ++i) var += (x[i] - mean) * (x[i] - mean);
        const double std = std::sqrt(var / static_cast<double>(len));
        float* y = out.signal.data() + l * target + pad_front;
        if (!cfg.normalize) {
            for (int64_t i = 0; i < len; ++i) y[i] = x[i];
        } else if (std < cfg.flat_std) {
            out.notes.push_back(std::string("lead ") + kCanonicalLeads[l] + " is flat: set to zeros");
        } else {
            for (int64_t i = 0; i < len; ++i) y[i] = static_cast<float>((x[i] - mean) / std);
        }
    }
    return out;
}

}  // namespace diagecg
