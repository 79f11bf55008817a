// Signal-quality gate: synthetic bad records are caught, real records from every source pass.
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "diagecg/ecg/ecg-preprocess.h"
#include "diagecg/ecg/read-ecg.h"
#include "diagecg/ecg/record-set.h"
#include "diagecg/ecg/signal-quality.h"

namespace fs = std::filesystem;
using namespace diagecg;

namespace {

// A 12-lead, 500 Hz record of `seconds` with a QRS-like pulse every 0.8 s (plus P and T bumps) in mV.
EcgRecord synthetic_ecg(double seconds, uint64_t seed = 1) {
    EcgRecord r;
    r.name = "synthetic";
    r.format = "test";
    r.sample_rate_hz = 500;
    r.n_samples = std::llround(seconds * 500);
    r.lead_names = standard_12_lead_names();
    r.units.assign(12, "mV");
    r.signal.assign(static_cast<size_t>(12 * r.n_samples), 0.0f);
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> noise(0.0f, 0.01f);
    for (int l = 0; l < 12; ++l) {
        const float gain = 0.5f + 0.1f * static_cast<float>(l);
        for (int64_t i = 0; i < r.n_samples; ++i) {
            const double t = static_cast<double>(i) / 500.0;
            const double ph = std::fmod(t, 0.8);
            auto bump = [&](double c, double w, double a) { return a * std::exp(-0.5 * (ph - c) * (ph - c) / (w * w)); };
            r.lead(l)[i] = static_cast<float>(gain * (bump(0.1, 0.02, 0.15) + bump(0.25, 0.008, 1.0) - bump(0.27, 0.008, 0.25) +
                                                      bump(0.5, 0.04, 0.3))) + noise(rng);
        }
    }
    return r;
}

SignalQuality quality_of(const EcgRecord& r) { return preprocess(r).quality; }

}  // namespace

TEST(SignalQuality, CleanSyntheticEcgIsGood) {
    const auto q = quality_of(synthetic_ecg(10));
    EXPECT_EQ(q.verdict, QualityVerdict::kGood) << q.summary();
    ASSERT_EQ(q.leads.size(), 12u);
    for (const auto& l : q.leads) {
        EXPECT_EQ(l.flat, 0.0) << l.lead;
        EXPECT_LT(l.noise, 0.4) << l.lead;
    }
    EXPECT_EQ(q.padding, 0.0);
}

TEST(SignalQuality, AllZeroRecordIsPoor) {
    auto r = synthetic_ecg(10);
    std::fill(r.signal.begin(), r.signal.end(), 0.0f);
    const auto q = quality_of(r);
    EXPECT_EQ(q.verdict, QualityVerdict::kPoor);
    EXPECT_NE(q.summary().find("every lead is flat"), std::string::npos) << q.summary();
}

TEST(SignalQuality, ConstantGainOffsetIsStillFlat) {
    // A gain that zeroes every sample and leaves a baseline offset: constant, not zero.
    auto r = synthetic_ecg(10);
    std::fill(r.signal.begin(), r.signal.end(), 3.25f);
    EXPECT_EQ(quality_of(r).verdict, QualityVerdict::kPoor);
}

TEST(SignalQuality, ElevenFlatLeadsArePoorOneFlatLeadIsBorderline) {
    auto r = synthetic_ecg(10);
    for (int l = 1; l < 12; ++l) std::fill(r.lead(l), r.lead(l) + r.n_samples, 0.0f);
    const auto q = quality_of(r);
    EXPECT_EQ(q.verdict, QualityVerdict::kPoor);
    EXPECT_NE(q.summary().find("11 of 12 leads flat"), std::string::npos) << q.summary();

    auto r1 = synthetic_ecg(10);
    std::fill(r1.lead(6), r1.lead(6) + r1.n_samples, 0.0f);   // V1 disconnected
    const auto q1 = quality_of(r1);
    EXPECT_EQ(q1.verdict, QualityVerdict::kBorderline) << q1.summary();
    EXPECT_NE(q1.summary().find("lead V1 flat"), std::string::npos) << q1.summary();
}

TEST(SignalQuality, WhiteNoiseIsPoor) {
    auto r = synthetic_ecg(10);
    std::mt19937_64 rng(7);
    std::normal_distribution<float> n(0.0f, 1.0f);
    for (auto& v : r.signal) v = n(rng);
    const auto q = quality_of(r);
    EXPECT_EQ(q.verdict, QualityVerdict::kPoor) << q.summary();
    EXPECT_NE(q.summary().find("broadband noise"), std::string::npos) << q.summary();
}

