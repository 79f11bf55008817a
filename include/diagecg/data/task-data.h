// Samples of the two instruction tasks, read one way for training (stage 3) and evaluation:
//   QA      ECG-QA JSON as published (template_id, question_id, sample_id, question_type, attribute_type,
//           question, answer [list], ecg_id [1 or 2 PTB-XL ids] or our "record" [1 or 2 record files], attribute)
//   report  a JSON array or JSONL of {"ecg_id": N | "record": PATH, "report": TEXT, "id"?: ..., "patient"?:
//           {"age", "sex" (0 male, 1 female), "height", "weight"}}; a relative record path is taken from the
//           data file's folder
// A directory in the file list stands for the .json/.jsonl files in it, sorted (ECG-QA publishes each split
// as numbered chunks). Records of ecg_ids are looked up under `ecg_dir` (index_ecg_records).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "diagecg/data/prompt.h"

namespace diagecg {

struct TaskSample {
    std::string id;                     // QA: "q<question_id>-s<sample_id>"; reports: "id", else ecg_id or record
    std::vector<std::string> records;   // one or two ECG record files
    std::vector<int64_t> ecg_ids;       // when known (patient features, splits)
    std::string question;               // QA
    std::vector<std::string> answers;   // QA: the reference answer list
    std::string target;                 // QA: join_answer(answers); report: the report text
    std::string patient;                // features given with the sample ("" = look up ecg_ids[0] elsewhere)
    std::string question_type;          // QA: single-verify, ..., comparison_irrelevant-query
    std::string attribute_type;         // QA: scp_code, noise, ...
    int template_id = -1;               // QA
};

// Reads every sample; samples whose records cannot be found are left out, counted in `n_missing` and
// logged. Throws std::runtime_error for malformed files (naming file and item). With resolve_records false
// (text-only uses, e.g. baselines), records are not looked up and `records` stays empty for ecg_id samples.
std::vector<TaskSample> read_task_samples(PromptTask task, const std::vector<std::string>& files, const std::string& ecg_dir,
                                          int64_t* n_missing = nullptr, bool resolve_records = true);

}  // namespace diagecg
