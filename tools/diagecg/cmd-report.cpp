// diagecg report -m MODEL RECORD: a diagnostic report for one ECG; patient fields from the record's header
// unless flags give them.
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "diagecg/device.h"
#include "diagecg/ecg-llm.h"

namespace diagecg::cli {

namespace {

struct ReportOptions {
    ModelFlags model;
    PatientFlags patient;
    ReadFlags read;
    std::string record;
    int64_t n_predict = 200;
    bool no_patient = false;
    bool json = false;
};

void run_report(const ReportOptions& o) {
    const EcgRecord header = read_ecg(o.record, o.read.options());
    EcgLlm llm(o.model.model_dir, {o.model.loras, parse_dtype_flag(o.model.dtype), parse_device(o.model.device), o.model.token_cache});
    std::vector<std::pair<std::string, std::string>> failed;
    PromptInput in;
    in.task = PromptTask::kReport;
    in.ecgs = llm.codes({o.record}, &failed);
    if (!failed.empty()) throw std::runtime_error(failed[0].first + ": " + failed[0].second);
    in.patient = o.patient.text(&header);
    PromptOptions po;
    po.patient_features = !o.no_patient;
    const auto r = llm.answer({build_prompt(llm.tokenizer(), in, po)}, o.n_predict).at(0);
    std::string text = r.text;
    while (!text.empty() && text.front() == ' ') text.erase(text.begin());
    if (o.json) {
        print_result(nlohmann::json{{"record", o.record}, {"patient", in.patient}, {"report", text}, {"stop_reason", r.stop_reason},
                                    {"n_tokens", r.tokens.size()}, {"model", llm.description()}}
                         .dump(2) + "\n");
    } else {
        print_result(text + "\n");
    }
}

}  // namespace

void add_report(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<ReportOptions>();
    auto* sub = app.add_subcommand("report", "Write a diagnostic report for an ECG");
    sub->add_option("record", o->record, "ECG record")->required();
    o->model.add(sub);
    o->patient.add(sub);
    add_read_options(sub, o->read);
    sub->add_option("-n,--n-predict", o->n_predict, "max report tokens")->capture_default_str();
    sub->add_flag("--no-patient", o->no_patient, "leave patient features out of the prompt");
    sub->add_flag("--json", o->json, "print a JSON object (report, patient text, stop reason)");
    sub->callback([&run, o] { run = [o] { run_report(*o); }; });
}

}  // namespace diagecg::cli
