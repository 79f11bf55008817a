#include "diagecg/eval/wordnet.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "diagecg/util/log.h"

namespace diagecg {
namespace {

// NLTK's POS_LIST order; file suffixes as WordNetCorpusReader._FILEMAP.
constexpr std::array<char, 4> kPos = {'n', 'v', 'a', 'r'};
constexpr std::array<const char*, 4> kPosFile = {"noun", "verb", "adj", "adv"};

using Substitutions = std::vector<std::pair<std::string, std::string>>;

// WordNetCorpusReader.MORPHOLOGICAL_SUBSTITUTIONS, in NLTK's order (the order fixes morphy's result order).
const std::array<Substitutions, 4>& substitutions() {
    static const std::array<Substitutions, 4> subs = {
        Substitutions{{"s", ""},
                      {"ses", "s"},
                      {"ves", "f"},
                      {"xes", "x"},
                      {"zes", "z"},
                      {"ches", "ch"},
                      {"shes", "sh"},
                      {"men", "man"},
                      {"ies", "y"}},
        Substitutions{
            {"s", ""}, {"ies", "y"}, {"es", "e"}, {"es", ""}, {"ed", "e"}, {"ed", ""}, {"ing", "e"}, {"ing", ""}},
        Substitutions{{"er", ""}, {"est", ""}, {"er", "e"}, {"est", "e"}},
        Substitutions{},
    };
    return subs;
}

int pos_index(char pos) {
    for (size_t i = 0; i < kPos.size(); ++i)
        if (kPos[i] == pos) return static_cast<int>(i);
    return -1;
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Python str.split() on ASCII text.
std::vector<std::string_view> split_ws(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && is_space(s[i])) ++i;
        const size_t start = i;
        while (i < s.size() && !is_space(s[i])) ++i;
        if (i > start) out.push_back(s.substr(start, i - start));
    }
    return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("wordnet: cannot open " + path +
                                 " (METEOR's synonym stage needs the WordNet 3.0 database: install Debian's "
                                 "wordnet-base, or set DIAGECG_WORDNET to a directory holding its files)");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

long parse_long(std::string_view tok, int base, const std::string& where) {
    const std::string s(tok);
    char* end = nullptr;
    const long v = std::strtol(s.c_str(), &end, base);
    if (s.empty() || *end != '\0') throw std::runtime_error(where + ": \"" + s + "\" is not a number");
    return v;
}

// The regex NLTK applies to a data-file word, r"(.*?)(\(.*\))?$": drop everything from the first '(' when
// the word ends with ')'.
std::string strip_marker(std::string_view word) {
    if (!word.empty() && word.back() == ')') {
        const size_t open = word.find('(');
        if (open != std::string_view::npos && open + 1 < word.size()) return std::string(word.substr(0, open));
    }
    return std::string(word);
}

}  // namespace

struct WordNet::Impl {
    std::string dir;
    std::array<std::unordered_map<std::string, std::vector<uint32_t>>, 4> index;          // lemma -> synset offsets
    std::array<std::unordered_map<std::string, std::vector<std::string>>, 4> exceptions;  // form -> bases
    std::array<std::string, 4> data;                                                      // whole data.<pos> files

    void load_index(int p) {
        const std::string path = dir + "/index." + kPosFile[p];
        const std::string text = read_file(path);
        size_t line_no = 0;
        for (size_t start = 0; start < text.size();) {
            size_t end = text.find('\n', start);
            if (end == std::string::npos) end = text.size();
            const std::string_view line(text.data() + start, end - start);
            start = end + 1;
            ++line_no;
            if (line.empty() || line[0] == ' ') continue;
            const std::string where = path + " line " + std::to_string(line_no);
            const auto tok = split_ws(line);
            size_t k = 0;
            auto next = [&]() {
                if (k >= tok.size()) throw std::runtime_error(where + ": line ends early");
                return tok[k++];
            };
            const std::string lemma(next());
            const std::string_view line_pos = next();
            const int q = line_pos.size() == 1 ? pos_index(line_pos[0]) : -1;
            if (q < 0) throw std::runtime_error(where + ": part of speech \"" + std::string(line_pos) + "\" unknown");
            const long n_synsets = parse_long(next(), 10, where);
            if (n_synsets <= 0) throw std::runtime_error(where + ": synset count " + std::to_string(n_synsets));
            const long n_pointers = parse_long(next(), 10, where);
            for (long i = 0; i < n_pointers; ++i) next();
            const long n_senses = parse_long(next(), 10, where);
            if (n_senses != n_synsets)
                throw std::runtime_error(where + ": sense count " + std::to_string(n_senses) + ", expected " +
                                         std::to_string(n_synsets));
            next();  // senses ranked by frequency
            std::vector<uint32_t> offsets;
            for (long i = 0; i < n_synsets; ++i)
                offsets.push_back(static_cast<uint32_t>(parse_long(next(), 10, where)));
            index[q][lemma] = std::move(offsets);  // a repeated lemma replaces the earlier line, as in NLTK
        }
    }

