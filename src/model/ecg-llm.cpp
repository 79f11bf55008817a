#include "diagecg/model/ecg-llm.h"

#include <algorithm>
#include <filesystem>

#include "diagecg/data/prompt.h"
#include "diagecg/llm/lora.h"
#include "diagecg/train/llm-training.h"
#include "diagecg/util/log.h"

namespace diagecg {

namespace fs = std::filesystem;

namespace {

bool is_model_or_adapter(const fs::path& d) { return fs::exists(d / "config.json") || fs::exists(d / "adapter.json"); }

}  // namespace

EcgLlm::EcgLlm(const std::string& model_arg, const EcgLlmOptions& opts) {
    std::string model_dir = model_arg;
    if (!fs::is_directory(model_dir)) throw std::runtime_error("model directory " + model_dir + " does not exist");
    if (!is_model_or_adapter(model_dir)) {
        if (opts.task.empty() || !is_model_or_adapter(fs::path(model_dir) / opts.task))
            throw std::runtime_error(model_dir + " is not a model directory (no config.json or adapter.json" +
                                     (opts.task.empty() ? std::string(")") : ", nor a " + opts.task + "/ subdirectory with one)"));
        model_dir = (fs::path(model_dir) / opts.task).string();
    }
    std::string base = model_dir;
    std::vector<std::pair<std::string, double>> adapters;
    const std::string adapter = (fs::path(model_dir) / "adapter").string();
    if (!fs::exists(fs::path(model_dir) / "config.json") && fs::exists(adapter + ".json")) {
        base = adapter_base_model(adapter);
        if (base.empty())
            throw std::runtime_error(adapter + ".json: no \"base_model\" recorded; pass the base model with -m and the adapter with --lora");
        adapters.emplace_back(adapter, 1.0);
    }
    for (const auto& a : opts.loras) adapters.push_back(parse_lora_arg(a));
    LoadOptions lo = opts.load;
    for (const auto& a : adapters) lo.base_lora = lo.base_lora && !adapter_replaces_base_lora(a.first);
    model_ = load_model(base, lo);
    if (!model_.vocab.extended())
        throw std::runtime_error(base + " has no ECG tokens: it is a base LLM, not a DiagECG model (run stage 2 first)");
    const bool blocks = has_quantized_weights(model_.model);
    for (const auto& [file, scale] : adapters) {
        const AdapterSpec spec = read_adapter_spec(file);
        ecg_first_ = ecg_first_ || spec.prompt_ecg_first;
        rhythm_ = rhythm_ || spec.prompt_rhythm;
        if (blocks && scale != 1.0)
            throw std::runtime_error(file + ": an adapter with a scale (FILE:SCALE) is merged into dense weights: use --dtype f32 or bf16");
        apply_adapter(model_.model, spec, scale, /*attach=*/blocks);
    }
    const std::string tok = model_ecg_tokenizer_dir(base);
    if (!fs::exists(fs::path(tok) / "config.json"))
        throw std::runtime_error(base + " has no ecg-tokenizer/ (written by stage 2): cannot tokenize ECGs for it");
    cache_ = std::make_unique<EcgTokenCache>(tok, opts.token_cache);
    if (cache_->codebook_size() != model_.vocab.n_ecg_codes())
        throw std::runtime_error(tok + ": the ECG tokenizer has " + std::to_string(cache_->codebook_size()) +
                                 " codes but the model " + std::to_string(model_.vocab.n_ecg_codes()));
    // Answers are text: ECG tokens and markers are never generated.
    for (int64_t id = 0; id < model_.vocab.base_size(); ++id) text_ids_.push_back(id);
    description_ = base;
    for (const auto& [file, scale] : adapters) description_ += " + " + file + (scale != 1.0 ? ":" + std::to_string(scale) : "");
    model_.model->eval();
}

PromptOptions EcgLlm::prompt_options(bool patient_features) const {
    PromptOptions po;
    po.patient_features = patient_features;
    po.ecg_first = ecg_first_;
    po.rhythm = rhythm_;
    return po;
}

std::vector<std::vector<int64_t>> EcgLlm::codes(const std::vector<std::string>& paths,
                                                std::vector<std::pair<std::string, std::string>>* failed,
                                                const RecordInput& input, std::vector<SignalQuality>* quality,
                                                const PreprocessConfig* preprocess, std::vector<std::string>* rhythm) {
    std::vector<RhythmMeasure> m;
    auto c = cache_->codes(paths, failed, 16, input, quality, preprocess, rhythm ? &m : nullptr);
    if (rhythm) {
        rhythm->clear();
        for (const auto& r : m) rhythm->push_back(rhythm_text(r));
    }
    return c;
}

std::vector<GenerateResult> EcgLlm::answer(const std::vector<std::vector<int64_t>>& prompts, int64_t n_predict,
                                           GenerateStats* stats) {
    GenerateOptions g;
    size_t longest = 0;
    for (const auto& p : prompts) longest = std::max(longest, p.size());
    const int64_t ctx = model_.model->config().max_position_embeddings;
    if (static_cast<int64_t>(longest) >= ctx)
        throw std::runtime_error("a prompt of " + std::to_string(longest) + " tokens does not fit the model's context of " + std::to_string(ctx));
    if (static_cast<int64_t>(longest) + n_predict > ctx) {
        log::debug("answers capped at {} tokens by the model's context of {}", ctx - static_cast<int64_t>(longest), ctx);
        n_predict = ctx - static_cast<int64_t>(longest);
    }
    g.n_predict = n_predict;
    g.sampling.temperature = 0;   // greedy, as the paper evaluates
    g.allowed_ids = text_ids_;
    if (const auto tpl = prompt_chat_template(*model_.tokenizer)) g.stop.push_back(tpl->end_of_turn());  // the answer's turn ends
    torch::NoGradGuard ng;
    return generate(model_.model, *model_.tokenizer, prompts, g, {}, stats);
}

}  // namespace diagecg
