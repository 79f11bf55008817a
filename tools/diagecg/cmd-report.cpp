// diagecg report -m MODEL RECORD: a diagnostic report for one ECG; patient fields from the record's header
// unless flags give them. Many records (files, directories, list files, globs) or -o: a batch run, one JSON line
// per record (batch-answers.h).
#include <memory>

#include <nlohmann/json.hpp>

#include "batch-answers.h"
#include "commands.h"

namespace diagecg::cli {

namespace {

struct ReportOptions {
    ModelFlags model;
    PatientFlags patient;
    ReadFlags read;
    BatchFlags batch;
    InputWindowFlags window;
    std::vector<std::string> records;
    int64_t n_predict = 200;
    bool no_patient = false;
    bool json = false;
};

void run_report(const ReportOptions& o) {
    if (!o.batch.out.empty() || o.window.all_windows || !plain_records(o.records, 1))
        return run_batch(PromptTask::kReport, record_jobs(o.records, ""), o.model, o.patient, o.read, o.window, o.no_patient, o.n_predict, o.batch);
    const auto a = answer_one(o.model, o.patient, o.read, PromptTask::kReport, o.records, "", o.n_predict, o.no_patient, &o.window);
    if (o.json) {
        nlohmann::json j{{"record", o.records[0]}, {"patient", a.patient}, {"report", a.text}, {"stop_reason", a.stop_reason},
                         {"n_tokens", a.n_tokens}, {"model", a.model}, {"signal_quality", a.quality_json()}, {"window", a.window}};
        if (!a.rhythm.empty()) j["rhythm"] = rhythm_json(a.rhythm);
        print_result(j.dump(2) + "\n");
    } else {
        print_result(a.quality_note() + a.text + "\n");
    }
}

}  // namespace

void add_report(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<ReportOptions>();
    auto* sub = app.add_subcommand("report", "Write a diagnostic report for an ECG");
    sub->add_option("records", o->records,
                    "ECG record; several, a directory, a list file (.txt/.list) or a quoted glob: a batch run, one JSON line per record")
        ->required();
    o->model.add(sub);
    o->patient.add(sub);
    add_read_options(sub, o->read);
    sub->add_option("-n,--n-predict", o->n_predict, "max report tokens")->capture_default_str();
    sub->add_flag("--no-patient", o->no_patient, "leave patient features out of the prompt");
    sub->add_flag("--json", o->json, "print a JSON object (report, patient text, stop reason)");
    o->batch.add(sub);
    o->window.add(sub, true);
    sub->callback([&run, o] { run = [o] { run_report(*o); }; });
}

}  // namespace diagecg::cli
