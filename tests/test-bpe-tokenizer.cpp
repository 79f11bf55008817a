// BPE tokenizers against their references: llama.cpp's vocab test files, swift-transformers' expected
// tokenizations, and HF tokenizers' ids on the >= 5,000-line corpus (goldens from tools/make-tokenizer-goldens.py).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "diagecg/llm/bpe-tokenizer.h"
#include "diagecg/llm/chat-template.h"
#include "diagecg/llm/gguf-vocab.h"
#include "diagecg/llm/hf-tokenizer-json.h"
#include "diagecg/llm/pretokenizer.h"
#include "diagecg/llm/text-tokenizer.h"
#include "diagecg/llm/unicode-text.h"
#include "diagecg/util/gguf.h"
#include "tokenizer-test-util.h"

using namespace diagecg;
using namespace diagecg::test;
using json = nlohmann::json;

namespace {

#define REQUIRE_TOKENIZER_DATA() \
    if (!have_tokenizer_data()) GTEST_SKIP() << kTokenizerData << " is missing"

std::string join(const std::vector<int32_t>& ids) {
    std::string s;
    for (const int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
    return s;
}

// llama.cpp's models/ggml-vocab-NAME.gguf.inp/.out: inputs separated by "\n__ggml_vocab_test__\n", one line of
// HF encode(text, add_special_tokens=False) ids per input.
std::vector<std::pair<std::string, std::string>> llama_cpp_cases(const std::string& name) {
    const std::string base = kTokenizerData + "/llama.cpp/ggml-vocab-" + name + ".gguf";
    const std::string inp = read_text(base + ".inp"), sep = "\n__ggml_vocab_test__\n";
    std::istringstream out(read_text(base + ".out"));
    std::vector<std::pair<std::string, std::string>> cases;
    for (size_t pos = 0, end; (end = inp.find(sep, pos)) != std::string::npos; pos = end + sep.size()) {
        std::string line;
        std::getline(out, line);
        if (!line.empty() && line[0] == ' ') line.erase(0, 1);
        cases.emplace_back(inp.substr(pos, end - pos), line);
    }
    return cases;
}

struct Family {
    std::string name;       // folder in ../shared/data/tokenizers and goldens prefix
    std::string llama_cpp;  // ggml-vocab-NAME, "" when llama.cpp has no file for it
    bool adds_bos;
    bool nfc;
};

const Family kFamilies[] = {
    {"smollm2", "", false, false},        {"qwen2.5", "qwen2", false, true}, {"llama3", "llama-bpe", true, false},
    {"llama2", "llama-spm", true, false}, {"phi3", "phi-3", false, false},
};

class BpeFamily : public testing::TestWithParam<Family> {};
class BpeLlamaCppFile : public testing::TestWithParam<Family> {};

TEST_P(BpeLlamaCppFile, GivesIdenticalIds) {
    REQUIRE_TOKENIZER_DATA();
    const Family& f = GetParam();
    const BpeTokenizer& tok = family_tokenizer(f.name);
    const auto cases = llama_cpp_cases(f.llama_cpp);
    ASSERT_EQ(cases.size(), 46u);
    for (const auto& [text, want] : cases) EXPECT_EQ(join(tok.encode(text)), want) << "input: \"" << text << "\"";
}

TEST_P(BpeFamily, CorpusIdsAndDecodingMatchHfTokenizers) {
    REQUIRE_TOKENIZER_DATA();
    const Family& f = GetParam();
    const BpeTokenizer& tok = family_tokenizer(f.name);
    const auto corpus = split_lines(read_gzip(kGoldens + "/corpus.txt.gz"));
    const auto ids = split_lines(read_gzip(kGoldens + "/" + f.name + ".ids.gz"));
    const auto decoded = split_lines(read_gzip(kGoldens + "/" + f.name + ".decoded.gz"));
    ASSERT_GE(corpus.size(), 5000u);
    ASSERT_EQ(ids.size(), corpus.size());
    ASSERT_EQ(decoded.size(), corpus.size());
    size_t id_mismatches = 0, decode_mismatches = 0;
    for (size_t i = 0; i < corpus.size(); ++i) {
        const auto got = tok.encode(unescape(corpus[i]));
        if (join(got) != ids[i] && ++id_mismatches <= 5)
            ADD_FAILURE() << "line " << i << " \"" << corpus[i] << "\"\n  want " << ids[i] << "\n  got  " << join(got);
        if (tok.decode(got) != unescape(decoded[i]) && ++decode_mismatches <= 5)
            ADD_FAILURE() << "line " << i << " decodes to \"" << tok.decode(got) << "\", HF: \"" << decoded[i] << "\"";
    }
    EXPECT_EQ(id_mismatches, 0u) << "of " << corpus.size();
    EXPECT_EQ(decode_mismatches, 0u) << "of " << corpus.size();
}

TEST_P(BpeFamily, DecodeInvertsEncode) {
    REQUIRE_TOKENIZER_DATA();
    const Family& f = GetParam();
    const BpeTokenizer& tok = family_tokenizer(f.name);
    // Bytes without a token of their own are dropped, as HF does (SmolLM2 lacks 21, e.g. 0x04 and 0xF1).
    const bool byte_level = tok.alphabet() == BpeAlphabet::ByteLevel;
    std::string unrepresentable;
    for (int b = 0; byte_level && b < 256; ++b)
        if (!tok.find(byte_level_encode(std::string(1, static_cast<char>(b))))) unrepresentable += static_cast<char>(b);
    size_t n = 0;
    for (const auto& line : split_lines(read_gzip(kGoldens + "/corpus.txt.gz"))) {
        const std::string text = unescape(line);
        // Ill-formed UTF-8 becomes U+FFFD; SentencePiece families respell text next to added tokens, and
        // read U+2581 as their spelling of ' '.
        if (!utf8_is_valid(text) ||
            (!unrepresentable.empty() && text.find_first_of(unrepresentable) != std::string::npos) ||
            (!byte_level && (text.find('<') != std::string::npos || text.find("\xE2\x96\x81") != std::string::npos)))
            continue;
        EXPECT_EQ(tok.decode(tok.encode(text)), f.nfc ? utf8_nfc(text) : text);
        ++n;
    }
    EXPECT_GT(n, 5000u);
}

TEST_P(BpeFamily, AddSpecialAddsBosAsTheModelDoes) {
    REQUIRE_TOKENIZER_DATA();
    const Family& f = GetParam();
    const BpeTokenizer& tok = family_tokenizer(f.name);
    auto plain = tok.encode("Sinus rhythm. Normal ECG.");
    const auto with = tok.encode("Sinus rhythm. Normal ECG.", true);
    if (f.adds_bos) plain.insert(plain.begin(), tok.bos_id());
    EXPECT_EQ(with, plain);
    EXPECT_EQ(tok.encode("", true), f.adds_bos ? std::vector<int32_t>{tok.bos_id()} : std::vector<int32_t>{});
}

std::string family_name(const testing::TestParamInfo<Family>& info) {
    std::string n = info.param.name;
    for (auto& c : n)
        if (c == '.') c = '_';
    return n;
}

INSTANTIATE_TEST_SUITE_P(Families, BpeFamily, testing::ValuesIn(kFamilies), family_name);
// SmolLM2 has no llama.cpp file of its own (starcoder's GGUF below has its pre-tokenizer).
INSTANTIATE_TEST_SUITE_P(Families, BpeLlamaCppFile, testing::ValuesIn(kFamilies + 1, kFamilies + 5), family_name);

// swift-transformers' expected tokenizations (transformers outputs, BOS included where the model adds it).
TEST(BpeTokenizer, SwiftTransformersExpectedIds) {
    REQUIRE_TOKENIZER_DATA();
    const std::string dir = kTokenizerData + "/expected/";
    const auto& llama3 = family_tokenizer("llama3");
    const auto& llama2 = family_tokenizer("llama2");
    for (const auto& [file, tok] :
         {std::pair{"llama_3.2_encoded.json", &llama3}, std::pair{"llama_encoded.json", &llama2}}) {
        const json j = json::parse(read_text(dir + file));
        const auto ids = tok->encode(j.at("text").get<std::string>(), true);
        EXPECT_EQ(ids, j.at("token_ids").get<std::vector<int32_t>>()) << file;
        std::vector<std::string> pieces;
        for (size_t i = 1; i < ids.size(); ++i) pieces.push_back(tok->piece(ids[i]));
        EXPECT_EQ(pieces, j.at("bpe_tokens").get<std::vector<std::string>>()) << file;
    }
    const json tests = json::parse(read_text(dir + "tokenizer_tests.json"));
    for (const auto& [key, tok] : {std::pair{"pcuenq/Llama-3.2-1B-Instruct-tokenizer", &llama3},
                                   std::pair{"coreml-projects/Llama-2-7b-chat-coreml", &llama2}}) {
        ASSERT_EQ(tests.at(key).size(), 18u);
        for (const auto& c : tests.at(key)) {
            const auto ids = tok->encode(c.at("input").get<std::string>(), true);
            EXPECT_EQ(ids, c.at("encoded").at("input_ids").get<std::vector<int32_t>>()) << key << ": " << c.at("input");
            if (tok == &llama2) {  // Llama 3's transformers config also cleans up spaces, which is not the tokenizer's
                EXPECT_EQ(tok->decode(ids), c.at("decoded_with_special").get<std::string>());
                EXPECT_EQ(tok->decode(ids, true), c.at("decoded_without_special").get<std::string>());
            }
        }
    }
    const json inputs = json::parse(read_text(dir + "multilingual_inputs.json"));
    for (const auto& [file, family] : {std::pair{"multilingual_Qwen__Qwen2.5-0.5B.json", "qwen2.5"},
                                       std::pair{"multilingual_TinyLlama__TinyLlama-1.1B-Chat-v1.0.json", "llama2"}}) {
        const json expected = json::parse(read_text(dir + file)).at("entries");
        const auto& tok = family_tokenizer(family);
        size_t n = 0;
        for (const auto& in : inputs.at("inputs")) {
            const auto& e = expected.at(in.at("id").get<std::string>());
            const auto ids = tok.encode(in.at("text").get<std::string>(), true);
            EXPECT_EQ(ids, e.at("input_ids").get<std::vector<int32_t>>()) << file << ": " << in.at("id");
            EXPECT_EQ(tok.decode(ids, true), e.at("decoded_skip_special").get<std::string>())
                << file << ": " << in.at("id");
            ++n;
        }
        EXPECT_EQ(n, 30u);
    }
    const json smol = json::parse(read_text(dir + "smollm2_public_chatml.json"));
    ASSERT_EQ(smol.at("cases").size(), 6u);
    for (const auto& c : smol.at("cases"))
        EXPECT_EQ(family_tokenizer("smollm2").encode(c.at("text").get<std::string>()),
                  c.at("input_ids").get<std::vector<int32_t>>());
}

// The GGUF constructor on plain vectors: SmolLM2's vocab.json + merges.txt as tokenizer.ggml.* arrays with
// pre-tokenizer "smollm" tokenizes the corpus exactly as HF does.
TEST(GgufVocab, SmolLm2FromPlainVectorsMatchesHf) {
    REQUIRE_TOKENIZER_DATA();
    const json vocab = json::parse(read_text(kTokenizerData + "/smollm2/vocab.json"));
    GgufVocab v;
    v.model = "gpt2";
    v.pre = "smollm";
    v.tokens.resize(vocab.size());
    for (const auto& [spelling, id] : vocab.items()) v.tokens.at(id.get<size_t>()) = spelling;
    v.token_types.assign(v.tokens.size(), static_cast<int32_t>(TokenType::Normal));
    for (int i = 0; i <= 16; ++i) v.token_types[i] = static_cast<int32_t>(TokenType::Control);
    for (const auto& line : split_lines(read_text(kTokenizerData + "/smollm2/merges.txt")))
        if (line.rfind("#version", 0) != 0 && !line.empty()) v.merges.push_back(line);
    v.bos_id = 1;
    v.eos_id = 2;
    const BpeTokenizer tok(bpe_spec_from_gguf(v, "smollm2 vectors"));
    const auto corpus = split_lines(read_gzip(kGoldens + "/corpus.txt.gz"));
    const auto ids = split_lines(read_gzip(kGoldens + "/smollm2.ids.gz"));
    size_t mismatches = 0;
    for (size_t i = 0; i < corpus.size(); ++i) mismatches += join(tok.encode(unescape(corpus[i]))) != ids[i];
    EXPECT_EQ(mismatches, 0u);
    EXPECT_FALSE(tok.add_bos());
}

// llama.cpp's vocab-only GGUFs through the GGUF reader: every .inp/.out pair, as llama.cpp's test-tokenizer-0.
class GgufVocabFile : public testing::TestWithParam<std::string> {};

TEST_P(GgufVocabFile, LlamaCppTestFilesGiveIdenticalIds) {
    REQUIRE_TOKENIZER_DATA();
    const std::string path = kTokenizerData + "/llama.cpp/ggml-vocab-" + GetParam() + ".gguf";
    const GgufFile f(path);
    const BpeTokenizer tok(bpe_spec_from_gguf(gguf_vocab_from_file(f), path));
    const auto cases = llama_cpp_cases(GetParam());
    ASSERT_EQ(cases.size(), 46u);
    for (const auto& [text, want] : cases) {
        const auto ids = tok.encode(text);
        EXPECT_EQ(join(ids), want) << "input: \"" << text << "\"";
        EXPECT_EQ(tok.decode(ids), text);
    }
}

INSTANTIATE_TEST_SUITE_P(LlamaCpp, GgufVocabFile, testing::Values("gpt-2", "starcoder", "llama-spm", "phi-3"),
                         [](const auto& info) {
                             std::string n = info.param;
                             for (auto& c : n)
                                 if (c == '-') c = '_';
                             return n;
                         });

// The GGUF route gives HF's ids on the whole corpus where both references agree: Phi-3 everywhere (llama.cpp
// sets the rstrip flags HF's tokenizer.json has); Llama 2 except text holding "<s>", "</s>" or "<unk>", which
// llama.cpp (parse_special) matches as written and HF only with the SentencePiece space before it.
TEST(GgufVocab, VocabFilesMatchHfOnTheCorpus) {
    REQUIRE_TOKENIZER_DATA();
    const auto corpus = split_lines(read_gzip(kGoldens + "/corpus.txt.gz"));
    for (const auto& [gguf, family] : {std::pair{"phi-3", "phi3"}, std::pair{"llama-spm", "llama2"}}) {
        const std::string path = kTokenizerData + "/llama.cpp/ggml-vocab-" + gguf + ".gguf";
        const BpeTokenizer tok(bpe_spec_from_gguf(gguf_vocab_from_file(GgufFile(path)), path));
        const auto ids = split_lines(read_gzip(kGoldens + "/" + family + ".ids.gz"));
        size_t compared = 0, mismatches = 0;
        for (size_t i = 0; i < corpus.size(); ++i) {
            const std::string text = unescape(corpus[i]);
            if (std::string(gguf) == "llama-spm" &&
                (text.find("<s>") != std::string::npos || text.find("</s>") != std::string::npos ||
                 text.find("<unk>") != std::string::npos))
                continue;
            ++compared;
            if (join(tok.encode(text)) != ids[i] && ++mismatches <= 5)
                ADD_FAILURE() << gguf << " line " << i << ": " << corpus[i];
        }
        EXPECT_EQ(mismatches, 0u) << gguf << ", of " << compared;
        EXPECT_GT(compared, 5800u);
    }
}

// The SmolLM2-135M-Instruct GGUF (scripts/setup-python.sh puts it in the cache): its tokenizer metadata gives
// HF's ids on the corpus and on the public ChatML prompts, and its chat template is recognised.
TEST(GgufVocab, SmolLm2ModelFileMatchesHf) {
    REQUIRE_TOKENIZER_DATA();
    const char* cache = std::getenv("DIAGECG_CACHE");
    const char* home = std::getenv("HOME");
    const std::string path = (cache && *cache ? cache : std::string(home ? home : "") + "/.cache/diagecg") +
                             "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "no SmolLM2 GGUF at " << path << " (scripts/setup-python.sh)";
    const GgufFile f(path);
    const BpeTokenizer tok(bpe_spec_from_gguf(gguf_vocab_from_file(f), path));
    const auto corpus = split_lines(read_gzip(kGoldens + "/corpus.txt.gz"));
    const auto ids = split_lines(read_gzip(kGoldens + "/smollm2.ids.gz"));
    size_t mismatches = 0;
    for (size_t i = 0; i < corpus.size(); ++i) mismatches += join(tok.encode(unescape(corpus[i]))) != ids[i];
    EXPECT_EQ(mismatches, 0u);
    const json smol = json::parse(read_text(kTokenizerData + "/expected/smollm2_public_chatml.json"));
    for (const auto& c : smol.at("cases"))
        EXPECT_EQ(tok.encode(c.at("text").get<std::string>()), c.at("input_ids").get<std::vector<int32_t>>());
    EXPECT_EQ(ChatTemplate::from_source(f.get_string("tokenizer.chat_template")).name(), "smollm2");
    EXPECT_EQ(tok.eos_id(), 2);
    EXPECT_FALSE(tok.add_bos());
}

// TextTokenizer, the interface the rest of diagecg uses: a model directory with tokenizer.json (preferred over
// tokenizer.model), vocab.json + merges.txt, or a GGUF file; BOS only where the model adds one; the extended
// vocabulary's special strings still map to their ids.
TEST(TextTokenizer, LoadsHfAndGgufTokenizers) {
    REQUIRE_TOKENIZER_DATA();
    const TextTokenizer smol(kTokenizerData + "/smollm2");
    EXPECT_EQ(smol.n_pieces(), 49152);
    EXPECT_EQ(smol.bos_id(), -1);  // bos_token <|im_start|> is not added to text
    EXPECT_EQ(smol.eos_id(), 2);
    EXPECT_EQ(smol.encode("hello world", true), (std::vector<int64_t>{28120, 905}));
    EXPECT_EQ(ChatTemplate::from_source(smol.chat_template()).name(), "smollm2");  // chat_template.jinja
    EXPECT_EQ(*smol.find("<|im_end|>"), 2);
    EXPECT_EQ(smol.piece(905), "\xC4\xA0world");

    const TextTokenizer llama2(kTokenizerData + "/llama2");  // tokenizer.json and tokenizer.model: the former
    EXPECT_EQ(llama2.bos_id(), 1);
    EXPECT_EQ(llama2.encode("Hello world", true), (std::vector<int64_t>{1, 15043, 3186}));
    EXPECT_EQ(llama2.decode({15043, 3186}), "Hello world");

    TextTokenizer ext(kTokenizerData + "/qwen2.5");
    ext.set_vocab(Vocab(ext.n_pieces(), 16));
    const auto ids = ext.encode("ST<|start_ecg|><ecg_0003><|end_ecg|><|im_end|>", false);
    const Vocab& v = ext.vocab();
    EXPECT_EQ(ids, (std::vector<int64_t>{784, v.start_ecg(), v.ecg_id(3), v.end_ecg(), 151645}));
    EXPECT_EQ(ext.decode(ids), "ST<|start_ecg|><ecg_0003><|end_ecg|><|im_end|>");
    EXPECT_GT(ext.encode("<ecg_0003>", false, false).size(), 1u);

    const std::string gguf = kTokenizerData + "/llama.cpp/ggml-vocab-phi-3.gguf";
    const TextTokenizer phi3(gguf);
    EXPECT_EQ(phi3.n_pieces(), 32064);
    EXPECT_EQ(phi3.bos_id(), 1);
    EXPECT_EQ(phi3.encode("Hello world", false), (std::vector<int64_t>{15043, 3186}));
    EXPECT_THROW(ChatTemplate::from_source(phi3.chat_template()), std::invalid_argument);  // Phi-3: not written out
    EXPECT_THROW(TextTokenizer("/nonexistent/tokenizer.json"), std::runtime_error);
}

TEST(BpeTokenizer, AddedTokensAreTextWhenNotParsed) {
    REQUIRE_TOKENIZER_DATA();
    const auto& tok = family_tokenizer("smollm2");
    EXPECT_EQ(tok.encode("<|im_start|>user"), (std::vector<int32_t>{1, 4093}));
    const auto as_text = tok.encode("<|im_start|>user", false, false);
    EXPECT_GT(as_text.size(), 2u);
    EXPECT_EQ(tok.decode(as_text), "<|im_start|>user");
    EXPECT_EQ(*tok.find("<|im_end|>"), 2);
    EXPECT_TRUE(tok.is_special(2));
    EXPECT_FALSE(tok.is_special(4093));
    EXPECT_THROW(tok.decode({tok.n_tokens()}), std::out_of_range);
}

TEST(BpeTokenizer, ConcurrentEncodingGivesTheSameIds) {
    REQUIRE_TOKENIZER_DATA();
    const auto& tok = family_tokenizer("qwen2.5");
    const auto corpus = split_lines(read_gzip(kGoldens + "/corpus.txt.gz"));
    std::vector<std::vector<int32_t>> serial;
    for (size_t i = 0; i < 800; ++i) serial.push_back(tok.encode(unescape(corpus[i])));
    std::vector<std::thread> threads;
    std::vector<size_t> bad(4, 0);
    for (size_t t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (size_t i = t; i < 800; i += 2) bad[t] += tok.encode(unescape(corpus[i])) != serial[i];
        });
    for (auto& th : threads) th.join();
    for (const size_t b : bad) EXPECT_EQ(b, 0u);
}

TEST(Unicode, IllFormedUtf8IsReplacedPerMaximalSubpart) {
    const std::string r = "\xEF\xBF\xBD";
    EXPECT_EQ(utf8_sanitize("a\xFF"
                            "b"),
              "a" + r + "b");
    EXPECT_EQ(utf8_sanitize("\xE2\x82"), r);  // truncated 3-byte sequence: one U+FFFD
    EXPECT_EQ(utf8_sanitize("\xE2\x82x"), r + "x");
    EXPECT_EQ(utf8_sanitize("\xED\xA0\x80"), r + r + r);  // surrogate: each byte
    EXPECT_EQ(utf8_sanitize("\xC0\xAF"), r + r);          // overlong
    EXPECT_EQ(utf8_sanitize("\xF4\x90\x80\x80"), r + r + r + r);
    EXPECT_EQ(utf8_sanitize("\xF0\x9F\x98"), r);
    EXPECT_EQ(utf8_sanitize("ok \xC3\xA9"), "ok \xC3\xA9");
    EXPECT_TRUE(utf8_is_valid("\xF0\x9F\xAB\x80"));
    EXPECT_FALSE(utf8_is_valid("\xF0\x9F\xAB"));
    EXPECT_EQ(utf8_nfc("e\xCC\x81"), "\xC3\xA9");
    EXPECT_EQ(byte_level_encode(" \n"), "\xC4\xA0\xC4\x8A");  // "ĠĊ"
}

TEST(PreTokenizer, FamilyRegexesSplitAsHf) {
    std::vector<std::string> pieces;
    PreTokenizer(pre_tokenizer_preset("gpt2")).split("Hello world's  12345 !!", pieces);
    EXPECT_EQ(pieces, (std::vector<std::string>{"Hello", " world", "'s", " ", " 12345", " !!"}));
    PreTokenizer(pre_tokenizer_preset("llama3")).split("I'VE 12345\n\n x", pieces);
    EXPECT_EQ(pieces, (std::vector<std::string>{"I", "'VE", " ", "123", "45", "\n\n", " x"}));
    PreTokenizer(pre_tokenizer_preset("qwen2")).split("v12", pieces);
    EXPECT_EQ(pieces, (std::vector<std::string>{"v", "1", "2"}));
    PreTokenizer(pre_tokenizer_preset("smollm")).split("QT 450ms", pieces);
    EXPECT_EQ(pieces, (std::vector<std::string>{"QT", " ", "4", "5", "0", "ms"}));
    EXPECT_THROW(pre_tokenizer_preset("jais"), std::invalid_argument);
}

// ---- bad input: one clear std::runtime_error each ----

std::string bpe_json(const std::string& vocab, const std::string& merges, const std::string& extra = "") {
    return R"({"model": {"type": "BPE", "vocab": )" + vocab + R"(, "merges": )" + merges + "}" + extra + "}";
}

void expect_error(const std::function<void()>& fn, const std::string& needle) {
    try {
        fn();
        ADD_FAILURE() << "no error; expected one mentioning \"" << needle << "\"";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "not a std::runtime_error: " << e.what();
    }
}

void expect_bad_json(const std::string& text, const std::string& needle) {
    expect_error([&] { BpeTokenizer tok(parse_tokenizer_json(text, "bad.json")); }, needle);
}

TEST(BpeTokenizerBadInput, MalformedTokenizerJson) {
    expect_bad_json("{\"model\": ", "not valid JSON");
    expect_bad_json("[1, 2]", "top level");
    expect_bad_json("{}", "model");
    expect_bad_json(R"({"model": {"type": "WordPiece", "vocab": {}}})", "WordPiece");
    expect_bad_json(bpe_json(R"({"a": 0, "b": 1})", R"(["a c"])"), "\"c\" is not in the vocabulary");
    expect_bad_json(bpe_json(R"({"a": 0, "b": 1})", R"(["a b"])"), "merged token \"ab\"");
    expect_bad_json(bpe_json(R"({"a": 0, "b": 1, "ab": 2})", R"(["ab"])"), "not two tokens");
    expect_bad_json(bpe_json(R"({"a": 0, "b": 1, "ab": 2})", R"([["a"]])"), "neither");
    expect_bad_json(bpe_json(R"({"a": 0, "b": 1, "ab": 2})", R"({"a": "b"})"), "not an array");
    expect_bad_json(bpe_json(R"({"a": 4000000000})", "[]"), "has id");
    expect_bad_json(bpe_json(R"({"a": -1})", "[]"), "has id");
    expect_bad_json(bpe_json(R"({"a": 1e90})", "[]"), "not an integer");
    expect_bad_json(bpe_json(R"({"a": 0})", "[]", R"(, "decoder": {"type": "Strip", "content": " ", "start": 3e40})"),
                    "not an integer");
    expect_bad_json(bpe_json(R"({"a": 0, "b": 0})", "[]"), "is used by");
    expect_bad_json(bpe_json(R"({"a": "zero"})", "[]"), "bad.json");
    expect_bad_json(bpe_json("{}", "[]"), "vocabulary is empty");
    expect_bad_json(bpe_json(R"({"a": 0})", "[]", R"(, "added_tokens": [{"id": 99999999, "content": "x"}])"),
                    "out of range");
    expect_bad_json(bpe_json(R"({"a": 0})", "[]", R"(, "added_tokens": [{"id": 1, "content": ""}])"), "is empty");
    expect_bad_json(
        bpe_json(R"({"a": 0})", "[]", R"(, "added_tokens": [{"id": 1, "content": "x"}, {"id": 1, "content": "y"}])"),
        "appears twice");
    expect_bad_json(bpe_json(R"({"a": 0})", "[]", R"(, "pre_tokenizer": {"type": "Whitespace"})"), "Whitespace");
    expect_bad_json(
        bpe_json(R"({"a": 0})", "[]",
                 R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated"})"),
        "regex");
    expect_bad_json(
        bpe_json(R"({"a": 0})", "[]",
                 R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Removed"})"),
        "Removed");
    expect_bad_json(bpe_json(R"({"a": 0})", "[]", R"(, "normalizer": {"type": "NFKD"})"), "NFKD");
    expect_bad_json(bpe_json(R"({"a": 0})", "[]", R"(, "decoder": {"type": "WordPiece"})"), "WordPiece");
    expect_bad_json(
        bpe_json(
            R"({"a": 0})", "[]",
            R"(, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}], "special_tokens": {}})"),
        "<s>");
    expect_bad_json(
        bpe_json(
            R"({"a": 0})", "[]",
            R"(, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}], "special_tokens": {"<s>": {"ids": [7]}}})"),
        "outside the vocabulary");
    expect_bad_json(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "<unk>"}})",
                    "unk_token");
    expect_bad_json(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "continuing_subword_prefix": "##"}})",
                    "continuing_subword_prefix");
}

