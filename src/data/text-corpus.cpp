#include "diagecg/data/text-corpus.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <stdexcept>

#include "diagecg/data/ecgqa.h"
#include "diagecg/data/ptbxl-meta.h"

namespace diagecg {

std::string clean_ptbxl_report(std::string r) {
    if (const auto e = r.find("Edit:"); e != std::string::npos) r.resize(e);
    std::string out;
    for (const char c : r) {
        const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (std::isspace(static_cast<unsigned char>(l))) {
            if (!out.empty() && out.back() != ' ') out += ' ';
        } else {
            out += l;
        }
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

bool looks_english_report(const std::string& r) {
    if (std::any_of(r.begin(), r.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) return false;
    static const char* kForeign[] = {"rhythmus", "rytm", "lagetyp", "linkstyp", "rechtstyp", "infarkt", "wahrscheinlich",
                                     "abnorm ", "unspezifisch", "vorhof", "schenkel", "kammer", "inget", "normalt"};
    for (const char* w : kForeign)
        if (r.find(w) != std::string::npos) return false;
    static const char* kEnglish[] = {"rhythm", "fibrillation", "normal ecg", "pathology", " are ", " is ", "deviation", "block",
                                     "contraction", "trace", "voltage"};
    return std::any_of(std::begin(kEnglish), std::end(kEnglish), [&](const char* w) { return r.find(w) != std::string::npos; });
}

namespace {

// FNV-1a: a platform-independent hash for the validation split.
uint64_t fnv1a(const std::string& s) {
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char c : s) { h ^= c; h *= 1099511628211ull; }
    return h;
}

std::string one_line(const std::string& s) {
    std::string out;
    for (const char c : s) {
        const bool sp = std::isspace(static_cast<unsigned char>(c)) != 0;
        if (sp) { if (!out.empty() && out.back() != ' ') out += ' '; }
        else out += c;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

}  // namespace

TextCorpus build_text_corpus(const TextCorpusOptions& o) {
    if (o.val_fraction < 0 || o.val_fraction >= 1) throw std::invalid_argument("val_fraction must be in [0, 1)");
    std::vector<std::string> docs;
    std::set<std::string> seen;
    int64_t n_reports = 0, n_excluded = 0, n_foreign = 0, n_qa = 0, n_scp = 0;
    auto add = [&](const std::string& d) {
        const std::string t = one_line(d);
        if (t.empty() || !seen.insert(t).second) return false;
        docs.push_back(t);
        return true;
    };
    if (!o.ptbxl_database.empty()) {
        for (const auto& [id, r] : read_ptbxl_database(o.ptbxl_database)) {
            if (o.exclude_ecg_ids.count(id) || o.exclude_folds.count(r.strat_fold)) { ++n_excluded; continue; }
            const std::string rep = clean_ptbxl_report(r.report);
            if (rep.empty()) continue;
            if (!o.all_languages && !looks_english_report(rep)) { ++n_foreign; continue; }
            n_reports += add(rep);
        }
    }
    for (const auto& f : o.ecgqa_files) {
        for (const auto& s : read_ecgqa_json(f)) {
            if (o.max_qa > 0 && n_qa >= o.max_qa) break;
            n_qa += add("question: " + s.question + " answer: " + join_answer(s.answer));
        }
    }
    if (!o.scp_statements.empty())
        for (const auto& [code, st] : read_scp_statements(o.scp_statements))
            n_scp += add(code + ": " + st.description + (st.statement_category.empty() ? "" : " (" + st.statement_category + ")"));
    TextCorpus c;
    const auto cut = static_cast<uint64_t>(o.val_fraction * 1e6);
    for (auto& d : docs) (fnv1a(d) % 1000000 < cut ? c.val : c.train).push_back(std::move(d));
    int64_t chars = 0;
    for (const auto& d : c.train) chars += static_cast<int64_t>(d.size());
    c.summary = {{"reports", n_reports}, {"reports_excluded_held_out", n_excluded}, {"reports_not_english", n_foreign},
                 {"qa", n_qa}, {"scp_statements", n_scp}, {"train_documents", c.train.size()},
                 {"val_documents", c.val.size()}, {"train_characters", chars}};
    return c;
}

std::vector<std::string> read_text_documents(const std::vector<std::string>& files) {
    std::vector<std::string> docs;
    for (const auto& f : files) {
        std::ifstream in(f);
        if (!in) throw std::runtime_error(f + ": cannot open");
        std::string line;
        while (std::getline(in, line)) {
            const std::string t = one_line(line);
            if (!t.empty()) docs.push_back(t);
        }
    }
    return docs;
}

}  // namespace diagecg
