// diagecg finetune --config FILE: stage 3, LoRA instruction tuning for ECG question answering or reports.
#include <filesystem>
#include <memory>

#include "commands.h"
#include "diagecg/train/distributed.h"
#include "diagecg/train/llm-training.h"

namespace diagecg::cli {

namespace {

struct FinetuneOptions {
    TrainRunFlags run;
    std::string model;
    std::string precision;
    std::string device;
};

void run_finetune_cmd(const FinetuneOptions& o) {
    FinetuneRunConfig c = load_finetune_run_config(o.run.config);
    if (!o.model.empty()) c.model = o.model;
    if (!o.precision.empty()) c.precision = o.precision;
    if (!o.device.empty()) c.device = o.device;
    o.run.apply(c.train);
    const std::string out = o.run.out_dir();
    auto dist = init_distributed_from_env(training_device(c.device).is_cuda());
    const TrainResult r = run_finetune(c, out, o.run.resume, o.run.hooks(), dist.get());
    finish_training(r, out, dist->is_main());
}

}  // namespace

void add_finetune(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<FinetuneOptions>();
    auto* sub = app.add_subcommand("finetune", "Stage 3: LoRA instruction tuning (ECG-QA or report generation)");
    o->run.add(sub, "configs/finetune-*.json");
    sub->add_option("-m,--model", o->model, "stage-2 model directory; overrides model");
    sub->add_option("--precision", o->precision, "f32 or bf16 (autocast); overrides precision");
    add_device_flag(sub, o->device, "overrides device");
    sub->callback([&run, o] { run = [o] { run_finetune_cmd(*o); }; });
}

}  // namespace diagecg::cli