TEST(SignalQuality, ShortRecordPaddedToTheWindowIsPoor) {
    const auto q = quality_of(synthetic_ecg(0.006));   // 3 samples: 6 ms of signal in a 10 s window
    EXPECT_EQ(q.verdict, QualityVerdict::kPoor) << q.summary();
    EXPECT_GT(q.padding, 0.99);
    const auto q8 = quality_of(synthetic_ecg(8.5));    // 15% padding: borderline
    EXPECT_EQ(q8.verdict, QualityVerdict::kBorderline) << q8.summary();
    // Zeros written into a full-length file at the end count as padding too.
    auto r = synthetic_ecg(10);
    for (int l = 0; l < 12; ++l) std::fill(r.lead(l) + 1000, r.lead(l) + r.n_samples, 0.0f);
    EXPECT_EQ(quality_of(r).verdict, QualityVerdict::kPoor) << quality_of(r).summary();
}

TEST(SignalQuality, ClippedLeadIsBorderline) {
    auto r = synthetic_ecg(10);
    float* x = r.lead(1);
    for (int64_t i = 0; i < r.n_samples; ++i) x[i] = std::min(x[i], 0.2f);   // lead II at its rail
    const auto q = quality_of(r);
    EXPECT_EQ(q.verdict, QualityVerdict::kBorderline) << q.summary();
    EXPECT_NE(q.summary().find("clipped lead II"), std::string::npos) << q.summary();
}

TEST(SignalQuality, BundledRealRecordsAreNotPoor) {
    int n = 0;
    for (const auto& e : fs::directory_iterator(DIAGECG_TEST_DATA "/ecg")) {
        const std::string ext = e.path().extension().string();
        if (ext != ".hea" && ext != ".edf") continue;
        const auto q = quality_of(read_ecg(e.path().string()));
        EXPECT_NE(q.verdict, QualityVerdict::kPoor) << e.path() << ": " << q.summary();
        ++n;
    }
    EXPECT_GE(n, 10);
}

// Every real record in the shared data (1,819 PTB-XL, 50 CinC 2021, PTB, LUDB, MUSE) must pass the gate.
TEST(SignalQuality, EverySharedRealRecordPasses) {
    const std::string root = DIAGECG_SHARED_DATA;
    if (!fs::exists(root + "/ptbxl-processed")) GTEST_SKIP() << "shared data not available";
    std::vector<std::string> heads;
    for (const char* dir : {"/ptbxl-processed", "/raw"})
        for (const auto& e : fs::recursive_directory_iterator(root + dir))
            if (e.path().extension() == ".hea") heads.push_back(e.path().string());
    int n = 0, borderline = 0;
    for (const auto& h : heads) {
        const auto q = quality_of(read_ecg(h));
        EXPECT_NE(q.verdict, QualityVerdict::kPoor) << h << ": " << q.summary();
        borderline += q.verdict == QualityVerdict::kBorderline;
        ++n;
    }
    EXPECT_GE(n, 1819 + 50);
    // The hospital exports (MUSE, Philips, HL7 aECG, DICOM, SCP-ECG). A lead set the model cannot take (the
    // paediatric SCP file: V3R, V7, no V3/V5) is refused by preprocessing for its leads, not for its quality.
    int n_hospital = 0;
    for (const auto& e : fs::recursive_directory_iterator(root + "/raw"))
        if (const auto ext = e.path().extension().string(); ext == ".xml" || ext == ".XML" || ext == ".dcm" || ext == ".scp" || ext == ".SCP") {
            const EcgRecord rec = read_ecg(e.path().string());
            SignalQuality q;
            try {
                q = quality_of(rec);
            } catch (const std::invalid_argument& err) {
                std::printf("%s: not a 12-lead set (%s)\n", e.path().filename().c_str(), err.what());
                continue;
            }
            EXPECT_NE(q.verdict, QualityVerdict::kPoor) << e.path() << ": " << q.summary();
            borderline += q.verdict == QualityVerdict::kBorderline;
            ++n_hospital;
        }
    EXPECT_GE(n_hospital, 12);
    std::printf("%d real records (%d hospital exports): %d good, %d borderline, 0 poor expected\n", n + n_hospital, n_hospital,
                n + n_hospital - borderline, borderline);
}
