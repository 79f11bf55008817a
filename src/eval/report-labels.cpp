#include "diagecg/eval/report-labels.h"

#include <algorithm>
#include <cctype>

namespace diagecg {

namespace {

using Words = std::vector<std::string>;

Words split_words(const std::string& s) {
    Words w;
    std::string cur;
    for (const char c : s) {
        if (std::isalnum(static_cast<unsigned char>(c)) || (c & 0x80)) {
            cur += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        } else if (!cur.empty()) {
            w.push_back(cur);
            cur.clear();
        }
    }
    if (!cur.empty()) w.push_back(cur);
    return w;
}

bool word_matches(const std::string& pattern, const std::string& word) {
    if (!pattern.empty() && pattern.back() == '*')
        return word.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
    return pattern == word;
}

// Positions where the term's words occur in a row.
std::vector<size_t> find_term(const Words& term, const Words& clause) {
    std::vector<size_t> at;
    for (size_t p = 0; p + term.size() <= clause.size(); ++p) {
        bool ok = true;
        for (size_t k = 0; k < term.size() && ok; ++k) ok = word_matches(term[k], clause[p + k]);
        if (ok) at.push_back(p);
    }
    return at;
}

bool is_negation(const std::string& w) {
    return w == "no" || w == "not" || w == "without" || w == "absent" || w.rfind("kein", 0) == 0;
}

// Clauses of a report: split at '.', ';', ',' and line breaks; "st-t"/"st.t" stay one finding.
std::vector<Words> clauses_of(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (size_t p = text.find("st.t"); p != std::string::npos; p = text.find("st.t", p + 1)) text[p + 2] = '-';
    std::vector<Words> out;
    std::string cur;
    for (const char c : text) {
        if (c == '.' || c == ';' || c == ',' || c == '\n') {
            if (auto w = split_words(cur); !w.empty()) out.push_back(std::move(w));
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (auto w = split_words(cur); !w.empty()) out.push_back(std::move(w));
    return out;
}

bool phrase_in_clause(const ReportLabelClass& c, const std::vector<Words>& terms, const Words& clause) {
    size_t first = clause.size();
    for (size_t t = 0; t < terms.size(); ++t) {
        const auto at = find_term(terms[t], clause);
        std::vector<size_t> ok;
        for (const size_t p : at) {
            const bool cancelled =
                t == 0 && p > 0 &&
                std::find(c.not_after.begin(), c.not_after.end(), clause[p - 1]) != c.not_after.end();
            if (!cancelled) ok.push_back(p);
        }
        if (ok.empty()) return false;
        first = std::min(first, ok.front());
    }
    for (size_t p = 0; p < first; ++p)
        if (is_negation(clause[p])) return false;
    return true;
}

struct Compiled {
    const ReportLabelClass* cls;
    std::vector<std::vector<Words>> phrases;  // phrase -> terms -> words
};

const std::vector<Compiled>& compiled_classes() {
    static const std::vector<Compiled> compiled = [] {
        std::vector<Compiled> out;
        for (const auto& c : report_label_classes()) {
            Compiled k{&c, {}};
            for (const auto& phrase : c.phrases) {
                std::vector<Words> terms;
                for (const auto& t : phrase) {
                    Words w;  // split at spaces only: '*' stays on its word
                    for (size_t a = 0; a < t.size();) {
                        const size_t b = std::min(t.find(' ', a), t.size());
                        if (b > a) w.push_back(t.substr(a, b - a));
                        a = b + 1;
                    }
                    terms.push_back(std::move(w));
                }
                k.phrases.push_back(std::move(terms));
            }
            out.push_back(std::move(k));
        }
        return out;
    }();
    return compiled;
}

nlohmann::json ratio(int64_t a, int64_t b) {
    return b > 0 ? nlohmann::json(static_cast<double>(a) / static_cast<double>(b)) : nlohmann::json(nullptr);
}

}  // namespace

const std::vector<ReportLabelClass>& report_label_classes() {
    static const std::vector<ReportLabelClass> classes = {
        {"AFIB",
         "atrial fibrillation",
         {"AFIB"},
         {"164889003"},
         {{"atrial fibrillation"}, {"afib"}, {"vorhofflimmern"}},
         {}},
        {"SR", "sinus rhythm", {"SR"}, {"426783006"}, {{"sinus rhythm"}, {"sinusrhythmus"}}, {}},
        {"SBRAD", "sinus bradycardia", {"SBRAD"}, {"426177001"}, {{"sinus bradycardia"}, {"sinusbradykardie"}}, {}},
        {"STACH", "sinus tachycardia", {"STACH"}, {"427084000"}, {{"sinus tachycardia"}, {"sinustachykardie"}}, {}},
        {"LBBB",
         "complete left bundle branch block",
         {"CLBBB"},
         {"164909002", "733534002"},
         {{"left bundle branch block"}, {"lbbb"}},
         {"incomplete", "partial"}},
        {"RBBB",
         "complete right bundle branch block",
         {"CRBBB"},
         {"59118001", "713427006"},
         {{"right bundle branch block"}, {"rbbb"}},
         {"incomplete", "partial"}},
        {"LVH",
         "left ventricular hypertrophy",
         {"LVH"},
         {"164873001", "55827005"},
         {{"left ventricular hypertrophy"}, {"lvh"}, {"lv hypertrophy"}},
         {}},
        {"IMI",
         "inferior myocardial infarction",
         {"IMI", "ILMI", "IPMI", "IPLMI"},
         {},
         {{"inferior", "infarct*"}, {"infero*", "infarct*"}},
         {}},
        {"AMI",
         "anterior myocardial infarction",
         {"AMI", "ASMI", "ALMI"},
         {},
         {{"anterior", "infarct*"}, {"antero*", "infarct*"}, {"septal", "infarct*"}},
         {}},
        {"STT",
         "ST-T changes / ischaemia (NDT, NST_, ISC_*)",
         {"NDT", "NST_", "ISC_", "ISCAL", "ISCAS", "ISCIL", "ISCIN", "ISCLA", "ISCAN"},
         {"164934002", "59931005", "55930002", "428750005", "426434006", "164930006", "429622005", "164931005",
          "425419005", "425623009", "413444003"},
         {{"st", "depress*"},
          {"st", "elevat*"},
          {"st t"},
          {"st change*"},
          {"st segment*", "abnormal*"},
          {"t wave*", "invert*"},
          {"t wave*", "inversion*"},
          {"t wave*", "flat*"},
          {"t wave*", "low"},
          {"t wave*", "abnormal*"},
          {"t wave*", "change*"},
          {"ischaemi*"},
          {"ischemi*"}},
         {}},
    };
    return classes;
}

std::set<std::string> report_asserted_labels(const std::string& report) {
    std::set<std::string> out;
    const auto clauses = clauses_of(report);
    for (const auto& k : compiled_classes())
        for (const auto& clause : clauses)
            if (std::any_of(k.phrases.begin(), k.phrases.end(),
                            [&](const auto& ph) { return phrase_in_clause(*k.cls, ph, clause); })) {
                out.insert(k.cls->name);
                break;
            }
    return out;
}

std::set<std::string> labels_from_scp_codes(const std::map<std::string, double>& scp_codes) {
    std::set<std::string> out;
    for (const auto& c : report_label_classes())
        for (const auto& code : c.scp_codes)
            if (scp_codes.count(code)) out.insert(c.name);
    return out;
}

std::set<std::string> labels_from_snomed(const std::vector<std::string>& codes, std::set<std::string>* known) {
    std::set<std::string> out;
    for (const auto& c : report_label_classes()) {
        if (c.snomed_codes.empty()) continue;
        if (known) known->insert(c.name);
        for (const auto& code : c.snomed_codes)
            if (std::find(codes.begin(), codes.end(), code) != codes.end()) out.insert(c.name);
    }
    return out;
}

nlohmann::json label_accuracy(const std::vector<LabelledReport>& reports) {
    nlohmann::json classes = nlohmann::json::object();
    double f1_sum = 0;
    int64_t f1_n = 0;
    for (const auto& c : report_label_classes()) {
        int64_t tp = 0, fp = 0, fn = 0, tn = 0;
        for (const auto& r : reports) {
            if (!r.scorable.count(c.name)) continue;
            const bool t = r.truth.count(c.name) > 0, a = r.asserted.count(c.name) > 0;
            tp += t && a, fp += !t && a, fn += t && !a, tn += !t && !a;
        }
        const int64_t n = tp + fp + fn + tn;
        if (n == 0) continue;
        nlohmann::json j = {{"n", n},
                            {"positives", tp + fn},
                            {"tp", tp},
                            {"fp", fp},
                            {"fn", fn},
                            {"tn", tn},
                            {"sensitivity", ratio(tp, tp + fn)},
                            {"specificity", ratio(tn, tn + fp)},
                            {"precision", ratio(tp, tp + fp)}};
        j["f1"] = tp + fn > 0 ? nlohmann::json(2.0 * static_cast<double>(tp) / static_cast<double>(2 * tp + fp + fn))
                              : nlohmann::json(nullptr);
        if (tp + fn > 0) f1_sum += j["f1"].get<double>(), ++f1_n;
        classes[c.name] = j;
    }
    return {{"records", reports.size()},
            {"classes", classes},
            {"macro_f1", f1_n > 0 ? nlohmann::json(f1_sum / static_cast<double>(f1_n)) : nlohmann::json(nullptr)}};
}

}  // namespace diagecg
