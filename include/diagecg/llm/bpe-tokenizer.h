// Byte-pair-encoding text tokenizer of the Hugging Face tokenizers / llama.cpp kind. One engine serves
//   - byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM2): text bytes spelled in the GPT-2 alphabet, merges by rank;
//   - SentencePiece-style BPE (Llama 2, TinyLlama, Phi-3): spaces as U+2581, per-character symbols, byte
//     fallback to <0xXX> pieces, merges by rank (tokenizer.json) or by piece score (GGUF, SentencePiece).
// Encoding follows HF's pipeline: added tokens split the raw text first (leftmost-longest, lstrip/rstrip),
// the rest is normalised, split again on "normalized" added tokens, pre-tokenized, and each word merged.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "diagecg/llm/pretokenizer.h"

namespace diagecg {

// A token matched in text before BPE (HF tokenizer.json "added_tokens"; GGUF control/user-defined tokens).
struct AddedToken {
    int32_t id = -1;
    std::string content;
    bool special = true;       // a control token (decode can skip it)
    bool lstrip = false;       // swallows the whitespace before it
    bool rstrip = false;       // swallows the whitespace after it
    bool single_word = false;  // only matches between non-word characters
    bool normalized = false;   // matched in normalised text, against its normalised content
};

// One step of the normaliser Sequence, applied to text between added tokens.
struct NormalizerStep {
    enum class Kind { Nfc, Prepend, Replace };
    Kind kind = Kind::Nfc;
    std::string text;         // Prepend: the prefix (only for non-empty text); Replace: the pattern
    std::string replacement;  // Replace
};

enum class BpeAlphabet {
    ByteLevel,      // symbols are bytes spelled in the GPT-2 alphabet
    SentencePiece,  // symbols are UTF-8 characters; ' ' is spelled U+2581
};

// GGUF token types (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6
};

// Everything a BpeTokenizer is built from; filled by the tokenizer.json, vocab.json+merges.txt or GGUF loaders.
struct BpeSpec {
    std::string source;  // for messages: the file it came from
    BpeAlphabet alphabet = BpeAlphabet::ByteLevel;
    std::vector<std::string> tokens;                          // id -> spelling ("" for ids that only added tokens use)
    std::vector<TokenType> token_types;                       // id -> type; empty: all Normal
    std::vector<std::pair<std::string, std::string>> merges;  // rank order; empty: merge by `scores`
    std::vector<float> scores;                                // id -> SentencePiece score (higher merges first)
    std::vector<AddedToken> added_tokens;
    std::vector<NormalizerStep> normalizer;
    std::vector<PreTokenizerStep> pre_tokenizer;
    bool ignore_merges = false;  // a word that is itself a token is not merged (Llama 3)
    bool byte_fallback = false;  // unknown characters become <0xXX> tokens
    bool fuse_unk = false;       // consecutive unknown characters give one unk
    int32_t unk_id = -1, bos_id = -1, eos_id = -1, pad_id = -1;
    bool add_bos = false, add_eos = false;  // what encode(text, add_special=true) adds
    int strip_leading_spaces = 0;           // decode: spaces removed from the start (HF Strip decoder)
};

class BpeTokenizer {
public:
    // Validates and indexes `spec`; throws std::runtime_error naming spec.source and what is wrong
    // (merges naming unknown tokens, ids out of range, absurd sizes, bad regexes).
    explicit BpeTokenizer(BpeSpec spec);
    ~BpeTokenizer();
    BpeTokenizer(BpeTokenizer&&) noexcept;
    BpeTokenizer& operator=(BpeTokenizer&&) noexcept;

    // Text -> ids. Ill-formed UTF-8 is first replaced by U+FFFD (maximal subparts). Added tokens in the
    // text are recognised when parse_added (HF encode always does; llama.cpp with parse_special).
    // add_special adds BOS/EOS as the model does (HF add_special_tokens).
    std::vector<int32_t> encode(std::string_view text, bool add_special = false, bool parse_added = true) const;
    // Ids -> text (HF decode with skip_special_tokens=false, ill-formed bytes as U+FFFD); throws
    // std::out_of_range for an id outside [0, n_tokens()).
    std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
    // The bytes one token stands for (for streaming; may be part of a UTF-8 sequence).
    std::string token_bytes(int32_t id) const;
    // The token's spelling as in the vocabulary file ("Ġhello", "▁hello", "<|im_end|>").
    const std::string& piece(int32_t id) const;
    // Id of a spelling (vocabulary or added token), if any.
    std::optional<int32_t> find(std::string_view spelling) const;
    bool is_special(int32_t id) const;

    int32_t n_tokens() const;
    int32_t bos_id() const;
    int32_t eos_id() const;
    int32_t unk_id() const;
    int32_t pad_id() const;
    bool add_bos() const;
    bool add_eos() const;
    BpeAlphabet alphabet() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace diagecg