    void load_exceptions(int p) {
        const std::string path = dir + "/" + kPosFile[p] + ".exc";
        const std::string text = read_file(path);
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);) {
            const auto terms = split_ws(line);
            if (terms.empty()) continue;
            std::vector<std::string> bases(terms.begin() + 1, terms.end());
            exceptions[p][std::string(terms[0])] = std::move(bases);
        }
    }

    // Lemma names of the synset at offset in data.<pos>, as NLTK's _synset_from_pos_and_line.
    void append_lemma_names(int p, uint32_t offset, std::vector<std::string>& out) const {
        const std::string& text = data[p];
        const std::string where = dir + "/data." + kPosFile[p] + " offset " + std::to_string(offset);
        if (offset >= text.size()) throw std::runtime_error(where + ": past the end of the file");
        size_t end = text.find('\n', offset);
        if (end == std::string::npos) end = text.size();
        std::string_view line(text.data() + offset, end - offset);
        char expect[16];
        std::snprintf(expect, sizeof expect, "%08u", offset);
        if (line.substr(0, 8) != expect) throw std::runtime_error(where + ": no synset starts there");
        const size_t bar = line.find('|');
        if (bar != std::string_view::npos) line = line.substr(0, bar);
        const auto tok = split_ws(line);
        if (tok.size() < 4) throw std::runtime_error(where + ": synset line ends early");
        const long n_words = parse_long(tok[3], 16, where);
        if (tok.size() < 4 + 2 * static_cast<size_t>(n_words))
            throw std::runtime_error(where + ": synset line has fewer than " + std::to_string(n_words) + " words");
        for (long i = 0; i < n_words; ++i) out.push_back(strip_marker(tok[4 + 2 * i]));
    }
};

std::string WordNet::default_dir() {
    const char* env = std::getenv("DIAGECG_WORDNET");
    if (env && *env) return env;
    return "/usr/share/wordnet";
}

WordNet::WordNet(const std::string& dir) : impl_(std::make_unique<Impl>()) {
    const auto t0 = std::chrono::steady_clock::now();
    impl_->dir = dir;
    for (int p = 0; p < 4; ++p) {
        impl_->load_index(p);
        impl_->load_exceptions(p);
        impl_->data[p] = read_file(dir + "/data." + kPosFile[p]);
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    log::debug("wordnet: loaded {} noun, {} verb, {} adjective, {} adverb lemmas from {} in {:.0f} ms",
               impl_->index[0].size(), impl_->index[1].size(), impl_->index[2].size(), impl_->index[3].size(), dir, ms);
}

WordNet::~WordNet() = default;
WordNet::WordNet(WordNet&&) noexcept = default;
WordNet& WordNet::operator=(WordNet&&) noexcept = default;

const std::string& WordNet::dir() const {
    return impl_->dir;
}

std::vector<std::string> WordNet::morphy(const std::string& form, char pos) const {
    const int p = pos_index(pos);
    if (p < 0)
        throw std::invalid_argument(std::string("wordnet morphy: part of speech '") + pos + "' is not n, v, a or r");
    const auto& idx = impl_->index[p];
    const Substitutions& subs = substitutions()[p];

    auto apply_rules = [&](const std::vector<std::string>& forms) {
        std::vector<std::string> out;
        for (const auto& f : forms)
            for (const auto& [old_suffix, new_suffix] : subs)
                if (ends_with(f, old_suffix)) out.push_back(f.substr(0, f.size() - old_suffix.size()) + new_suffix);
        return out;
    };
    auto filter_forms = [&](const std::vector<std::string>& forms) {
        std::vector<std::string> out;
        std::unordered_set<std::string> seen;
        for (const auto& f : forms)
            if (idx.count(f) && seen.insert(f).second) out.push_back(f);
        return out;
    };

    const auto exc = impl_->exceptions[p].find(form);
    if (exc != impl_->exceptions[p].end()) {
        std::vector<std::string> forms = {form};
        forms.insert(forms.end(), exc->second.begin(), exc->second.end());
        return filter_forms(forms);
    }
    std::vector<std::string> forms = apply_rules({form});
    std::vector<std::string> first = {form};
    first.insert(first.end(), forms.begin(), forms.end());
    auto results = filter_forms(first);
    if (!results.empty()) return results;
    while (!forms.empty()) {
        forms = apply_rules(forms);
        results = filter_forms(forms);
        if (!results.empty()) return results;
    }
    return {};
}

std::vector<std::string> WordNet::synset_lemma_names(const std::string& word) const {
    std::string lemma = word;
    for (char& c : lemma)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    std::vector<std::string> names;
    for (int p = 0; p < 4; ++p) {
        for (const auto& form : morphy(lemma, kPos[p])) {
            const auto it = impl_->index[p].find(form);
            if (it == impl_->index[p].end()) continue;
            for (const uint32_t offset : it->second) impl_->append_lemma_names(p, offset, names);
        }
    }
    return names;
}

}  // namespace diagecg
