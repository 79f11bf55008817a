// libFuzzer target: bytes = tokenizer.json text, NUL, text to encode -> parse_tokenizer_json, BpeTokenizer,
// encode (added tokens parsed and not), decode.
// Build: clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude fuzz/fuzz-tokenizer-json.cpp
//        src/llm/bpe-tokenizer.cpp src/llm/hf-tokenizer-json.cpp src/llm/pretokenizer.cpp src/llm/unicode-text.cpp
//        -lpcre2-8 -lutf8proc
// Run:   ./fuzz-tokenizer-json fuzz/corpus/tokenizer-json
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>

#include "diagecg/llm/bpe-tokenizer.h"
#include "diagecg/llm/hf-tokenizer-json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const char* bytes = reinterpret_cast<const char*>(data);
    const void* nul = std::memchr(bytes, 0, size);
    const size_t json_size = nul ? static_cast<size_t>(static_cast<const char*>(nul) - bytes) : size;
    const std::string json(bytes, json_size);
    const std::string text =
        nul ? std::string(bytes + json_size + 1, size - json_size - 1) : std::string("Hello, world!");
    try {
        const diagecg::BpeTokenizer tok(diagecg::parse_tokenizer_json(json, "fuzz.json"));
        for (const bool parse_added : {true, false}) {
            const auto ids = tok.encode(text, true, parse_added);
            (void)tok.decode(ids);
            for (const int32_t id : ids) (void)tok.token_bytes(id);
        }
    } catch (const std::exception&) {
    }
    return 0;
}
