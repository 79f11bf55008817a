// diagecg lora merge: a base model plus LoRA adapters -> one merged model directory.
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "diagecg/llm/llm-io.h"
#include "diagecg/llm/lora.h"
#include "diagecg/train/llm-training.h"
#include "diagecg/util/log.h"

namespace diagecg::cli {

namespace fs = std::filesystem;

namespace {

struct LoraMergeOptions {
    std::string base;
    std::vector<std::string> loras;
    std::string out;
};

void run_merge(const LoraMergeOptions& o) {
    std::string base = o.base;
    if (base.empty()) base = adapter_base_model(parse_lora_arg(o.loras.at(0)).first);
    if (base.empty()) throw std::invalid_argument("no base model: pass -m (the adapter does not record one)");
    if (fs::exists(o.out) && !fs::is_empty(o.out)) throw std::runtime_error(o.out + " exists and is not empty");
    LoadOptions lo;
    for (const auto& arg : o.loras) lo.base_lora = lo.base_lora && !adapter_replaces_base_lora(parse_lora_arg(arg).first);
    auto m = load_model(base, lo);
    for (const auto& arg : o.loras) {
        const auto [file, scale] = parse_lora_arg(arg);
        apply_adapter(m.model, file, scale);
    }
    // Written into a temp folder and renamed, so a crash leaves no half model.
    const std::string tmp = o.out + ".tmp";
    fs::remove_all(tmp);
    save_model(m, tmp);
    const std::string tok = model_ecg_tokenizer_dir(base);
    if (fs::exists(fs::path(tok) / "config.json")) {
        fs::create_directories(model_ecg_tokenizer_dir(tmp));
        for (const auto& e : fs::directory_iterator(tok))
            fs::copy_file(e.path(), fs::path(model_ecg_tokenizer_dir(tmp)) / e.path().filename());
    }
    if (fs::exists(o.out)) fs::remove(o.out);
    fs::rename(tmp, o.out);
    print_result(nlohmann::json{{"base_model", base}, {"adapters", o.loras}, {"out", o.out}}.dump(2) + "\n");
}

}  // namespace

void add_lora(CLI::App& app, RunFn& run) {
    auto* lora = app.add_subcommand("lora", "LoRA adapter tools");
    lora->require_subcommand(1);
    auto o = std::make_shared<LoraMergeOptions>();
    auto* merge = lora->add_subcommand("merge", "Merge LoRA adapters into a base model and write a model directory");
    merge->add_option("-m,--model", o->base, "base model directory (default: the one the first adapter records)");
    merge->add_option("--lora", o->loras, "adapter FILE or FILE:SCALE (repeatable; applied in order)")->required();
    merge->add_option("-o,--out", o->out, "output model directory (must not exist or be empty)")->required();
    merge->callback([&run, o] { run = [o] { run_merge(*o); }; });
}

}  // namespace diagecg::cli
