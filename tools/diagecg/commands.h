// Subcommand registration for the diagecg CLI. Each add_* registers one subcommand on `app`; when it
// is chosen, its callback stores the work in `run`, which main() calls after parsing and set-up.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "diagecg/ecg-preprocess.h"
#include "diagecg/ecg-record.h"

namespace diagecg::cli {

using RunFn = std::function<void()>;

#ifndef DIAGECG_DEFAULT_TOKENIZER
#define DIAGECG_DEFAULT_TOKENIZER "models/ecg-tokenizer"
#endif

void add_inspect(CLI::App& app, RunFn& run);
void add_plot(CLI::App& app, RunFn& run);
void add_generate(CLI::App& app, RunFn& run);
void add_bench(CLI::App& app, RunFn& run);
void add_train_tokenizer(CLI::App& app, RunFn& run);
void add_tokenize(CLI::App& app, RunFn& run);
void add_reconstruct(CLI::App& app, RunFn& run);

// Record arguments -> record files: a directory expands to the records in it, a .txt/.list file to the
// records it lists; with a split file, only the records of `split` are kept.
std::vector<std::string> expand_records(const std::vector<std::string>& args, const std::string& split_file = "",
                                        const std::string& split = "");

// --sample-rate, --leads, --units, --layout: for formats that do not carry them (CSV, NPY).
struct ReadFlags {
    double sample_rate_hz = 0;      // 0 = from the file
    std::string leads;              // comma-separated lead names
    std::string units = "mV";
    std::string layout = "auto";
    ReadOptions options() const;
};
void add_read_options(CLI::App* sub, ReadFlags& flags);

// Model-input preprocessing: --config FILE (JSON, see configs/) then --length-policy, --bandpass, --notch.
struct PreprocessFlags {
    std::string config_path;
    std::string length_policy;      // empty = from config/default
    bool bandpass = false;
    double notch_hz = -1;           // < 0 = from config/default
    PreprocessConfig resolve() const;
};
void add_preprocess_options(CLI::App* sub, PreprocessFlags& flags);

// Calls fn on consecutive slices of at most `batch` paths (batch > 0, else an error).
void for_each_batch(const std::vector<std::string>& paths, int64_t batch,
                    const std::function<void(const std::vector<std::string>&)>& fn);

// Writes `text` to stdout and flushes (results only; logs go to stderr).
void print_result(const std::string& text);

}  // namespace diagecg::cli
