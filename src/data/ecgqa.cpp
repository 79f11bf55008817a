// ECG-QA file readers/writers and answer comparison; formats in include/diagecg/data/ecgqa.h.
#include "diagecg/data/ecgqa.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "diagecg/data/ptbxl-meta.h"
#include "diagecg/util/atomic-file.h"
#include "diagecg/util/byte-reader.h"

namespace diagecg {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxJsonBytes = 1ull << 30;  // the published train.json is 157 MB

[[noreturn]] void fail_sample(const std::string& path, size_t index, const std::string& msg) {
    throw std::runtime_error(fmt::format("{}: sample {}: {}", path, index, msg));
}

int64_t get_int(const json& o, const char* key, const std::string& path, size_t index) {
    const auto it = o.find(key);
    if (it == o.end()) fail_sample(path, index, fmt::format("missing '{}'", key));
    if (!it->is_number_integer()) fail_sample(path, index, fmt::format("'{}' is not an integer: {}", key, it->dump()));
    return it->get<int64_t>();
}

std::string get_string(const json& o, const char* key, const std::string& path, size_t index) {
    const auto it = o.find(key);
    if (it == o.end()) fail_sample(path, index, fmt::format("missing '{}'", key));
    if (!it->is_string()) fail_sample(path, index, fmt::format("'{}' is not a string: {}", key, it->dump()));
    return it->get<std::string>();
}

std::vector<std::string> get_string_list(const json& o, const char* key, bool null_ok, const std::string& path,
                                         size_t index) {
    const auto it = o.find(key);
    if (it == o.end()) fail_sample(path, index, fmt::format("missing '{}'", key));
    std::vector<std::string> out;
    if (it->is_null() && null_ok) return out;
    if (!it->is_array()) fail_sample(path, index, fmt::format("'{}' is not a list: {}", key, it->dump()));
    for (const auto& v : *it) {
        if (!v.is_string()) fail_sample(path, index, fmt::format("'{}' holds a non-string: {}", key, v.dump()));
        out.push_back(v.get<std::string>());
    }
    return out;
}

int64_t parse_tsv_int(const std::string& path, int64_t line, std::string_view cell) {
    const auto v = parse_int64(trim_view(cell));
    if (!v) throw std::runtime_error(fmt::format("{}:{}: \"{}\" is not an integer", path, line, std::string(cell)));
    return *v;
}

}  // namespace

std::string default_sample_id(const QaSample& s) {
    return fmt::format("q{}-s{}", s.question_id, s.sample_id);
}

std::vector<QaSample> read_ecgqa_json(const std::string& path) {
    json doc;
    try {
        doc = json::parse(read_file_text(path, kMaxJsonBytes));
    } catch (const json::parse_error& e) {
        throw std::runtime_error(fmt::format("{}: not valid JSON: {}", path, e.what()));
    }
    if (!doc.is_array()) throw std::runtime_error(path + ": expected a JSON array of ECG-QA samples");
    std::vector<QaSample> out;
    out.reserve(doc.size());
    for (size_t i = 0; i < doc.size(); ++i) {
        const json& o = doc[i];
        if (!o.is_object()) fail_sample(path, i, "not a JSON object");
        QaSample s;
        const int64_t template_id = get_int(o, "template_id", path, i);
        if (template_id < 1 || template_id > 1000000)
            fail_sample(path, i, fmt::format("template_id {} out of range", template_id));
        s.template_id = static_cast<int>(template_id);
        s.question_id = get_int(o, "question_id", path, i);
        s.sample_id = get_int(o, "sample_id", path, i);
        s.question_type = get_string(o, "question_type", path, i);
        s.attribute_type = get_string(o, "attribute_type", path, i);
        s.question = get_string(o, "question", path, i);
        if (s.question.empty()) fail_sample(path, i, "empty 'question'");
        s.answer = get_string_list(o, "answer", false, path, i);
        if (s.answer.empty()) fail_sample(path, i, "empty 'answer' list");
        s.attribute = get_string_list(o, "attribute", true, path, i);
        // Our extension for ECGs outside PTB-XL: "record", a list of record files, in place of "ecg_id".
        if (o.find("record") != o.end()) {
            s.records = get_string_list(o, "record", false, path, i);
            if (s.records.empty() || s.records.size() > 2) fail_sample(path, i, "'record' must list one or two record files");
        }
        const auto ecg = o.find("ecg_id");
        if (ecg == o.end()) {
            if (s.records.empty()) fail_sample(path, i, "missing 'ecg_id' (or diagecg's 'record')");
        } else {
            if (!ecg->is_array() || ecg->empty()) fail_sample(path, i, "'ecg_id' is not a non-empty list: " + ecg->dump());
            for (const auto& v : *ecg) {
                if (!v.is_number_integer() || v.get<int64_t>() <= 0)
                    fail_sample(path, i, "'ecg_id' holds something other than a positive integer: " + v.dump());
                s.ecg_ids.push_back(v.get<int64_t>());
            }
        }
        const auto id = o.find("id");
        if (id != o.end() && !id->is_string()) fail_sample(path, i, "'id' is not a string: " + id->dump());
        s.id = id != o.end() ? id->get<std::string>() : default_sample_id(s);
        out.push_back(std::move(s));
    }
    return out;
}

