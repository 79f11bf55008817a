// The composite DiagECG model used by qa, report and eval: an ECG-extended LLM, its ECG tokenizer, LoRA
// adapters, and the prompt builder, answering batches of prompts with greedy decoding (REFERENCE.md section 6).
//
// A model directory is either a full model (config.json, model.safetensors, tokenizer.model, ecg-tokenizer/),
// a stage-3 output (adapter.json + adapter.safetensors), which stands for its recorded base model with the
// adapter applied (a relative base_model path is taken from the adapter's directory), or a bundle holding one
// such directory per task (models/diagecg: base/, qa/, report/), of which the options' task picks one.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "diagecg/data/prompt.h"
#include "diagecg/llm/generate.h"
#include "diagecg/llm/llm-io.h"
#include "diagecg/tokenizer/ecg-token-cache.h"

namespace diagecg {

struct EcgLlmOptions {
    std::vector<std::string> loras;     // extra adapters, "FILE" or "FILE:SCALE", applied in order
    // dtype and device (parse_load_dtype); with kept or quantized blocks ("native", q8_0, ...) the adapters are
    // attached unmerged beside the blocks, as QLoRA trained them, instead of merged into dense weights
    LoadOptions load;
    std::string token_cache;            // codes cache directory ("" = in memory)
    std::string task;                   // "qa" | "report": picks DIR/<task> of a bundle directory
};

class EcgLlm {
public:
    EcgLlm(const std::string& model_dir, const EcgLlmOptions& opts);

    // ECG codes per record (tokenized once per run, or read from the cache); unreadable records get an empty
    // vector and an entry in `failed`.
    // Poor-quality records are refused (listed in `failed`) unless input.allow_poor_signal; `quality` (if given)
    // receives each record's signal-quality verdict and reasons.
    // `preprocess` (if given) replaces the ECG tokenizer's recorded preprocessing (preprocess()). `rhythm` (if
    // given) receives each record's rhythm_text() (ecg/rhythm.h), for prompts of a model that reads it.
    std::vector<std::vector<int64_t>> codes(const std::vector<std::string>& paths,
                                            std::vector<std::pair<std::string, std::string>>* failed = nullptr,
                                            const RecordInput& input = {}, std::vector<SignalQuality>* quality = nullptr,
                                            const PreprocessConfig* preprocess = nullptr,
                                            std::vector<std::string>* rhythm = nullptr);
    const PreprocessConfig& preprocess() const { return cache_->preprocess(); }

    // Greedy answers for a batch of prompts (rows may differ in length), at most n_predict new tokens each.
    std::vector<GenerateResult> answer(const std::vector<std::vector<int64_t>>& prompts, int64_t n_predict,
                                       GenerateStats* stats = nullptr);

    // The prompt options for this model: the caller's patient_features, the layout its adapters were tuned with.
    PromptOptions prompt_options(bool patient_features) const;

    const TextTokenizer& tokenizer() const { return *model_.tokenizer; }
    LoadedModel& model() { return model_; }
    const std::string& description() const { return description_; }

private:
    LoadedModel model_;
    std::unique_ptr<EcgTokenCache> cache_;
    std::string description_;
    std::vector<int64_t> text_ids_;     // the ids answers may use: the text vocabulary
    bool ecg_first_ = false;            // an adapter was tuned with the question after the ECG (prompt.h)
    bool rhythm_ = false;               // an adapter was tuned with a rhythm line per ECG (prompt.h)
};

}  // namespace diagecg
