// Next-token choice from logits: greedy, temperature, top-k, top-p, min-p, repetition penalty.
// The sampler owns its RNG, so the same seed gives the same tokens.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace diagecg {

struct SamplingParams {
    float temperature = 0.8f;       // 0 = greedy
    int top_k = 40;                 // 0 = off
    float top_p = 0.95f;            // 1 = off
    float min_p = 0.0f;             // 0 = off; keeps tokens with p >= min_p * p_max, p before temperature (llama.cpp)
    float repetition_penalty = 1.0f;  // 1 = off (CTRL-style: logit/p if > 0 else logit*p)
    int repetition_window = 64;     // last N tokens that the penalty looks at
    uint64_t seed = 42;
    void validate() const;          // throws std::invalid_argument
};

class Sampler {
public:
    explicit Sampler(const SamplingParams& params);

    // logits: [V] f32 (modified in place by the penalty); history: tokens so far.
    int64_t sample(float* logits, int64_t n_vocab, const std::vector<int64_t>& history);

private:
    SamplingParams params_;
    std::mt19937_64 rng_;
    std::vector<std::pair<float, int64_t>> cand_;   // scratch
};

}  // namespace diagecg
