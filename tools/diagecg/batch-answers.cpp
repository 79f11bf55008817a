#include "batch-answers.h"

#include <fmt/format.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "diagecg/data/ecgqa.h"
#include "diagecg/ecg/read-ecg.h"
#include "diagecg/eval/jsonl-output.h"
#include "diagecg/model/batch-answer.h"
#include "diagecg/util/atomic-file.h"
#include "diagecg/util/byte-reader.h"
#include "diagecg/util/device.h"
#include "diagecg/util/log.h"
#include "diagecg/util/sha256.h"

namespace diagecg::cli {

namespace fs = std::filesystem;

void BatchFlags::add(CLI::App* sub) {
    sub->add_option("-o,--output", out,
                    "JSONL file the answers are appended to, one line per sample (a re-run with the same file skips finished samples; "
                    "settings in FILE.run.json); default: stdout");
    sub->add_option("--batch-size", batch_size, "prompts per generation batch (grouped by length)")->capture_default_str();
    sub->add_flag("--force-new", force_new, "start -o over even when it holds answers of a run with other settings");
    sub->add_flag("--allow-missing", allow_missing, "exit 0 even when records could not be read (they are skipped and counted)");
    sub->add_option("--test-sigkill-after-batches", sigkill_after_batches, "testing: SIGKILL after N batches")->group("");
}

namespace {

std::string resolved(const std::string& p) {
    std::error_code ec;
    const auto c = fs::weakly_canonical(fs::absolute(p), ec);
    return (ec ? fs::absolute(p).lexically_normal() : c).string();
}

// What produced an answers file; a resume with anything different is refused.
nlohmann::json run_settings(PromptTask task, const ModelFlags& model, const PatientFlags& patient, const ReadFlags& read,
                            bool no_patient, int64_t n_predict) {
    nlohmann::json loras = nlohmann::json::array();
    for (const auto& l : model.loras) loras.push_back(l);
    return {{"diagecg_answers", 1},
            {"task", prompt_task_name(task)},
            {"model", resolved(model.model_dir)},
            {"model_sha256", fs::exists(model.model_dir) ? sha256_tree(model.model_dir) : "(missing)"},
            {"loras", loras},
            {"options", {{"n_predict", n_predict}, {"no_patient", no_patient}, {"dtype", model.dtype},
                         {"age", patient.age}, {"sex", patient.sex}, {"height", patient.height_cm}, {"weight", patient.weight_kg},
                         {"sample_rate", read.sample_rate_hz}, {"leads", read.leads}, {"units", read.units}, {"layout", read.layout},
                         {"allow_poor_signal", read.allow_poor_signal}}}};
}

std::string settings_difference(const nlohmann::json& was, const nlohmann::json& now) {
    for (auto& [k, v] : now.items()) {
        if (k == "options" && was.contains(k))
            for (auto& [ok, ov] : v.items())
                if (!was[k].contains(ok) || was[k][ok] != ov)
                    return "option " + ok + " (was " + (was[k].contains(ok) ? was[k][ok].dump() : "unset") + ", now " + ov.dump() + ")";
        if (!was.contains(k) || was[k] != v) return k + " (was " + (was.contains(k) ? was[k].dump() : "unset") + ", now " + v.dump() + ")";
    }
    return "";
}

nlohmann::json quality_json(const std::vector<SignalQuality>& q) {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& s : q) all.push_back({{"verdict", quality_verdict_name(s.verdict)}, {"reasons", s.reasons}});
    return all.size() == 1 ? all[0] : all;
}

}  // namespace

void InputWindowFlags::add(CLI::App* sub, bool with_all_windows) {
    add_preprocess_options(sub, prep);
    sub->add_option("--window", window,
                    "START:DURATION in seconds: the part of the record the model reads (default: the model's preprocessing, "
                    "i.e. the length policy)");
    if (with_all_windows)
        sub->add_flag("--all-windows", all_windows, "one sample per window of the model's length (ids RECORD@STARTs); the tail shorter "
                                                    "than a window is left out");
}

