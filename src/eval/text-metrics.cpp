#include "diagecg/eval/text-metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <stdexcept>

#include "diagecg/eval/meteor.h"

namespace diagecg {
namespace {

using NgramCounts = std::map<std::vector<std::string>, long>;

// Counter(nltk.util.ngrams(tokens, n)); empty when the sentence is shorter than n.
NgramCounts count_ngrams(const Tokens& tokens, int n) {
    NgramCounts counts;
    const size_t len = static_cast<size_t>(n);
    for (size_t i = 0; i + len <= tokens.size(); ++i)
        ++counts[std::vector<std::string>(tokens.begin() + i, tokens.begin() + i + len)];
    return counts;
}

long total(const NgramCounts& counts) {
    long sum = 0;
    for (const auto& [ngram, count] : counts) sum += count;
    return sum;
}

// F1 of precision and recall, 0 when both are 0.
double f1(double precision, double recall) {
    return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
}

void check_refs(const std::vector<Tokens>& refs, const char* what) {
    if (refs.empty()) throw std::invalid_argument(std::string(what) + ": no reference given");
}

}  // namespace

Tokens tokenize_report(const std::string& text) {
    Tokens tokens;
    std::string cur;
    for (const char c : text) {
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            cur += c;
        } else if (c >= 'A' && c <= 'Z') {
            cur += static_cast<char>(c - 'A' + 'a');
        } else if (!cur.empty()) {
            tokens.push_back(std::move(cur));
            cur.clear();
        }
    }
    if (!cur.empty()) tokens.push_back(std::move(cur));
    return tokens;
}

double sentence_bleu(const std::vector<Tokens>& refs, const Tokens& hyp, int n) {
    if (n < 1) throw std::invalid_argument("sentence_bleu: n-gram order " + std::to_string(n) + ", expected >= 1");
    check_refs(refs, "sentence_bleu");

    // modified_precision: numerator = hyp k-gram counts clipped by their max count in any one ref,
    // denominator = max(1, number of hyp k-grams)
    std::vector<long> numerator(n), denominator(n);
    for (int k = 1; k <= n; ++k) {
        const NgramCounts counts = count_ngrams(hyp, k);
        NgramCounts max_counts;
        for (const Tokens& ref : refs) {
            const NgramCounts ref_counts = count_ngrams(ref, k);
            for (const auto& [ngram, count] : counts) {
                const auto it = ref_counts.find(ngram);
                long& best = max_counts[ngram];
                best = std::max(best, it == ref_counts.end() ? 0L : it->second);
            }
        }
        long clipped = 0;
        for (const auto& [ngram, count] : counts) clipped += std::min(count, max_counts[ngram]);
        numerator[k - 1] = clipped;
        denominator[k - 1] = std::max(1L, total(counts));
    }
    if (numerator[0] == 0) return 0.0;  // NLTK returns 0 before any smoothing

    // closest_ref_length: the smallest |r - |hyp||, the shorter ref on a tie
    const long hyp_len = static_cast<long>(hyp.size());
    long closest = static_cast<long>(refs[0].size());
    for (const Tokens& ref : refs) {
        const long len = static_cast<long>(ref.size());
        if (std::labs(len - hyp_len) < std::labs(closest - hyp_len) ||
            (std::labs(len - hyp_len) == std::labs(closest - hyp_len) && len < closest))
            closest = len;
    }
    const double bp = hyp_len > closest ? 1.0
                      : hyp_len == 0    ? 0.0
                                        : std::exp(1.0 - static_cast<double>(closest) / static_cast<double>(hyp_len));

    // SmoothingFunction(epsilon=0.1).method1: a zero numerator becomes (0 + 0.1) / denominator
    const double weight = 1.0 / n;
    double log_sum = 0.0;
    for (int k = 0; k < n; ++k) {
        const double p = numerator[k] != 0 ? static_cast<double>(numerator[k]) / static_cast<double>(denominator[k])
                                           : 0.1 / static_cast<double>(denominator[k]);
        log_sum += weight * std::log(p);
    }
    return bp * std::exp(log_sum);
}

