// Batch `report` and `qa`: many records (or a questions file) through one model load, batched as in eval,
// one JSON line per sample to stdout or to -o FILE (appended and synced batch by batch; a re-run with the same
// -o skips the ids already there, so a run killed at any moment loses and repeats nothing), progress with ETA
// on stderr. The run's settings are saved beside -o as FILE.run.json; a resume with other settings is refused.
// Each line says which part of each record the model read ("window").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "commands.h"

namespace diagecg::cli {

struct BatchFlags {
    std::string out;                    // -o: JSONL file (resumable); "" = stdout
    int64_t batch_size = 8;
    bool force_new = false;
    bool allow_missing = false;         // exit 0 even when some samples were skipped
    int64_t sigkill_after_batches = 0;  // testing
    void add(CLI::App* sub);
};

// One sample of a batch run.
struct BatchJob {
    std::string id;                     // unique in the run, independent of the cwd
    std::vector<std::string> records;   // absolute paths
    std::string question;               // qa
    nlohmann::json extra = nlohmann::json::object();   // more fields for its output line (in_domain, ...)
    std::optional<PreprocessConfig> preprocess;         // set by run_batch (flags, windows)
};

// Record arguments (files, directories, list files, globs) -> one job per record, id = the record's resolved
// absolute path ("#2", "#3" for a record listed again).
std::vector<BatchJob> record_jobs(const std::vector<std::string>& args, const std::string& question);

// True when `args` name exactly `max_records` or fewer plain record files (no directory, list or glob): the
// single-answer form of report/qa.
bool plain_records(const std::vector<std::string>& args, size_t max_records);

// Loads the model once, expands --all-windows (ids RECORD@STARTs), skips the ids already in -o, answers the rest.
void run_batch(PromptTask task, const std::vector<BatchJob>& jobs, const ModelFlags& model, const PatientFlags& patient,
               const ReadFlags& read, const InputWindowFlags& window, bool no_patient, int64_t n_predict, const BatchFlags& flags);

}  // namespace diagecg::cli
