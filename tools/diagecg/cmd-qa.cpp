// diagecg qa -m MODEL RECORD [RECORD2] -q QUESTION: one answer to a clinical question about one ECG (or two,
// for comparison questions). Also answer_one(), which `report` shares.
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "diagecg/data/ecgqa.h"
#include "diagecg/ecg/read-ecg.h"
#include "diagecg/model/ecg-llm.h"
#include "diagecg/util/device.h"

namespace diagecg::cli {

SingleAnswer answer_one(const ModelFlags& model, const PatientFlags& patient, const ReadFlags& read, PromptTask task,
                        const std::vector<std::string>& records, const std::string& question, int64_t n_predict, bool no_patient) {
    const EcgRecord header = read_ecg(records.at(0), read.options());   // patient fields; also checks the file early
    EcgLlm llm(model.model_dir, {model.loras, parse_dtype_flag(model.dtype), parse_device(model.device), model.token_cache,
                                 prompt_task_name(task)});
    std::vector<std::pair<std::string, std::string>> failed;
    PromptInput in;
    in.task = task;
    in.question = question;
    std::vector<SignalQuality> quality;
    in.ecgs = llm.codes(records, &failed, read.input(), &quality);
    if (!failed.empty()) throw std::runtime_error(failed[0].first + ": " + failed[0].second);
    in.patient = patient.text(&header);
    PromptOptions po;
    po.patient_features = !no_patient;
    const auto r = llm.answer({build_prompt(llm.tokenizer(), in, po)}, n_predict).at(0);
    SingleAnswer a{r.text, po.patient_features ? in.patient : "", r.stop_reason, llm.description(), static_cast<int64_t>(r.tokens.size()),
                   quality};
    while (!a.text.empty() && a.text.front() == ' ') a.text.erase(a.text.begin());
    return a;
}

nlohmann::json SingleAnswer::quality_json() const {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& q : quality) all.push_back(signal_quality_to_json(q));
    return all.size() == 1 ? all[0] : all;
}

std::string SingleAnswer::quality_note() const {
    std::string note;
    for (const auto& q : quality)
        if (q.verdict == QualityVerdict::kPoor)
            note += "[signal quality " + q.summary() + "; read only because of --allow-poor-signal]\n";
    return note;
}

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
    const auto a = answer_one(o.model, o.patient, o.read, PromptTask::kQa, o.records, o.question, o.n_predict, o.no_patient);
    if (o.json) {
        print_result(nlohmann::json{{"records", o.records}, {"question", o.question}, {"patient", a.patient}, {"answer", a.text},
                                    {"answers", split_answer(a.text)}, {"stop_reason", a.stop_reason}, {"model", a.model},
                                    {"signal_quality", a.quality_json()}}
                         .dump(2) + "\n");
    } else {
        print_result(a.quality_note() + a.text + "\n");
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
