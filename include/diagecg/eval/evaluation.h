// Evaluation bookkeeping (REFERENCE.md section 6): predictions files, scoring, summaries and baselines.
//
// A predictions file is JSONL, one object per sample, appended as batches finish:
//   {"id", "task", "records" (absolute paths), "ecg_id" (when known), "question_type", "attribute_type",
//    "template_id", "question", "prediction", "reference", "correct" (QA), "scores" (report: bleu1..4, meteor,
//    rouge1, rouge2, rougeL; absent when the sample has no reference report), "labels" (report, when known:
//    {"source", "positive", "scorable"}: the record's classes of report-labels.h), "signal_quality",
//    "ecg_shuffled" (eval --shuffle-ecgs: the records shown came from another sample)}
// A run killed mid-write leaves at most a partial last line; reading with `repair` drops it (and truncates the
// file), so a restarted run redoes exactly the unfinished samples: nothing lost, nothing twice.
//
// QA is scored by exact match of answer sets (order-free, case/whitespace-normalised: answers_match);
// reports by sentence BLEU-1..4 (NLTK method1), METEOR (NLTK), ROUGE-1/2/L F1, averaged over samples.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diagecg/data/task-data.h"
#include "diagecg/eval/text-metrics.h"

namespace diagecg {

class WordNet;

struct Prediction {
    std::string id;
    std::string task;                   // "qa" | "report"
    std::vector<std::string> records;   // the sample's record file(s), absolute
    std::vector<int64_t> ecg_ids;       // when the data gave them
    std::string question_type, attribute_type;
    int template_id = -1;
    std::string question;
    std::string prediction;             // generated text
    std::string reference;              // QA: join_answer(reference answers); report: the reference report
    bool correct = false;               // QA
    ReportScores scores;                // report (meaningful only when `reference` is not empty)
    nlohmann::json labels;              // report: {"source", "positive", "scorable"} or null (unknown)
    bool ecg_shuffled = false;          // the records are another sample's (eval --shuffle-ecgs)
    nlohmann::json signal_quality;      // the ECG(s)' signal-quality verdict and reasons (null if not recorded)
    nlohmann::json rhythm;              // the rhythm line(s) the prompt carried (null: the model reads none)
};
nlohmann::json prediction_to_json(const Prediction& p);
Prediction prediction_from_json(const nlohmann::json& j);

// Scores a generated text against a sample (QA: answer sets; report: the metrics, `wordnet` required; a report
// sample without a reference report gets no metrics, only its labels when the caller sets them).
Prediction score_prediction(PromptTask task, const TaskSample& s, const std::string& generated, const WordNet* wordnet);

// A predictions file: a header line {"diagecg_predictions": 1, ...provenance: model, weights hash, task, data,
// options} written first, then one Prediction per line.
struct PredictionsFile {
    nlohmann::json header;              // null when the file has none (written before headers, or empty)
    std::vector<Prediction> predictions;
};
// Reads a predictions file ("" or missing: none). With `repair`, an unparsable last line (a killed write) is
// dropped and the file rewritten without it; an unparsable line elsewhere is an error naming the line. Every
// line is validated: QA `correct` is recomputed from the prediction and reference, report scores must lie in
// [0, 1].
PredictionsFile read_predictions_file(const std::string& path, bool repair);
std::vector<Prediction> read_predictions(const std::string& path, bool repair);   // the predictions only
// Checks a prediction read from a file (see read_predictions_file); throws std::runtime_error on a bad score.
void validate_prediction(Prediction& p);
// Appends lines and flushes them to disk (fsync) before returning.
void append_predictions(const std::string& path, const std::vector<Prediction>& preds);

// Baselines that give the numbers meaning: QA, the majority answer of each template (ties: the answer that
// sorts first); reports, the consensus report: the training report with the highest mean ROUGE-L F1 against
// the other training reports (a report repeated k times scores 1 against its copies, so a frequent report wins;
// when every report is distinct it is the most typical one). At most the first 2,000 distinct reports, in
// sorted order, are compared. Built from training samples (or, lacking those, the evaluated samples
// themselves, which the summary then says).
struct Baselines {
    std::string source;                                 // where they came from
    std::map<int, std::string> qa_majority;             // template_id -> serialised answer
    std::string report_consensus;
};
Baselines build_baselines(PromptTask task, const std::vector<TaskSample>& samples, const std::string& source);

// Summary of a set of predictions (duplicated ids count once: the last one). QA: accuracy overall, per question
// type, per attribute type and per template, with the baseline's accuracy on the same samples. Reports: mean
// metrics and the baseline's over the samples that have a reference report, and, over the samples with labels,
// the clinical label accuracy (report-labels.h) of the generated reports, of the reference reports (same
// samples, where they exist) and of the baseline report.
nlohmann::json summarize(const std::vector<Prediction>& preds, const Baselines* baselines, const WordNet* wordnet);
std::string format_summary(const nlohmann::json& summary);   // a plain-text table (+ "covers" when the summary has it)

// "i/n" -> {i, n} with 0 <= i < n; throws std::invalid_argument.
std::pair<int64_t, int64_t> parse_shard(const std::string& s);

}  // namespace diagecg
