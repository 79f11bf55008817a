// Read-only WordNet 3.0 database (Debian's wordnet-base installs it in /usr/share/wordnet) giving exactly what
// NLTK 3.8's WordNetCorpusReader gives for synsets(word) and Synset.lemma_names(), including morphy. METEOR's
// synonym stage uses it. Files read (format: wndb(5WN)):
//   1. index.{noun,verb,adj,adv}: licence lines start with a space; then one line per lemma,
//      "lemma pos n_synsets n_pointers pointer... n_senses n_tagged offset...", offsets into data.<pos>.
//   2. data.{noun,verb,adj,adv}: one synset per line at its byte offset,
//      "offset lex_filenum ss_type n_words(hex) word lex_id(hex) ... | gloss"; an adjective word may carry a
//      syntactic marker, "word(p)", which lemma names drop.
//   3. {noun,verb,adj,adv}.exc: "inflected_form base_form...", morphy's exception lists.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace diagecg {

class WordNet {
public:
    // $DIAGECG_WORDNET when set and not empty, else "/usr/share/wordnet".
    static std::string default_dir();

    // Loads the index and exception files and the data files (about 30 MB) from dir. Throws
    // std::runtime_error naming the first file that is missing or malformed.
    explicit WordNet(const std::string& dir = default_dir());
    ~WordNet();
    WordNet(WordNet&&) noexcept;
    WordNet& operator=(WordNet&&) noexcept;

    const std::string& dir() const;

    // NLTK WordNetCorpusReader._morphy(form, pos): the base forms of form that the index has for pos
    // ('n', 'v', 'a' or 'r'), from the exception list if form is in it, else by suffix rules applied
    // repeatedly until some form is found. Throws std::invalid_argument for another pos.
    std::vector<std::string> morphy(const std::string& form, char pos) const;

    // [s.lemma_names() for s in wordnet.synsets(word)] flattened: word is lower-cased, morphy runs for
    // noun, verb, adjective, adverb in that order, and each synset's lemma names (case kept, '_' for spaces)
    // follow in file order. Names repeat when they are in several synsets.
    std::vector<std::string> synset_lemma_names(const std::string& word) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace diagecg
