#include "diagecg/data/prompt.h"

#include <atomic>
#include <stdexcept>

#include "diagecg/util/log.h"

namespace diagecg {

namespace {

// Stands for the ECG blocks in a rendered chat turn; the rendered text is split there and the ECG ids go between.
const std::string kEcgSlot = "\x01" "ECG" "\x01";  // split: "\x01ECG" would read as one hex escape

// Task lines, paraphrasing the reference's dataset and task descriptions.
const char* task_line(PromptTask t) {
    return t == PromptTask::kQa
               ? "Answer the clinical question about this 12-lead ECG (500 Hz, 10 s) using the ECG and the background."
               : "Write the diagnostic report of this 12-lead ECG (500 Hz, 10 s).";
}

void append(std::vector<int64_t>& out, const std::vector<int64_t>& ids) { out.insert(out.end(), ids.begin(), ids.end()); }

void check_input(const TextTokenizer& tok, const PromptInput& in, const PromptOptions& opts) {
    const Vocab& v = tok.vocab();
    if (!v.extended()) throw std::invalid_argument("the model's vocabulary has no ECG tokens (run stage 2 or extend it first)");
    if (in.ecgs.empty()) throw std::invalid_argument("a prompt needs at least one ECG");
    if (in.task == PromptTask::kQa && in.question.empty()) throw std::invalid_argument("a QA prompt needs a question");
    if (opts.rhythm && in.rhythm.size() != in.ecgs.size())
        throw std::invalid_argument("the model reads a rhythm line per ECG: " + std::to_string(in.rhythm.size()) + " given for " +
                                    std::to_string(in.ecgs.size()) + " ECG(s)");
    for (const auto& [what, text] : {std::pair<const char*, const std::string*>{"question", &in.question}, {"patient text", &in.patient}}) {
        if (text->find(kEcgSlot) != std::string::npos || tok.encode(*text, false, true) != tok.encode(*text, false, false))
            throw std::invalid_argument(std::string("the ") + what + " contains a special-token string (e.g. a chat or ECG marker)");
    }
}

// The ECG blocks, each followed by its rhythm line when the options ask for one (a text segment of its own).
std::vector<int64_t> ecg_ids(const TextTokenizer& tok, const PromptInput& in, const PromptOptions& opts) {
    const Vocab& v = tok.vocab();
    std::vector<int64_t> ids;
    for (size_t e = 0; e < in.ecgs.size(); ++e) {
        const auto& codes = in.ecgs[e];
        if (codes.empty()) throw std::invalid_argument("an ECG without codes");
        ids.push_back(v.start_ecg());
        for (const int64_t c : codes) {
            if (c < 0 || c >= v.n_ecg_codes())
                throw std::invalid_argument("ECG code " + std::to_string(c) + " outside the model's codebook [0, " +
                                            std::to_string(v.n_ecg_codes()) + ")");
            ids.push_back(v.ecg_id(c));
        }
        ids.push_back(v.end_ecg());
        if (opts.rhythm) append(ids, tok.encode("\nRhythm: " + in.rhythm[e], false));
    }
    return ids;
}

bool question_after_ecg(const PromptInput& in, const PromptOptions& opts) {
    return opts.ecg_first && in.task == PromptTask::kQa;
}

// The instruction lines: after "### Instruction:\n" in the plain layout, the user's turn in the chat one.
std::string instruction_lines(const PromptInput& in, const PromptOptions& opts) {
    std::string s = std::string(task_line(in.task)) + "\n";
    if (opts.patient_features && !in.patient.empty()) s += "Background: " + in.patient + "\n";
    if (in.task == PromptTask::kQa && !question_after_ecg(in, opts)) s += "Question: " + in.question + "\n";
    return s;
}

// Chat layout: the rendered conversation, split at the ECG slot, with the ECG ids between. With a target, the
// assistant's turn is rendered too and *n_prompt marks where it starts.
std::vector<int64_t> chat_ids(const TextTokenizer& tok, const ChatTemplate& tpl, const PromptInput& in,
                              const PromptOptions& opts, const std::string* target, int64_t* n_prompt) {
    const std::string after = question_after_ecg(in, opts) ? "\nQuestion: " + in.question : "";
    const std::vector<ChatMessage> user{{"user", instruction_lines(in, opts) + "ECG:\n" + kEcgSlot + after}};
    const std::string prompt = tpl.render(user, /*add_generation_prompt=*/true).text;
    const size_t slot = prompt.find(kEcgSlot);
    if (slot == std::string::npos || prompt.find(kEcgSlot, slot + 1) != std::string::npos)
        throw std::logic_error("chat template " + tpl.name() + " lost the ECG slot");
    std::vector<int64_t> ids = tok.encode(prompt.substr(0, slot), false);   // the template writes BOS itself
    append(ids, ecg_ids(tok, in, opts));
    append(ids, tok.encode(prompt.substr(slot + kEcgSlot.size()), false));
    if (n_prompt) *n_prompt = static_cast<int64_t>(ids.size());
    if (target) {
        auto turns = user;
        turns.push_back({"assistant", *target});
        const ChatRendered full = tpl.render(turns, false);
        if (full.text.compare(0, prompt.size(), prompt) != 0 || full.answer_end < prompt.size())
            throw std::logic_error("chat template " + tpl.name() + ": the assistant's turn does not extend the prompt");
        // the assistant's turn as rendered (its content and end-of-turn marker): special strings parsed only there
        append(ids, tok.encode(full.text.substr(prompt.size(), full.answer_end - prompt.size()), false));
    }
    return ids;
}

}  // namespace

std::optional<ChatTemplate> prompt_chat_template(const TextTokenizer& tok) {
    if (tok.chat_template().empty()) return std::nullopt;
    try {
        return ChatTemplate::from_source(tok.chat_template());
    } catch (const std::invalid_argument&) {
        static std::atomic<bool> warned{false};   // once per process
        if (!warned.exchange(true)) log::warn("the model's chat template is not one diagecg knows: prompts use the plain layout");
        return std::nullopt;
    }
}

PromptTask parse_prompt_task(const std::string& s) {
    if (s == "qa") return PromptTask::kQa;
    if (s == "report") return PromptTask::kReport;
    throw std::invalid_argument("task must be \"qa\" or \"report\", got \"" + s + "\"");
}

const char* prompt_task_name(PromptTask t) { return t == PromptTask::kQa ? "qa" : "report"; }

std::vector<int64_t> build_prompt(const TextTokenizer& tok, const PromptInput& in, const PromptOptions& opts) {
    check_input(tok, in, opts);
    if (const auto tpl = prompt_chat_template(tok)) return chat_ids(tok, *tpl, in, opts, nullptr, nullptr);
    std::vector<int64_t> ids = tok.encode("### Instruction:\n" + instruction_lines(in, opts) + "### ECG:\n", /*add_bos=*/true);
    append(ids, ecg_ids(tok, in, opts));
    const std::string question = question_after_ecg(in, opts) ? "\nQuestion: " + in.question : "";
    append(ids, tok.encode(question + (in.task == PromptTask::kQa ? "\n### Answer:" : "\n### Report:"), false));
    return ids;
}

TokenizedExample build_example(const TextTokenizer& tok, const PromptInput& in, const std::string& target,
                               const PromptOptions& opts) {
    TokenizedExample ex;
    if (const auto tpl = prompt_chat_template(tok)) {
        check_input(tok, in, opts);
        ex.ids = chat_ids(tok, *tpl, in, opts, &target, &ex.n_prompt);
        return ex;
    }
    if (tok.eos_id() < 0) throw std::invalid_argument("the tokenizer has no end-of-sequence token to end a target with");
    ex.ids = build_prompt(tok, in, opts);
    ex.n_prompt = static_cast<int64_t>(ex.ids.size());
    append(ex.ids, tok.encode(" " + target, false));
    ex.ids.push_back(tok.eos_id());
    return ex;
}

}  // namespace diagecg
