// Text <-> token ids: a SentencePiece .model or a Hugging Face BPE tokenizer (tokenizer.json, vocab.json +
// merges.txt, or GGUF metadata; see bpe-tokenizer.h) for text, plus the extended vocabulary's special strings
// (<ecg_0042>, <|start_ecg|>, ...) which map straight to their ids (see vocab.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "diagecg/llm/bpe-tokenizer.h"
#include "diagecg/llm/vocab.h"

namespace diagecg {

class TextTokenizer {
public:
    // `path`: a SentencePiece .model, a tokenizer.json, a GGUF file (its tokenizer.* metadata), or a model
    // directory with tokenizer.json or vocab.json + merges.txt (preferred) or tokenizer.model; throws
    // std::runtime_error when it cannot.
    explicit TextTokenizer(const std::string& path);
    // A BPE tokenizer built elsewhere (GGUF metadata) and the model's chat template source ("" if none).
    explicit TextTokenizer(BpeTokenizer bpe, std::string chat_template = "");
    ~TextTokenizer();
    TextTokenizer(TextTokenizer&&) noexcept;
    TextTokenizer& operator=(TextTokenizer&&) noexcept;

    void set_vocab(const Vocab& vocab) { vocab_ = vocab; }   // enables special strings
    const Vocab& vocab() const { return vocab_; }
    int64_t n_pieces() const;
    int64_t bos_id() const;  // -1 when the model does not start text with one
    int64_t eos_id() const;  // -1 when none is known
    // The model's chat_template (Jinja source) for BPE models; "" otherwise.
    const std::string& chat_template() const { return chat_template_; }
    // Id of a text-vocabulary spelling ("<|im_end|>", "▁the"), if any.
    std::optional<int64_t> find(const std::string& spelling) const;

    // add_bos: prepend BOS (BPE models: only those whose tokenizer adds one, as HF add_special_tokens).
    // parse_special: special-token strings in the text ("<|im_start|>", "<ecg_0042>") become their ids.
    std::vector<int64_t> encode(const std::string& text, bool add_bos, bool parse_special = true) const;
    std::string decode(const std::vector<int64_t>& ids) const;
    std::string piece(int64_t id) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    Vocab vocab_;
    std::string chat_template_;
};

// Trains a SentencePiece model with the library's own trainer. `args` as on spm_train's command line,
// e.g. "--input=corpus.txt --model_prefix=out/tok --vocab_size=2000 --model_type=bpe".
void train_sentencepiece(const std::string& args);

}  // namespace diagecg
