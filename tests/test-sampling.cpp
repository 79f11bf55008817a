#include <cmath>

#include <gtest/gtest.h>

#include "diagecg/llm/sampling.h"

using namespace diagecg;

TEST(Sampling, GreedyPicksMaximum) {
    SamplingParams p;
    p.temperature = 0;
    Sampler s(p);
    std::vector<float> l = {0.1f, 2.0f, -1.0f, 1.9f};
    EXPECT_EQ(s.sample(l.data(), 4, {}), 1);
}

TEST(Sampling, FrequenciesFollowSoftmax) {
    SamplingParams p;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    Sampler s(p);
    std::vector<int> count(3);
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
        std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
        ++count[s.sample(l.data(), 3, {})];
    }
    EXPECT_NEAR(count[0] / double(n), 0.5, 0.02);
    EXPECT_NEAR(count[1] / double(n), 0.3, 0.02);
    EXPECT_NEAR(count[2] / double(n), 0.2, 0.02);
}

TEST(Sampling, TopKAndTopPRestrictTheSupport) {
    SamplingParams p;
    p.temperature = 1.0f;
    p.top_k = 2;
    p.top_p = 1.0f;
    Sampler k2(p);
    p.top_k = 0;
    p.top_p = 0.6f;   // 0.5 alone is < 0.6; 0.5 + 0.3 reaches it
    Sampler tp(p);
    for (int i = 0; i < 2000; ++i) {
        std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
        std::vector<float> l2 = l;
        EXPECT_NE(k2.sample(l.data(), 3, {}), 2);
        EXPECT_NE(tp.sample(l2.data(), 3, {}), 2);
    }
}

TEST(Sampling, RepetitionPenaltyDemotesSeenTokens) {
    SamplingParams p;
    p.temperature = 0;
    p.repetition_penalty = 2.0f;
    Sampler s(p);
    std::vector<float> l = {3.0f, 2.0f, -1.0f};
    EXPECT_EQ(s.sample(l.data(), 3, {0}), 1);   // 3/2 = 1.5 < 2
    EXPECT_FLOAT_EQ(l[0], 1.5f);
}

TEST(Sampling, SeedDeterminesSequence) {
    SamplingParams p;
    p.temperature = 1.0f;
    p.seed = 3;
    Sampler a(p), b(p);
    for (int i = 0; i < 100; ++i) {
        std::vector<float> l(50), l2;
        for (int j = 0; j < 50; ++j) l[j] = std::sin(j * 1.7f + i);
        l2 = l;
        EXPECT_EQ(a.sample(l.data(), 50, {}), b.sample(l2.data(), 50, {}));
    }
}

TEST(Sampling, InvalidParamsRejected) {
    SamplingParams p;
    p.top_p = 0;
    EXPECT_THROW(Sampler{p}, std::invalid_argument);
    p.top_p = 1;
    p.temperature = -1;
    EXPECT_THROW(Sampler{p}, std::invalid_argument);
}

// min-p as llama.cpp defines it: keep tokens with p >= min_p * p_max, p taken before temperature.
TEST(Sampling, MinPKeepsTokensAboveFractionOfMax) {
    const std::vector<float> probs = {0.5f, 0.3f, 0.12f, 0.08f};
    auto counts = [&](float min_p, float temp) {
        SamplingParams p;
        p.temperature = temp;
        p.top_k = 0;
        p.top_p = 1.0f;
        p.min_p = min_p;
        p.seed = 7;
        Sampler s(p);
        std::vector<int> c(probs.size());
        for (int i = 0; i < 20000; ++i) {
            std::vector<float> l;
            for (const float q : probs) l.push_back(std::log(q));
            ++c[s.sample(l.data(), static_cast<int64_t>(l.size()), {})];
        }
        return c;
    };
    // 0.2 * 0.5 = 0.1: keeps 0.5, 0.3, 0.12; drops 0.08
    auto c = counts(0.2f, 1.0f);
    EXPECT_EQ(c[3], 0);
    EXPECT_GT(c[2], 0);
    EXPECT_NEAR(c[0] / 20000.0, 0.5 / 0.92, 0.02);  // the kept mass renormalised
    EXPECT_NEAR(c[2] / 20000.0, 0.12 / 0.92, 0.02);
    // 0.5 * 0.5 = 0.25: keeps 0.5 and 0.3 only, whatever the temperature
    c = counts(0.5f, 3.0f);
    EXPECT_EQ(c[2] + c[3], 0);
    EXPECT_GT(c[1], 0);
    // off: every token appears
    c = counts(0.0f, 1.0f);
    EXPECT_GT(c[3], 0);
    // 1: only the maximum
    c = counts(1.0f, 1.0f);
    EXPECT_EQ(c[0], 20000);
}

TEST(Sampling, MinPOutOfRangeRejected) {
    SamplingParams p;
    p.min_p = -0.1f;
    EXPECT_THROW(Sampler{p}, std::invalid_argument);
    p.min_p = 1.5f;
    EXPECT_THROW(Sampler{p}, std::invalid_argument);
}
