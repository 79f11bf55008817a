// Hugging Face tokenizer files -> BpeSpec.
//   1. tokenizer.json: "model" {type "BPE", vocab {spelling: id}, merges ["a b"] or [["a","b"]], byte_fallback,
//      fuse_unk, ignore_merges, unk_token}, "added_tokens" [{id, content, special, lstrip, rstrip, single_word,
//      normalized}], "normalizer" (NFC, Prepend, Replace, Sequence), "pre_tokenizer" (ByteLevel, Split,
//      Digits, Sequence), "post_processor" (TemplateProcessing, ByteLevel, Sequence: where BOS/EOS are added),
//      "decoder" (ByteLevel; Replace/ByteFallback/Fuse/Strip). Anything else is refused by name.
//   2. tokenizer_config.json (optional, beside it): add_bos_token/add_eos_token override the post-processor
//      (as transformers does), bos_token/eos_token/pad_token name ids, chat_template (or a
//      chat_template.jinja file), added_tokens_decoder (added tokens when there is no tokenizer.json).
//   3. vocab.json ({spelling: id}) + merges.txt ("#version" line, then "a b" per rank) for GPT-2-style
//      byte-level BPE; these files do not say how text is pre-tokenized (see HfTokenizerOptions::pre).
#pragma once

#include <string>

#include "diagecg/llm/bpe-tokenizer.h"

namespace diagecg {

struct HfTokenizerOptions {
    // Pre-tokenizer for vocab.json + merges.txt, by llama.cpp name ("gpt2", "smollm", "qwen2", "llama3").
    // Empty: "qwen2" (with NFC) when tokenizer_config.json names Qwen2Tokenizer, else "smollm" when no merge
    // joins two digits (the vocabulary was trained on split digits), else "gpt2".
    std::string pre;
};

struct HfTokenizer {
    BpeSpec spec;
    std::string chat_template;  // the Jinja source, "" when the files have none
};

// `path`: a model directory (tokenizer.json preferred, else vocab.json + merges.txt) or a tokenizer.json.
// Throws std::runtime_error naming the file and the problem.
HfTokenizer load_hf_tokenizer(const std::string& path, const HfTokenizerOptions& options = {});

// True when `dir` holds tokenizer.json or vocab.json + merges.txt.
bool has_hf_tokenizer(const std::string& dir);

// Parsers behind load_hf_tokenizer, on file contents (`source` names the file in messages).
BpeSpec parse_tokenizer_json(const std::string& text, const std::string& source);
BpeSpec parse_vocab_and_merges(const std::string& vocab_json, const std::string& merges_txt, const std::string& source);
// Applies tokenizer_config.json to `spec`; returns its chat template ("" when none).
std::string apply_tokenizer_config(const std::string& text, const std::string& source, BpeSpec& spec);

}  // namespace diagecg
