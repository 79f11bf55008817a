#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "diagecg/ecg/ecg-preprocess.h"
#include "diagecg/ecg/lead-map.h"
#include "diagecg/ecg/read-ecg.h"
#include "diagecg/ecg/resample.h"

using namespace diagecg;

namespace {

std::vector<float> sine(double f_hz, double rate_hz, int64_t n, double amp = 1.0, double phase = 0.3) {
    std::vector<float> x(n);
    for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(amp * std::sin(2 * M_PI * f_hz * i / rate_hz + phase));
    return x;
}

// Amplitude of the f_hz component of x (least squares on sin/cos), away from the edges.
double amplitude_at(const std::vector<float>& x, double f_hz, double rate_hz) {
    const int64_t n = static_cast<int64_t>(x.size()), edge = n / 10;
    double s = 0, c = 0;
    int64_t m = 0;
    for (int64_t i = edge; i < n - edge; ++i, ++m) {
        s += x[i] * std::sin(2 * M_PI * f_hz * i / rate_hz);
        c += x[i] * std::cos(2 * M_PI * f_hz * i / rate_hz);
    }
    return 2.0 * std::sqrt(s * s + c * c) / m;
}

EcgRecord twelve_leads(double rate_hz, double seconds) {
    EcgRecord r;
    r.name = "synthetic";
    r.sample_rate_hz = rate_hz;
    r.n_samples = std::llround(rate_hz * seconds);
    for (int l = 0; l < kNumLeads; ++l) {
        r.lead_names.push_back(kCanonicalLeads[l]);
        r.units.push_back("mV");
        const auto x = sine(1.0 + l, rate_hz, r.n_samples, 0.5 + 0.1 * l);
        for (auto v : x) r.signal.push_back(v + 0.2f * l);
    }
    return r;
}

}  // namespace

TEST(Resample, KeepsPassbandAmplitude1000To500) {
    for (const double f : {5.0, 20.0, 50.0, 90.0, 200.0}) {
        const auto y = resample(sine(f, 1000, 10000), 1000, 500);
        ASSERT_EQ(y.size(), 5000u);
        EXPECT_NEAR(amplitude_at(y, f, 500), 1.0, 0.01) << f << " Hz";
    }
}

TEST(Resample, SuppressesContentAboveNewNyquist) {
    for (const double f : {260.0, 300.0, 400.0}) {
        const auto y = resample(sine(f, 1000, 10000), 1000, 500);
        // after decimation f aliases to 500 - f; it must be at least 40 dB down there
        double peak = 0;
        for (int64_t i = 500; i < 4500; ++i) peak = std::max<double>(peak, std::abs(y[i]));
        EXPECT_LT(peak, 0.01) << f << " Hz";
    }
}

TEST(Resample, UpsamplingAndOddRatios) {
    auto y = resample(sine(10, 250, 2500), 250, 500);
    ASSERT_EQ(y.size(), 5000u);
    EXPECT_NEAR(amplitude_at(y, 10, 500), 1.0, 0.01);
    // the interpolated samples lie on the sine too
    const auto ref = sine(10, 500, 5000);
    for (int64_t i = 1000; i < 4000; i += 7) EXPECT_NEAR(y[i], ref[i], 0.01) << i;
    y = resample(sine(15, 360, 3600), 360, 500);
    ASSERT_EQ(y.size(), 5000u);
    EXPECT_NEAR(amplitude_at(y, 15, 500), 1.0, 0.01);
    EXPECT_EQ(resample({1, 2, 3}, 500, 500), (std::vector<float>{1, 2, 3}));
    EXPECT_THROW(resample({1, 2}, 0, 500), std::invalid_argument);
    // An absurd rate (an EDF with a huge record duration) is named in a short, readable number.
    try {
        resample({1, 2}, 1e-300, 500);
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("1e-300 Hz"), std::string::npos) << m;
        EXPECT_LT(m.size(), 120u) << m;
    }
}

