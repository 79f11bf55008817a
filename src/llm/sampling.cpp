#include "diagecg/llm/sampling.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <unordered_set>

namespace diagecg {

void SamplingParams::validate() const {
    if (!(temperature >= 0.0f)) throw std::invalid_argument("--temp must be >= 0, got " + std::to_string(temperature));
    if (top_k < 0) throw std::invalid_argument("--top-k must be >= 0, got " + std::to_string(top_k));
    if (!(top_p > 0.0f && top_p <= 1.0f)) throw std::invalid_argument("--top-p must be in (0, 1], got " + std::to_string(top_p));
    if (!(min_p >= 0.0f && min_p <= 1.0f))
        throw std::invalid_argument("--min-p must be in [0, 1], got " + std::to_string(min_p));
    if (!(repetition_penalty > 0.0f)) throw std::invalid_argument("--repeat-penalty must be > 0, got " + std::to_string(repetition_penalty));
    if (repetition_window < 0) throw std::invalid_argument("--repeat-last-n must be >= 0");
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) { params_.validate(); }

int64_t Sampler::sample(float* logits, int64_t n_vocab, const std::vector<int64_t>& history) {
    if (params_.repetition_penalty != 1.0f && !history.empty()) {
        std::unordered_set<int64_t> seen;
        const size_t from = history.size() > static_cast<size_t>(params_.repetition_window)
                                ? history.size() - params_.repetition_window : 0;
        for (size_t i = from; i < history.size(); ++i) {
            const int64_t t = history[i];
            if (t < 0 || t >= n_vocab || !seen.insert(t).second) continue;
            float& l = logits[t];
            l = l > 0 ? l / params_.repetition_penalty : l * params_.repetition_penalty;
        }
    }
    if (params_.temperature == 0.0f) {
        return std::max_element(logits, logits + n_vocab) - logits;   // first maximum on ties
    }
    cand_.resize(n_vocab);
    for (int64_t i = 0; i < n_vocab; ++i) cand_[i] = {logits[i], i};
    auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
    int64_t n = n_vocab;
    if (params_.top_k > 0 && params_.top_k < n) {
        std::partial_sort(cand_.begin(), cand_.begin() + params_.top_k, cand_.end(), by_logit);
        n = params_.top_k;
    } else {
        std::sort(cand_.begin(), cand_.end(), by_logit);
    }
    const float max_l = cand_[0].first;
    // min-p (llama.cpp's order: top-k, top-p, min-p, temperature; here min-p is applied on the logits, which
    // is the same cut): p_i >= min_p * p_max  <=>  l_i >= l_max + ln(min_p), independent of normalisation
    int64_t n_min_p = n;
    if (params_.min_p > 0.0f) {
        const float min_l = max_l + std::log(params_.min_p);
        while (n_min_p > 1 && cand_[n_min_p - 1].first < min_l) --n_min_p;
    }
    // softmax over the n best at temperature T
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const float p = std::exp((cand_[i].first - max_l) / params_.temperature);
        cand_[i].first = p;
        sum += p;
    }
    // top-p: keep the smallest prefix whose mass reaches top_p
    if (params_.top_p < 1.0f) {
        double acc = 0.0;
        int64_t keep = n;
        for (int64_t i = 0; i < n; ++i) {
            acc += cand_[i].first / sum;
            if (acc >= params_.top_p) { keep = i + 1; break; }
        }
        n = keep;
    }
    if (n_min_p < n) n = n_min_p;
    sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += cand_[i].first;
    std::uniform_real_distribution<double> uni(0.0, sum);
    double r = uni(rng_);
    for (int64_t i = 0; i < n; ++i) {
        r -= cand_[i].first;
        if (r <= 0.0) return cand_[i].second;
    }
    return cand_[n - 1].second;
}

}  // namespace diagecg
