// diagecg qa -m MODEL RECORD [RECORD2] -q QUESTION: one answer to a clinical question about one ECG (or two,
// for comparison questions). Also answer_one(), which `report` shares. Many records with -q, or
// --questions FILE, or -o: a batch run, one JSON line per question (batch-answers.h). A question outside the
// families the model was trained on (question-family.h) is flagged, or refused with --strict.
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

#include "batch-answers.h"
#include "commands.h"
#include "diagecg/data/ecgqa.h"
#include "diagecg/data/question-family.h"
#include "diagecg/data/task-data.h"
#include "diagecg/ecg/read-ecg.h"
#include "diagecg/model/ecg-llm.h"
#include "diagecg/util/device.h"
#include "diagecg/util/log.h"

namespace diagecg::cli {

SingleAnswer answer_one(const ModelFlags& model, const PatientFlags& patient, const ReadFlags& read, PromptTask task,
                        const std::vector<std::string>& records, const std::string& question, int64_t n_predict, bool no_patient,
                        const InputWindowFlags* window) {
    const EcgRecord header = read_ecg(records.at(0), read.options());   // patient fields; also checks the file early
    EcgLlm llm(model.model_dir, {model.loras, parse_load_dtype(model.dtype, parse_device(model.device)), model.token_cache,
                                 prompt_task_name(task)});
    const PreprocessConfig prep = window ? window->resolve(llm.preprocess()) : llm.preprocess();
    nlohmann::json windows = nlohmann::json::array();
    for (const auto& r : records) windows.push_back(describe_window(r == records[0] ? header : read_ecg(r, read.options()), prep, window));
    std::vector<std::pair<std::string, std::string>> failed;
    PromptInput in;
    in.task = task;
    in.question = question;
    std::vector<SignalQuality> quality;
    in.ecgs = llm.codes(records, &failed, read.input(), &quality, window && window->any() ? &prep : nullptr, &in.rhythm);
    if (!failed.empty()) throw std::runtime_error(failed[0].first + ": " + failed[0].second);
    in.patient = patient.text(&header);
    const PromptOptions po = llm.prompt_options(!no_patient);
    const auto r = llm.answer({build_prompt(llm.tokenizer(), in, po)}, n_predict).at(0);
    SingleAnswer a{r.text, po.patient_features ? in.patient : "", r.stop_reason, llm.description(), static_cast<int64_t>(r.tokens.size()),
                   quality, windows.size() == 1 ? windows[0] : windows};
    if (po.rhythm) a.rhythm = in.rhythm;
    while (!a.text.empty() && a.text.front() == ' ') a.text.erase(a.text.begin());
    return a;
}

nlohmann::json rhythm_json(const std::vector<std::string>& rhythm) {
    if (rhythm.empty()) return nullptr;
    return rhythm.size() == 1 ? nlohmann::json(rhythm[0]) : nlohmann::json(rhythm);
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
    BatchFlags batch;
    InputWindowFlags window;
    std::vector<std::string> records;
    std::string question;
    std::string questions_file;
    bool strict = false;
    int64_t n_predict = 32;
    bool no_patient = false;
    bool json = false;
};

// Whether a question belongs to a family the model was trained on, as output fields; warns when not.
nlohmann::json domain_fields(const std::string& question, size_t n_records, const std::string& where) {
    const QuestionFamily* f = match_question_family(question);
    const bool in_domain = f && static_cast<size_t>(f->n_ecgs) == n_records;
    if (!in_domain)
        log::warn("{}question \"{}\" matches no question family the model was trained on{}: its answer is one of the trained "
                  "answers and may mean nothing (README lists the families)",
                  where, question, f ? " for " + std::to_string(n_records) + " ECG(s)" : "");
    return {{"in_domain", in_domain}, {"template_id", f ? f->template_id : -1}};
}

void refuse_out_of_domain(const std::vector<BatchJob>& jobs) {
    int64_t n = 0;
    const BatchJob* first = nullptr;
    for (const auto& j : jobs)
        if (!j.extra.value("in_domain", false)) {
            ++n;
            if (!first) first = &j;
        }
    if (first)
        throw std::runtime_error("--strict: " + std::to_string(n) + " question(s) match no question family the model was trained on (first: \"" +
                                 first->question + "\")");
}

void run_qa(const QaOptions& o) {
    const bool batch = !o.questions_file.empty() || !o.batch.out.empty() || o.window.all_windows || !plain_records(o.records, o.records.size());
    if (!batch && o.records.size() > 2)   // plain files on the command line: the single-answer form
        throw std::invalid_argument("qa takes one ECG record, or two for a comparison question (for a batch: a directory, list file "
                                    "or glob, or -o FILE, or --questions FILE)");
    if (!batch) {
        if (o.question.empty()) throw std::invalid_argument("qa needs -q QUESTION (or --questions FILE)");
        const nlohmann::json domain = domain_fields(o.question, o.records.size(), "");
        if (o.strict) refuse_out_of_domain({BatchJob{"", o.records, o.question, domain}});
        const auto a = answer_one(o.model, o.patient, o.read, PromptTask::kQa, o.records, o.question, o.n_predict, o.no_patient, &o.window);
        if (o.json) {
            nlohmann::json j{{"records", o.records}, {"question", o.question}, {"patient", a.patient}, {"answer", a.text},
                             {"answers", split_answer(a.text)}, {"stop_reason", a.stop_reason}, {"model", a.model},
                             {"signal_quality", a.quality_json()}, {"in_domain", domain["in_domain"]},
                             {"template_id", domain["template_id"]}, {"window", a.window}};
            if (!a.rhythm.empty()) j["rhythm"] = rhythm_json(a.rhythm);
            print_result(j.dump(2) + "\n");
        } else {
            print_result(a.quality_note() + a.text + "\n");
        }
        return;
    }
    std::vector<BatchJob> jobs;
    if (!o.questions_file.empty()) {
        if (!o.records.empty() || !o.question.empty())
            throw std::invalid_argument("--questions FILE names its own records and questions: give no RECORD or -q with it");
        for (auto& s : read_task_samples(PromptTask::kQa, {o.questions_file}, "", nullptr, true, /*require_targets=*/false)) {
            BatchJob j{s.id, s.records, s.question};   // records: absolute, links resolved (task-data.h)
            j.extra = domain_fields(s.question, s.records.size(), s.id + ": ");
            jobs.push_back(std::move(j));
        }
    } else {
        if (o.records.empty()) throw std::invalid_argument("qa needs RECORD... or --questions FILE");
        if (o.question.empty()) throw std::invalid_argument("qa needs -q QUESTION (or --questions FILE)");
        jobs = record_jobs(o.records, o.question);
        const nlohmann::json domain = domain_fields(o.question, 1, "");
        for (auto& j : jobs) j.extra = domain;
    }
    if (o.strict) refuse_out_of_domain(jobs);
    run_batch(PromptTask::kQa, jobs, o.model, o.patient, o.read, o.window, o.no_patient, o.n_predict, o.batch);
}

}  // namespace

