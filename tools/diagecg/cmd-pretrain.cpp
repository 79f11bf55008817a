// diagecg pretrain --config FILE: stage 2, next-ECG-token pretraining of an LLM with an extended vocabulary.
// diagecg init-llm --config FILE -o DIR: a language model from scratch (SentencePiece + random weights), the
// base_model of a stage-2 run when no pretrained LLM is at hand.
#include <filesystem>
#include <memory>

#include "commands.h"
#include "diagecg/train/distributed.h"
#include "diagecg/train/init-llm.h"
#include "diagecg/train/llm-training.h"

namespace diagecg::cli {

namespace {

struct PretrainOptions {
    TrainRunFlags run;
    std::string base_model;
    std::string data;
    std::string precision;
    std::string device;
};

void run_pretrain_cmd(const PretrainOptions& o) {
    PretrainRunConfig c = load_pretrain_run_config(o.run.config);
    if (!o.base_model.empty()) c.base_model = o.base_model;
    if (!o.data.empty()) c.data.path = o.data;
    if (!o.precision.empty()) c.precision = o.precision;
    if (!o.device.empty()) c.device = o.device;
    o.run.apply(c.train);
    const std::string out = o.run.out_dir();
    auto dist = init_distributed_from_env(training_device(c.device).is_cuda());
    const TrainResult r = run_pretrain(c, out, o.run.resume, o.run.hooks(), dist.get());
    finish_training(r, out, dist->is_main());
}

struct InitLlmOptions {
    std::string config;
    std::string out;
};

void run_init_llm_cmd(const InitLlmOptions& o) {
    run_init_llm(load_init_llm_config(o.config), o.out);
    print_result(o.out + "\n");
}

}  // namespace

void add_init_llm(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<InitLlmOptions>();
    auto* sub = app.add_subcommand(
        "init-llm", "A language model from scratch: SentencePiece trained on text files + random Llama weights");
    sub->add_option("-c,--config", o->config, "JSON config (see configs/bundled/init-llm.json)")
        ->required()
        ->check(CLI::ExistingFile);
    sub->add_option("-o,--out", o->out, "output model directory")->required();
    sub->callback([&run, o] { run = [o] { run_init_llm_cmd(*o); }; });
}

void add_pretrain(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<PretrainOptions>();
    auto* sub = app.add_subcommand("pretrain",
                                   "Stage 2: ECG-token pretraining of an LLM (vocabulary extension, next-token loss)");
    o->run.add(sub, "configs/pretrain-*.json");
    sub->add_option("--base-model", o->base_model, "overrides base_model");
    sub->add_option("--data", o->data, "ECG records (directory, list file); overrides data.path");
    sub->add_option("--precision", o->precision, "f32 or bf16 (autocast); overrides precision");
    add_device_flag(sub, o->device, "overrides device");
    sub->callback([&run, o] { run = [o] { run_pretrain_cmd(*o); }; });
}

}  // namespace diagecg::cli
