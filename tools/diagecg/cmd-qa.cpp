// diagecg qa -m MODEL RECORD [RECORD2] -q QUESTION: one answer to a clinical question about one ECG (or two,
// for comparison questions).
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "diagecg/device.h"
#include "diagecg/ecg-llm.h"
#include "diagecg/ecgqa.h"

namespace diagecg::cli {

namespace {

struct QaOptions {
    ModelFlags model;
    PatientFlags patient;
    ReadFlags read;
    std::vector<std::string> records;
    std::string question;
    int64_t n_predict = 32;
    bool no_patient = false;
    bool json = false;
};

void run_qa(const QaOptions& o) {
    if (o.records.empty() || o.records.size() > 2) throw std::invalid_argument("qa takes one ECG record, or two for a comparison question");
    const EcgRecord header = read_ecg(o.records[0], o.read.options());   // patient fields; also checks the file early
    EcgLlm llm(o.model.model_dir, {o.model.loras, parse_dtype_flag(o.model.dtype), parse_device(o.model.device), o.model.token_cache});
    std::vector<std::pair<std::string, std::string>> failed;
    PromptInput in;
    in.task = PromptTask::kQa;
    in.question = o.question;
    in.ecgs = llm.codes(o.records, &failed);
    if (!failed.empty()) throw std::runtime_error(failed[0].first + ": " + failed[0].second);
    in.patient = o.patient.text(&header);
    PromptOptions po;
    po.patient_features = !o.no_patient;
    const auto r = llm.answer({build_prompt(llm.tokenizer(), in, po)}, o.n_predict).at(0);
    std::string text = r.text;
    while (!text.empty() && text.front() == ' ') text.erase(text.begin());
    if (o.json) {
        print_result(nlohmann::json{{"records", o.records}, {"question", o.question}, {"patient", in.patient}, {"answer", text},
                                    {"answers", split_answer(text)}, {"stop_reason", r.stop_reason}, {"model", llm.description()}}
                         .dump(2) + "\n");
    } else {
        print_result(text + "\n");
    }
}

}  // namespace

void add_qa(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<QaOptions>();
    auto* sub = app.add_subcommand("qa", "Answer a clinical question about an ECG (two ECGs for comparisons)");
    sub->add_option("records", o->records, "ECG record(s)")->required();
    sub->add_option("-q,--question", o->question, "the question, e.g. \"Does this ECG show atrial fibrillation?\"")->required();
    o->model.add(sub);
    o->patient.add(sub);
    add_read_options(sub, o->read);
    sub->add_option("-n,--n-predict", o->n_predict, "max answer tokens")->capture_default_str();
    sub->add_flag("--no-patient", o->no_patient, "leave patient features out of the prompt");
    sub->add_flag("--json", o->json, "print a JSON object (answer, answer list, patient text)");
    sub->callback([&run, o] { run = [o] { run_qa(*o); }; });
}

}  // namespace diagecg::cli
