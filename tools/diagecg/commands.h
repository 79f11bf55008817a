// Subcommand registration for the diagecg CLI. Each add_* registers one subcommand on `app`; when it
// is chosen, its callback stores the work in `run`, which main() calls after parsing and set-up.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "diagecg/data/prompt.h"
#include "diagecg/ecg/ecg-preprocess.h"
#include "diagecg/ecg/ecg-record.h"
#include "diagecg/tokenizer/ecg-tokenizer-io.h"
#include "diagecg/train/trainer.h"

namespace diagecg::cli {

using RunFn = std::function<void()>;

// The bundled models, found from the binary's location (default-paths.cpp): <prefix>/share/diagecg/models/NAME when
// installed, else the build tree's models/NAME; $DIAGECG_MODEL overrides the DiagECG model.
std::string default_model_dir();        // models/diagecg-v2
std::string default_tokenizer_dir();    // models/ecg-tokenizer

void add_inspect(CLI::App& app, RunFn& run);
void add_plot(CLI::App& app, RunFn& run);
void add_generate(CLI::App& app, RunFn& run);
void add_perplexity(CLI::App& app, RunFn& run);
void add_bench(CLI::App& app, RunFn& run);
void add_train_tokenizer(CLI::App& app, RunFn& run);
void add_tokenize(CLI::App& app, RunFn& run);
void add_tokenize_text(CLI::App& app, RunFn& run);
void add_quantize(CLI::App& app, RunFn& run);
void add_reconstruct(CLI::App& app, RunFn& run);
void add_convert_tokenizer(CLI::App& app, RunFn& run);
void add_pretrain(CLI::App& app, RunFn& run);
void add_finetune(CLI::App& app, RunFn& run);
void add_lora(CLI::App& app, RunFn& run);
void add_report_data(CLI::App& app, RunFn& run);
void add_text_corpus(CLI::App& app, RunFn& run);
void add_init_llm(CLI::App& app, RunFn& run);
void add_ecgqa_generate(CLI::App& app, RunFn& run);
void add_qa(CLI::App& app, RunFn& run);
void add_report(CLI::App& app, RunFn& run);
void add_eval(CLI::App& app, RunFn& run);

// Record arguments -> record files: a directory expands to the records in it, a .txt/.list file to the
// records it lists, a quoted glob ("data/*.hea") to its matches; with a split file, only the records of `split`
// are kept.
std::vector<std::string> expand_records(const std::vector<std::string>& args, const std::string& split_file = "",
                                        const std::string& split = "");

// --sample-rate, --leads, --units, --layout: for formats that do not carry them (CSV, NPY).
struct ReadFlags {
    double sample_rate_hz = 0;      // 0 = from the file
    std::string leads;              // comma-separated lead names
    std::string units = "mV";
    std::string layout = "auto";
    bool allow_poor_signal = false; // feed records whose signal quality is poor to the model (with a warning)
    ReadOptions options() const;
    RecordInput input() const { return {options(), allow_poor_signal}; }
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

// The model input's preprocessing at inference (report, qa, eval): PreprocessFlags over the model's recorded
// preprocessing (its ECG tokenizer's config), then --window START[:DURATION] (seconds) and --all-windows (one
// sample per window of the record; batch-answers.cpp).
struct InputWindowFlags {
    PreprocessFlags prep;
    std::string window;             // "START:DURATION" or "START" (s); "" = by the length policy
    bool all_windows = false;
    void add(CLI::App* sub, bool with_all_windows);
    bool any() const;               // a flag changes the model's preprocessing
    // model's < --config (its keys) < --length-policy/--bandpass/--notch < --window; validated.
    PreprocessConfig resolve(const PreprocessConfig& model) const;
    nlohmann::json settings() const;   // the flags as given (run settings, eval provenance)
};
// The window a record was read in, as JSON {"start_s", "duration_s", "record_duration_s"}; warns on stderr when
// a record longer than the model's window was cut without --window/--all-windows.
nlohmann::json describe_window(const EcgRecord& rec, const PreprocessConfig& cfg, const InputWindowFlags* flags);

// Calls fn on consecutive slices of at most `batch` paths (batch > 0, else an error).
void for_each_batch(const std::vector<std::string>& paths, int64_t batch,
                    const std::function<void(const std::vector<std::string>&)>& fn);

// Flags every training command shares: --config, -o, --resume, --epochs, --max-steps (and a hidden test hook).
struct TrainRunFlags {
    std::string config;
    std::string out;
    bool resume = false;
    int64_t epochs = 0;
    int64_t max_steps = -1;
    int64_t sigkill_at_step = 0;
    void add(CLI::App* sub, const std::string& config_hint);
    void apply(TrainConfig& c) const;        // the overrides, then validate()
    std::string out_dir() const;             // -o, or runs/<config file stem>
    TrainHooks hooks() const;
};
// Prints the run's result as JSON (rank 0 only) and throws when it was interrupted.
void finish_training(const TrainResult& r, const std::string& out, bool print);

// --device cpu|cuda|cuda:N, checked while the flags are parsed (parse_device): a CUDA device with a CPU-only
// LibTorch or without a visible GPU is one usage error. `what` is appended to the help ("overrides device").
void add_device_flag(CLI::App* sub, std::string& device, const std::string& what = "");

// Flags of the commands that run a DiagECG model: -m, --lora, --dtype, --device, --token-cache.
struct ModelFlags {
    std::string model_dir = default_model_dir();
    std::vector<std::string> loras;
    std::string dtype = "f32";
    std::string device = "cpu";
    std::string token_cache;
    void add(CLI::App* sub);
};

// Patient features for a prompt: --age/--sex/--height/--weight, else the record's header, else unknown.
struct PatientFlags {
    double age = -1, height_cm = -1, weight_kg = -1;
    std::string sex;                         // "male" | "female" | ""
    void add(CLI::App* sub);
    std::string text(const EcgRecord* header) const;   // "age 56, female, ..." (prompt.h's Background line)
};

// One answer (QA) or report for one or two records: the model, the prompt (patient features from flags or the
// first record's header) and greedy decoding (cmd-qa.cpp; shared by qa and report).
struct SingleAnswer {
    std::string text, patient, stop_reason, model;
    int64_t n_tokens = 0;
    std::vector<SignalQuality> quality;     // per record
    nlohmann::json window;                  // per record (describe_window): one object for one record, else a list
    std::vector<std::string> rhythm;        // per record, the rhythm line the prompt carried (empty: the model reads none)
    nlohmann::json quality_json() const;    // one object for one record, else a list
    std::string quality_note() const;       // "" unless a record's quality is poor (read with --allow-poor-signal)
};
// The "rhythm" field of qa/report/eval output: the line for one record, a list for two; null when there is none.
nlohmann::json rhythm_json(const std::vector<std::string>& rhythm);
SingleAnswer answer_one(const ModelFlags& model, const PatientFlags& patient, const ReadFlags& read, PromptTask task,
                        const std::vector<std::string>& records, const std::string& question, int64_t n_predict, bool no_patient,
                        const InputWindowFlags* window = nullptr);

// Writes `text` to stdout and flushes (results only; logs go to stderr).
void print_result(const std::string& text);

}  // namespace diagecg::cli
