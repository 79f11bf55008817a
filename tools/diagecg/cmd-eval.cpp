// diagecg eval: a whole dataset through a DiagECG model -> one JSON line per sample, a summary table with the
// paper's metrics next to a baseline. Resumable (a re-run with the same -o skips finished samples; a run killed
// at any moment loses and duplicates nothing), sharded (--shard i/n, then --merge), batched by prompt length.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "diagecg/data/ecgqa.h"
#include "diagecg/data/ptbxl-meta.h"
#include "diagecg/ecg/read-ecg.h"
#include "diagecg/eval/evaluation.h"
#include "diagecg/eval/report-labels.h"
#include "diagecg/eval/wordnet.h"
#include "diagecg/model/batch-answer.h"
#include "diagecg/model/ecg-llm.h"
#include "diagecg/util/atomic-file.h"
#include "diagecg/util/device.h"
#include "diagecg/util/log.h"
#include "diagecg/util/sha256.h"

namespace diagecg::cli {

namespace {

struct EvalOptions {
    ModelFlags model;
    ReadFlags read;
    InputWindowFlags window;
    std::vector<std::string> data;
    std::string out;
    std::string task = "qa";
    int64_t batch_size = 8;
    std::string shard = "0/1";
    int64_t limit = 0;
    std::string ecg_dir;
    std::string ptbxl_database;
    std::vector<std::string> baseline_data;
    std::vector<std::string> merge;
    int64_t n_predict = 0;
    int64_t shuffle_ecgs = -1;  // < 0: off; else the seed
    bool no_patient = false;
    bool force_new = false;
    bool allow_missing = false;
    int64_t sigkill_after_batches = 0;   // testing
};

std::string abs_path(const std::string& p) { return std::filesystem::absolute(p).lexically_normal().string(); }

// What produced a predictions file: recorded in its first line; a resume with anything different is refused.
nlohmann::json eval_provenance(const EvalOptions& o, PromptTask task) {
    nlohmann::json data = nlohmann::json::array(), loras = nlohmann::json::array();
    for (const auto& d : o.data) data.push_back({{"path", abs_path(d)}, {"sha256", sha256_tree(d)}});
    for (const auto& l : o.model.loras) loras.push_back(l);
    nlohmann::json j = {
        {"diagecg_predictions", 1},
        {"task", prompt_task_name(task)},
        {"model", abs_path(o.model.model_dir)},
        {"model_sha256", std::filesystem::exists(o.model.model_dir) ? sha256_tree(o.model.model_dir) : "(missing)"},
        {"loras", loras},
        {"data", data},
        // Only what changes a prediction: --shard and --limit choose samples, and a resume may choose others.
        {"options",
         {{"n_predict", o.n_predict},
          {"no_patient", o.no_patient},
          {"ecg_dir", o.ecg_dir.empty() ? "" : abs_path(o.ecg_dir)},
          {"ptbxl_database", o.ptbxl_database.empty() ? "" : abs_path(o.ptbxl_database)},
          {"dtype", o.model.dtype},
          {"sample_rate", o.read.sample_rate_hz},
          {"leads", o.read.leads},
          {"units", o.read.units},
          {"layout", o.read.layout},
          {"allow_poor_signal", o.read.allow_poor_signal},
          {"preprocess", o.window.settings()}}}};
    // Only when used: predictions files written before the option existed still resume.
    if (o.shuffle_ecgs >= 0) j["options"]["shuffle_ecgs"] = o.shuffle_ecgs;
    return j;
}

// The first field in which two provenance records differ ("" when equal).
std::string provenance_difference(const nlohmann::json& was, const nlohmann::json& now) {
    for (const char* k : {"task", "model", "model_sha256", "loras", "data", "options"}) {
        if (!was.contains(k) || was[k] != now[k]) {
            if (std::string(k) == "options" && was.contains(k))
                for (auto& [ok, ov] : now[k].items())
                    if (!was[k].contains(ok) || was[k][ok] != ov) return "option " + ok + " (was " + (was[k].contains(ok) ? was[k][ok].dump() : "unset") + ", now " + ov.dump() + ")";
            return std::string(k) + " (was " + (was.contains(k) ? was[k].dump() : "unset") + ", now " + now[k].dump() + ")";
        }
    }
    return "";
}

std::string summary_path(const std::string& out) { return out + ".summary.json"; }

void finish(PromptTask task, const std::vector<Prediction>& preds, const std::vector<TaskSample>& evaluated, const EvalOptions& o,
            const std::string& out, nlohmann::json extra) {
    std::unique_ptr<WordNet> wn;
    if (task == PromptTask::kReport) wn = std::make_unique<WordNet>();
    Baselines base = o.baseline_data.empty()
                         ? build_baselines(task, evaluated, "the evaluated samples themselves (no --baseline-data given)")
                         : build_baselines(task, read_task_samples(task, o.baseline_data, "", nullptr, false), "training samples of --baseline-data");
    nlohmann::json s = summarize(preds, &base, wn.get());
    for (auto& [k, v] : extra.items()) s[k] = v;
    write_file_atomic(summary_path(out), s.dump(2) + "\n");
    print_result(format_summary(s));
    log::info("summary written to {}", summary_path(out));
}

// --shuffle-ecgs: every distinct record set of the samples is mapped to another one (a seeded permutation
// without fixed points), so each sample is asked about another sample's ECG(s). The question, the patient
// features and the reference stay the sample's own: the drop in the figures is what the signal contributes.
void shuffle_sample_ecgs(std::vector<TaskSample>& samples, uint64_t seed) {
    std::vector<std::vector<std::string>> distinct;
    for (const auto& s : samples)
        if (std::find(distinct.begin(), distinct.end(), s.records) == distinct.end()) distinct.push_back(s.records);
    if (distinct.size() < 2) throw std::invalid_argument("--shuffle-ecgs needs samples of at least two different ECGs");
    std::sort(distinct.begin(), distinct.end());
    std::vector<size_t> order(distinct.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::mt19937_64 rng(seed);
    for (size_t i = order.size() - 1; i > 0; --i)
        std::swap(order[i], order[rng() % (i + 1)]);  // Fisher-Yates, portable
    // A cycle through the shuffled order: order[k] gets order[k+1]'s records; no record set keeps its own.
    std::map<std::vector<std::string>, std::vector<std::string>> to;
    for (size_t k = 0; k < order.size(); ++k) to[distinct[order[k]]] = distinct[order[(k + 1) % order.size()]];
    for (auto& s : samples) s.records = to.at(s.records);
}

// A report sample's clinical labels: PTB-XL scp_codes of its ecg_id when the database is given, else the
// SNOMED-CT codes in its record's header (CinC "# Dx:"); null when neither is known.
nlohmann::json sample_labels(const TaskSample& s, const std::vector<std::string>& own_records,
                             const std::map<int64_t, PtbxlRecord>& meta, const ReadOptions& read) {
    auto as_json = [](const std::string& source, const std::set<std::string>& pos,
                      const std::set<std::string>& scorable) {
        return nlohmann::json{{"source", source}, {"positive", pos}, {"scorable", scorable}};
    };
    if (!s.ecg_ids.empty())
        if (const auto m = meta.find(s.ecg_ids[0]); m != meta.end()) {
            std::set<std::string> all;
            for (const auto& c : report_label_classes()) all.insert(c.name);
            return as_json("ptbxl scp_codes", labels_from_scp_codes(m->second.scp_codes), all);
        }
    if (own_records.size() != 1) return nullptr;
    try {
        const auto dx = read_ecg(own_records[0], read).patient.diagnoses;
        if (dx.empty() || !std::all_of(dx.begin(), dx.end(), [](const std::string& c) {
                return !c.empty() && std::all_of(c.begin(), c.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
            }))
            return nullptr;
        std::set<std::string> scorable;
        const auto pos = labels_from_snomed(dx, &scorable);
        return as_json("header SNOMED-CT Dx", pos, scorable);
    } catch (const std::exception&) {
        return nullptr;  // unreadable: the batch run reports it as skipped
    }
}

void run_merge(const EvalOptions& o, PromptTask task) {
    std::map<std::string, Prediction> by_id;
    for (const auto& f : o.merge) {
        if (!std::filesystem::exists(f)) throw std::runtime_error(f + ": no such predictions file");
        for (auto& p : read_predictions(f, false)) by_id[p.id] = std::move(p);
    }
    std::vector<Prediction> all;
    for (auto& [id, p] : by_id) all.push_back(std::move(p));
    if (all.empty()) throw std::runtime_error("--merge: the files hold no predictions");
    if (all[0].task != prompt_task_name(task)) throw std::invalid_argument("--merge: the predictions are for task " + all[0].task);
    nlohmann::json sources = nlohmann::json::array();
    for (const auto& f : o.merge) sources.push_back(abs_path(f));
    std::string text = nlohmann::json{{"diagecg_predictions", 1}, {"task", prompt_task_name(task)}, {"merged_from", sources}}.dump() + "\n";
    for (const auto& p : all) text += prediction_to_json(p).dump() + "\n";
    if (const auto parent = std::filesystem::path(o.out).parent_path(); !parent.empty()) std::filesystem::create_directories(parent);
    write_file_atomic(o.out, text);
    // Baseline from the evaluated samples needs them; the merged predictions carry their references.
    std::vector<TaskSample> evaluated;
    for (const auto& p : all) {
        TaskSample s;
        s.id = p.id;
        s.template_id = p.template_id;
        s.target = p.reference;
        s.answers = split_answer(p.reference);
        evaluated.push_back(std::move(s));
    }
    finish(task, all, evaluated, o, o.out, {{"merged_from", o.merge}});
}

void run_eval(const EvalOptions& o) {
    const PromptTask task = parse_prompt_task(o.task);
    if (o.out.empty()) throw std::invalid_argument("-o PREDICTIONS.jsonl is required");
    if (!o.merge.empty()) return run_merge(o, task);
    if (o.data.empty()) throw std::invalid_argument("--data FILE... is required (or --merge)");
    if (o.batch_size < 1) throw std::invalid_argument("--batch-size must be >= 1");
    const auto [shard_i, shard_n] = parse_shard(o.shard);
    if (const auto parent = std::filesystem::path(o.out).parent_path(); !parent.empty()) std::filesystem::create_directories(parent);

    int64_t n_missing = 0;
    // Report samples may lack a reference report: they are scored on their clinical labels only.
    auto all = read_task_samples(task, o.data, o.ecg_dir, &n_missing, true, task == PromptTask::kQa);
    std::map<std::string, std::vector<std::string>> own_records;  // id -> the sample's own records (labels)
    for (const auto& s : all) own_records[s.id] = s.records;
    if (o.shuffle_ecgs >= 0) shuffle_sample_ecgs(all, static_cast<uint64_t>(o.shuffle_ecgs));
    std::vector<TaskSample> samples;
    for (size_t i = 0; i < all.size(); ++i)
        if (static_cast<int64_t>(i) % shard_n == shard_i) samples.push_back(std::move(all[i]));
    if (o.limit > 0 && static_cast<int64_t>(samples.size()) > o.limit) samples.resize(static_cast<size_t>(o.limit));
    if (samples.empty())
        throw std::runtime_error("no samples to evaluate" + (n_missing > 0 ? " (" + std::to_string(n_missing) + " left out: record not found)" : std::string()));

    // Provenance: a resume must be the same run (model weights, data, options), else it is refused.
    const nlohmann::json provenance = eval_provenance(o, task);
    if (o.force_new && std::filesystem::exists(o.out)) {
        log::warn("--force-new: starting {} over", o.out);
        std::filesystem::remove(o.out);
    }
    const PredictionsFile existing = read_predictions_file(o.out, /*repair=*/true);
    if (existing.header.is_null() && !existing.predictions.empty())
        throw std::runtime_error(o.out + " holds predictions without a provenance header (an older diagecg or another tool): "
                                 "choose another -o, or --force-new to start it over");
    if (!existing.header.is_null()) {
        const std::string diff = provenance_difference(existing.header, provenance);
        if (!diff.empty())
            throw std::runtime_error(o.out + " was written by another run: its " + diff +
                                     " differs; choose another -o, or --force-new to start it over");
    } else {
        write_file_atomic(o.out, provenance.dump() + "\n");
    }
    const auto& done_preds = existing.predictions;
    std::set<std::string> done;
    for (const auto& p : done_preds) done.insert(p.id);
    std::vector<const TaskSample*> todo;
    for (const auto& s : samples)
        if (!done.count(s.id)) todo.push_back(&s);
    log::info("eval: {} samples in shard {}/{}, {} done already, {} to run", samples.size(), shard_i, shard_n, samples.size() - todo.size(),
              todo.size());

    double run_s = 0;
    int64_t n_run = 0;
    std::vector<std::string> skipped;   // ids of samples whose record could not be read or whose prompt is too long
    if (!todo.empty()) {
        EcgLlm llm(o.model.model_dir, {o.model.loras, parse_load_dtype(o.model.dtype, parse_device(o.model.device)), o.model.token_cache,
                                       o.task});
        std::map<int64_t, PtbxlRecord> meta;
        if (!o.ptbxl_database.empty()) meta = read_ptbxl_database(o.ptbxl_database);
        std::unique_ptr<WordNet> wn;
        if (task == PromptTask::kReport) wn = std::make_unique<WordNet>();
        std::optional<PreprocessConfig> prep;   // unset: the model's recorded preprocessing
        if (o.window.any()) prep = o.window.resolve(llm.preprocess());
        std::vector<BatchItem> items;
        for (const auto* s : todo) {
            BatchItem it{s->records, s->question, s->patient, prep};
            if (it.patient.empty() && !s->ecg_ids.empty())
                if (const auto m = meta.find(s->ecg_ids[0]); m != meta.end()) it.patient = patient_features_text(m->second);
            items.push_back(std::move(it));
        }
        BatchOptions bo;
        bo.task = task;
        bo.prompt.patient_features = !o.no_patient;
        bo.batch_size = o.batch_size;
        bo.n_predict = o.n_predict > 0 ? o.n_predict : (task == PromptTask::kQa ? 32 : 200);
        bo.input = o.read.input();
        bo.label = "eval";
        int64_t n_batches = 0;
        const BatchRun r = answer_in_batches(llm, items, bo, [&](std::vector<BatchAnswer>& answers) {
            std::vector<Prediction> preds;
            for (const auto& a : answers) {
                preds.push_back(score_prediction(task, *todo[a.index], a.result.text, wn.get()));
                for (const auto& q : a.quality) {
                    const nlohmann::json qj = {{"verdict", quality_verdict_name(q.verdict)}, {"reasons", q.reasons}};
                    if (a.quality.size() == 1) preds.back().signal_quality = qj;
                    else preds.back().signal_quality.push_back(qj);
                }
                preds.back().rhythm = rhythm_json(a.rhythm);
            }
            for (size_t i = 0; i < preds.size(); ++i) {
                preds[i].ecg_shuffled = o.shuffle_ecgs >= 0;
                if (task == PromptTask::kReport) {
                    const TaskSample& s = *todo[answers[i].index];
                    preds[i].labels = sample_labels(s, own_records.at(s.id), meta, o.read.options());
                }
            }
            append_predictions(o.out, preds);
            if (o.sigkill_after_batches > 0 && ++n_batches >= o.sigkill_after_batches) {
                log::warn("test hook: killing this process with SIGKILL after {} batches", o.sigkill_after_batches);
                std::raise(SIGKILL);
            }
        });
        n_run = r.n_answered;
        run_s = r.seconds;
        for (const auto& k : r.skipped) skipped.push_back(todo[k.index]->id);
    }
    // The summary covers the samples asked for (this shard, --limit), not whatever else the file holds.
    std::set<std::string> asked;
    for (const auto& s : samples) asked.insert(s.id);
    std::vector<Prediction> covered;
    for (auto& p : read_predictions(o.out, false))
        if (asked.count(p.id)) covered.push_back(std::move(p));
    nlohmann::json extra = {{"shard", o.shard}, {"model", o.model.model_dir}, {"model_sha256", provenance["model_sha256"]},
                            {"batch_size", o.batch_size},
                            {"covers", {{"samples_asked", samples.size()}, {"samples_scored", covered.size()},
                                        {"samples_not_scored", samples.size() - covered.size()},
                                        {"samples_missing", n_missing}, {"samples_skipped", skipped.size()}}}};
    if (n_run > 0) extra["samples_per_s_this_run"] = static_cast<double>(n_run) / run_s;
    finish(task, covered, samples, o, o.out, extra);
    // Missing records (not found under --ecg-dir) and skipped samples (unreadable, refused, prompt too long)
    // make the figures cover less than the data: an error unless asked for.
    const int64_t n_not_scored = static_cast<int64_t>(samples.size() - covered.size());
    if ((n_missing > 0 || n_not_scored > 0) && !o.allow_missing)
        throw std::runtime_error(fmt::format("{} sample(s) of the data have no record and {} of the {} asked were not scored{}: the summary "
                                             "covers {}; --allow-missing accepts that",
                                             n_missing, n_not_scored, samples.size(),
                                             skipped.empty() ? "" : " (first skipped: " + skipped[0] + ")", covered.size()));
}

}  // namespace

void add_eval(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<EvalOptions>();
    auto* sub = app.add_subcommand("eval", "Run a dataset (ECG-QA JSON or report JSONL) through a model and score it");
    o->model.add(sub);
    add_read_options(sub, o->read);
    o->window.add(sub, false);
    sub->add_option("--data", o->data, "QA or report data, JSON array or JSONL (README: input data); directories stand for their files");
    sub->add_option("-o,--out", o->out, "predictions JSONL (appended; re-running skips finished samples); summary in OUT.summary.json")
        ->required();
    sub->add_option("--task", o->task, "qa or report")->capture_default_str()->check(CLI::IsMember({"qa", "report"}));
    sub->add_option("--batch-size", o->batch_size, "prompts per generation batch (grouped by length)")->capture_default_str();
    sub->add_option("--shard", o->shard, "i/n: this process evaluates samples i, i+n, i+2n, ...")->capture_default_str();
    sub->add_option("--limit", o->limit, "evaluate at most N samples (of this shard; 0 = all)");
    sub->add_flag("--force-new", o->force_new, "start -o over even when it holds predictions of another run");
    sub->add_flag("--allow-missing", o->allow_missing,
                  "exit 0 even when samples have no record (not found under --ecg-dir) or were skipped (unreadable, refused, too long)");
    sub->add_option("--ecg-dir", o->ecg_dir, "directory of the records of ecg_ids (searched recursively)");
    sub->add_option("--ptbxl-database", o->ptbxl_database, "PTB-XL ptbxl_database.csv: patient features for the prompt");
    sub->add_option("--baseline-data", o->baseline_data, "training samples for the baselines (majority answer per template; consensus report)");
    sub->add_option("--merge", o->merge, "merge these shard prediction files into -o and summarize them (no model run)");
    sub->add_option("-n,--n-predict", o->n_predict, "max new tokens (default: 32 for qa, 200 for report)");
    sub->add_flag("--no-patient", o->no_patient, "leave patient features out of the prompts");
    sub->add_option(
           "--shuffle-ecgs", o->shuffle_ecgs,
           "ablation: ask each sample about another sample's ECG (a seeded permutation of the records without fixed "
           "points; questions, patient features and references stay): how much comes from the signal")
        ->check(CLI::NonNegativeNumber);
    sub->add_option("--test-sigkill-after-batches", o->sigkill_after_batches, "testing: SIGKILL after N batches")->group("");
    sub->callback([&run, o] { run = [o] { run_eval(*o); }; });
}

}  // namespace diagecg::cli
