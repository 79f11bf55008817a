// Samples of the two instruction tasks, read one way for training (stage 3), evaluation and batch qa/report.
// A data file is a JSON array of objects or JSONL (one object per line); one schema for both tasks:
//   QA      "question" (required), the ECG(s): "record" (a path or a list of 1-2 paths) or "records" (a list)
//           or "ecg_id" (a PTB-XL id or a list of 1-2), "answer" (a list of strings or one string "a; b";
//           required for training and eval), optional "id", "patient"; ECG-QA's published fields
//           (template_id, question_id, sample_id, question_type, attribute_type, attribute, ecg_path) are read
//           when present, else the template is found from the question (question-family.h)
//   report  the ECG ("record" or "ecg_id"), "report" (required for training and eval), optional "id",
//           "patient", "split"
//   "patient" is {"age", "sex" (0 male, 1 female), "height", "weight"}. A relative record path is taken from the
//   data file's folder. Any other field, or a required one missing, is an error naming the file, the item (or
//   line) and the field.
// Sample ids do not depend on the cwd: "id", else ECG-QA's "q<question_id>-s<sample_id>", else the ecg_id(s) or
// the records' absolute paths (joined by '+'; QA adds "|" and the question). A repeated id gets "#2", "#3".
// A directory in the file list stands for the .json/.jsonl files in it, sorted (ECG-QA publishes each split
// as numbered chunks). Records of ecg_ids are looked up under `ecg_dir` (index_ecg_records).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "diagecg/data/prompt.h"

namespace diagecg {

struct TaskSample {
    std::string id;                     // see above
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
// With require_targets false (batch qa/report), "answer"/"report" may be absent (target stays empty).
std::vector<TaskSample> read_task_samples(PromptTask task, const std::vector<std::string>& files, const std::string& ecg_dir,
                                          int64_t* n_missing = nullptr, bool resolve_records = true,
                                          bool require_targets = true);

}  // namespace diagecg
