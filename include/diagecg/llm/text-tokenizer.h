// Text <-> token ids: SentencePiece for text, plus the extended vocabulary's special strings
// (<ecg_0042>, <|start_ecg|>, ...) which map straight to their ids (see vocab.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "diagecg/llm/vocab.h"

namespace diagecg {

class TextTokenizer {
public:
    // Loads a SentencePiece model file; throws std::runtime_error when it cannot.
    explicit TextTokenizer(const std::string& model_path);
    ~TextTokenizer();
    TextTokenizer(TextTokenizer&&) noexcept;
    TextTokenizer& operator=(TextTokenizer&&) noexcept;

    void set_vocab(const Vocab& vocab) { vocab_ = vocab; }   // enables special strings
    const Vocab& vocab() const { return vocab_; }
    int64_t n_pieces() const;
    int64_t bos_id() const;
    int64_t eos_id() const;

    std::vector<int64_t> encode(const std::string& text, bool add_bos) const;
    std::string decode(const std::vector<int64_t>& ids) const;
    std::string piece(int64_t id) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    Vocab vocab_;
};

// Trains a SentencePiece model with the library's own trainer. `args` as on spm_train's command line,
// e.g. "--input=corpus.txt --model_prefix=out/tok --vocab_size=2000 --model_type=bpe".
void train_sentencepiece(const std::string& args);

}  // namespace diagecg
