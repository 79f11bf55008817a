#include "diagecg/llm/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdexcept>

namespace diagecg {

const char* const kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

namespace {

// Bounds on one match: a hostile pattern fails with an error instead of backtracking for hours.
constexpr uint32_t kMatchLimit = 10'000'000;
constexpr uint32_t kDepthLimit = 100'000;

// Unicode White_Space, which is what \s means in Oniguruma (HF tokenizers' regex engine); PCRE2's \s also
// takes U+180E, so the patterns are compiled with \s spelled out.
const char* const kWhiteSpace =
    R"(\t\n\x{0B}\f\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

std::string spell_out_whitespace(const std::string& pattern) {
    std::string out;
    bool in_class = false;
    for (size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\' && i + 1 < pattern.size()) {
            const char e = pattern[++i];
            if (e == 's')
                out += in_class ? std::string(kWhiteSpace) : "[" + std::string(kWhiteSpace) + "]";
            else if (e == 'S' && !in_class)
                out += "[^" + std::string(kWhiteSpace) + "]";
            else
                out += std::string{c, e};
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = true;
            out += c;
            if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
            if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];  // a leading ']' is literal
            continue;
        }
        if (c == ']' && in_class) in_class = false;
        out += c;
    }
    return out;
}

struct Regex {
    pcre2_code* code = nullptr;
    pcre2_match_context* context = nullptr;
    explicit Regex(const std::string& pattern) {
        int err = 0;
        PCRE2_SIZE offset = 0;
        const std::string spelled = spell_out_whitespace(pattern);
        code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(spelled.data()), spelled.size(), PCRE2_UTF | PCRE2_UCP, &err,
                             &offset, nullptr);
        if (!code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            throw std::invalid_argument("pre-tokenizer regex \"" + pattern + "\" at offset " + std::to_string(offset) +
                                        ": " + reinterpret_cast<const char*>(msg));
        }
        pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when JIT is unavailable
        context = pcre2_match_context_create(nullptr);
        pcre2_set_match_limit(context, kMatchLimit);
        pcre2_set_depth_limit(context, kDepthLimit);
    }
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;
    ~Regex() {
        pcre2_match_context_free(context);
        pcre2_code_free(code);
    }

    // Isolated split: every match and every non-empty gap between matches, in order.
    void split(std::string_view text, pcre2_match_data* md, std::vector<std::string>& out) const {
        const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
        size_t start = 0, gap = 0;
        while (start < text.size()) {
            const int rc = pcre2_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, md, context);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof msg);
                throw std::runtime_error(std::string("pre-tokenizer: regex match failed: ") +
                                         reinterpret_cast<const char*>(msg));
            }
            const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
            const size_t b = ov[0], e = ov[1];
            if (e == b) {  // an empty match yields no piece: step over one code point
                start = b + 1;
                while (start < text.size() && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) ++start;
                continue;
            }
            if (b > gap) out.emplace_back(text.substr(gap, b - gap));
            out.emplace_back(text.substr(b, e - b));
            start = gap = e;
        }
        if (gap < text.size()) out.emplace_back(text.substr(gap));
    }
};

struct Step {
    PreTokenizerStep spec;
    std::unique_ptr<Regex> regex;
};

}  // namespace

struct PreTokenizer::Impl {
    std::vector<Step> steps;
};

PreTokenizer::PreTokenizer() : impl_(std::make_unique<Impl>()) {}

PreTokenizer::PreTokenizer(std::vector<PreTokenizerStep> steps) : impl_(std::make_unique<Impl>()) {
    for (auto& s : steps) {
        Step step{s, nullptr};
        switch (s.kind) {
            case PreTokenizerStep::Kind::Split:
                step.regex = std::make_unique<Regex>(s.pattern);
                break;
            case PreTokenizerStep::Kind::Digits:
                step.regex = std::make_unique<Regex>(s.individual_digits ? R"(\p{N})" : R"(\p{N}+)");
                break;
            case PreTokenizerStep::Kind::ByteLevel:
                if (s.use_regex) step.regex = std::make_unique<Regex>(kGpt2Pattern);
                break;
        }
        impl_->steps.push_back(std::move(step));
    }
}

std::vector<PreTokenizerStep> pre_tokenizer_preset(const std::string& name) {
    using K = PreTokenizerStep::Kind;
    const PreTokenizerStep gpt2{K::ByteLevel, "", false, true, false};
    const PreTokenizerStep bytes_only{K::ByteLevel, "", false, false, false};
    if (name == "default" || name == "gpt-2" || name == "gpt2") return {gpt2};
    if (name == "llama3" || name == "llama-bpe" || name == "llama-v3")
        return {{K::Split, kLlama3Pattern, false, false, false}, bytes_only};
    if (name == "qwen2") return {{K::Split, kQwen2Pattern, false, false, false}, bytes_only};
    if (name == "smollm" || name == "starcoder" || name == "refact") return {{K::Digits, "", true, false, false}, gpt2};
    throw std::invalid_argument(
        "pre-tokenizer \"" + name +
        "\" is not supported (default, gpt-2, llama3, llama-bpe, qwen2, smollm, starcoder, refact are)");
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

bool PreTokenizer::empty() const {
    return impl_->steps.empty();
}

void PreTokenizer::split(std::string_view text, std::vector<std::string>& pieces) const {
    pieces.clear();
    pieces.emplace_back(text);
    std::vector<std::string> next;
    for (const auto& step : impl_->steps) {
        pcre2_match_data* md = step.regex ? pcre2_match_data_create_from_pattern(step.regex->code, nullptr) : nullptr;
        std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> hold(md, &pcre2_match_data_free);
        next.clear();
        for (auto& piece : pieces) {
            if (piece.empty()) continue;
            if (step.spec.kind == PreTokenizerStep::Kind::ByteLevel && step.spec.add_prefix_space && piece[0] != ' ')
                piece.insert(piece.begin(), ' ');
            if (step.regex) {
                step.regex->split(piece, md, next);
            } else {
                next.push_back(std::move(piece));
            }
        }
        pieces.swap(next);
    }
}

}  // namespace diagecg