TEST(Resample, OutputLengthIsCeilOfRatio) {
    EXPECT_EQ(resample(std::vector<float>(1001, 1.0f), 1000, 500).size(), 501u);  // ceil(1001/2)
    EXPECT_EQ(resample(std::vector<float>(3, 1.0f), 250, 500).size(), 6u);
    EXPECT_EQ(resample(std::vector<float>(7, 1.0f), 360, 500).size(), 10u);  // ceil(7*25/18)
    EXPECT_EQ(resample(std::vector<float>(5000, 1.0f), 500, 100).size(), 1000u);
    EXPECT_TRUE(resample({}, 1000, 500).empty());
}

TEST(Resample, ConstantStaysConstantUpToTheEdges) {
    // Edges hold the end values and every polyphase row has unit DC gain, so no ringing at the ends.
    for (const auto& [in_hz, out_hz] :
         std::vector<std::pair<double, double>>{{1000, 500}, {250, 500}, {360, 500}, {257, 500}, {500, 128}}) {
        const auto y = resample(std::vector<float>(2000, 2.5f), in_hz, out_hz);
        for (size_t i = 0; i < y.size(); ++i)
            ASSERT_NEAR(y[i], 2.5f, 2.5e-3) << in_hz << " -> " << out_hz << " at " << i;
    }
}

TEST(Preprocess, MakesNormalisedModelInput) {
    const auto r = twelve_leads(1000, 12);
    const auto p = preprocess(r);
    EXPECT_EQ(p.n_samples, 5000);
    ASSERT_EQ(p.signal.size(), 12u * 5000);
    for (int l = 0; l < 12; ++l) {
        double mean = 0, var = 0;
        for (int i = 0; i < 5000; ++i) mean += p.signal[l * 5000 + i];
        mean /= 5000;
        for (int i = 0; i < 5000; ++i) var += std::pow(p.signal[l * 5000 + i] - mean, 2);
        EXPECT_NEAR(mean, 0, 1e-4);
        EXPECT_NEAR(std::sqrt(var / 5000), 1, 1e-4);
    }
    bool resampled = false, cropped = false;
    for (const auto& n : p.notes) {
        resampled |= n.find("resampled 1000 Hz -> 500 Hz") != std::string::npos;
        cropped |= n.find("cropped 12.00 s to 10 s (start)") != std::string::npos;
    }
    EXPECT_TRUE(resampled);
    EXPECT_TRUE(cropped);
}

TEST(Preprocess, FlatLeadBecomesZerosNotNan) {
    auto r = twelve_leads(500, 10);
    std::fill(r.lead(8), r.lead(8) + r.n_samples, 0.25f);
    const auto p = preprocess(r);
    for (int i = 0; i < 5000; ++i) EXPECT_EQ(p.signal[8 * 5000 + i], 0.0f);
    for (float v : p.signal) ASSERT_FALSE(std::isnan(v));
    bool noted = false;
    for (const auto& n : p.notes) noted |= n == "lead V3 is flat: set to zeros";
    EXPECT_TRUE(noted);
}

TEST(Preprocess, ShortNanGapInterpolatedLongGapRefused) {
    auto r = twelve_leads(500, 10);
    const float before = r.lead(0)[999], after = r.lead(0)[1011];
    for (int i = 1000; i < 1011; ++i) r.lead(0)[i] = NAN;  // 22 ms
    PreprocessConfig cfg;
    cfg.normalize = false;
    r.lead(2)[0] = std::numeric_limits<float>::infinity();  // a missing first sample (inf)
    const auto p = preprocess(r, cfg);
    EXPECT_NEAR(p.signal[1005], before + (after - before) * 6.0f / 12.0f, 1e-3);
    EXPECT_FLOAT_EQ(p.signal[2 * 5000], r.lead(2)[1]);  // held from the next valid sample
    for (float v : p.signal) ASSERT_TRUE(std::isfinite(v));
    for (int i = 1000; i < 3000; ++i) r.lead(6)[i] = NAN;  // 4 s in V1
    try {
        preprocess(r);
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("lead V1: 4.000 s of missing samples (NaN) from 2.000 s"),
                  std::string::npos)
            << e.what();
    }
    std::fill(r.lead(6), r.lead(6) + r.n_samples, NAN);
    try {
        preprocess(r);
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("lead V1 has no valid samples"), std::string::npos) << e.what();
    }
}

