#include "diagecg/data/prompt.h"

#include <stdexcept>

namespace diagecg {

namespace {

// Task lines, paraphrasing the reference's dataset and task descriptions.
const char* task_line(PromptTask t) {
    return t == PromptTask::kQa
               ? "Answer the clinical question about this 12-lead ECG (500 Hz, 10 s) using the ECG and the background."
               : "Write the diagnostic report of this 12-lead ECG (500 Hz, 10 s).";
}

void append(std::vector<int64_t>& out, const std::vector<int64_t>& ids) { out.insert(out.end(), ids.begin(), ids.end()); }

}  // namespace

PromptTask parse_prompt_task(const std::string& s) {
    if (s == "qa") return PromptTask::kQa;
    if (s == "report") return PromptTask::kReport;
    throw std::invalid_argument("task must be \"qa\" or \"report\", got \"" + s + "\"");
}

const char* prompt_task_name(PromptTask t) { return t == PromptTask::kQa ? "qa" : "report"; }

std::vector<int64_t> build_prompt(const TextTokenizer& tok, const PromptInput& in, const PromptOptions& opts) {
    const Vocab& v = tok.vocab();
    if (!v.extended()) throw std::invalid_argument("the model's vocabulary has no ECG tokens (run stage 2 or extend it first)");
    if (in.ecgs.empty()) throw std::invalid_argument("a prompt needs at least one ECG");
    if (in.task == PromptTask::kQa && in.question.empty()) throw std::invalid_argument("a QA prompt needs a question");

    std::string head = std::string("### Instruction:\n") + task_line(in.task) + "\n";
    if (opts.patient_features && !in.patient.empty()) head += "Background: " + in.patient + "\n";
    if (in.task == PromptTask::kQa) head += "Question: " + in.question + "\n";
    head += "### ECG:\n";

    std::vector<int64_t> ids = tok.encode(head, /*add_bos=*/true);
    for (const auto& codes : in.ecgs) {
        if (codes.empty()) throw std::invalid_argument("an ECG without codes");
        ids.push_back(v.start_ecg());
        for (const int64_t c : codes) {
            if (c < 0 || c >= v.n_ecg_codes())
                throw std::invalid_argument("ECG code " + std::to_string(c) + " outside the model's codebook [0, " +
                                            std::to_string(v.n_ecg_codes()) + ")");
            ids.push_back(v.ecg_id(c));
        }
        ids.push_back(v.end_ecg());
    }
    append(ids, tok.encode(in.task == PromptTask::kQa ? "\n### Answer:" : "\n### Report:", false));
    return ids;
}

TokenizedExample build_example(const TextTokenizer& tok, const PromptInput& in, const std::string& target,
                               const PromptOptions& opts) {
    TokenizedExample ex;
    ex.ids = build_prompt(tok, in, opts);
    ex.n_prompt = static_cast<int64_t>(ex.ids.size());
    append(ex.ids, tok.encode(" " + target, false));
    ex.ids.push_back(tok.eos_id());
    return ex;
}

}  // namespace diagecg
