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
