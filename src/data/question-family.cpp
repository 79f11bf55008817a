#include "diagecg/data/question-family.h"

#include <cctype>
#include <functional>

#include "diagecg/data/ecgqa-generator.h"

namespace diagecg {

namespace {

std::string normalise(const std::string& s) {
    std::string out;
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isspace(u)) {
            if (!out.empty() && out.back() != ' ') out += ' ';
        } else {
            out += static_cast<char>(std::tolower(u));
        }
    }
    while (!out.empty() && (out.back() == ' ' || out.back() == '?' || out.back() == '.')) out.pop_back();
    return out;
}

std::string fill_first(std::string w, const std::vector<std::string>& names, const std::vector<std::string>& leads) {
    for (const auto& [slot, value] : {std::pair<std::string, std::string>{"{a}", names.empty() ? "" : names[0]},
                                      {"{b}", names.size() > 1 ? names[1] : ""},
                                      {"{lead}", leads.empty() ? "" : leads[0]}})
        if (const auto p = w.find(slot); p != std::string::npos) w.replace(p, slot.size(), value);
    return w;
}

struct Compiled {
    std::string pattern;                // normalised wording, slots kept
    std::vector<std::string> names, leads;   // normalised
};

// Does q[qi..] match pattern[pi..]? Slots try every name (backtracking: names may share prefixes).
bool match(const std::string& q, size_t qi, const Compiled& c, size_t pi) {
    if (pi == c.pattern.size()) return qi == q.size();
    if (c.pattern[pi] == '{') {
        const size_t close = c.pattern.find('}', pi);
        const std::string slot = c.pattern.substr(pi, close - pi + 1);
        const auto& options = slot == "{lead}" ? c.leads : c.names;
        for (const auto& o : options)
            if (q.compare(qi, o.size(), o) == 0 && match(q, qi + o.size(), c, close + 1)) return true;
        return false;
    }
    return qi < q.size() && q[qi] == c.pattern[pi] && match(q, qi + 1, c, pi + 1);
}

const std::vector<Compiled>& compiled() {
    static const std::vector<Compiled> all = [] {
        std::vector<Compiled> out;
        for (const auto& f : trained_question_families()) {
            Compiled c;
            c.pattern = normalise(f.wording);
            if (f.n_ecgs == 1) {
                for (const auto& n : template_slot_names(f.template_id)) c.names.push_back(normalise(n));
                for (const auto& l : template_lead_names()) c.leads.push_back(normalise(l));
            }
            out.push_back(std::move(c));
        }
        return out;
    }();
    return all;
}

}  // namespace

const std::vector<QuestionFamily>& trained_question_families() {
    static const std::vector<QuestionFamily> all = [] {
        std::vector<QuestionFamily> out;
        for (const int id : supported_single_ecg_templates()) {
            QuestionFamily f;
            f.template_id = id;
            std::tie(f.question_type, f.attribute_type) = template_types(id);
            f.wording = template_wording(id);
            f.example = fill_first(f.wording, template_slot_names(id), template_lead_names());
            out.push_back(std::move(f));
        }
        // ECG-QA's published comparison templates in the bundled model's training data (fixed wording).
        for (const auto& [id, wording] : std::vector<std::pair<int, std::string>>{
                 {68, "What numeric features of the second ECG now have become normal as compared to the first ECG?"},
                 {69, "What numeric features of the second ECG are now considered abnormal values as compared to the first ECG?"},
                 {70, "What numeric features of the second ECG are still abnormal as compared to the first ECG?"}})
            out.push_back({id, "comparison_irrelevant-query", "numeric_feature", wording, wording, 2});
        return out;
    }();
    return all;
}

const QuestionFamily* match_question_family(const std::string& question) {
    const std::string q = normalise(question);
    const auto& fams = trained_question_families();
    const auto& comp = compiled();
    for (size_t i = 0; i < fams.size(); ++i)
        if (match(q, 0, comp[i], 0)) return &fams[i];
    return nullptr;
}

}  // namespace diagecg