bool InputWindowFlags::any() const {
    return !prep.config_path.empty() || !prep.length_policy.empty() || prep.bandpass || prep.notch_hz >= 0 || !window.empty() ||
           all_windows;
}

PreprocessConfig InputWindowFlags::resolve(const PreprocessConfig& model) const {
    nlohmann::json j = preprocess_config_to_json(model);
    if (!prep.config_path.empty()) {
        nlohmann::json c;
        try {
            c = nlohmann::json::parse(read_file_text(prep.config_path));
        } catch (const nlohmann::json::exception& e) {
            throw std::runtime_error(prep.config_path + ": not valid JSON: " + e.what());
        }
        if (!c.is_object()) throw std::runtime_error(prep.config_path + ": expected a JSON object");
        for (auto& [k, v] : c.items()) j[k] = v;   // unknown keys are refused below, by name
    }
    PreprocessConfig cfg = preprocess_config_from_json(j, prep.config_path.empty() ? "preprocess" : prep.config_path);
    if (!prep.length_policy.empty()) cfg.length_policy = parse_length_policy(prep.length_policy);
    if (prep.bandpass) cfg.bandpass = true;
    if (prep.notch_hz >= 0) cfg.notch_hz = prep.notch_hz;
    if (!window.empty()) {
        const auto colon = window.find(':');
        try {
            size_t n = 0;
            const std::string a = window.substr(0, colon);
            cfg.window_start_s = std::stod(a, &n);
            if (n != a.size() || !(cfg.window_start_s >= 0)) throw std::invalid_argument("");
            if (colon != std::string::npos) {
                const std::string b = window.substr(colon + 1);
                cfg.window_duration_s = std::stod(b, &n);
                if (n != b.size() || !(cfg.window_duration_s > 0)) throw std::invalid_argument("");
            }
        } catch (const std::exception&) {
            throw std::invalid_argument("--window must be START:DURATION (seconds, START >= 0, DURATION > 0), got \"" + window + "\"");
        }
    }
    validate(cfg);
    return cfg;
}

nlohmann::json InputWindowFlags::settings() const {
    return {{"config", prep.config_path.empty() ? "" : resolved(prep.config_path)}, {"length_policy", prep.length_policy},
            {"bandpass", prep.bandpass}, {"notch", prep.notch_hz}, {"window", window}, {"all_windows", all_windows}};
}

nlohmann::json describe_window(const EcgRecord& rec, const PreprocessConfig& cfg, const InputWindowFlags* flags) {
    const int64_t n = rec.sample_rate_hz > 0 ? std::llround(static_cast<double>(rec.n_samples) * cfg.sample_rate_hz / rec.sample_rate_hz) : 0;
    const ModelWindow w = model_window(cfg, n, rec.name);
    const bool chosen = flags && (!flags->window.empty() || flags->all_windows);
    if (w.cut && !chosen)
        log::warn("{}: the record is {:.1f} s long and the model reads {:g} s: it read {:.1f}-{:.1f} s (--window START:DURATION picks "
                  "another part, --all-windows reads each)",
                  rec.name, w.record_duration_s, cfg.duration_s, w.start_s, w.start_s + w.duration_s);
    else if (w.cut || chosen)
        log::info("{}: read {:.1f}-{:.1f} s of {:.1f} s", rec.name, w.start_s, w.start_s + w.duration_s, w.record_duration_s);
    return {{"start_s", w.start_s}, {"duration_s", w.duration_s}, {"record_duration_s", w.record_duration_s}};
}

bool plain_records(const std::vector<std::string>& args, size_t max_records) {
    if (args.empty() || args.size() > max_records) return false;
    for (const auto& a : args) {
        if (!fs::exists(a)) {
            if (a.find_first_of("*?[") != std::string::npos) return false;   // a glob
            continue;                                                        // read_ecg names the missing file
        }
        if (!fs::is_regular_file(a)) return false;
        const auto listed = expand_records({a});
        if (listed.size() != 1 || resolved(listed[0]) != resolved(a)) return false;
    }
    return true;
}

