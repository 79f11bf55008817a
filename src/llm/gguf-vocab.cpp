#include "diagecg/llm/gguf-vocab.h"

#include <cctype>
#include <stdexcept>

#include "diagecg/util/gguf.h"

namespace diagecg {

namespace {

[[noreturn]] void fail(const std::string& source, const std::string& what) {
    throw std::runtime_error(source + ": " + what);
}

int32_t checked_id(int64_t id, size_t n, const std::string& source, const char* key) {
    if (id < -1 || id >= static_cast<int64_t>(n))
        fail(source, std::string("tokenizer.ggml.") + key + " " + std::to_string(id) + " is outside the " +
                         std::to_string(n) + " tokens");
    return static_cast<int32_t>(id);
}

}  // namespace

BpeSpec bpe_spec_from_gguf(const GgufVocab& v, const std::string& source) {
    BpeSpec spec;
    spec.source = source;
    const size_t n = v.tokens.size();
    if (n == 0) fail(source, "tokenizer.ggml.tokens is empty");
    if (!v.token_types.empty() && v.token_types.size() != n)
        fail(source, "tokenizer.ggml.token_type has " + std::to_string(v.token_types.size()) + " entries for " +
                         std::to_string(n) + " tokens");
    spec.tokens = v.tokens;
    spec.token_types.resize(n, TokenType::Normal);
    for (size_t i = 0; i < v.token_types.size(); ++i) {
        const int32_t t = v.token_types[i];
        if (t < 0 || t > static_cast<int32_t>(TokenType::Byte))
            fail(source, "token " + std::to_string(i) + " has type " + std::to_string(t));
        spec.token_types[i] = static_cast<TokenType>(t);
    }
    spec.unk_id = checked_id(v.unk_id, n, source, "unknown_token_id");
    spec.bos_id = checked_id(v.bos_id, n, source, "bos_token_id");
    spec.eos_id = checked_id(v.eos_id, n, source, "eos_token_id");
    spec.pad_id = checked_id(v.pad_id, n, source, "padding_token_id");

    std::string lower = v.name;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool phi3 = lower.find("phi-3") != std::string::npos || lower.find("phi3") != std::string::npos;
    for (size_t i = 0; i < n; ++i) {
        const TokenType t = spec.token_types[i];
        if (t != TokenType::Control && t != TokenType::UserDefined && t != TokenType::Unknown) continue;
        if (v.tokens[i].empty()) continue;
        AddedToken a;
        a.id = static_cast<int32_t>(i);
        a.content = v.tokens[i];
        a.special = t != TokenType::UserDefined;
        a.rstrip = phi3 && a.content != "<unk>" && a.content != "<s>" && a.content != "<|endoftext|>";
        spec.added_tokens.push_back(std::move(a));
    }

    if (v.model == "gpt2") {
        spec.alphabet = BpeAlphabet::ByteLevel;
        spec.unk_id = -1;  // llama.cpp's byte-level BPE drops a byte that has no token, as HF does
        if (v.merges.empty()) fail(source, "tokenizer.ggml.merges is missing (needed by model \"gpt2\")");
        spec.merges.reserve(v.merges.size());
        for (size_t r = 0; r < v.merges.size(); ++r) {
            const std::string& m = v.merges[r];
            const size_t space = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
            if (space == std::string::npos || space + 1 == m.size())
                fail(source, "tokenizer.ggml.merges[" + std::to_string(r) + "] \"" + m + "\" is not \"a b\"");
            spec.merges.emplace_back(m.substr(0, space), m.substr(space + 1));
        }
        const std::string pre = v.pre.empty() ? "default" : v.pre;
        try {
            spec.pre_tokenizer = pre_tokenizer_preset(pre);
        } catch (const std::exception& e) {
            fail(source, std::string("tokenizer.ggml.pre: ") + e.what());
        }
        spec.ignore_merges = pre == "llama3" || pre == "llama-bpe" || pre == "llama-v3";
        spec.add_bos = v.add_bos.value_or(false);
        spec.add_eos = v.add_eos.value_or(false);
    } else if (v.model == "llama") {
        spec.alphabet = BpeAlphabet::SentencePiece;
        if (v.scores.size() != n)
            fail(source, "tokenizer.ggml.scores has " + std::to_string(v.scores.size()) + " entries for " +
                             std::to_string(n) + " tokens");
        spec.scores = v.scores;
        spec.byte_fallback = true;
        const char* metaspace = "\xE2\x96\x81";
        if (v.add_space_prefix.value_or(true)) {
            spec.normalizer.push_back({NormalizerStep::Kind::Prepend, metaspace, ""});
            spec.strip_leading_spaces = 1;
        }
        spec.normalizer.push_back({NormalizerStep::Kind::Replace, " ", metaspace});
        spec.add_bos = v.add_bos.value_or(spec.bos_id >= 0);
        spec.add_eos = v.add_eos.value_or(false);
    } else {
        fail(source, "tokenizer.ggml.model \"" + v.model + "\" is not supported (gpt2, llama are)");
    }
    return spec;
}

GgufVocab gguf_vocab_from_file(const GgufFile& f) {
    GgufVocab v;
    v.name = f.get_string("general.name", "");
    v.model = f.get_string("tokenizer.ggml.model");
    v.pre = f.get_string("tokenizer.ggml.pre", "");
    v.tokens = f.get_strings("tokenizer.ggml.tokens");
    if (f.has("tokenizer.ggml.scores")) v.scores = f.get_floats("tokenizer.ggml.scores");
    if (f.has("tokenizer.ggml.token_type"))
        for (const int64_t t : f.get_ints("tokenizer.ggml.token_type"))
            v.token_types.push_back(static_cast<int32_t>(t));
    if (f.has("tokenizer.ggml.merges")) v.merges = f.get_strings("tokenizer.ggml.merges");
    v.bos_id = f.get_int("tokenizer.ggml.bos_token_id", -1);
    v.eos_id = f.get_int("tokenizer.ggml.eos_token_id", -1);
    v.unk_id = f.get_int("tokenizer.ggml.unknown_token_id", -1);
    v.pad_id = f.get_int("tokenizer.ggml.padding_token_id", -1);
    if (f.has("tokenizer.ggml.add_bos_token")) v.add_bos = f.get_bool("tokenizer.ggml.add_bos_token");
    if (f.has("tokenizer.ggml.add_eos_token")) v.add_eos = f.get_bool("tokenizer.ggml.add_eos_token");
    if (f.has("tokenizer.ggml.add_space_prefix")) v.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix");
    return v;
}

}  // namespace diagecg
