// safetensors reader/writer and HF config parsing, on the real stories260K checkpoint and on broken files.
#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "diagecg/llm/llm-config.h"
#include "diagecg/util/safetensors.h"

using namespace diagecg;
namespace fs = std::filesystem;

namespace {

const std::string kStories = std::string(DIAGECG_TEST_DATA) + "/models/stories260K";

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() / ("diagecg-st-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file with the given header text and `n_data` zero bytes of data.
std::string make_file(const std::string& header, size_t n_data) {
    std::string out(8, '\0');
    const uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
    return out + header + std::string(n_data, '\0');
}

void expect_error(const std::string& path, const std::string& fragment) {
    try {
        SafetensorsFile f(path);
        FAIL() << "no error for " << path;
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
}

// Field-by-field equality, so a round trip is checked on the struct, not only on its JSON.
void expect_same_config(const LlmConfig& a, const LlmConfig& b) {
    EXPECT_EQ(a.architecture, b.architecture);
    EXPECT_EQ(a.vocab_size, b.vocab_size);
    EXPECT_EQ(a.hidden_size, b.hidden_size);
    EXPECT_EQ(a.intermediate_size, b.intermediate_size);
    EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
    EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
    EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
    EXPECT_EQ(a.head_dim, b.head_dim);
    EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
    EXPECT_EQ(a.rope_theta, b.rope_theta);
    EXPECT_EQ(a.rope_scaling.type, b.rope_scaling.type);
    EXPECT_EQ(a.rope_scaling.factor, b.rope_scaling.factor);
    EXPECT_EQ(a.rope_scaling.low_freq_factor, b.rope_scaling.low_freq_factor);
    EXPECT_EQ(a.rope_scaling.high_freq_factor, b.rope_scaling.high_freq_factor);
    EXPECT_EQ(a.rope_scaling.original_max_position_embeddings, b.rope_scaling.original_max_position_embeddings);
    EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
    EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
    EXPECT_EQ(a.attention_bias, b.attention_bias);
    EXPECT_EQ(a.bos_token_id, b.bos_token_id);
    EXPECT_EQ(a.eos_token_id, b.eos_token_id);
    EXPECT_EQ(a.ecg.n_ecg_codes, b.ecg.n_ecg_codes);
    EXPECT_EQ(a.ecg.base_vocab_size, b.ecg.base_vocab_size);
}

}  // namespace

TEST(Safetensors, ReadsStories260K) {
    SafetensorsFile f(kStories + "/model.safetensors");
    EXPECT_EQ(f.tensors().size(), 47u);  // embed + 5 x 9 + final norm; tied head
    const TensorInfo* e = f.find("model.embed_tokens.weight");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->dtype, DType::kF32);
    EXPECT_EQ(e->shape, (std::vector<int64_t>{512, 64}));
    EXPECT_EQ(f.metadata().at("format"), "pt");
    const TensorInfo* d = f.find("model.layers.0.mlp.down_proj.weight");
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->shape, (std::vector<int64_t>{64, 172}));
    EXPECT_EQ(f.find("lm_head.weight"), nullptr);
    // Values agree with an independent decode of the raw bytes.
    std::ifstream in(kStories + "/model.safetensors", std::ios::binary);
    std::string raw((std::istreambuf_iterator<char>(in)), {});
    uint64_t n_header = 0;
    std::memcpy(&n_header, raw.data(), 8);
    const auto header = nlohmann::json::parse(raw.substr(8, n_header));
    const uint64_t begin = header["model.layers.0.mlp.down_proj.weight"]["data_offsets"][0];
    for (int i : {0, 1, 777, 64 * 172 - 1}) {
        float expected;
        std::memcpy(&expected, raw.data() + 8 + n_header + begin + 4 * i, 4);
        float got;
        std::memcpy(&got, f.data(*d) + 4 * i, 4);
        EXPECT_EQ(got, expected) << i;
    }
}

