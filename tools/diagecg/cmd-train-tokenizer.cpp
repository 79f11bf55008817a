// diagecg train-tokenizer --config FILE: stage 1, the ECG tokenizer trained as an autoencoder.
#include <filesystem>
#include <memory>

#include "commands.h"
#include "diagecg/train/tokenizer-training.h"
#include "diagecg/util/device.h"
#include "diagecg/util/log.h"

namespace diagecg::cli {

namespace {

struct TrainTokenizerOptions {
    TrainRunFlags run;
    std::string data;
    std::string split_file;
    std::string device = "cpu";
};

void run_train_tokenizer(const TrainTokenizerOptions& o) {
    TokenizerRunConfig c = load_tokenizer_run_config(o.run.config);
    if (!o.data.empty()) c.data.path = o.data;
    if (!o.split_file.empty()) c.data.split_file = o.split_file;
    o.run.apply(c.train);
    const std::string out = o.run.out_dir();
    finish_training(train_tokenizer(c, out, o.run.resume, o.run.hooks(), parse_device(o.device)), out, true);
}

}  // namespace

void add_train_tokenizer(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<TrainTokenizerOptions>();
    auto* sub =
        app.add_subcommand("train-tokenizer", "Train the ECG tokenizer (stage 1 autoencoder) from a JSON config");
    o->run.add(sub, "configs/tokenizer-*.json");
    sub->add_option("--data", o->data, "training records (directory, list file or record); overrides data.path");
    sub->add_option("--split-file", o->split_file, "CSV of id,split rows; overrides data.split_file");
    add_device_flag(sub, o->device);
    sub->callback([&run, o] { run = [o] { run_train_tokenizer(*o); }; });
}

}  // namespace diagecg::cli
