// PTB-XL metadata readers; the file layout is described in include/diagecg/data/ptbxl-meta.h.
#include "diagecg/data/ptbxl-meta.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <initializer_list>
#include <regex>
#include <stdexcept>

#include <fmt/format.h>

#include "diagecg/util/byte-reader.h"

namespace diagecg {
namespace {

constexpr uint64_t kMaxCsvBytes = 1ull << 30;

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool is_missing(std::string_view cell) {
    const std::string_view t = trim_view(cell);
    return t.empty() || lower(std::string(t)) == "nan";
}

[[noreturn]] void fail_row(const CsvTable& t, size_t row, std::string_view column, const std::string& msg) {
    throw std::runtime_error(fmt::format("{}:{}: column '{}': {}", t.path, t.row_lines[row], column, msg));
}

// A text cell: trimmed, "" for a missing value.
std::string text_cell(const CsvTable& t, size_t row, int col) {
    const std::string& c = t.rows[row][static_cast<size_t>(col)];
    return is_missing(c) ? std::string() : std::string(trim_view(c));
}

std::optional<double> number_cell(const CsvTable& t, size_t row, int col, std::string_view name) {
    const std::string& c = t.rows[row][static_cast<size_t>(col)];
    if (is_missing(c)) return std::nullopt;
    const auto v = parse_finite_double(trim_view(c));
    if (!v) fail_row(t, row, name, fmt::format("\"{}\" is not a number", std::string(trim_view(c)).substr(0, 40)));
    return v;
}

// Whole numbers may be written "15709.0" (pandas writes integer columns with NaNs as floats).
std::optional<int64_t> integer_cell(const CsvTable& t, size_t row, int col, std::string_view name) {
    const auto v = number_cell(t, row, col, name);
    if (!v) return std::nullopt;
    if (std::floor(*v) != *v || std::fabs(*v) > 9e15)
        fail_row(t, row, name, fmt::format("{} is not a whole number", *v));
    return static_cast<int64_t>(*v);
}

bool flag_cell(const CsvTable& t, size_t row, int col, std::string_view name) {
    const auto v = number_cell(t, row, col, name);
    return v && *v != 0;
}

const std::array<std::string, 12> kLeadCodes = {"i",  "ii", "iii", "avr", "avl", "avf",
                                                "v1", "v2", "v3",  "v4",  "v5",  "v6"};

bool has(const std::string& s, const char* part) {
    return s.find(part) != std::string::npos;
}

bool all_digits(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
    for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
        s.replace(p, from.size(), to);
}

int lead_index(const std::string& code) {
    for (size_t i = 0; i < kLeadCodes.size(); ++i)
        if (kLeadCodes[i] == code) return static_cast<int>(i);
    return -1;
}

uint16_t lead_bits(std::initializer_list<const char*> codes) {
    uint16_t mask = 0;
    for (const char* c : codes) mask |= static_cast<uint16_t>(1u << lead_index(c));
    return mask;
}

// ECG-QA's positions_to_leads ("peripheral" added: ECG-QA's table misspells that key).
uint16_t position_leads(const std::string& key) {
    static const std::map<std::string, uint16_t> m = {
        {"chest", lead_bits({"v1", "v2", "v3", "v4", "v5", "v6"})},
        {"vleads", lead_bits({"v1", "v2", "v3", "v4", "v5", "v6"})},
        {"precordial", lead_bits({"v1", "v2", "v3", "v4", "v5", "v6"})},
        {"limb", lead_bits({"i", "ii", "iii", "avr", "avl", "avf"})},
        {"peripheral", lead_bits({"i", "ii", "iii", "avr", "avl", "avf"})},
        {"anterior", lead_bits({"v3", "v4"})},
        {"anterolateral", lead_bits({"i", "avl", "v3", "v4", "v5", "v6"})},
        {"anteroseptal", lead_bits({"v1", "v2", "v3", "v4"})},
        {"inferior", lead_bits({"ii", "iii", "avf"})},
        {"inferolateral", lead_bits({"i", "ii", "iii", "avl", "avf", "v5", "v6"})},
        {"inferoseptal", lead_bits({"ii", "iii", "avf", "v1", "v2"})},
        {"lateral", lead_bits({"i", "avl", "v5", "v6"})},
        {"highlateral", lead_bits({"i", "avl"})},
        {"standard", 0xFFF},
        {"lateralchest", lead_bits({"i", "avl", "v1", "v2", "v3", "v4", "v5", "v6"})}};
    const auto it = m.find(key);
    return it == m.end() ? 0 : it->second;
}

size_t skip_ws(std::string_view s, size_t i) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    return i;
}

// A Python string literal starting at s[i] ('...' or "..."); i ends after the closing quote.
std::string parse_python_string(std::string_view s, size_t& i) {
    if (i >= s.size() || (s[i] != '\'' && s[i] != '"'))
        throw std::invalid_argument(fmt::format("expected a quoted string at offset {}", i));
    const char q = s[i++];
    std::string out;
    while (i < s.size() && s[i] != q) {
        if (s[i] == '\\' && i + 1 < s.size()) {
            const char e = s[i + 1];
            out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
            i += 2;
        } else {
            out += s[i++];
        }
    }
    if (i >= s.size()) throw std::invalid_argument("unterminated string");
    ++i;
    return out;
}

}  // namespace