void write_ecgqa_json(const std::string& path, const std::vector<QaSample>& samples) {
    nlohmann::ordered_json doc = nlohmann::ordered_json::array();
    for (const auto& s : samples) {
        nlohmann::ordered_json o;  // keys in the published order
        if (s.id != default_sample_id(s)) o["id"] = s.id;
        o["template_id"] = s.template_id;
        o["question_id"] = s.question_id;
        o["sample_id"] = s.sample_id;
        o["question_type"] = s.question_type;
        o["attribute_type"] = s.attribute_type;
        o["question"] = s.question;
        o["answer"] = s.answer;
        if (!s.ecg_ids.empty() || s.records.empty()) o["ecg_id"] = s.ecg_ids;
        if (!s.records.empty()) o["record"] = s.records;
        if (s.attribute.empty()) {
            o["attribute"] = nullptr;
        } else {
            o["attribute"] = s.attribute;
        }
        doc.push_back(std::move(o));
    }
    write_file_atomic(path, doc.dump(4) + "\n");
}

std::map<int, std::vector<std::string>> read_answers_for_each_template(const std::string& path) {
    const CsvTable t = read_csv_table(path);
    const int c_id = t.required_column("template_id"), c_classes = t.required_column("classes");
    std::map<int, std::vector<std::string>> out;
    for (size_t r = 0; r < t.rows.size(); ++r) {
        const auto id = parse_int64(trim_view(t.rows[r][static_cast<size_t>(c_id)]));
        if (!id || *id < 1)
            throw std::runtime_error(fmt::format("{}:{}: template_id \"{}\" is not a positive integer", path,
                                                 t.row_lines[r], t.rows[r][static_cast<size_t>(c_id)]));
        std::vector<std::string> classes;
        try {
            classes = parse_python_string_list(t.rows[r][static_cast<size_t>(c_classes)]);
        } catch (const std::invalid_argument& e) {
            throw std::runtime_error(fmt::format("{}:{}: classes: {}", path, t.row_lines[r], e.what()));
        }
        if (classes.empty()) throw std::runtime_error(fmt::format("{}:{}: empty classes list", path, t.row_lines[r]));
        if (!out.emplace(static_cast<int>(*id), std::move(classes)).second)
            throw std::runtime_error(fmt::format("{}:{}: template_id {} appears twice", path, t.row_lines[r], *id));
    }
    return out;
}