TEST(Preprocess, PtbStyleRecordAt1000HzWithExtraChannels) {
    // Lower-case names, Frank leads, 1000 Hz, 38.4 s: the PTB Diagnostic layout.
    auto src = twelve_leads(1000, 38.4);
    EcgRecord r = src;
    r.lead_names.clear();
    r.units.clear();
    r.signal.clear();
    const std::vector<std::string> names = {"i",  "ii", "iii", "avr", "avl", "avf", "v1", "v2",
                                            "v3", "v4", "v5",  "v6",  "vx",  "vy",  "vz"};
    for (size_t l = 0; l < names.size(); ++l) {
        r.lead_names.push_back(names[l]);
        r.units.push_back("mV");
        const float* x = src.lead(static_cast<int64_t>(l % 12));
        r.signal.insert(r.signal.end(), x, x + src.n_samples);
    }
    PreprocessConfig cfg;
    cfg.length_policy = LengthPolicy::kCenter;
    const auto p = preprocess(r, cfg);
    ASSERT_EQ(p.signal.size(), 12u * 5000);
    const auto q = preprocess(src, cfg);
    EXPECT_EQ(p.signal, q.signal);  // the Frank leads changed nothing
    bool ignored = false;
    for (const auto& n : p.notes) ignored |= n.find("vx vy vz") != std::string::npos;
    EXPECT_TRUE(ignored);
}

TEST(Preprocess, LengthPolicies) {
    PreprocessConfig cfg;
    cfg.normalize = false;
    auto r = twelve_leads(500, 12);
    for (int i = 0; i < r.n_samples; ++i) r.lead(0)[i] = static_cast<float>(i);  // a ramp shows the window
    cfg.length_policy = LengthPolicy::kStart;
    EXPECT_FLOAT_EQ(preprocess(r, cfg).signal[0], 0.0f);
    cfg.length_policy = LengthPolicy::kCenter;
    EXPECT_FLOAT_EQ(preprocess(r, cfg).signal[0], 500.0f);
    cfg.length_policy = LengthPolicy::kError;
    EXPECT_THROW(preprocess(r, cfg), std::invalid_argument);

    auto s = twelve_leads(500, 8);
    for (int i = 0; i < s.n_samples; ++i) s.lead(0)[i] = 1.0f + i;
    cfg.length_policy = LengthPolicy::kStart;
    auto p = preprocess(s, cfg);
    EXPECT_FLOAT_EQ(p.signal[3999], 4000.0f);
    EXPECT_FLOAT_EQ(p.signal[4000], 0.0f);
    cfg.length_policy = LengthPolicy::kCenter;
    p = preprocess(s, cfg);
    EXPECT_FLOAT_EQ(p.signal[499], 0.0f);
    EXPECT_FLOAT_EQ(p.signal[500], 1.0f);
    EXPECT_EQ(parse_length_policy("center"), LengthPolicy::kCenter);
    EXPECT_THROW(parse_length_policy("middle"), std::invalid_argument);
}