int CsvTable::column(std::string_view name) const {
    for (size_t i = 0; i < header.size(); ++i)
        if (header[i] == name) return static_cast<int>(i);
    return -1;
}

int CsvTable::required_column(std::string_view name) const {
    const int c = column(name);
    if (c < 0) throw std::runtime_error(fmt::format("{}: no column '{}' in the header row", path, name));
    return c;
}

CsvTable read_csv_table(const std::string& path) {
    const std::string text = read_file_text(path, kMaxCsvBytes);
    CsvTable t;
    t.path = path;
    size_t i = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
    int64_t line = 1;
    std::vector<std::string> row;
    std::string cell;
    int64_t row_line = 1;
    auto end_row = [&]() {
        row.push_back(std::move(cell));
        cell.clear();
        const bool blank = row.size() == 1 && trim_view(row[0]).empty();
        if (!blank) {
            if (t.header.empty() && t.rows.empty()) {
                t.header = std::move(row);
                for (auto& h : t.header) h = std::string(trim_view(h));
            } else {
                if (row.size() != t.header.size())
                    throw std::runtime_error(fmt::format("{}:{}: {} fields, expected {} (as in the header row)", path,
                                                         row_line, row.size(), t.header.size()));
                t.rows.push_back(std::move(row));
                t.row_lines.push_back(row_line);
            }
        }
        row.clear();
    };
    bool at_field_start = true;
    while (i < text.size()) {
        const char c = text[i];
        if (at_field_start && c == '"') {
            const int64_t start_line = line;
            ++i;
            while (true) {
                if (i >= text.size())
                    throw std::runtime_error(fmt::format("{}:{}: quoted field is not closed", path, start_line));
                if (text[i] == '"') {
                    if (i + 1 < text.size() && text[i + 1] == '"') {
                        cell += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                if (text[i] == '\n') ++line;
                cell += text[i++];
            }
            while (i < text.size() && (text[i] == ' ' || text[i] == '\r')) ++i;
            if (i < text.size() && text[i] != ',' && text[i] != '\n')
                throw std::runtime_error(
                    fmt::format("{}:{}: unexpected '{}' after a closing quote", path, line, text[i]));
            at_field_start = false;
            continue;
        }
        if (c == ',') {
            row.push_back(std::move(cell));
            cell.clear();
            at_field_start = true;
        } else if (c == '\n') {
            if (!cell.empty() && cell.back() == '\r') cell.pop_back();
            end_row();
            ++line;
            row_line = line;
            at_field_start = true;
        } else {
            cell += c;
            at_field_start = false;
        }
        ++i;
    }
    if (!cell.empty() || !row.empty()) {
        if (!cell.empty() && cell.back() == '\r') cell.pop_back();
        end_row();
    }
    if (t.header.empty()) throw std::runtime_error(path + ": empty CSV file (no header row)");
    return t;
}

std::vector<std::string> parse_python_string_list(std::string_view s) {
    std::vector<std::string> out;
    size_t i = skip_ws(s, 0);
    if (i >= s.size() || s[i] != '[') throw std::invalid_argument("expected '[' to open a list");
    i = skip_ws(s, i + 1);
    if (i < s.size() && s[i] == ']') {
        if (skip_ws(s, i + 1) != s.size()) throw std::invalid_argument("text after the closing ']'");
        return out;
    }
    while (true) {
        i = skip_ws(s, i);
        out.push_back(parse_python_string(s, i));
        i = skip_ws(s, i);
        if (i < s.size() && s[i] == ',') {
            ++i;
            continue;
        }
        if (i < s.size() && s[i] == ']') break;
        throw std::invalid_argument(fmt::format("expected ',' or ']' at offset {}", i));
    }
    if (skip_ws(s, i + 1) != s.size()) throw std::invalid_argument("text after the closing ']'");
    return out;
}

std::map<std::string, double> parse_python_likelihood_dict(std::string_view s) {
    std::map<std::string, double> out;
    size_t i = skip_ws(s, 0);
    if (i >= s.size() || s[i] != '{') throw std::invalid_argument("expected '{' to open a dict");
    i = skip_ws(s, i + 1);
    if (i < s.size() && s[i] == '}') {
        if (skip_ws(s, i + 1) != s.size()) throw std::invalid_argument("text after the closing '}'");
        return out;
    }
    while (true) {
        i = skip_ws(s, i);
        std::string key = parse_python_string(s, i);
        i = skip_ws(s, i);
        if (i >= s.size() || s[i] != ':') throw std::invalid_argument(fmt::format("expected ':' after '{}'", key));
        i = skip_ws(s, i + 1);
        const size_t b = i;
        while (i < s.size() && s[i] != ',' && s[i] != '}') ++i;
        const auto v = parse_finite_double(trim_view(s.substr(b, i - b)));
        if (!v)
            throw std::invalid_argument(
                fmt::format("likelihood of '{}' (\"{}\") is not a number", key, std::string(s.substr(b, i - b))));
        if (out.count(key)) throw std::invalid_argument(fmt::format("code '{}' appears twice", key));
        out[key] = *v;
        if (i >= s.size()) throw std::invalid_argument("dict is not closed with '}'");
        if (s[i] == '}') break;
        ++i;
    }
    if (skip_ws(s, i + 1) != s.size()) throw std::invalid_argument("text after the closing '}'");
    return out;
}

std::map<int64_t, PtbxlRecord> read_ptbxl_database(const std::string& path) {
    const CsvTable t = read_csv_table(path);
    const int c_ecg = t.required_column("ecg_id"), c_patient = t.required_column("patient_id");
    const int c_age = t.required_column("age"), c_sex = t.required_column("sex");
    const int c_height = t.required_column("height"), c_weight = t.required_column("weight");
    const int c_report = t.required_column("report"), c_scp = t.required_column("scp_codes");
    const int c_axis = t.required_column("heart_axis");
    const int c_st1 = t.required_column("infarction_stadium1"), c_st2 = t.required_column("infarction_stadium2");
    const int c_drift = t.required_column("baseline_drift"), c_static = t.required_column("static_noise");
    const int c_burst = t.required_column("burst_noise"), c_elec = t.required_column("electrodes_problems");
    const int c_extra = t.required_column("extra_beats"), c_pace = t.required_column("pacemaker");
    const int c_fold = t.required_column("strat_fold");

    std::map<int64_t, PtbxlRecord> out;
    for (size_t r = 0; r < t.rows.size(); ++r) {
        PtbxlRecord rec;
        const auto ecg_id = integer_cell(t, r, c_ecg, "ecg_id");
        if (!ecg_id || *ecg_id <= 0) fail_row(t, r, "ecg_id", "missing or not a positive number");
        rec.ecg_id = *ecg_id;
        rec.patient_id = integer_cell(t, r, c_patient, "patient_id").value_or(0);
        rec.age = number_cell(t, r, c_age, "age");
        rec.height_cm = number_cell(t, r, c_height, "height");
        rec.weight_kg = number_cell(t, r, c_weight, "weight");
        if (const auto sex = integer_cell(t, r, c_sex, "sex")) {
            if (*sex != 0 && *sex != 1) fail_row(t, r, "sex", fmt::format("{} is not 0 (male) or 1 (female)", *sex));
            rec.sex = static_cast<int>(*sex);
        }
        rec.report = text_cell(t, r, c_report);
        const std::string scp = text_cell(t, r, c_scp);
        if (!scp.empty()) {
            try {
                rec.scp_codes = parse_python_likelihood_dict(scp);
            } catch (const std::invalid_argument& e) {
                fail_row(t, r, "scp_codes", fmt::format("\"{}\": {}", scp.substr(0, 60), e.what()));
            }
        }
        rec.heart_axis = text_cell(t, r, c_axis);
        rec.infarction_stadium1 = text_cell(t, r, c_st1);
        rec.infarction_stadium2 = text_cell(t, r, c_st2);
        rec.baseline_drift = text_cell(t, r, c_drift);
        rec.static_noise = text_cell(t, r, c_static);
        rec.burst_noise = text_cell(t, r, c_burst);
        rec.electrodes_problems = text_cell(t, r, c_elec);
        rec.extra_beats = text_cell(t, r, c_extra);
        rec.pacemaker = text_cell(t, r, c_pace);
        rec.strat_fold = static_cast<int>(integer_cell(t, r, c_fold, "strat_fold").value_or(0));
        if (out.count(rec.ecg_id)) fail_row(t, r, "ecg_id", fmt::format("ecg_id {} appears twice", rec.ecg_id));
        out.emplace(rec.ecg_id, std::move(rec));
    }
    return out;
}

std::map<std::string, ScpStatement> read_scp_statements(const std::string& path) {
    const CsvTable t = read_csv_table(path);
    int c_code = t.column("scp_code");
    if (c_code < 0) c_code = t.column("Unnamed: 0");
    if (c_code < 0 && !t.header.empty() && t.header[0].empty()) c_code = 0;
    if (c_code < 0) throw std::runtime_error(path + ": no SCP code column (an unnamed first column or 'scp_code')");
    const int c_desc = t.required_column("description");
    const int c_diag = t.required_column("diagnostic"), c_form = t.required_column("form");
    const int c_rhythm = t.required_column("rhythm");
    const int c_class = t.required_column("diagnostic_class"), c_sub = t.required_column("diagnostic_subclass");
    const int c_cat = t.column("Statement Category");

    std::map<std::string, ScpStatement> out;
    for (size_t r = 0; r < t.rows.size(); ++r) {
        ScpStatement s;
        s.code = text_cell(t, r, c_code);
        if (s.code.empty()) fail_row(t, r, t.header[static_cast<size_t>(c_code)], "empty SCP code");
        s.description = text_cell(t, r, c_desc);
        s.diagnostic = flag_cell(t, r, c_diag, "diagnostic");
        s.form = flag_cell(t, r, c_form, "form");
        s.rhythm = flag_cell(t, r, c_rhythm, "rhythm");
        s.diagnostic_class = text_cell(t, r, c_class);
        s.diagnostic_subclass = text_cell(t, r, c_sub);
        if (c_cat >= 0) s.statement_category = text_cell(t, r, c_cat);
        if (out.count(s.code)) fail_row(t, r, "code", fmt::format("SCP code {} appears twice", s.code));
        out.emplace(s.code, std::move(s));
    }
    return out;
}

// ECG-QA's parse_lead_positions: split at ; , . ? ) and whitespace, rejoin pieces cut at a '-', then read each
// piece as a lead group, a lead, "alle..." (all leads) or a lead range.
uint16_t noise_lead_mask(const std::string& cell) {
    static const std::regex positions(
        "v leads|chest|limb|anterior|antero-?\\s?lateral|antero-?\\s?septal|inferior|infero-?\\s?lateral|"
        "infero-?\\s?septal|lateral|high-?\\s?lateral|precordial|peripheral|standard|lateral-?\\s?chest");
    std::vector<std::string> toks{""};
    for (const char c : lower(cell)) {
        if (c == ';' || c == ',' || c == '.' || c == '?' || c == ')' || std::isspace(static_cast<unsigned char>(c))) {
            toks.emplace_back();
        } else {
            toks.back() += c;
        }
    }
    for (int pass = 0; pass < 2; ++pass) {
        for (size_t i = 0; i < toks.size(); ++i) {
            const std::string& t = toks[i];
            if (!t.empty() && t.back() == '-') {
                if (i + 1 < toks.size()) toks[i] = t + toks[i + 1];
            } else if (!t.empty() && t.front() == '-' && i > 0) {
                toks[i] = toks[i - 1] + t;
            }
        }
    }
    uint16_t mask = 0;
    for (std::string t : toks) {
        replace_all(t, "!", "1");
        replace_all(t, "11", "ii");
        replace_all(t, "alf", "avf");
        if (all_digits(t)) t = "v" + t;
        std::smatch m;
        if (std::regex_search(t, m, positions)) {
            std::string key = m.str();
            key.erase(std::remove_if(key.begin(), key.end(), [](char c) { return c == '-' || c == ' '; }), key.end());
            mask |= position_leads(key);
        } else if (!has(t, "-")) {
            if (lead_index(t) >= 0) {
                mask |= static_cast<uint16_t>(1u << lead_index(t));
            } else if (has(t, "alle")) {
                return 0xFFF;
            }
        } else {
            std::vector<std::string> ends;  // "v4--v6" -> v4, v6
            std::string cur;
            for (const char c : t + "-") {
                if (c == '-') {
                    if (!cur.empty() || ends.empty()) ends.push_back(all_digits(cur) ? "v" + cur : cur);
                    cur.clear();
                } else {
                    cur += c;
                }
            }
            if (ends.size() < 2) continue;
            const int a = lead_index(ends[0]), b = lead_index(ends[1]);
            for (int l = a; a >= 0 && b >= 0 && l <= b; ++l) mask |= static_cast<uint16_t>(1u << l);
        }
    }
    return mask;
}

// ECG-QA's parse_for_es.
ExtraBeats parse_extra_beats(const std::string& cell) {
    std::string s = lower(std::string(trim_view(cell)));
    auto starts_es = [](const std::string& t) {
        return t.rfind("es", 0) == 0 || t.rfind("ves", 0) == 0 || t.rfind("sves", 0) == 0;
    };
    if (!s.empty() && std::isdigit(static_cast<unsigned char>(s[0])) && !(s.size() > 1 && starts_es(s.substr(1))) &&
        !(s.size() > 2 && starts_es(s.substr(2))))
        s = "es" + s;  // "1,alles" -> "es1,alles"
    std::vector<std::string> parts;
    std::string cur;
    for (const char c : s + ",") {
        if (c == ',' || c == '(' || c == ')' || c == ';') {
            const std::string p(trim_view(cur));
            if (has(p, "es")) parts.push_back(p);
            cur.clear();
        } else {
            cur += c;
        }
    }
    const auto alles = std::find(parts.begin(), parts.end(), "alles");
    if (alles != parts.end()) parts.erase(alles);
    ExtraBeats out;
    for (const auto& p : parts) {  // "2es" / "ves12" / "sves"
        auto digit = [&](size_t i) { return std::isdigit(static_cast<unsigned char>(p[i])) != 0; };
        std::string key = p;
        int count = 0;
        if (digit(0)) {
            const size_t n = digit(1) ? 2 : 1;
            key = p.substr(n);
            count = std::stoi(p.substr(0, n));
        } else if (digit(p.size() - 1)) {
            const size_t n = digit(p.size() - 2) ? 2 : 1;
            key = p.substr(0, p.size() - n);
            count = std::stoi(p.substr(p.size() - n));
        }
        if (key == "es") out.es = count;
        if (key == "ves") out.ves = count;
        if (key == "sves") out.sves = count;
    }
    return out;
}

std::string patient_features_text(const PtbxlRecord& r) {
    auto num = [](double v) {
        return std::floor(v) == v ? fmt::format("{}", static_cast<int64_t>(v)) : fmt::format("{:.1f}", v);
    };
    std::vector<std::string> parts;
    if (r.age) parts.push_back(*r.age >= 300 ? std::string("age over 89") : "age " + num(*r.age));
    if (r.sex) parts.push_back(*r.sex == 1 ? "female" : "male");
    if (r.height_cm) parts.push_back("height " + num(*r.height_cm) + " cm");
    if (r.weight_kg) parts.push_back("weight " + num(*r.weight_kg) + " kg");
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
    return out;
}

}  // namespace diagecg