double rouge_n(const std::vector<Tokens>& refs, const Tokens& hyp, int n) {
    if (n < 1) throw std::invalid_argument("rouge_n: n-gram order " + std::to_string(n) + ", expected >= 1");
    check_refs(refs, "rouge_n");
    const NgramCounts hyp_counts = count_ngrams(hyp, n);
    const long hyp_total = total(hyp_counts);
    double best = 0.0;
    for (const Tokens& ref : refs) {
        const NgramCounts ref_counts = count_ngrams(ref, n);
        long overlap = 0;
        for (const auto& [ngram, count] : hyp_counts) {
            const auto it = ref_counts.find(ngram);
            if (it != ref_counts.end()) overlap += std::min(count, it->second);
        }
        if (overlap == 0) continue;
        best = std::max(best, f1(static_cast<double>(overlap) / static_cast<double>(hyp_total),
                                 static_cast<double>(overlap) / static_cast<double>(total(ref_counts))));
    }
    return best;
}

double rouge_l(const std::vector<Tokens>& refs, const Tokens& hyp) {
    check_refs(refs, "rouge_l");
    double best = 0.0;
    for (const Tokens& ref : refs) {
        if (hyp.empty() || ref.empty()) continue;
        // lcs[j]: LCS length of the hyp prefix so far and ref[0, j)
        std::vector<size_t> lcs(ref.size() + 1, 0), prev(ref.size() + 1, 0);
        for (size_t i = 0; i < hyp.size(); ++i) {
            std::swap(lcs, prev);
            for (size_t j = 0; j < ref.size(); ++j)
                lcs[j + 1] = hyp[i] == ref[j] ? prev[j] + 1 : std::max(prev[j + 1], lcs[j]);
        }
        const double len = static_cast<double>(lcs[ref.size()]);
        best = std::max(best, f1(len / static_cast<double>(hyp.size()), len / static_cast<double>(ref.size())));
    }
    return best;
}

ReportScores score_report(const std::string& hyp, const std::vector<std::string>& refs, const WordNet* wordnet) {
    if (!wordnet) throw std::invalid_argument("score_report: METEOR needs a WordNet, got null");
    if (refs.empty()) throw std::invalid_argument("score_report: no reference report given");
    const Tokens hyp_tokens = tokenize_report(hyp);
    std::vector<Tokens> ref_tokens;
    for (const std::string& ref : refs) ref_tokens.push_back(tokenize_report(ref));

    ReportScores s;
    for (int n = 1; n <= 4; ++n) s.bleu[n - 1] = sentence_bleu(ref_tokens, hyp_tokens, n);
    s.meteor = meteor_score(ref_tokens, hyp_tokens, *wordnet);
    s.rouge1 = rouge_n(ref_tokens, hyp_tokens, 1);
    s.rouge2 = rouge_n(ref_tokens, hyp_tokens, 2);
    s.rougeL = rouge_l(ref_tokens, hyp_tokens);
    return s;
}

ReportScores mean_scores(const std::vector<ReportScores>& scores) {
    if (scores.empty()) throw std::invalid_argument("mean_scores: no samples");
    ReportScores mean;
    for (const ReportScores& s : scores) {
        for (int n = 0; n < 4; ++n) mean.bleu[n] += s.bleu[n];
        mean.meteor += s.meteor;
        mean.rouge1 += s.rouge1;
        mean.rouge2 += s.rouge2;
        mean.rougeL += s.rougeL;
    }
    const double count = static_cast<double>(scores.size());
    for (double& b : mean.bleu) b /= count;
    mean.meteor /= count;
    mean.rouge1 /= count;
    mean.rouge2 /= count;
    mean.rougeL /= count;
    return mean;
}

}  // namespace diagecg