TEST(BpeTokenizerBadInput, TruncatedRealTokenizerJson) {
    REQUIRE_TOKENIZER_DATA();
    const std::string text = read_text(kTokenizerData + "/qwen2.5/tokenizer.json");
    for (const size_t n : {size_t{0}, size_t{1}, size_t{1000}, text.size() / 2, text.size() - 2})
        expect_bad_json(text.substr(0, n), "bad.json");
}

TEST(BpeTokenizerBadInput, VocabAndMerges) {
    expect_error(
        [] {
            BpeTokenizer t(parse_vocab_and_merges(R"({"a": 0, "b": 1, "ab": 2})", "#version: 0.2\na x\n", "v.json"));
        },
        "\"x\"");
    expect_error([] { BpeTokenizer t(parse_vocab_and_merges(R"({"a": 0, "b": 1, "ab": 2})", "a  b\n", "v.json")); },
                 "not two tokens");
    expect_error([] { BpeTokenizer t(parse_vocab_and_merges("{", "", "v.json")); }, "not valid JSON");
    expect_error([] { load_hf_tokenizer("/nonexistent-dir-for-test"); }, "no tokenizer.json");
    BpeSpec spec = parse_vocab_and_merges(R"({"a": 0})", "", "v.json");
    expect_error([&] { apply_tokenizer_config(R"({"bos_token": "<s>"})", "tokenizer_config.json", spec); },
                 "bos_token \"<s>\"");
    expect_error([&] { apply_tokenizer_config("[", "tokenizer_config.json", spec); }, "not valid JSON");
    expect_error([&] { apply_tokenizer_config(R"({"add_bos_token": "yes"})", "tokenizer_config.json", spec); },
                 "tokenizer_config.json");
}