std::vector<BatchJob> record_jobs(const std::vector<std::string>& args, const std::string& question) {
    std::vector<BatchJob> jobs;
    std::map<std::string, int> seen;
    for (const auto& r : expand_records(args)) {
        BatchJob j;
        j.records = {resolved(r)};
        j.question = question;
        j.id = j.records[0];
        if (const int n = ++seen[j.id]; n > 1) j.id += "#" + std::to_string(n);
        jobs.push_back(std::move(j));
    }
    return jobs;
}

void run_batch(PromptTask task, const std::vector<BatchJob>& jobs_in, const ModelFlags& model, const PatientFlags& patient,
               const ReadFlags& read, const InputWindowFlags& window, bool no_patient, int64_t n_predict, const BatchFlags& flags) {
    const std::string name = prompt_task_name(task);
    if (flags.batch_size < 1) throw std::invalid_argument("--batch-size must be >= 1");
    if (jobs_in.empty()) throw std::runtime_error(name + ": no samples to run");
    nlohmann::json settings = run_settings(task, model, patient, read, no_patient, n_predict);
    settings["options"]["preprocess"] = window.settings();

    log::info("{}: loading the model once for {} samples", name, jobs_in.size());
    EcgLlm llm(model.model_dir, {model.loras, parse_load_dtype(model.dtype, parse_device(model.device)), model.token_cache, name});
    const PreprocessConfig prep = window.resolve(llm.preprocess());
    // Each record's header once: patient features, length (windows).
    std::map<std::string, std::optional<EcgRecord>> headers;
    auto header = [&](const std::string& path) -> const std::optional<EcgRecord>& {
        auto it = headers.find(path);
        if (it != headers.end()) return it->second;
        std::optional<EcgRecord> h;
        try {
            h = read_ecg(path, read.options());
        } catch (const std::exception&) {   // unreadable: skipped later with the reader's reason
        }
        return headers.emplace(path, std::move(h)).first->second;
    };
    std::vector<BatchJob> jobs;
    for (const auto& j : jobs_in) {
        if (!window.all_windows) {
            jobs.push_back(j);
            if (window.any()) jobs.back().preprocess = prep;
            continue;
        }
        if (j.records.size() != 1) throw std::invalid_argument("--all-windows reads one-record samples only (" + j.id + " has two)");
        const auto& h = header(j.records[0]);
        const double len_s = h && h->sample_rate_hz > 0 ? static_cast<double>(h->n_samples) / h->sample_rate_hz : 0;
        const double win_s = prep.window_duration_s > 0 ? prep.window_duration_s : prep.duration_s;
        const double first_s = prep.window_start_s >= 0 ? prep.window_start_s : 0;
        for (int64_t k = 0;; ++k) {
            const double t = first_s + static_cast<double>(k) * win_s;
            if (k > 0 && t + win_s > len_s + 1e-6) break;
            BatchJob w = j;
            w.id = j.id + fmt::format("@{:g}s", t);
            w.preprocess = prep;
            w.preprocess->window_start_s = t;
            w.preprocess->window_duration_s = win_s;
            jobs.push_back(std::move(w));
        }
    }
    std::set<std::string> ids;
    for (const auto& j : jobs)
        if (!ids.insert(j.id).second) throw std::invalid_argument(name + ": sample id \"" + j.id + "\" is given twice");

    std::set<std::string> done;
    if (!flags.out.empty()) {
        if (const auto parent = fs::path(flags.out).parent_path(); !parent.empty()) fs::create_directories(parent);
        const std::string settings_file = flags.out + ".run.json";
        if (flags.force_new && fs::exists(flags.out)) {
            log::warn("--force-new: starting {} over", flags.out);
            fs::remove(flags.out);
        }
        const auto lines = read_jsonl_lines(flags.out, /*repair=*/true);
        if (!lines.empty()) {
            if (!fs::exists(settings_file))
                throw std::runtime_error(flags.out + " holds lines but no " + settings_file + " saying how they were made: choose another -o, or --force-new");
            const std::string diff = settings_difference(nlohmann::json::parse(read_file_text(settings_file)), settings);
            if (!diff.empty())
                throw std::runtime_error(flags.out + " was written by another run: its " + diff + " differs; choose another -o, or --force-new to start it over");
        }
        for (const auto& l : lines) {
            if (!l.is_object() || !l.contains("id") || !l["id"].is_string())
                throw std::runtime_error(flags.out + ": a line without a string \"id\": " + l.dump().substr(0, 200));
            done.insert(l["id"].get<std::string>());
        }
        write_file_atomic(settings_file, settings.dump(2) + "\n");
    }
    std::vector<const BatchJob*> todo;
    for (const auto& j : jobs)
        if (!done.count(j.id)) todo.push_back(&j);
    log::info("{}: {} samples, {} done already, {} to run", name, jobs.size(), jobs.size() - todo.size(), todo.size());
    if (todo.empty()) return;

    std::vector<BatchItem> items;
    std::vector<nlohmann::json> windows;   // per item, for its line
    for (const auto* j : todo) {
        BatchItem it;
        it.records = j->records;
        it.question = j->question;
        it.preprocess = j->preprocess;
        const auto& h = header(j->records.at(0));   // patient features: the flags, else the first record's header
        it.patient = h ? patient.text(&*h) : patient.text(nullptr);
        nlohmann::json w = nlohmann::json::array();
        const PreprocessConfig& used = j->preprocess ? *j->preprocess : llm.preprocess();
        for (const auto& r : j->records) {
            const auto& hr = header(r);
            try {
                w.push_back(hr ? describe_window(*hr, used, &window) : nlohmann::json());
            } catch (const std::exception&) {
                w.push_back(nlohmann::json());   // the window does not fit the record: skipped with that reason
            }
        }
        windows.push_back(w.size() == 1 ? w[0] : w);
        items.push_back(std::move(it));
    }
    BatchOptions bo;
    bo.task = task;
    bo.prompt.patient_features = !no_patient;
    bo.batch_size = flags.batch_size;
    bo.n_predict = n_predict;
    bo.input = read.input();
    bo.label = name;
    int64_t n_batches = 0;
    const BatchRun run = answer_in_batches(llm, items, bo, [&](std::vector<BatchAnswer>& answers) {
        std::vector<nlohmann::json> lines;
        for (auto& a : answers) {
            const BatchJob& j = *todo[a.index];
            std::string text = a.result.text;
            while (!text.empty() && text.front() == ' ') text.erase(text.begin());
            nlohmann::json l = {{"id", j.id}};
            if (j.records.size() == 1) l["record"] = j.records[0];
            else l["records"] = j.records;
            if (task == PromptTask::kQa) l["question"] = j.question;
            l["patient"] = bo.prompt.patient_features ? items[a.index].patient : "";
            if (task == PromptTask::kQa) {
                l["answer"] = text;
                l["answers"] = split_answer(text);
            } else {
                l["report"] = text;
            }
            l["stop_reason"] = a.result.stop_reason;
            l["n_tokens"] = a.result.tokens.size();
            l["signal_quality"] = quality_json(a.quality);
            if (!a.rhythm.empty()) l["rhythm"] = rhythm_json(a.rhythm);
            l["window"] = windows[a.index];
            for (auto& [k, v] : j.extra.items()) l[k] = v;
            lines.push_back(std::move(l));
        }
        if (flags.out.empty()) {
            std::string text;
            for (const auto& l : lines) text += l.dump() + "\n";
            print_result(text);
        } else {
            append_jsonl_synced(flags.out, lines);
        }
        if (flags.sigkill_after_batches > 0 && ++n_batches >= flags.sigkill_after_batches) {
            log::warn("test hook: killing this process with SIGKILL after {} batches", n_batches);
            std::raise(SIGKILL);
        }
    });
    log::info("{}: {} answered in {:.1f} s, {} skipped{}", name, run.n_answered, run.seconds, run.skipped.size(),
              flags.out.empty() ? "" : ", in " + flags.out);
    if (!run.skipped.empty() && !flags.allow_missing)
        throw std::runtime_error(std::to_string(run.skipped.size()) + " of " + std::to_string(todo.size()) + " samples skipped (first: " +
                                 todo[run.skipped[0].index]->id + ": " + run.skipped[0].why + "); --allow-missing accepts that");
}

}  // namespace diagecg::cli