TEST(Safetensors, WriteReadRoundTripIsBitIdentical) {
    TempDir dir;
    std::vector<float> f32 = {1.5f, -2.25f, 3.0e-8f, 1e30f, 0.0f, -0.0f};
    std::vector<uint16_t> bf16 = {0x3f80, 0xc000, 0x7f80, 0x0001};
    std::vector<uint16_t> f16 = {0x3c00, 0xfbff};
    std::vector<int64_t> i64 = {-1, 1LL << 40, 7};
    write_safetensors(dir.file("t.safetensors"),
                      {{"b.f32", DType::kF32, {2, 3}, f32.data(), f32.size() * 4},
                       {"a.bf16", DType::kBF16, {4}, bf16.data(), bf16.size() * 2},
                       {"c.f16", DType::kF16, {1, 2}, f16.data(), f16.size() * 2},
                       {"d.i64", DType::kI64, {3}, i64.data(), i64.size() * 8},
                       {"e.empty", DType::kF32, {0, 5}, nullptr, 0}},
                      {{"origin", "test"}});
    SafetensorsFile f(dir.file("t.safetensors"));
    EXPECT_EQ(f.metadata().at("origin"), "test");
    ASSERT_EQ(f.tensors().size(), 5u);
    EXPECT_EQ(std::memcmp(f.data(*f.find("b.f32")), f32.data(), f32.size() * 4), 0);
    EXPECT_EQ(std::memcmp(f.data(*f.find("a.bf16")), bf16.data(), bf16.size() * 2), 0);
    EXPECT_EQ(std::memcmp(f.data(*f.find("c.f16")), f16.data(), f16.size() * 2), 0);
    EXPECT_EQ(std::memcmp(f.data(*f.find("d.i64")), i64.data(), i64.size() * 8), 0);
    EXPECT_EQ(f.find("b.f32")->shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(f.find("e.empty")->numel(), 0);
    // header is 8-byte aligned, so the data buffer starts aligned
    std::ifstream in(dir.file("t.safetensors"), std::ios::binary);
    uint64_t n = 0;
    in.read(reinterpret_cast<char*>(&n), 8);
    EXPECT_EQ(n % 8, 0u);
    // no temp file left behind
    int n_files = 0;
    for (const auto& e : fs::directory_iterator(dir.path)) n_files += e.is_regular_file();
    EXPECT_EQ(n_files, 1);
}

TEST(Safetensors, WriterRejectsInconsistentTensors) {
    TempDir dir;
    std::vector<float> v = {1, 2, 3};
    const std::string out = dir.file("w.safetensors");
    EXPECT_THROW(write_safetensors(out, {{"t", DType::kF32, {2}, v.data(), 12}}), std::invalid_argument);
    EXPECT_THROW(write_safetensors(out, {{"t", DType::kF32, {-3}, v.data(), 12}}), std::invalid_argument);
    EXPECT_THROW(write_safetensors(out, {{"t", DType::kF32, {3}, nullptr, 12}}), std::invalid_argument);
    EXPECT_THROW(write_safetensors(out, {{"__metadata__", DType::kF32, {3}, v.data(), 12}}), std::invalid_argument);
    EXPECT_THROW(write_safetensors(out, {{"t", DType::kF32, {3}, v.data(), 12}, {"t", DType::kF32, {3}, v.data(), 12}}),
                 std::invalid_argument);
    EXPECT_FALSE(fs::exists(out));
    EXPECT_THROW(write_safetensors(dir.file("no-such-dir/w.safetensors"), {{"t", DType::kF32, {3}, v.data(), 12}}),
                 std::runtime_error);
}

TEST(Safetensors, ShardedIndex) {
    TempDir dir;
    std::vector<float> a = {1, 2}, b = {3, 4, 5};
    write_safetensors(dir.file("model-00001-of-00002.safetensors"), {{"x", DType::kF32, {2}, a.data(), 8}});
    write_safetensors(dir.file("model-00002-of-00002.safetensors"), {{"y", DType::kF32, {3}, b.data(), 12}});
    write_bytes(
        dir.file("model.safetensors.index.json"),
        R"({"metadata": {}, "weight_map": {"x": "model-00001-of-00002.safetensors", "y": "model-00002-of-00002.safetensors"}})");
    SafetensorsSet set(dir.path.string());
    EXPECT_EQ(set.names(), (std::vector<std::string>{"x", "y"}));
    const SafetensorsFile* file = nullptr;
    const TensorInfo* y = set.find("y", &file);
    ASSERT_NE(y, nullptr);
    float v;
    std::memcpy(&v, file->data(*y) + 8, 4);
    EXPECT_EQ(v, 5.0f);
    // an index naming a tensor its shard does not hold
    write_bytes(dir.file("model.safetensors.index.json"),
                R"({"weight_map": {"z": "model-00001-of-00002.safetensors"}})");
    EXPECT_THROW(SafetensorsSet{dir.path.string()}, std::runtime_error);
    // a tensor stored in two shards
    write_bytes(
        dir.file("model.safetensors.index.json"),
        R"({"weight_map": {"x": "model-00001-of-00002.safetensors", "y": "model-00002-of-00002.safetensors", "x2": "dup.safetensors"}})");
    write_safetensors(dir.file("dup.safetensors"),
                      {{"x", DType::kF32, {2}, a.data(), 8}, {"x2", DType::kF32, {2}, a.data(), 8}});
    try {
        SafetensorsSet s(dir.path.string());
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("tensor 'x' is stored in both"), std::string::npos) << e.what();
    }
    // a single-file model
    fs::remove(dir.file("model.safetensors.index.json"));
    write_safetensors(dir.file("model.safetensors"), {{"w", DType::kF32, {2}, a.data(), 8}});
    EXPECT_EQ(SafetensorsSet(dir.path.string()).names(), std::vector<std::string>{"w"});
    fs::remove(dir.file("model.safetensors"));
    try {
        SafetensorsSet s(dir.path.string());
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("neither model.safetensors nor model.safetensors.index.json"),
                  std::string::npos);
    }
}

