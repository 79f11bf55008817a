// Helpers of the text-tokenizer tests: the reference tokenizer files (../shared/data/tokenizers) and the goldens
// under tests/data/tokenizers (tools/make-tokenizer-goldens.py writes them).
#pragma once

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "diagecg/llm/bpe-tokenizer.h"
#include "diagecg/llm/hf-tokenizer-json.h"

namespace diagecg::test {

inline const std::string kTokenizerData = std::string(DIAGECG_SHARED_DATA) + "/tokenizers";
inline const std::string kGoldens = std::string(DIAGECG_TEST_DATA) + "/tokenizers";

inline bool have_tokenizer_data() {
    return std::filesystem::is_directory(kTokenizerData + "/llama.cpp");
}

inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Whole content of a gzip file.
inline std::string read_gzip(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) throw std::runtime_error("cannot open " + path);
    std::string out;
    char buf[1 << 16];
    int n = 0;
    while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    gzclose(f);
    if (n < 0) throw std::runtime_error(path + ": gzip error");
    return out;
}

inline std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    size_t pos = 0;
    for (size_t e; (e = text.find('\n', pos)) != std::string::npos; pos = e + 1)
        lines.push_back(text.substr(pos, e - pos));
    return lines;
}

// Inverse of the goldens script's escape(): \\ \n \t \r \xHH.
inline std::string unescape(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\' || i + 1 == s.size()) {
            out += s[i];
            continue;
        }
        const char c = s[++i];
        if (c == 'n')
            out += '\n';
        else if (c == 't')
            out += '\t';
        else if (c == 'r')
            out += '\r';
        else if (c == 'x' && i + 2 < s.size() + 1)
            out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)), i += 2;
        else
            out += c;
    }
    return out;
}

// The reference tokenizer of a family in ../shared/data/tokenizers (llama3's tokenizer.json is gzipped there).
inline BpeSpec family_spec(const std::string& family) {
    if (family == "llama3") {
        BpeSpec spec =
            parse_tokenizer_json(read_gzip(kTokenizerData + "/llama3/tokenizer.json.gz"), "llama3/tokenizer.json");
        apply_tokenizer_config(read_text(kTokenizerData + "/llama3/tokenizer_config.json"),
                               "llama3/tokenizer_config.json", spec);
        return spec;
    }
    return load_hf_tokenizer(kTokenizerData + "/" + family).spec;
}

inline const BpeTokenizer& family_tokenizer(const std::string& family) {
    static std::map<std::string, std::unique_ptr<BpeTokenizer>> cache;
    auto& slot = cache[family];
    if (!slot) slot = std::make_unique<BpeTokenizer>(family_spec(family));
    return *slot;
}

}  // namespace diagecg::test
