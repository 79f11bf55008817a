#include "diagecg/data/task-data.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "diagecg/data/ecgqa.h"
#include "diagecg/data/ptbxl-meta.h"
#include "diagecg/data/question-family.h"
#include "diagecg/ecg/record-set.h"
#include "diagecg/util/byte-reader.h"
#include "diagecg/util/log.h"

namespace diagecg {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The fields each task's items may carry (task-data.h); anything else is a typo and an error.
const std::set<std::string> kQaFields = {"id", "question", "answer", "record", "records", "ecg_id", "patient", "template_id",
                                         "question_id", "sample_id", "question_type", "attribute_type", "attribute", "ecg_path"};
const std::set<std::string> kReportFields = {"id", "report", "record", "records", "ecg_id", "patient", "split"};

std::string join_names(const std::set<std::string>& s) {
    std::string out;
    for (const auto& k : s) out += (out.empty() ? "" : ", ") + k;
    return out;
}

// The items of a JSON array file or a JSONL file, each with where it is ("FILE item 3" / "FILE line 4").
std::vector<std::pair<json, std::string>> read_items(const std::string& f) {
    std::vector<std::pair<json, std::string>> items;
    const std::string text = read_file_text(f);
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && text[first] == '[') {
        json doc;
        try {
            doc = json::parse(text);
        } catch (const json::exception& e) {
            throw std::runtime_error(f + ": not valid JSON: " + e.what());
        }
        for (size_t i = 0; i < doc.size(); ++i) items.emplace_back(doc[i], f + " item " + std::to_string(i));
        return items;
    }
    std::istringstream in(text);
    std::string line;
    int64_t ln = 0;
    while (std::getline(in, line)) {
        ++ln;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        try {
            items.emplace_back(json::parse(line), f + " line " + std::to_string(ln));
        } catch (const json::exception& e) {
            throw std::runtime_error(f + " line " + std::to_string(ln) + ": invalid JSON: " + e.what());
        }
    }
    return items;
}

void check_fields(const json& j, const std::string& where, const std::set<std::string>& known, PromptTask task) {
    if (!j.is_object()) throw std::runtime_error(where + ": expected a JSON object");
    for (const auto& [k, v] : j.items())
        if (!known.count(k))
            throw std::runtime_error(where + ": unknown field \"" + k + "\" for " + prompt_task_name(task) + " data (known: " +
                                     join_names(known) + ")");
}

// Absolute, with symlinks resolved: the same file gives the same id from any cwd and through any link.
std::string resolved_path(const fs::path& p) {
    std::error_code ec;
    const fs::path c = fs::weakly_canonical(fs::absolute(p), ec);
    return (ec ? fs::absolute(p).lexically_normal() : c).string();
}

[[noreturn]] void fail(const std::string& where, const std::string& what) { throw std::runtime_error(where + ": " + what); }

std::string get_string(const json& j, const std::string& key, const std::string& where) {
    if (!j[key].is_string()) fail(where, "field \"" + key + "\" must be a string, got " + j[key].dump());
    return j[key].get<std::string>();
}

// "record": "a.hea" | ["a.hea", "b.hea"]; "records": [...]: record files, relative ones from the data file's folder.
std::vector<std::string> get_records(const json& j, const std::string& f, const std::string& where) {
    std::vector<std::string> out;
    for (const char* key : {"record", "records"}) {
        if (!j.contains(key)) continue;
        const json& v = j[key];
        std::vector<json> list = v.is_array() ? std::vector<json>(v.begin(), v.end()) : std::vector<json>{v};
        for (const auto& r : list) {
            if (!r.is_string() || r.get<std::string>().empty()) fail(where, std::string("field \"") + key + "\" must hold record paths, got " + v.dump());
            const fs::path p(r.get<std::string>());
            out.push_back(resolved_path(p.is_absolute() ? p : fs::path(f).parent_path() / p));
        }
    }
    return out;
}

std::vector<int64_t> get_ecg_ids(const json& j, const std::string& where) {
    std::vector<int64_t> out;
    if (!j.contains("ecg_id")) return out;
    const json& v = j["ecg_id"];
    for (const auto& e : v.is_array() ? std::vector<json>(v.begin(), v.end()) : std::vector<json>{v}) {
        int64_t id = 0;
        if (e.is_number_integer()) id = e.get<int64_t>();
        else if (e.is_string() && !e.get<std::string>().empty() && e.get<std::string>().find_first_not_of("0123456789") == std::string::npos)
            id = std::stoll(e.get<std::string>());
        if (id <= 0) fail(where, "field \"ecg_id\" must hold positive integers, got " + v.dump());
        out.push_back(id);
    }
    return out;
}

std::string patient_text(const json& pj, const std::string& where) {
    if (!pj.is_object()) fail(where, "field \"patient\" must be an object {\"age\", \"sex\" (0 male, 1 female), \"height\", \"weight\"}");
    PtbxlRecord pr;
    for (const auto& [k, v] : pj.items()) {
        if (!v.is_number()) fail(where, "patient field \"" + k + "\" must be a number, got " + v.dump());
        if (k == "age") pr.age = v.get<double>();
        else if (k == "sex") pr.sex = v.get<int>();
        else if (k == "height") pr.height_cm = v.get<double>();
        else if (k == "weight") pr.weight_kg = v.get<double>();
        else fail(where, "unknown patient field \"" + k + "\" (known: age, sex, height, weight)");
    }
    return patient_features_text(pr);
}

}  // namespace

