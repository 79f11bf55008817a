// diagecg train-tokenizer --config FILE: stage 1, the ECG tokenizer trained as an autoencoder.
#include <filesystem>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "diagecg/log.h"
#include "diagecg/tokenizer-training.h"

namespace diagecg::cli {

namespace {

struct TrainTokenizerOptions {
    std::string config;
    std::string out;
    bool resume = false;
    std::string data;
    std::string split_file;
    int64_t epochs = 0;
    int64_t max_steps = -1;
    int64_t sigkill_at_step = 0;
};

void run_train_tokenizer(const TrainTokenizerOptions& o) {
    TokenizerRunConfig c = load_tokenizer_run_config(o.config);
    if (!o.data.empty()) c.data.path = o.data;
    if (!o.split_file.empty()) c.data.split_file = o.split_file;
    if (o.epochs > 0) c.train.epochs = o.epochs;
    if (o.max_steps >= 0) c.train.max_steps = o.max_steps;
    validate(c.train);
    const std::string out =
        o.out.empty() ? (std::filesystem::path("runs") / std::filesystem::path(o.config).stem()).string() : o.out;
    TrainHooks hooks;
    hooks.sigkill_at_step = o.sigkill_at_step;
    const TrainResult r = train_tokenizer(c, out, o.resume, hooks);
    const nlohmann::json j = {{"run_dir", out},
                              {"model_dir", (std::filesystem::path(out) / "model").string()},
                              {"steps", r.steps},
                              {"epochs_done", r.epochs_done},
                              {"last_loss", r.last_loss},
                              {"best_val_loss", r.best_val_loss},
                              {"best_step", r.best_step},
                              {"early_stopped", r.early_stopped},
                              {"interrupted", r.interrupted},
                              {"seconds", r.seconds}};
    print_result(j.dump(2) + "\n");
    if (r.interrupted) throw std::runtime_error("training interrupted; continue with --resume -o " + out);
}

}  // namespace

void add_train_tokenizer(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<TrainTokenizerOptions>();
    auto* sub = app.add_subcommand("train-tokenizer", "Train the ECG tokenizer (stage 1 autoencoder) from a JSON config");
    sub->add_option("--config", o->config, "run config JSON (see configs/tokenizer-*.json)")->required();
    sub->add_option("-o,--out", o->out, "run directory: metrics.jsonl, checkpoint.pt, model/ (default: runs/<config name>)");
    sub->add_flag("--resume", o->resume, "continue the run in --out from its last checkpoint");
    sub->add_option("--data", o->data, "training records (directory, list file or record); overrides data.path");
    sub->add_option("--split-file", o->split_file, "CSV of id,split rows; overrides data.split_file");
    sub->add_option("--epochs", o->epochs, "overrides train.epochs");
    sub->add_option("--max-steps", o->max_steps, "overrides train.max_steps (0 = epochs decide)");
    sub->add_option("--test-sigkill-at-step", o->sigkill_at_step, "testing: SIGKILL this process after that step")
        ->group("");   // hidden
    sub->callback([&run, o] { run = [o] { run_train_tokenizer(*o); }; });
}

}  // namespace diagecg::cli