TEST(BpeTokenizerBadInput, InconsistentSpecs) {
    BpeSpec s;
    s.source = "spec";
    s.tokens = {"a", "b"};
    auto bad = [](BpeSpec spec, const std::string& needle) {
        expect_error([&] { BpeTokenizer t(std::move(spec)); }, needle);
    };
    BpeSpec t = s;
    t.token_types = {TokenType::Normal};
    bad(t, "token types");
    t = s;
    t.scores = {1.f};
    bad(t, "scores");
    t = s;
    t.bos_id = 7;
    bad(t, "outside the vocabulary");
    t = s;
    t.add_bos = true;
    bad(t, "BOS token but has none");
    t = s;
    t.tokens = {"a", "\xFF"};
    bad(t, "not valid UTF-8");
}

TEST(GgufVocabBadInput, RefusedByName) {
    GgufVocab v;
    v.tokens = {"a", "b", "ab"};
    v.model = "bert";
    expect_error([&] { bpe_spec_from_gguf(v, "m.gguf"); }, "\"bert\"");
    v.model = "gpt2";
    expect_error([&] { bpe_spec_from_gguf(v, "m.gguf"); }, "merges is missing");
    v.merges = {"a b"};
    v.pre = "jais";
    expect_error([&] { bpe_spec_from_gguf(v, "m.gguf"); }, "jais");
    v.pre = "gpt-2";
    v.merges = {"ab"};
    expect_error([&] { bpe_spec_from_gguf(v, "m.gguf"); }, "is not \"a b\"");
    v.merges = {"a b"};
    v.token_types = {1, 1};
    expect_error([&] { bpe_spec_from_gguf(v, "m.gguf"); }, "token_type");
    v.token_types = {1, 1, 9};
    expect_error([&] { bpe_spec_from_gguf(v, "m.gguf"); }, "type 9");
    v.token_types = {};
    v.bos_id = 3;
    expect_error([&] { bpe_spec_from_gguf(v, "m.gguf"); }, "bos_token_id 3");
    v.bos_id = -1;
    v.model = "llama";
    v.scores = {0.f};
    expect_error([&] { bpe_spec_from_gguf(v, "m.gguf"); }, "scores");
    v.scores = {0.f, 0.f, 1.f};
    const BpeTokenizer tok(bpe_spec_from_gguf(v, "m.gguf"));
    EXPECT_EQ(tok.encode("ab"), (std::vector<int32_t>{2}));  // no "▁" piece, byte piece or unk: the space is dropped
    v.tokens = {"\xE2\x96\x81", "a", "b", "ab"};
    v.scores = {0.f, 0.f, 0.f, 1.f};
    EXPECT_EQ(BpeTokenizer(bpe_spec_from_gguf(v, "m.gguf")).encode("ab"), (std::vector<int32_t>{0, 3}));
}

}  // namespace
