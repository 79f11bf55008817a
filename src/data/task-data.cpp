#include "diagecg/data/task-data.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "diagecg/data/ecgqa.h"
#include "diagecg/data/ptbxl-meta.h"
#include "diagecg/ecg/record-set.h"
#include "diagecg/util/byte-reader.h"
#include "diagecg/util/log.h"

namespace diagecg {

namespace fs = std::filesystem;

std::vector<TaskSample> read_task_samples(PromptTask task, const std::vector<std::string>& files, const std::string& ecg_dir,
                                          int64_t* n_missing, bool resolve_records) {
    std::vector<TaskSample> out;
    std::map<int64_t, std::string> index;
    auto record_of = [&](int64_t id) -> std::string {
        if (!resolve_records) return "-";
        if (ecg_dir.empty())
            throw std::invalid_argument("records are given by ecg_id: an ECG directory is needed to find them (data.ecg_dir in a finetune config, --ecg-dir for eval)");
        if (index.empty()) index = index_ecg_records(ecg_dir);
        const auto it = index.find(id);
        return it == index.end() ? "" : it->second;
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
    for (const auto& f : expanded) {
        if (task == PromptTask::kQa) {
            for (const auto& q : read_ecgqa_json(f)) {
                TaskSample s;
                s.id = q.id;
                s.question = q.question;
                s.answers = q.answer;
                s.target = join_answer(q.answer);
                s.question_type = q.question_type;
                s.attribute_type = q.attribute_type;
                s.template_id = q.template_id;
                s.ecg_ids = q.ecg_ids;
                if (!q.records.empty()) {
                    for (const auto& r : q.records) {
                        const fs::path p(r);
                        s.records.push_back(p.is_absolute() ? r : (fs::path(f).parent_path() / p).lexically_normal().string());
                    }
                } else {
                    for (const int64_t e : q.ecg_ids) s.records.push_back(record_of(e));
                    if (!resolve_records) s.records.clear();
                }
                if (std::any_of(s.records.begin(), s.records.end(), [](const std::string& r) { return r.empty(); })) {
                    ++missing;
                    continue;
                }
                out.push_back(std::move(s));
            }
        } else {
            // JSON array, or JSONL: {"ecg_id": 123 | "record": "path", "report": "..."}
            std::vector<nlohmann::json> items;
            const std::string text = read_file_text(f);
            const auto first = text.find_first_not_of(" \t\r\n");
            if (first != std::string::npos && text[first] == '[') {
                for (const auto& j : nlohmann::json::parse(text)) items.push_back(j);
            } else {
                std::istringstream in(text);
                std::string line;
                int64_t ln = 0;
                while (std::getline(in, line)) {
                    ++ln;
                    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
                    try {
                        items.push_back(nlohmann::json::parse(line));
                    } catch (const nlohmann::json::exception& e) {
                        throw std::runtime_error(f + " line " + std::to_string(ln) + ": invalid JSON: " + e.what());
                    }
                }
            }
            for (size_t i = 0; i < items.size(); ++i) {
                const auto& j = items[i];
                const std::string where = f + " item " + std::to_string(i);
                if (!j.is_object() || !j.contains("report") || !j["report"].is_string())
                    throw std::runtime_error(where + ": expected an object with a \"report\" string");
                TaskSample s;
                s.target = j["report"].get<std::string>();
                if (j.contains("record")) {
                    // relative record paths are taken from the data file's folder
                    const fs::path r(j["record"].get<std::string>());
                    s.records.push_back(r.is_absolute() ? r.string() : (fs::path(f).parent_path() / r).lexically_normal().string());
                } else if (j.contains("ecg_id")) {
                    const int64_t id = j["ecg_id"].is_string() ? std::stoll(j["ecg_id"].get<std::string>()) : j["ecg_id"].get<int64_t>();
                    s.ecg_ids.push_back(id);
                    s.records.push_back(record_of(id));
                } else {
                    throw std::runtime_error(where + ": needs \"ecg_id\" or \"record\"");
                }
                if (j.contains("patient")) {   // {"age", "sex" (0 male, 1 female), "height", "weight"}: when no metadata table has it
                    const auto& pj = j["patient"];
                    PtbxlRecord pr;
                    if (pj.contains("age")) pr.age = pj["age"].get<double>();
                    if (pj.contains("sex")) pr.sex = pj["sex"].get<int>();
                    if (pj.contains("height")) pr.height_cm = pj["height"].get<double>();
                    if (pj.contains("weight")) pr.weight_kg = pj["weight"].get<double>();
                    s.patient = patient_features_text(pr);
                }
                s.id = j.contains("id") ? (j["id"].is_string() ? j["id"].get<std::string>() : j["id"].dump())
                                        : (s.ecg_ids.empty() ? s.records[0] : std::to_string(s.ecg_ids[0]));
                if (s.records[0].empty() || s.target.empty()) {
                    ++missing;
                    continue;
                }
                if (!resolve_records && !s.ecg_ids.empty()) s.records.clear();
                out.push_back(std::move(s));
            }
        }
    }
    if (n_missing) *n_missing = missing;
    if (missing > 0) log::warn("{} sample(s) left out: ECG record not found under {} (or empty target)", missing, ecg_dir);
    return out;
}

}  // namespace diagecg
