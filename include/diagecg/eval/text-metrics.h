// Text metrics for generated ECG reports, per sample: sentence BLEU-1..4 and METEOR with the semantics
// of NLTK 3.8 (nltk.translate.bleu_score, nltk.translate.meteor_score; METEOR lives in meteor.h), and
// ROUGE-1/2/L F1. tests/nltk-metrics.py computes the same numbers with NLTK; tests/test-text-metrics.cpp
// requires agreement to 1e-6 on hundreds of PTB-XL report pairs.
#pragma once

#include <string>
#include <vector>

namespace diagecg {

class WordNet;

using Tokens = std::vector<std::string>;

// The one tokenisation every metric here uses (tests/nltk-metrics.py mirrors it as
// `[t.lower() for t in re.findall(r"[A-Za-z0-9]+", text)]`): a token is a maximal run of ASCII letters and
// digits, lower-cased; every other byte (whitespace, punctuation, any byte >= 0x80) only separates tokens.
// "ST-T changes in V4,5." -> [st, t, changes, in, v4, 5]. NLTK's word_tokenize is not used: it needs the
// punkt model and keeps punctuation as tokens.
Tokens tokenize_report(const std::string& text);

// Sentence BLEU-n, n in 1..4 (any n >= 1 works), as
//   nltk.translate.bleu_score.sentence_bleu(refs, hyp, weights=(1/n,)*n,
//                                           smoothing_function=SmoothingFunction().method1)
// p_k: modified k-gram precision (hyp counts clipped by the max count in any one ref) over
//      max(1, number of hyp k-grams); a p_k with no match becomes 0.1 / denominator (method1, epsilon 0.1).
// BP:  1 if |hyp| > r, else exp(1 - r/|hyp|); r: ref length closest to |hyp|, the shorter one on a tie.
// BLEU-n = BP * exp(sum_k log(p_k) / n). As in NLTK it is exactly 0 when no unigram matches (so also for an
// empty hyp), smoothing notwithstanding. Throws std::invalid_argument for n < 1 or no refs.
double sentence_bleu(const std::vector<Tokens>& refs, const Tokens& hyp, int n);

// ROUGE-N F1 (as google-research rouge_score without stemming): overlap = sum over the hyp's n-grams of
// min(count in hyp, count in ref); P = overlap / hyp n-grams, R = overlap / ref n-grams, F1 = 2PR / (P + R),
// 0 when nothing overlaps. Several refs: the max F1 over refs. Throws std::invalid_argument for n < 1 or
// no refs.
double rouge_n(const std::vector<Tokens>& refs, const Tokens& hyp, int n);

// ROUGE-L F1: as rouge_n with overlap = length of the longest common subsequence of hyp and ref, P over
// |hyp|, R over |ref|. Several refs: the max F1 over refs. Throws std::invalid_argument for no refs.
double rouge_l(const std::vector<Tokens>& refs, const Tokens& hyp);

struct ReportScores {
    double bleu[4] = {0, 0, 0, 0};  // BLEU-1..4, see sentence_bleu
    double meteor = 0;              // see meteor_score in meteor.h
    double rouge1 = 0;              // ROUGE-1 F1
    double rouge2 = 0;              // ROUGE-2 F1
    double rougeL = 0;              // ROUGE-L F1
};

// All metrics of one generated report against its reference report(s), each text tokenised with
// tokenize_report. wordnet feeds METEOR's synonym stage and must not be null (std::invalid_argument);
// refs must not be empty (std::invalid_argument).
ReportScores score_report(const std::string& hyp, const std::vector<std::string>& refs, const WordNet* wordnet);

// Field-wise mean over samples (macro average of the per-sample scores). Throws std::invalid_argument when
// scores is empty.
ReportScores mean_scores(const std::vector<ReportScores>& scores);

}  // namespace diagecg