// --window: the model reads [start, start + duration) of the record (a ramp shows which samples), then the length
// policy fits that part to duration_s; model_window() says the same without reading the signal.
TEST(Preprocess, WindowPicksThePartRead) {
    PreprocessConfig cfg;
    cfg.normalize = false;
    auto r = twelve_leads(500, 38.4);
    for (int i = 0; i < r.n_samples; ++i) r.lead(0)[i] = static_cast<float>(i);
    cfg.window_start_s = 20;
    auto p = preprocess(r, cfg);
    EXPECT_FLOAT_EQ(p.signal[0], 10000.0f);
    EXPECT_FLOAT_EQ(p.signal[4999], 14999.0f);
    ModelWindow w = model_window(cfg, r.n_samples);
    EXPECT_DOUBLE_EQ(w.start_s, 20.0);
    EXPECT_DOUBLE_EQ(w.duration_s, 10.0);
    EXPECT_DOUBLE_EQ(w.record_duration_s, 38.4);
    EXPECT_TRUE(w.cut);
    // the last 8.4 s: padded at the end (start policy); under "error" a 10 s window is required
    cfg.window_start_s = 30;
    p = preprocess(r, cfg);
    EXPECT_FLOAT_EQ(p.signal[0], 15000.0f);
    EXPECT_FLOAT_EQ(p.signal[4199], 19199.0f);
    EXPECT_FLOAT_EQ(p.signal[4200], 0.0f);
    cfg.length_policy = LengthPolicy::kError;
    EXPECT_THROW(preprocess(r, cfg), std::invalid_argument);
    cfg.window_start_s = 5;
    EXPECT_FLOAT_EQ(preprocess(r, cfg).signal[0], 2500.0f);
    // a 4 s window centred in the model's 10 s
    cfg.length_policy = LengthPolicy::kCenter;
    cfg.window_duration_s = 4;
    p = preprocess(r, cfg);
    EXPECT_FLOAT_EQ(p.signal[1499], 0.0f);
    EXPECT_FLOAT_EQ(p.signal[1500], 2500.0f);
    cfg.window_start_s = 40;
    EXPECT_THROW(preprocess(r, cfg), std::invalid_argument);
    EXPECT_THROW(model_window(cfg, r.n_samples), std::invalid_argument);
    // no window: the length policy's part, and whether the record was cut
    PreprocessConfig plain;
    w = model_window(plain, 19200);
    EXPECT_DOUBLE_EQ(w.start_s, 0.0);
    EXPECT_TRUE(w.cut);
    plain.length_policy = LengthPolicy::kCenter;
    EXPECT_DOUBLE_EQ(model_window(plain, 19200).start_s, 14.2);
    EXPECT_FALSE(model_window(plain, 5000).cut);
}

TEST(Preprocess, BandPassRemovesBaselineDrift) {
    auto r = twelve_leads(500, 10);
    const auto drift = sine(0.1, 500, r.n_samples, 3.0);
    const auto signal = sine(10, 500, r.n_samples, 1.0);
    for (int i = 0; i < r.n_samples; ++i) r.lead(0)[i] = drift[i] + signal[i];
    PreprocessConfig cfg;
    cfg.normalize = false;
    cfg.bandpass = true;
    const auto p = preprocess(r, cfg);
    std::vector<float> lead0(p.signal.begin(), p.signal.begin() + 5000);
    EXPECT_LT(amplitude_at(lead0, 0.1, 500), 0.03);        // 3.0 -> < 0.03 (-40 dB)
    EXPECT_NEAR(amplitude_at(lead0, 10, 500), 1.0, 0.02);  // passband kept
    // zero phase: the 10 Hz sine is not shifted
    for (int i = 1000; i < 4000; i += 37) EXPECT_NEAR(lead0[i], signal[i], 0.05) << i;
    cfg.bandpass = false;
    const auto raw = preprocess(r, cfg).signal;
    EXPECT_GT(amplitude_at(std::vector<float>(raw.begin(), raw.begin() + 5000), 0.1, 500), 1.0);  // drift is real
}

TEST(Preprocess, NotchRemovesPowerline) {
    auto r = twelve_leads(500, 10);
    const auto hum = sine(50, 500, r.n_samples, 0.5);
    const auto signal = sine(10, 500, r.n_samples, 1.0);
    for (int i = 0; i < r.n_samples; ++i) r.lead(0)[i] = hum[i] + signal[i];
    PreprocessConfig cfg;
    cfg.normalize = false;
    cfg.notch_hz = 50;
    const auto p = preprocess(r, cfg);
    const std::vector<float> lead0(p.signal.begin(), p.signal.begin() + 5000);
    EXPECT_LT(amplitude_at(lead0, 50, 500), 0.005);  // 0.5 -> < 0.005 (-40 dB)
    EXPECT_NEAR(amplitude_at(lead0, 10, 500), 1.0, 0.01);
    cfg.notch_hz = 300;  // above Nyquist
    EXPECT_THROW(preprocess(r, cfg), std::invalid_argument);
}