TEST(Safetensors, MalformedFilesGiveClearErrors) {
    TempDir dir;
    const std::string ok = R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})";
    struct Case {
        std::string name, bytes, fragment;
    };
    const std::vector<Case> cases = {
        {"empty", "", "too short"},
        {"four-bytes", "abcd", "too short"},
        {"header-past-eof", make_file(ok, 8).substr(0, 20), "runs past the end of the file"},
        {"header-huge", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}", "exceeds the limit"},
        {"header-tiny", make_file("{", 8), "header length 1 is too small"},
        {"not-json", make_file("{\"t\": [1, 2", 0), "not valid JSON"},
        {"not-object", make_file("[1, 2, 3]", 0), "not a JSON object"},
        {"unknown-dtype", make_file(R"({"t": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}})", 8),
         "tensor 't': unknown dtype \"F33\""},
        {"negative-dim", make_file(R"({"t": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", 8),
         "tensor 't': shape [-2] has a dimension that is not a non-negative integer"},
        {"end-past-buffer", make_file(R"({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4),
         "tensor 't': data_offsets end 8 is past the data buffer (4 bytes)"},
        {"size-mismatch", make_file(R"({"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8),
         "tensor 't': holds 8 bytes, but shape [3] of F32 needs 12"},
        {"overlap",
         make_file(
             R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
             12),
         "tensors 'a' [0, 8) and 'b' [4, 12) overlap"},
        // an empty tensor sorted between two overlapping ones must not hide the overlap
        {"overlap-across-empty",
         make_file(
             R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
             16),
         "tensors 'a' [0, 16) and 'b' [8, 12) overlap"},
        {"contained",
         make_file(
             R"({"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}, "b": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}, "c": {"dtype": "U8", "shape": [2], "data_offsets": [5, 7]}})",
             8),
         "overlap"},
        {"too-many-elements",
         make_file(R"({"t": {"dtype": "U8", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}})", 8),
         "tensor 't': shape [4294967296,4294967296] has too many elements"},
        {"byte-count-overflow",
         make_file(R"({"t": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 8]}})", 8),
         "tensor 't': shape [4611686018427387904] of F64 overflows"},
        {"metadata-not-string", make_file(R"({"__metadata__": {"format": 1}})", 0),
         "__metadata__.format is not a string"},
        {"dtype-not-string", make_file(R"({"t": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}})", 4),
         "tensor 't': dtype is not a string"},
        {"offsets-negative", make_file(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", 4),
         "tensor 't': data_offsets must be [begin, end]"},
        {"no-offsets", make_file(R"({"t": {"dtype": "F32", "shape": [2]}})", 8), "tensor 't' has no \"data_offsets\""},
        {"begin-after-end", make_file(R"({"t": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})", 8),
         "begin 8 > end 0"},
    };
    for (const auto& c : cases) {
        write_bytes(dir.file(c.name), c.bytes);
        SCOPED_TRACE(c.name);
        expect_error(dir.file(c.name), c.fragment);
    }
    expect_error(dir.file("does-not-exist"), "cannot open");
}

