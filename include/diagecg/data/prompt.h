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
// With PromptOptions::ecg_first (QA), the Question line moves after the ECG block(s):
//   ... "### ECG:\n" <|start_ecg|> .. <|end_ecg|> "\nQuestion: " <question> "\n### Answer:"
// (chat: "ECG:\n" <ECG> "\nQuestion: " <question>, then the end of the user's turn).
//
// With PromptOptions::rhythm, each ECG block is followed by its measured rhythm (ecg/rhythm.h), one text line:
//   <|end_ecg|> "\nRhythm: rate 72/min (normal), RR variation 3% (regular), shortest RR 95%"
//
// Text segments are tokenized separately and concatenated with the ECG ids, so no SentencePiece merge can
// cross a segment boundary. Only the target (answer text + EOS) carries loss.
//
// A backbone with a chat template it knows (llm/chat-template.h: ChatML/SmolLM2/Qwen2, Llama 3, Llama 2) gets
// the same lines as one user turn instead, and the answer as the assistant's turn:
//
//   <template scaffolding> <task line> "\n" ["Background: ..." "\n"] ["Question: ..." "\n"] "ECG:\n"
//   <|start_ecg|> e_1 .. e_P <|end_ecg|> ... <end of user turn> <assistant turn opened>
//   --- prompt above; target below ---
//   <answer text> <end of turn, e.g. <|im_end|>>         (what the template renders for the assistant's turn)
//
// The layout follows from the tokenizer alone (its chat_template), so stage 3 and inference agree. A template
// diagecg does not know falls back to the plain layout with a warning. Question and patient text must not
// contain special-token strings (they would be read as template markers): such text is refused.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "diagecg/llm/chat-template.h"
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
    std::vector<std::string> rhythm;            // per ECG, rhythm_text() of its window (PromptOptions::rhythm)
};

struct PromptOptions {
    bool patient_features = true;               // include the Background line (the paper's ablation credits it)
    // QA only: the question after the ECG block instead of before it (below). Not the reference's layout: it
    // lets stage 3 hold an ECG's prompt prefix once for all its questions (train/prefix-pack.h). A model
    // records which layout it was tuned with (adapter.json "prompt"); EcgLlm::prompt_options applies it.
    bool ecg_first = false;
    // Each ECG block followed by its measured rate and RR regularity (PromptInput::rhythm), which the codes carry
    // poorly. Recorded like ecg_first (adapter.json "prompt": {"rhythm": true}).
    bool rhythm = false;
};

struct TokenizedExample {
    std::vector<int64_t> ids;                   // prompt + target
    int64_t n_prompt = 0;                       // ids[0, n_prompt) are the prompt; the rest carry loss
};

// The chat template the prompt builder wraps its turns in: the tokenizer's, when it has one diagecg knows.
std::optional<ChatTemplate> prompt_chat_template(const TextTokenizer& tok);

// The prompt ids (ending in "Answer:"/"Report:", or the opened assistant turn). Throws std::invalid_argument
// for codes outside the tokenizer's extended vocabulary, a QA prompt without a question, or question/patient
// text holding special-token strings.
std::vector<int64_t> build_prompt(const TextTokenizer& tok, const PromptInput& in, const PromptOptions& opts = {});

// Prompt + " " target + EOS (chat: prompt + target + end of turn), with n_prompt marking where the loss starts.
// Throws std::invalid_argument when the plain layout needs an EOS the tokenizer does not have.
TokenizedExample build_example(const TextTokenizer& tok, const PromptInput& in, const std::string& target,
                               const PromptOptions& opts = {});

}  // namespace diagecg
