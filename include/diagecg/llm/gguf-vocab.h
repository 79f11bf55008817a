// A GGUF file's tokenizer metadata as plain values (the GGUF reader fills it) -> BpeSpec, following
// llama.cpp's reading of the keys:
//   tokenizer.ggml.model       "gpt2": byte-level BPE with merges; "llama": SentencePiece BPE by scores
//   tokenizer.ggml.pre         pre-tokenizer name for "gpt2" (PreTokenizer::preset; "llama3" also ignores merges
//                              for words that are tokens)
//   tokenizer.ggml.tokens / scores / token_type / merges ("a b")
//   tokenizer.ggml.{bos,eos,unknown,padding}_token_id, add_bos_token, add_eos_token, add_space_prefix
// Control, user-defined and unknown-type tokens are matched in text before BPE (llama.cpp with parse_special);
// for a model whose general.name contains "phi-3"/"phi3" they swallow the whitespace after them, except <unk>,
// <s> and <|endoftext|> (llama.cpp's rule, which matches Phi-3's tokenizer.json).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "diagecg/llm/bpe-tokenizer.h"

namespace diagecg {

struct GgufVocab {
    std::string name;                                            // general.name
    std::string model;                                           // tokenizer.ggml.model
    std::string pre;                                             // tokenizer.ggml.pre ("" = "default")
    std::vector<std::string> tokens;                             // tokenizer.ggml.tokens
    std::vector<float> scores;                                   // tokenizer.ggml.scores (needed for "llama")
    std::vector<int32_t> token_types;                            // tokenizer.ggml.token_type (llama_token_type values)
    std::vector<std::string> merges;                             // tokenizer.ggml.merges (needed for "gpt2")
    int64_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1;  // -1: key absent
    std::optional<bool> add_bos, add_eos;  // absent: BOS for "llama" when it has one, else none (llama.cpp)
    std::optional<bool> add_space_prefix;  // "llama" only; absent: true
};

// Throws std::runtime_error naming `source` for an unsupported model/pre-tokenizer or inconsistent arrays.
BpeSpec bpe_spec_from_gguf(const GgufVocab& vocab, const std::string& source);

class GgufFile;
// The tokenizer.* (and general.name) metadata of a parsed GGUF file; throws std::runtime_error naming the
// file and key when one is missing or of another type.
GgufVocab gguf_vocab_from_file(const GgufFile& f);

}  // namespace diagecg