TEST(LlmConfig, ParsesStories260K) {
    const LlmConfig c = load_llm_config(kStories + "/config.json");
    EXPECT_EQ(c.hidden_size, 64);
    EXPECT_EQ(c.intermediate_size, 172);
    EXPECT_EQ(c.num_hidden_layers, 5);
    EXPECT_EQ(c.num_attention_heads, 8);
    EXPECT_EQ(c.num_key_value_heads, 4);
    EXPECT_EQ(c.vocab_size, 512);
    EXPECT_EQ(c.dim_head(), 8);
    EXPECT_TRUE(c.tie_word_embeddings);
    EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
    EXPECT_EQ(c.eos_token_id, 2);
    EXPECT_EQ(c.bos_token_id, 1);
    EXPECT_EQ(c.max_position_embeddings, 512);
    EXPECT_EQ(c.architecture, "LlamaForCausalLM");
    EXPECT_FALSE(c.attention_bias);
    EXPECT_EQ(c.rope_scaling.type, "");
    EXPECT_EQ(c.ecg.n_ecg_codes, 0);
    SCOPED_TRACE("round trip");
    expect_same_config(llm_config_from_json(llm_config_to_json(c), "round-trip"), c);
}

TEST(LlmConfig, LoadErrorsNameTheFile) {
    TempDir dir;
    EXPECT_THROW(load_llm_config(dir.file("missing.json")), std::runtime_error);
    write_bytes(dir.file("bad.json"), "{\"model_type\": ");
    try {
        load_llm_config(dir.file("bad.json"));
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(dir.file("bad.json") + ": not valid JSON"), std::string::npos) << e.what();
    }
}

TEST(LlmConfig, ErrorsNameFields) {
    auto msg = [](const nlohmann::json& j) {
        try {
            llm_config_from_json(j, "cfg.json");
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(
        msg({{"model_type", "llama"}, {"hidden_size", 8}})
            .find("missing required field(s): vocab_size, intermediate_size, num_hidden_layers, num_attention_heads"),
        std::string::npos);
    nlohmann::json base = {{"model_type", "llama"},   {"vocab_size", 10},       {"hidden_size", 8},
                           {"intermediate_size", 16}, {"num_hidden_layers", 1}, {"num_attention_heads", 2}};
    auto j = base;
    j["hidden_size"] = "eight";
    EXPECT_NE(msg(j).find("cfg.json.hidden_size: expected an integer"), std::string::npos);
    j = base;
    j["model_type"] = "gpt2";
    EXPECT_NE(msg(j).find("model_type \"gpt2\" is not supported"), std::string::npos);
    j = base;
    j["num_key_value_heads"] = 3;
    EXPECT_NE(msg(j).find("not a multiple of num_key_value_heads 3"), std::string::npos);
    j = base;
    j["diagecg"] = {{"n_ecg_codes", 1296}, {"n_ecg_cods", 1}};
    EXPECT_NE(msg(j).find("unknown config key(s): cfg.json.diagecg.n_ecg_cods"), std::string::npos);
    j = base;
    j["architectures"] = "LlamaForCausalLM";
    EXPECT_NE(msg(j).find("cfg.json.architectures: expected a list of strings"), std::string::npos);
    j = base;
    j["tie_word_embeddings"] = 1;
    EXPECT_NE(msg(j).find("cfg.json.tie_word_embeddings: expected a boolean"), std::string::npos);
    j = base;
    j["rms_norm_eps"] = 0.0;
    EXPECT_NE(msg(j).find("rms_norm_eps must be > 0"), std::string::npos);
    j = base;
    j["hidden_size"] = 9;
    EXPECT_NE(msg(j).find("hidden_size 9 is not divisible by num_attention_heads 2"), std::string::npos);
    j["head_dim"] = 4;  // an explicit head_dim lifts the divisibility rule
    EXPECT_EQ(msg(j), "no error");
    j = base;
    j["diagecg"] = {{"n_ecg_codes", -1}};
    EXPECT_NE(msg(j).find("diagecg fields must be >= 0"), std::string::npos);
    j = base;
    j["rope_scaling"] = {{"type", "linear"}};
    EXPECT_NE(msg(j).find("cfg.json.rope_scaling.factor: missing"), std::string::npos);
    j = base;
    j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4}};
    EXPECT_NE(msg(j).find("\"yarn\" is not supported"), std::string::npos);
    EXPECT_EQ(msg(base), "no error");
}