std::map<int, EcgQaTemplate> read_template_catalogue(const std::string& path) {
    const CsvTable t = read_csv_table(path);
    const int c_id = t.required_column("template_id"), c_qtype = t.required_column("question_type");
    const int c_atype = t.required_column("attribute_type"), c_example = t.required_column("example_question");
    std::map<int, EcgQaTemplate> out;
    for (size_t r = 0; r < t.rows.size(); ++r) {
        const auto& row = t.rows[r];
        const auto id = parse_int64(trim_view(row[static_cast<size_t>(c_id)]));
        if (!id || *id < 1)
            throw std::runtime_error(fmt::format("{}:{}: template_id \"{}\" is not a positive integer", path,
                                                 t.row_lines[r], row[static_cast<size_t>(c_id)]));
        EcgQaTemplate e;
        e.template_id = static_cast<int>(*id);
        e.question_type = std::string(trim_view(row[static_cast<size_t>(c_qtype)]));
        e.attribute_type = std::string(trim_view(row[static_cast<size_t>(c_atype)]));
        e.example_question = std::string(trim_view(row[static_cast<size_t>(c_example)]));
        if (e.question_type.empty() || e.attribute_type.empty())
            throw std::runtime_error(fmt::format("{}:{}: empty question_type or attribute_type", path, t.row_lines[r]));
        if (!out.emplace(e.template_id, e).second)
            throw std::runtime_error(fmt::format("{}:{}: template_id {} appears twice", path, t.row_lines[r], *id));
    }
    return out;
}

std::vector<int64_t> read_ecg_split(const std::string& path) {
    const std::string text = read_file_text(path);
    std::vector<int64_t> out;
    std::set<int64_t> seen;
    int64_t line_no = 0;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        const std::string_view line = trim_view(std::string_view(text).substr(pos, end - pos));
        pos = end + 1;
        ++line_no;
        if (line.empty()) continue;
        const size_t tab = line.find('\t');
        if (tab == std::string_view::npos)
            throw std::runtime_error(fmt::format("{}:{}: expected \"index<TAB>ecg_id\", got \"{}\"", path, line_no,
                                                 std::string(line.substr(0, 40))));
        parse_tsv_int(path, line_no, line.substr(0, tab));
        const int64_t ecg_id = parse_tsv_int(path, line_no, line.substr(tab + 1));
        if (ecg_id <= 0)
            throw std::runtime_error(fmt::format("{}:{}: ecg_id {} is not positive", path, line_no, ecg_id));
        if (!seen.insert(ecg_id).second)
            throw std::runtime_error(fmt::format("{}:{}: ecg_id {} appears twice", path, line_no, ecg_id));
        out.push_back(ecg_id);
    }
    return out;
}

std::string normalise_answer(const std::string& answer) {
    std::string out;
    bool space = false;
    for (const char c : answer) {
        if (std::isspace(static_cast<unsigned char>(c))) {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

bool answers_match(const std::vector<std::string>& pred, const std::vector<std::string>& ref) {
    std::set<std::string> a, b;
    for (const auto& p : pred) a.insert(normalise_answer(p));
    for (const auto& r : ref) b.insert(normalise_answer(r));
    return a == b;
}

std::string join_answer(std::vector<std::string> answers) {
    std::map<std::string, std::string> by_key;  // normalised -> first spelling, whitespace collapsed
    for (const auto& a : answers) {
        if (a.find(';') != std::string::npos)
            throw std::invalid_argument("answer \"" + a + "\" contains ';', the answer-list separator");
        const std::string key = normalise_answer(a);
        if (key.empty() || by_key.count(key)) continue;
        std::string spelled;
        for (const char c : a) {
            if (std::isspace(static_cast<unsigned char>(c))) {
                if (!spelled.empty() && spelled.back() != ' ') spelled += ' ';
            } else {
                spelled += c;
            }
        }
        while (!spelled.empty() && spelled.back() == ' ') spelled.pop_back();
        by_key.emplace(key, spelled);
    }
    std::string out;
    for (const auto& [key, spelled] : by_key) out += (out.empty() ? "" : "; ") + spelled;
    return out;
}

std::vector<std::string> split_answer(const std::string& text) {
    std::vector<std::string> out;
    size_t b = 0;
    while (b <= text.size()) {
        size_t e = text.find(';', b);
        if (e == std::string::npos) e = text.size();
        const std::string_view piece = trim_view(std::string_view(text).substr(b, e - b));
        if (!piece.empty()) out.emplace_back(piece);
        b = e + 1;
    }
    return out;
}

}  // namespace diagecg