void add_qa(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<QaOptions>();
    auto* sub = app.add_subcommand("qa", "Answer a clinical question about an ECG (two ECGs for comparisons)");
    sub->add_option("records", o->records,
                    "ECG record, or two for a comparison question; more, a directory, a list file or a quoted glob: a batch run asking "
                    "each record -q");
    sub->add_option("-q,--question", o->question, "the question, e.g. \"Does this ECG show any kind of extra systoles?\"");
    sub->add_option("--questions", o->questions_file,
                    "JSON array or JSONL of {\"question\", \"record\" (or \"records\": [2 paths]), \"id\"?}: a batch run, one line per question");
    sub->add_flag("--strict", o->strict, "refuse questions that match no question family the model was trained on (exit 1)");
    o->model.add(sub);
    o->patient.add(sub);
    add_read_options(sub, o->read);
    sub->add_option("-n,--n-predict", o->n_predict, "max answer tokens")->capture_default_str();
    sub->add_flag("--no-patient", o->no_patient, "leave patient features out of the prompt");
    sub->add_flag("--json", o->json, "print a JSON object (answer, answer list, patient text, in_domain)");
    o->batch.add(sub);
    o->window.add(sub, true);
    sub->callback([&run, o] { run = [o] { run_qa(*o); }; });
}

}  // namespace diagecg::cli