TEST(LlmConfig, Llama3ScalingQwenBiasAndRoundTrip) {
    nlohmann::json j = {{"model_type", "qwen2"},
                        {"vocab_size", 151936},
                        {"hidden_size", 896},
                        {"intermediate_size", 4864},
                        {"num_hidden_layers", 24},
                        {"num_attention_heads", 14},
                        {"num_key_value_heads", 2},
                        {"bos_token_id", nullptr},
                        {"eos_token_id", {151645, 151643}},
                        {"rope_scaling",
                         {{"rope_type", "llama3"},
                          {"factor", 32.0},
                          {"low_freq_factor", 1.0},
                          {"high_freq_factor", 4.0},
                          {"original_max_position_embeddings", 8192}}},
                        {"diagecg", {{"n_ecg_codes", 1296}, {"base_vocab_size", 151936 - 1299}}}};
    const LlmConfig c = llm_config_from_json(j, "qwen.json");
    EXPECT_TRUE(c.attention_bias);
    EXPECT_EQ(c.eos_token_id, 151645);
    EXPECT_EQ(c.rope_scaling.type, "llama3");
    EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 32.0);
    EXPECT_EQ(c.ecg.n_ecg_codes, 1296);
    const LlmConfig back = llm_config_from_json(llm_config_to_json(c), "round-trip");
    EXPECT_EQ(llm_config_to_json(back), llm_config_to_json(c));
    EXPECT_TRUE(back.attention_bias);
    EXPECT_EQ(back.ecg.base_vocab_size, c.ecg.base_vocab_size);
    expect_same_config(back, c);
}

TEST(LlmConfig, DefaultsAndLinearScalingRoundTrip) {
    nlohmann::json j = {
        {"model_type", "mistral"},   {"architectures", {"MistralForCausalLM"}},
        {"vocab_size", 32768},       {"hidden_size", 128},
        {"intermediate_size", 256},  {"num_hidden_layers", 2},
        {"num_attention_heads", 4},  {"head_dim", 64},
        {"bos_token_id", {5, 6}},    {"rope_scaling", {{"type", "linear"}, {"factor", 2.0}, {"low_freq_factor", 3.0}}},
        {"torch_dtype", "bfloat16"}, {"sliding_window", nullptr}};
    const LlmConfig c = llm_config_from_json(j, "mistral.json");
    EXPECT_EQ(c.architecture, "MistralForCausalLM");
    EXPECT_EQ(c.num_key_value_heads, 4);  // defaults to num_attention_heads
    EXPECT_EQ(c.dim_head(), 64);
    EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
    EXPECT_FALSE(c.tie_word_embeddings);
    EXPECT_FALSE(c.attention_bias);
    EXPECT_EQ(c.bos_token_id, 5);
    EXPECT_EQ(c.eos_token_id, 2);
    EXPECT_EQ(c.rope_scaling.type, "linear");
    EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 2.0);
    EXPECT_DOUBLE_EQ(c.rope_scaling.low_freq_factor, 1.0);  // not a linear-scaling field
    EXPECT_EQ(c.ecg.n_ecg_codes, 0);
    const nlohmann::json out = llm_config_to_json(c);
    EXPECT_FALSE(out.contains("diagecg"));
    expect_same_config(llm_config_from_json(out, "round-trip"), c);
    j["rope_scaling"] = {{"rope_type", "default"}};
    EXPECT_EQ(llm_config_from_json(j, "mistral.json").rope_scaling.type, "");
}
