// The one prompt builder (REFERENCE.md section 5), shared by instruction tuning, evaluation and the
// qa/report commands, so train-time and run-time sequences cannot drift apart. Layout, as token ids:
//
//   BOS "### Instruction:\n" <task line> "\n"
//       ["Background: " <patient features> "\n"]                     (when known and enabled)
//       ["Question: " <question> "\n"]                              (QA only)
//       "### ECG:\n"
//   <|start_ecg|> e_1 .. e_P <|end_ecg|>   (one block per ECG; comparison questions carry two)
//   "\n### " ("Answer:" | "Report:")
//   --- everything above is the prompt; the target follows ---
//   " " <answer text> EOS
//
// Text segments are tokenized separately and concatenated with the ECG ids, so no SentencePiece merge can
// cross a segment boundary. Only the target (answer text + EOS) carries loss.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "diagecg/llm/text-tokenizer.h"

namespace diagecg {

enum class PromptTask { kQa, kReport };
PromptTask parse_prompt_task(const std::string& s);          // "qa" | "report"; throws std::invalid_argument
const char* prompt_task_name(PromptTask t);

struct PromptInput {
    PromptTask task = PromptTask::kQa;
    std::string patient;                        // "age 56, female, ..." (empty: unknown)
    std::vector<std::vector<int64_t>> ecgs;     // ECG codes per ECG, each in [0, n_ecg_codes)
    std::string question;                       // QA only
};

struct PromptOptions {
    bool patient_features = true;               // include the Background line (the paper's ablation credits it)
};

struct TokenizedExample {
    std::vector<int64_t> ids;                   // prompt + target
    int64_t n_prompt = 0;                       // ids[0, n_prompt) are the prompt; the rest carry loss
};

// The prompt ids (ending in "Answer:"/"Report:"). Throws std::invalid_argument for codes outside the
// tokenizer's extended vocabulary or a QA prompt without a question.
std::vector<int64_t> build_prompt(const TextTokenizer& tok, const PromptInput& in, const PromptOptions& opts = {});

// Prompt + " " target + EOS, with n_prompt marking where the loss starts.
TokenizedExample build_example(const TextTokenizer& tok, const PromptInput& in, const std::string& target,
                               const PromptOptions& opts = {});

}  // namespace diagecg
