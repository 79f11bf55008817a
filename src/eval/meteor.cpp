#include "diagecg/eval/meteor.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "diagecg/eval/wordnet.h"

namespace diagecg {
namespace {

// ---- Porter stemmer: nltk/stem/porter.py, mode NLTK_EXTENSIONS, step by step ----

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string drop(const std::string& s, size_t n) {
    return s.substr(0, s.size() - n);
}

// A letter other than a, e, i, o, u, and other than y preceded by a consonant.
bool is_consonant(const std::string& w, size_t i) {
    const char c = w[i];
    if (c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u') return false;
    if (c == 'y') return i == 0 ? true : !is_consonant(w, i - 1);
    return true;
}

// m in [C](VC){m}[V]: the number of "vc" in the word's consonant/vowel string.
int measure(const std::string& stem) {
    int m = 0;
    for (size_t i = 1; i < stem.size(); ++i)
        if (!is_consonant(stem, i - 1) && is_consonant(stem, i)) ++m;
    return m;
}

bool positive_measure(const std::string& stem) {
    return measure(stem) > 0;
}

bool contains_vowel(const std::string& stem) {
    for (size_t i = 0; i < stem.size(); ++i)
        if (!is_consonant(stem, i)) return true;
    return false;
}

// *d: ends with a double consonant.
bool ends_double_consonant(const std::string& w) {
    const size_t n = w.size();
    return n >= 2 && w[n - 1] == w[n - 2] && is_consonant(w, n - 1);
}

// *o: ends consonant-vowel-consonant, the last not w, x or y; NLTK adds: a two-letter vowel-consonant word.
bool ends_cvc(const std::string& w) {
    const size_t n = w.size();
    return (n >= 3 && is_consonant(w, n - 3) && !is_consonant(w, n - 2) && is_consonant(w, n - 1) && w[n - 1] != 'w' &&
            w[n - 1] != 'x' && w[n - 1] != 'y') ||
           (n == 2 && !is_consonant(w, 0) && is_consonant(w, 1));
}

struct Rule {
    std::string suffix;  // "*d": any double consonant (the stem is the word less two letters)
    std::string replacement;
    std::function<bool(const std::string&)> condition;  // on the stem; empty = always
};

// The first rule whose suffix matches decides: its stem + replacement if its condition holds, else the word.
std::string apply_rule_list(const std::string& word, const std::vector<Rule>& rules) {
    for (const Rule& r : rules) {
        if (r.suffix == "*d" && ends_double_consonant(word)) {
            const std::string stem = drop(word, 2);
            return !r.condition || r.condition(stem) ? stem + r.replacement : word;
        }
        if (ends_with(word, r.suffix)) {
            const std::string stem = drop(word, r.suffix.size());
            return !r.condition || r.condition(stem) ? stem + r.replacement : word;
        }
    }
    return word;
}

std::string step1a(const std::string& word) {
    if (ends_with(word, "ies") && word.size() == 4) return drop(word, 3) + "ie";
    return apply_rule_list(word, {{"sses", "ss", {}}, {"ies", "i", {}}, {"ss", "ss", {}}, {"s", "", {}}});
}

std::string step1b(const std::string& word) {
    if (ends_with(word, "ied")) return drop(word, 3) + (word.size() == 4 ? "ie" : "i");
    if (ends_with(word, "eed")) {
        const std::string stem = drop(word, 3);
        return measure(stem) > 0 ? stem + "ee" : word;
    }
    std::string stem;
    bool removed = false;
    for (const std::string suffix : {"ed", "ing"}) {
        if (ends_with(word, suffix)) {
            stem = drop(word, suffix.size());
            if (contains_vowel(stem)) {
                removed = true;
                break;
            }
        }
    }
    if (!removed) return word;
    const char last = stem.back();
    return apply_rule_list(stem, {{"at", "ate", {}},
                                  {"bl", "ble", {}},
                                  {"iz", "ize", {}},
                                  {"*d", std::string(1, last),
                                   [last](const std::string&) { return last != 'l' && last != 's' && last != 'z'; }},
                                  {"", "e", [](const std::string& s) { return measure(s) == 1 && ends_cvc(s); }}});
}

std::string step1c(const std::string& word) {
    return apply_rule_list(
        word, {{"y", "i", [](const std::string& s) { return s.size() > 1 && is_consonant(s, s.size() - 1); }}});
}

std::string step2(const std::string& word) {
    if (ends_with(word, "alli") && positive_measure(drop(word, 4))) return step2(drop(word, 4) + "al");
    const auto pm = positive_measure;
    return apply_rule_list(word,
                           {{"ational", "ate", pm},
                            {"tional", "tion", pm},
                            {"enci", "ence", pm},
                            {"anci", "ance", pm},
                            {"izer", "ize", pm},
                            {"bli", "ble", pm},
                            {"alli", "al", pm},
                            {"entli", "ent", pm},
                            {"eli", "e", pm},
                            {"ousli", "ous", pm},
                            {"ization", "ize", pm},
                            {"ation", "ate", pm},
                            {"ator", "ate", pm},
                            {"alism", "al", pm},
                            {"iveness", "ive", pm},
                            {"fulness", "ful", pm},
                            {"ousness", "ous", pm},
                            {"aliti", "al", pm},
                            {"iviti", "ive", pm},
                            {"biliti", "ble", pm},
                            {"fulli", "ful", pm},
                            // the 'l' of 'logi' stays with the stem for the measure: geo-logi, theo-logi
                            {"logi", "log", [&word](const std::string&) { return positive_measure(drop(word, 3)); }}});
}

std::string step3(const std::string& word) {
    const auto pm = positive_measure;
    return apply_rule_list(word, {{"icate", "ic", pm},
                                  {"ative", "", pm},
                                  {"alize", "al", pm},
                                  {"iciti", "ic", pm},
                                  {"ical", "ic", pm},
                                  {"ful", "", pm},
                                  {"ness", "", pm}});
}

std::string step4(const std::string& word) {
    const auto gt1 = [](const std::string& s) { return measure(s) > 1; };
    return apply_rule_list(
        word, {{"al", "", gt1},
               {"ance", "", gt1},
               {"ence", "", gt1},
               {"er", "", gt1},
               {"ic", "", gt1},
               {"able", "", gt1},
               {"ible", "", gt1},
               {"ant", "", gt1},
               {"ement", "", gt1},
               {"ment", "", gt1},
               {"ent", "", gt1},
               {"ion", "", [](const std::string& s) { return measure(s) > 1 && (s.back() == 's' || s.back() == 't'); }},
               {"ou", "", gt1},
               {"ism", "", gt1},
               {"ate", "", gt1},
               {"iti", "", gt1},
               {"ous", "", gt1},
               {"ive", "", gt1},
               {"ize", "", gt1}});
}

// Both (m>1) E -> and (m=1 and not *o) E -> are tried.
std::string step5a(const std::string& word) {
    if (ends_with(word, "e")) {
        const std::string stem = drop(word, 1);
        if (measure(stem) > 1) return stem;
        if (measure(stem) == 1 && !ends_cvc(stem)) return stem;
    }
    return word;
}

std::string step5b(const std::string& word) {
    return apply_rule_list(word, {{"ll", "l", [&word](const std::string&) { return measure(drop(word, 1)) > 1; }}});
}

// NLTK_EXTENSIONS' irregular forms: form -> stem.
const std::unordered_map<std::string, std::string>& irregular_forms() {
    static const std::unordered_map<std::string, std::string> pool = {
        {"sky", "sky"},        {"skies", "sky"},       {"dying", "die"},        {"lying", "lie"},
        {"tying", "tie"},      {"news", "news"},       {"innings", "inning"},   {"inning", "inning"},
        {"outings", "outing"}, {"outing", "outing"},   {"cannings", "canning"}, {"canning", "canning"},
        {"howe", "howe"},      {"proceed", "proceed"}, {"exceed", "exceed"},    {"succeed", "succeed"},
    };
    return pool;
}

std::string lower_ascii(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

// ---- METEOR alignment: nltk/translate/meteor_score.py ----

using Enumerated = std::vector<std::pair<int, std::string>>;  // (position in the sentence, word)
using Matches = std::vector<std::pair<int, int>>;             // (hyp position, ref position)

// _match_enums and _enum_wordnetsyn_match: hyp words from the last back, each takes the last unmatched ref
// word that fits; both leave the lists with what stayed unmatched.
template <typename Fits>
void match_enums(Enumerated& hyp, Enumerated& ref, Matches& matches, Fits fits) {
    for (int i = static_cast<int>(hyp.size()) - 1; i >= 0; --i) {
        const auto ref_fits = fits(hyp[i].second);
        for (int j = static_cast<int>(ref.size()) - 1; j >= 0; --j) {
            if (ref_fits(ref[j].second)) {
                matches.emplace_back(hyp[i].first, ref[j].first);
                hyp.erase(hyp.begin() + i);
                ref.erase(ref.begin() + j);
                break;
            }
        }
    }
}

// _count_chunks: runs of matches adjacent in both hyp and ref, matches sorted by hyp position.
int count_chunks(const Matches& m) {
    int chunks = 1;
    for (size_t i = 0; i + 1 < m.size(); ++i)
        if (!(m[i + 1].first == m[i].first + 1 && m[i + 1].second == m[i].second + 1)) ++chunks;
    return chunks;
}

}  // namespace

std::string porter_stem(const std::string& word) {
    std::string stem = lower_ascii(word);
    const auto& pool = irregular_forms();
    if (const auto it = pool.find(word); it != pool.end()) return it->second;
    if (word.size() <= 2) return stem;
    stem = step1a(stem);
    stem = step1b(stem);
    stem = step1c(stem);
    stem = step2(stem);
    stem = step3(stem);
    stem = step4(stem);
    stem = step5a(stem);
    stem = step5b(stem);
    return stem;
}

double single_meteor_score(const Tokens& ref, const Tokens& hyp, const WordNet& wordnet, const MeteorParams& params) {
    Enumerated h, r;
    for (size_t i = 0; i < hyp.size(); ++i) h.emplace_back(static_cast<int>(i), lower_ascii(hyp[i]));
    for (size_t i = 0; i < ref.size(); ++i) r.emplace_back(static_cast<int>(i), lower_ascii(ref[i]));

    Matches matches;
    const auto equal_to = [](const std::string& a) { return [&a](const std::string& b) { return a == b; }; };
    match_enums(h, r, matches, equal_to);
    for (auto& e : h) e.second = porter_stem(e.second);
    for (auto& e : r) e.second = porter_stem(e.second);
    match_enums(h, r, matches, equal_to);
    match_enums(h, r, matches, [&wordnet](const std::string& a) {
        std::unordered_set<std::string> synonyms = {a};
        for (auto& name : wordnet.synset_lemma_names(a))
            if (name.find('_') == std::string::npos) synonyms.insert(std::move(name));
        return [synonyms = std::move(synonyms)](const std::string& b) { return synonyms.count(b) > 0; };
    });
    std::sort(matches.begin(), matches.end());  // hyp positions are distinct: the same order as NLTK's key sort

    const size_t n_matches = matches.size();
    if (n_matches == 0) return 0.0;  // NLTK: ZeroDivisionError -> 0 (covers an empty hyp or ref too)
    const double precision = static_cast<double>(n_matches) / static_cast<double>(hyp.size());
    const double recall = static_cast<double>(n_matches) / static_cast<double>(ref.size());
    const double fmean = (precision * recall) / (params.alpha * precision + (1 - params.alpha) * recall);
    const double frag_frac = static_cast<double>(count_chunks(matches)) / static_cast<double>(n_matches);
    const double penalty = params.gamma * std::pow(frag_frac, params.beta);
    return (1 - penalty) * fmean;
}

double meteor_score(const std::vector<Tokens>& refs, const Tokens& hyp, const WordNet& wordnet,
                    const MeteorParams& params) {
    if (refs.empty()) throw std::invalid_argument("meteor_score: no reference given");
    double best = -1.0;
    for (const Tokens& ref : refs) best = std::max(best, single_meteor_score(ref, hyp, wordnet, params));
    return best;
}

}  // namespace diagecg
