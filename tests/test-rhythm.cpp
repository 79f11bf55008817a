// Beat detection and rhythm measurements (ecg/rhythm.h): exact on synthetic beat trains of known timing, scale-
// and baseline-free, and on real records whose labels name their rhythm.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "diagecg/ecg/ecg-preprocess.h"
#include "diagecg/ecg/read-ecg.h"
#include "diagecg/ecg/rhythm.h"

using namespace diagecg;

namespace {

constexpr double kFs = 500.0;
constexpr int64_t kN = 5000;

// 12 leads x 10 s at 500 Hz: a P-QRS-T complex at each beat time (s), small noise, optional baseline wander.
std::vector<float> beat_train(const std::vector<double>& beats, double wander_mv = 0, uint64_t seed = 1) {
    std::vector<float> x(12 * kN, 0.0f);
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> noise(0.0f, 0.01f);
    for (int l = 0; l < 12; ++l) {
        const double gain = (l % 3 == 1 ? -1.0 : 1.0) * (0.4 + 0.1 * l);   // some leads inverted
        for (int64_t i = 0; i < kN; ++i) {
            const double t = static_cast<double>(i) / kFs;
            double v = wander_mv * std::sin(2 * M_PI * 0.3 * t + l);
            for (const double b : beats) {
                const double d = t - b;
                if (std::abs(d) > 0.6) continue;
                auto bump = [&](double c, double w, double a) { return a * std::exp(-0.5 * (d - c) * (d - c) / (w * w)); };
                v += gain * (bump(-0.15, 0.02, 0.15) + bump(0.0, 0.01, 1.0) - bump(0.025, 0.008, 0.25) + bump(0.25, 0.04, 0.35));
            }
            x[static_cast<size_t>(l * kN + i)] = static_cast<float>(v) + noise(rng);
        }
    }
    return x;
}

std::vector<double> regular(double rate_bpm, double first = 0.3) {
    std::vector<double> b;
    for (double t = first; t < 9.8; t += 60.0 / rate_bpm) b.push_back(t);
    return b;
}

RhythmMeasure measure(const std::vector<float>& x) { return measure_rhythm(x.data(), 12, kN, kFs); }

}  // namespace

TEST(Rhythm, FindsEveryBeatOfRegularTrains) {
    for (const double rate : {40.0, 48.0, 75.0, 110.0, 150.0}) {
        const auto b = regular(rate);
        const auto x = beat_train(b);
        const auto found = detect_beats(x.data(), 12, kN, kFs);
        ASSERT_EQ(found.size(), b.size()) << rate;
        for (size_t i = 0; i < b.size(); ++i) EXPECT_NEAR(static_cast<double>(found[i]) / kFs, b[i], 0.02) << rate << " beat " << i;
        const auto m = measure(x);
        EXPECT_NEAR(m.rate_bpm, rate, 1.0);
        EXPECT_LT(m.rr_variation, 0.02) << rate;
        EXPECT_GT(m.shortest_rr, 0.95) << rate;   // a few samples of jitter in 200 (150/min)
    }
}

TEST(Rhythm, ScaleAndBaselineWanderChangeNothing) {
    const auto b = regular(66);
    const auto x = beat_train(b);
    auto uv = x;
    for (auto& v : uv) v *= 1000.0f;   // the same record in uV
    EXPECT_EQ(detect_beats(uv.data(), 12, kN, kFs), detect_beats(x.data(), 12, kN, kFs));
    const auto wander = beat_train(b, 1.5);   // 1.5 mV of 0.3 Hz wander, larger than the QRS
    EXPECT_EQ(detect_beats(wander.data(), 12, kN, kFs).size(), b.size());
}

TEST(Rhythm, IrregularAndPrematureBeatsShow) {
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> rr(0.45, 1.1);   // irregularly irregular, as atrial fibrillation
    std::vector<double> af{0.3};
    while (af.back() + 1.1 < 9.8) af.push_back(af.back() + rr(rng));
    const auto m = measure(beat_train(af));
    EXPECT_EQ(m.n_beats, static_cast<int64_t>(af.size()));
    EXPECT_GT(m.rr_variation, 0.15);
    // one premature beat (0.5 s after its predecessor at 60/min), then a compensatory pause
    std::vector<double> pvc{0.5, 1.5, 2.5, 3.5, 4.0, 5.5, 6.5, 7.5, 8.5, 9.5};
    const auto p = measure(beat_train(pvc));
    EXPECT_EQ(p.n_beats, 10);
    EXPECT_NEAR(p.rate_bpm, 60.0, 1.0);
    EXPECT_NEAR(p.shortest_rr, 0.5, 0.02);
    ASSERT_GE(p.rr_variation, 0.10);
    EXPECT_EQ(rhythm_text(p), "rate 60/min (normal), RR variation " + std::to_string(std::lround(100 * p.rr_variation)) +
                                  "% (irregular), shortest RR 50%");
    RhythmMeasure fast{20, 123.4, 0.012, 0.97}, slow{8, 48.0, 0.0, 1.0};
    EXPECT_EQ(rhythm_text(fast), "rate 123/min (fast), RR variation 1% (regular), shortest RR 97%");
    EXPECT_EQ(rhythm_text(slow), "rate 48/min (slow), RR variation 0% (regular), shortest RR 100%");
}

TEST(Rhythm, FlatOrEmptyIsNotMeasurable) {
    const std::vector<float> flat(12 * kN, 0.0f);
    const auto m = measure(flat);
    EXPECT_FALSE(m.measured());
    EXPECT_EQ(rhythm_text(m), "not measurable");
    std::vector<float> nan(12 * kN, std::nanf(""));
    EXPECT_FALSE(measure(nan).measured());
    EXPECT_THROW(detect_beats(flat.data(), 12, kN, 0.0), std::invalid_argument);
    EXPECT_THROW(detect_beats(flat.data(), 0, kN, kFs), std::invalid_argument);
}

// Real records, through the model's preprocessing (z-scored; raw CinC records not band-passed): the labels say
// sinus bradycardia (E07500), sinus tachycardia with atrial premature beats (JS20000), atrial fibrillation
// (PTB-XL 00318, MUSE muse-af) and sinus rhythm (muse-sinus).
TEST(Rhythm, RealRecordsAgreeWithTheirLabels) {
    const std::string dir = std::string(DIAGECG_TEST_DATA) + "/ecg/";
    auto of = [&](const std::string& name) {
        const auto p = preprocess(read_ecg(dir + name));
        return measure_rhythm(p.signal.data(), 12, p.n_samples, 500.0);
    };
    const auto brady = of("E07500.hea"), tachy = of("JS20000.hea"), af = of("00318.hea"), muse_af = of("muse-af.hea"),
               sinus = of("muse-sinus.hea");
    EXPECT_LT(brady.rate_bpm, 60) << rhythm_text(brady);
    EXPECT_GT(tachy.rate_bpm, 100) << rhythm_text(tachy);
    EXPECT_LT(tachy.shortest_rr, 0.8) << rhythm_text(tachy);   // the premature beats
    EXPECT_GT(af.rr_variation, 0.1) << rhythm_text(af);
    EXPECT_GT(muse_af.rr_variation, 0.1) << rhythm_text(muse_af);
    EXPECT_LT(sinus.rr_variation, 0.05) << rhythm_text(sinus);
    EXPECT_GT(sinus.rate_bpm, 50) << rhythm_text(sinus);
    EXPECT_LT(sinus.rate_bpm, 100) << rhythm_text(sinus);
}
