// Many prompts through one loaded EcgLlm (the path eval, report and qa share): every ECG is tokenized once per
// preprocessing (window), however many prompts use it; prompts are sorted by length (less padding per prefill) and generated in
// batches; progress with rate and ETA goes to the log.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "diagecg/data/prompt.h"
#include "diagecg/ecg/ecg-preprocess.h"
#include "diagecg/ecg/signal-quality.h"
#include "diagecg/llm/generate.h"
#include "diagecg/model/ecg-llm.h"

namespace diagecg {

struct BatchItem {
    std::vector<std::string> records;   // one ECG, or two for a comparison question
    std::string question;               // QA only
    std::string patient;                // the prompt's Background text ("" = unknown)
    std::optional<PreprocessConfig> preprocess;   // unset: the ECG tokenizer's recorded preprocessing
};

struct BatchAnswer {
    size_t index = 0;                   // into the items
    GenerateResult result;
    std::vector<SignalQuality> quality; // per record of the item
    std::vector<std::string> rhythm;    // per record, the rhythm line its prompt carried (empty: the model reads none)
};

struct BatchOptions {
    PromptTask task = PromptTask::kQa;
    PromptOptions prompt;               // patient_features; the layout (ecg_first) is the model's (EcgLlm::prompt_options)
    int64_t batch_size = 8;             // prompts per generation batch
    int64_t n_predict = 32;             // max new tokens per answer
    RecordInput input;                  // reader options and the signal-quality gate
    std::string label = "answers";      // progress lines: "<label> 8/50 samples, 1.20 samples/s, ETA 35 s"
};

struct BatchSkip {
    size_t index = 0;                   // into the items
    std::string why;                    // "record X cannot be read (...)", "prompt of N tokens does not fit ..."
};

struct BatchRun {
    std::vector<BatchSkip> skipped;     // in item order
    int64_t n_answered = 0;
    double seconds = 0;                 // generation time (after tokenizing the ECGs)
};

// Answers `items`, calling on_batch after each batch with its answers (in prompt-length order, not item order);
// a throw from on_batch stops the run. Items whose record cannot be read (or is refused by the quality gate) or
// whose prompt does not fit the model's context are skipped, logged and returned.
BatchRun answer_in_batches(EcgLlm& llm, const std::vector<BatchItem>& items, const BatchOptions& opts,
                           const std::function<void(std::vector<BatchAnswer>&)>& on_batch);

}  // namespace diagecg
