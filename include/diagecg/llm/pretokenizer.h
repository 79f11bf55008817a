// Pre-tokenizers of Hugging Face tokenizer.json and llama.cpp's tokenizer.ggml.pre: split text into the
// words that BPE merges within. Regexes run in PCRE2 (UTF + UCP), with the patterns the families ship.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace diagecg {

// One step of a pre-tokenizer Sequence; each step splits every piece the previous step produced.
struct PreTokenizerStep {
    enum class Kind {
        Split,      // HF Split(pattern, behavior=Isolated): matches and the text between them are pieces
        Digits,     // HF Digits: \p{N} runs (or each \p{N} alone when individual_digits) become pieces
        ByteLevel,  // HF ByteLevel: optional prefix space, then the GPT-2 regex when use_regex
    };
    Kind kind = Kind::Split;
    std::string pattern;             // Split: the regex as in tokenizer.json
    bool individual_digits = false;  // Digits
    bool use_regex = true;           // ByteLevel
    bool add_prefix_space = false;   // ByteLevel
};

// GPT-2's pre-tokenizer regex (HF ByteLevel's use_regex=true).
extern const char* const kGpt2Pattern;
// Llama 3's (digits in runs of up to 3).
extern const char* const kLlama3Pattern;
// Qwen2's (single digits).
extern const char* const kQwen2Pattern;

// The steps of a family's pre-tokenizer by llama.cpp's tokenizer.ggml.pre name: "default"/"gpt-2"/"gpt2"
// (GPT-2 regex), "llama3"/"llama-bpe"/"llama-v3", "qwen2", "smollm"/"starcoder"/"refact" (each digit alone,
// then the GPT-2 regex); throws std::invalid_argument for any other name.
std::vector<PreTokenizerStep> pre_tokenizer_preset(const std::string& name);

class PreTokenizer {
public:
    PreTokenizer();  // no steps: the text is one piece
    // Compiles every regex; throws std::invalid_argument naming a pattern PCRE2 rejects.
    explicit PreTokenizer(std::vector<PreTokenizerStep> steps);
    ~PreTokenizer();
    PreTokenizer(PreTokenizer&&) noexcept;
    PreTokenizer& operator=(PreTokenizer&&) noexcept;

    // Well-formed UTF-8 -> pieces in order (their concatenation is `text`, plus any prefix spaces).
    void split(std::string_view text, std::vector<std::string>& pieces) const;
    bool empty() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace diagecg