TEST(PreprocessConfig, StrictJsonRoundTrip) {
    const auto j = nlohmann::json::parse(R"({"length_policy": "center", "bandpass": true, "notch_hz": 60})");
    const auto c = preprocess_config_from_json(j, "cfg");
    EXPECT_EQ(c.length_policy, LengthPolicy::kCenter);
    EXPECT_TRUE(c.bandpass);
    EXPECT_DOUBLE_EQ(c.notch_hz, 60);
    EXPECT_DOUBLE_EQ(c.sample_rate_hz, 500);   // default kept
    const auto back = preprocess_config_from_json(preprocess_config_to_json(c), "cfg");
    EXPECT_EQ(preprocess_config_to_json(back), preprocess_config_to_json(c));
    auto error_of = [](const char* text) {
        try {
            preprocess_config_from_json(nlohmann::json::parse(text), "prep");
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(error_of(R"({"lenght_policy": "center"})").find("unknown config key(s): prep.lenght_policy"), std::string::npos);
    EXPECT_NE(error_of(R"({"bandpass": "yes"})").find("prep.bandpass: expected a boolean"), std::string::npos);
    EXPECT_NE(error_of(R"({"length_policy": "middle"})").find("prep.length_policy"), std::string::npos);
    EXPECT_NE(error_of(R"({"notch_hz": 300})").find("notch 300 Hz"), std::string::npos);
    EXPECT_NE(error_of(R"([1, 2])").find("expected a JSON object"), std::string::npos);
}

TEST(PreprocessConfig, ShippedConfigsParse) {
    for (const char* name : {"preprocess-reference.json", "preprocess-raw-clinical.json"}) {
        std::ifstream in(std::string(DIAGECG_SOURCE_DIR) + "/configs/" + name);
        ASSERT_TRUE(in) << name;
        const auto c = preprocess_config_from_json(nlohmann::json::parse(in), name);
        EXPECT_DOUBLE_EQ(c.sample_rate_hz, 500) << name;
    }
}

// The band-pass is the one the training data went through: PTB-XL record 6005 raw (as CinC-2021 publishes it,
// HR06005, 1000 adu/mV) band-passed and z-scored here equals our stored ptbxl-processed/06005 (the publisher's
// scipy butter(4, band) + filtfilt + z-score, stored at 1/200 z resolution) to within that resolution.
TEST(Preprocess, BandPassReproducesTheTrainingDataFilterOnARealRecord) {
    const std::string shared = DIAGECG_SHARED_DATA;
    const std::string raw_path = shared + "/raw/cinc2021/HR06005.hea",
                      stored_path = shared + "/ptbxl-processed/train/06005.hea";
    if (!std::filesystem::exists(raw_path) || !std::filesystem::exists(stored_path)) GTEST_SKIP() << "no " << raw_path;
    PreprocessConfig cfg;
    cfg.bandpass = true;
    const auto ours = preprocess(read_ecg(raw_path), cfg).signal;
    cfg.bandpass = false;
    const auto stored = preprocess(read_ecg(stored_path), cfg).signal;
    ASSERT_EQ(ours.size(), stored.size());
    double max_diff = 0;
    for (size_t i = 0; i < ours.size(); ++i) max_diff = std::max(max_diff, std::abs(double(ours[i]) - stored[i]));
    std::printf("  max |ours - stored| = %.5f z over %zu samples\n", max_diff, ours.size());
    EXPECT_LT(max_diff, 0.004);  // stored values are rounded to 0.005 z: 0.0025 + float error
    // Without the band-pass the raw record is far from what the model was trained on (baseline wander, noise).
    const auto unfiltered = preprocess(read_ecg(raw_path), cfg).signal;
    double max_raw = 0;
    for (size_t i = 0; i < ours.size(); ++i) max_raw = std::max(max_raw, std::abs(double(unfiltered[i]) - stored[i]));
    EXPECT_GT(max_raw, 0.1);

    // Harmless on already-filtered input: the stored record filtered again stays within a small distance.
    cfg.bandpass = true;
    const auto twice = preprocess(read_ecg(stored_path), cfg).signal;
    double sq = 0;
    for (size_t i = 0; i < ours.size(); ++i) sq += (double(twice[i]) - stored[i]) * (double(twice[i]) - stored[i]);
    const double rms = std::sqrt(sq / static_cast<double>(ours.size()));
    std::printf("  filtered twice: rms difference %.4f z (per-lead std 1)\n", rms);
    EXPECT_LT(rms, 0.05);
}