std::vector<TaskSample> read_task_samples(PromptTask task, const std::vector<std::string>& files, const std::string& ecg_dir,
                                          int64_t* n_missing, bool resolve_records, bool require_targets) {
    std::vector<TaskSample> out;
    std::map<int64_t, std::string> index;
    auto record_of = [&](int64_t id) -> std::string {
        if (!resolve_records) return "-";
        if (ecg_dir.empty())
            throw std::invalid_argument("records are given by ecg_id: an ECG directory is needed to find them (data.ecg_dir in a finetune config, --ecg-dir for eval)");
        if (index.empty()) index = index_ecg_records(ecg_dir);
        const auto it = index.find(id);
        return it == index.end() ? "" : resolved_path(it->second);
    };
    int64_t missing = 0;
    // A directory stands for the .json/.jsonl files in it (ECG-QA publishes each split as numbered chunks).
    std::vector<std::string> expanded;
    for (const auto& f : files) {
        if (!fs::is_directory(f)) {
            expanded.push_back(f);
            continue;
        }
        std::vector<std::string> in_dir;
        for (const auto& e : fs::directory_iterator(f))
            if (e.is_regular_file() && (e.path().extension() == ".json" || e.path().extension() == ".jsonl"))
                in_dir.push_back(e.path().string());
        if (in_dir.empty()) throw std::runtime_error(f + ": no .json/.jsonl files in this directory");
        std::sort(in_dir.begin(), in_dir.end());
        expanded.insert(expanded.end(), in_dir.begin(), in_dir.end());
    }
    const bool qa = task == PromptTask::kQa;
    for (const auto& f : expanded) {
        for (const auto& [j, where] : read_items(f)) {
            check_fields(j, where, qa ? kQaFields : kReportFields, task);
            TaskSample s;
            const std::string target_key = qa ? "answer" : "report";
            if (qa) {
                if (!j.contains("question")) fail(where, "missing field \"question\"");
                s.question = get_string(j, "question", where);
                if (s.question.empty()) fail(where, "empty \"question\"");
            }
            if (j.contains(target_key)) {
                const json& t = j[target_key];
                if (qa && t.is_array()) {
                    for (const auto& a : t) {
                        if (!a.is_string()) fail(where, "field \"answer\" must hold strings, got " + t.dump());
                        s.answers.push_back(a.get<std::string>());
                    }
                } else if (t.is_string()) {
                    if (qa) s.answers = split_answer(t.get<std::string>());
                    else s.target = t.get<std::string>();
                } else {
                    fail(where, "field \"" + target_key + "\" must be " + (qa ? "a list of strings or a string" : "a string") + ", got " + t.dump());
                }
                if (qa) {
                    if (s.answers.empty()) fail(where, "empty \"answer\"");
                    s.target = join_answer(s.answers);
                }
            } else if (require_targets) {
                fail(where, "missing field \"" + target_key + "\" (the reference " + (qa ? "answer" : "report") + " to score against)");
            }
            s.records = get_records(j, f, where);
            s.ecg_ids = get_ecg_ids(j, where);
            if (s.records.empty() && s.ecg_ids.empty()) fail(where, "missing field \"record\" (a record file; or \"records\" or \"ecg_id\")");
            if (s.records.empty()) {
                for (const int64_t e : s.ecg_ids) s.records.push_back(record_of(e));
            }
            const size_t n_max = qa ? 2 : 1;
            if (s.records.size() > n_max)
                fail(where, qa ? "a question is about one record, or two for a comparison" : "a report is about one record");
            if (j.contains("patient")) s.patient = patient_text(j["patient"], where);
            if (qa) {
                const QuestionFamily* fam = match_question_family(s.question);
                s.template_id = j.contains("template_id") ? j["template_id"].get<int>() : (fam ? fam->template_id : -1);
                s.question_type = j.contains("question_type") ? get_string(j, "question_type", where) : (fam ? fam->question_type : "(no template)");
                s.attribute_type = j.contains("attribute_type") ? get_string(j, "attribute_type", where) : (fam ? fam->attribute_type : "(no template)");
            }
            if (j.contains("id")) {
                s.id = j["id"].is_string() ? j["id"].get<std::string>() : j["id"].dump();
            } else if (qa && j.contains("question_id") && j.contains("sample_id")) {
                s.id = "q" + j["question_id"].dump() + "-s" + j["sample_id"].dump();
            } else {
                // independent of the cwd: ecg_ids, else the records' absolute paths (+ the question)
                std::string key;
                if (!s.ecg_ids.empty()) {
                    for (const int64_t e : s.ecg_ids) key += (key.empty() ? "" : "+") + std::to_string(e);
                } else {
                    for (const auto& r : s.records) key += (key.empty() ? "" : "+") + r;
                }
                s.id = qa ? key + "|" + s.question : key;
            }
            if (std::any_of(s.records.begin(), s.records.end(), [](const std::string& r) { return r.empty(); }) ||
                (!qa && require_targets && s.target.empty())) {
                ++missing;
                log::debug("{}: sample {} left out: {}", where, s.id,
                          s.target.empty() && !qa && require_targets ? "empty report" : "ECG record not found under " + ecg_dir);
                continue;
            }
            if (!resolve_records && !s.ecg_ids.empty()) s.records.clear();
            out.push_back(std::move(s));
        }
    }
    // The same id twice (two questions on one record, a record listed twice) stays two samples: #2, #3, ...
    std::map<std::string, int> seen;
    for (auto& s : out)
        if (const int n = ++seen[s.id]; n > 1) s.id += "#" + std::to_string(n);
    if (n_missing) *n_missing = missing;
    if (missing > 0)
        log::warn("{} sample(s) left out: ECG record not found under {} (or empty report; --log-level debug lists them)", missing, ecg_dir);
    return out;
}

}  // namespace diagecg
