// GGUF reader, writer and dequantizers: llama.cpp's vocab GGUFs, the SmolLM2 Q4_1 model when it is in the
// cache, per-type dequantization against gguf-py's (tests/data/gguf/quants.gguf, written by
// tools/make-gguf-goldens.py), and malformed files.
#include <unistd.h>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include <gtest/gtest.h>

#include "diagecg/util/gguf-writer.h"

using namespace diagecg;
namespace fs = std::filesystem;

namespace {

const std::string kGoldens = std::string(DIAGECG_TEST_DATA) + "/gguf/quants.gguf";
const std::string kVocabDir = std::string(DIAGECG_SHARED_DATA) + "/tokenizers/llama.cpp";

std::string smollm2_path() {
    const char* cache = std::getenv("DIAGECG_CACHE");
    const char* home = std::getenv("HOME");
    const std::string dir = cache && *cache ? cache : std::string(home ? home : "") + "/.cache/diagecg";
    return dir + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

// Raw little-endian GGUF bytes, for files the writer would refuse to make.
struct Bytes {
    std::vector<uint8_t> b;
    Bytes& u32(uint32_t v) { return le(v, 4); }
    Bytes& u64(uint64_t v) { return le(v, 8); }
    Bytes& u8(uint8_t v) { return le(v, 1); }
    Bytes& str(const std::string& s) {
        u64(s.size());
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
    Bytes& le(uint64_t v, int n) {
        for (int i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
        return *this;
    }
    Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
        b.insert(b.end(), {'G', 'G', 'U', 'F'});
        return u32(version).u64(n_tensors).u64(n_kv);
    }
    Bytes& tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
        str(name).u32(static_cast<uint32_t>(ne.size()));
        for (const uint64_t d : ne) u64(d);
        return u32(type).u64(offset);
    }
    Bytes& pad(size_t alignment = 32) {
        b.resize((b.size() + alignment - 1) / alignment * alignment, 0);
        return *this;
    }
    Bytes& zeros(size_t n) {
        b.resize(b.size() + n, 0);
        return *this;
    }
};

// Parses `bytes` and expects one std::runtime_error whose text contains `fragment`.
void expect_error(const std::vector<uint8_t>& bytes, const std::string& fragment) {
    try {
        GgufFile f(bytes, "bad.gguf");
        ADD_FAILURE() << "no error, expected one containing: " << fragment;
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        EXPECT_EQ(what.rfind("bad.gguf: ", 0), 0u) << what;
        EXPECT_NE(what.find(fragment), std::string::npos) << what;
    }
}

bool same_bits(float a, float b) {
    return std::memcmp(&a, &b, 4) == 0;
}

}  // namespace

TEST(Gguf, VocabFilesOfLlamaCpp) {
    if (!fs::exists(kVocabDir)) GTEST_SKIP() << "no " << kVocabDir;
    int n_files = 0;
    for (const auto& entry : fs::directory_iterator(kVocabDir)) {
        if (entry.path().extension() != ".gguf") continue;
        ++n_files;
        GgufFile f(entry.path().string());
        SCOPED_TRACE(entry.path().string());
        EXPECT_EQ(f.version(), 3u);
        EXPECT_TRUE(f.tensors().empty());
        const std::string model = f.get_string("tokenizer.ggml.model");
        EXPECT_TRUE(model == "gpt2" || model == "llama") << model;
        const auto& tokens = f.get_strings("tokenizer.ggml.tokens");
        EXPECT_EQ(f.get_ints("tokenizer.ggml.token_type").size(), tokens.size());
        if (model == "llama") {
            EXPECT_EQ(f.get_floats("tokenizer.ggml.scores").size(), tokens.size());
        } else {
            EXPECT_GT(f.get_strings("tokenizer.ggml.merges").size(), 40000u);
        }
        EXPECT_LT(f.get_int("tokenizer.ggml.bos_token_id"), static_cast<int64_t>(tokens.size()));
    }
    EXPECT_GE(n_files, 3);
    const std::string spm = kVocabDir + "/ggml-vocab-llama-spm.gguf";
    if (!fs::exists(spm)) return;
    GgufFile f(spm);
    const auto& tokens = f.get_strings("tokenizer.ggml.tokens");
    ASSERT_EQ(tokens.size(), 32000u);
    EXPECT_EQ(tokens[1], "<s>");
    EXPECT_EQ(tokens[29871], "\xe2\x96\x81");                  // U+2581, SentencePiece's space
    EXPECT_EQ(f.get_ints("tokenizer.ggml.token_type")[0], 2);  // UNKNOWN
    EXPECT_EQ(f.get_int("llama.context_length"), 4096);
    EXPECT_DOUBLE_EQ(f.get_float("llama.attention.layer_norm_rms_epsilon"), static_cast<double>(1e-5f));
    EXPECT_TRUE(f.get_bool("tokenizer.ggml.add_bos_token"));
    EXPECT_EQ(f.get_int("llama.rope.freq_base_missing", 7), 7);
    EXPECT_EQ(f.get_string("general.name", "x"), "llama-spm");
    // Clear errors for a missing key and a wrong type.
    try {
        f.get_int("tokenizer.ggml.model");
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("'tokenizer.ggml.model' is STRING, expected an integer"),
                  std::string::npos)
            << e.what();
    }
    try {
        f.get_strings("tokenizer.ggml.scores");
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("is array of FLOAT32, expected array of STRING"), std::string::npos)
            << e.what();
    }
    try {
        f.get_float("llama.nope");
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()), spm + ": metadata key 'llama.nope' is missing");
    }
}

TEST(Gguf, MetadataOfEveryValueType) {
    GgufFile f(kGoldens);  // written by gguf-py
    EXPECT_EQ(f.get_int("test.u8"), 200);
    EXPECT_EQ(f.get_int("test.i8"), -100);
    EXPECT_EQ(f.get_int("test.u16"), 60000);
    EXPECT_EQ(f.get_int("test.i16"), -30000);
    EXPECT_EQ(f.get_int("test.u32"), 4000000000);
    EXPECT_EQ(f.get_int("test.i32"), -2000000000);
    EXPECT_EQ(f.get_float("test.f32"), 0.125);
    EXPECT_TRUE(f.get_bool("test.bool"));
    EXPECT_EQ(f.get_string("test.string"), "h\xc3\xa9llo \xc2\xb5V");
    EXPECT_THROW(f.get_int("test.u64"), std::runtime_error);  // 1.8e19 does not fit int64
    EXPECT_EQ(f.find("test.u64")->bits, 18000000000000000000ull);
    EXPECT_EQ(f.find("test.u64")->describe(), "18000000000000000000");
    EXPECT_EQ(f.get_int("test.i64"), -9000000000000000000);
    EXPECT_EQ(f.get_float("test.f64"), -2.5e-300);
    EXPECT_EQ(f.get_ints("test.array.u16"), (std::vector<int64_t>{1, 2, 65535}));
    EXPECT_EQ(f.get_ints("test.array.i64"), (std::vector<int64_t>{-1, 5}));
    EXPECT_EQ(f.get_floats("test.array.f32"), (std::vector<float>{0.5f, -1.0f}));
    EXPECT_EQ(f.get_floats("test.array.f64"), (std::vector<float>{0.25f}));
    EXPECT_EQ(f.find("test.array.bool")->raw, (std::vector<uint8_t>{1, 0}));
    EXPECT_EQ(f.get_strings("test.array.string"), (std::vector<std::string>{"a", "", "\xe4\xb8\xad\xe6\x96\x87"}));
    const GgufValue* nested = f.find("test.array.nested");
    ASSERT_NE(nested, nullptr);
    EXPECT_EQ(nested->describe(), "[ARRAY x 2]");
    ASSERT_EQ(nested->arrays.size(), 2u);
    EXPECT_EQ(nested->arrays[0].to_strings(), (std::vector<std::string>{"x", "y"}));
    EXPECT_EQ(nested->arrays[1].to_strings(), (std::vector<std::string>{"z"}));
    EXPECT_THROW(f.get_bool("test.u8"), std::runtime_error);
    EXPECT_THROW(f.get_float("test.i32"), std::runtime_error);
    EXPECT_THROW(f.get_ints("test.array.f32"), std::runtime_error);
}

// Every supported type against gguf-py's numpy dequantization (row 0: gguf-py's quantize() output where it
// has one, row 1: random blocks); bit-identical, so max |diff| is 0.
TEST(Gguf, DequantizeMatchesGgufPy) {
    GgufFile f(kGoldens);
    const char* types[] = {"F32",  "F16",  "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0",
                           "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"};
    for (const char* name : types) {
        SCOPED_TRACE(name);
        const GgufTensorInfo* t = f.find_tensor(name);
        const GgufTensorInfo* ref = f.find_tensor(std::string(name) + ".ref");
        ASSERT_TRUE(t && ref);
        EXPECT_STREQ(ggml_type_name(t->type), name);
        EXPECT_EQ(t->shape(), (std::vector<int64_t>{2, 512}));
        const std::vector<float> got = f.dequantize(*t), want = f.dequantize(*ref);
        ASSERT_EQ(got.size(), want.size());
        size_t n_diff = 0;
        for (size_t i = 0; i < got.size(); ++i) n_diff += !same_bits(got[i], want[i]);
        EXPECT_EQ(n_diff, 0u);
    }
}

// Real blocks of SmolLM2-135M-Instruct Q4_1 (stored in the goldens), and the whole model when it is cached.
TEST(Gguf, RealSmolLM2Blocks) {
    GgufFile g(kGoldens);
    int n_real = 0;
    for (const auto& t : g.tensors()) {
        if (t.name.rfind("real.", 0) != 0 || t.name.size() < 4 || t.name.substr(t.name.size() - 4) == ".ref") continue;
        ++n_real;
        const std::vector<float> got = g.dequantize(t), want = g.dequantize(*g.find_tensor(t.name + ".ref"));
        for (size_t i = 0; i < got.size(); ++i) ASSERT_TRUE(same_bits(got[i], want[i])) << t.name << " " << i;
    }
    EXPECT_EQ(n_real, 4);

    const std::string path = smollm2_path();
    if (!fs::exists(path)) GTEST_SKIP() << "no SmolLM2 GGUF at " << path << " (scripts/setup-python.sh)";
    GgufFile m(path);
    EXPECT_EQ(m.get_string("general.architecture"), "llama");
    EXPECT_EQ(m.get_int("llama.block_count"), 30);
    EXPECT_EQ(m.get_int("llama.embedding_length"), 576);
    EXPECT_EQ(m.get_int("llama.attention.head_count_kv"), 3);
    EXPECT_EQ(m.get_strings("tokenizer.ggml.tokens").size(), 49152u);
    EXPECT_EQ(m.tensors().size(), 272u);
    // The goldens' real rows are the model's first bytes of each tensor.
    for (const auto& t : g.tensors()) {
        if (t.name.rfind("real.", 0) != 0 || t.name.substr(t.name.size() - 4) == ".ref") continue;
        const GgufTensorInfo* mt = m.find_tensor(t.name.substr(5));
        ASSERT_NE(mt, nullptr) << t.name;
        EXPECT_EQ(mt->type, t.type);
        EXPECT_EQ(std::memcmp(m.tensor_data(*mt), g.tensor_data(t), t.n_bytes), 0) << t.name;
    }
    const GgufTensorInfo* emb = m.find_tensor("token_embd.weight");
    ASSERT_NE(emb, nullptr);
    EXPECT_EQ(emb->shape(), (std::vector<int64_t>{49152, 576}));
    {  // released pages of a mapped file read back the same bytes (from the file)
        const std::vector<uint8_t> before(m.tensor_data(*emb), m.tensor_data(*emb) + emb->n_bytes);
        m.release_tensor_pages(*emb);
        EXPECT_EQ(std::memcmp(m.tensor_data(*emb), before.data(), before.size()), 0);
    }
    for (const auto& t : m.tensors()) {
        const std::vector<float> x = m.dequantize(t);
        double sum_sq = 0;
        for (const float v : x) sum_sq += static_cast<double>(v) * v;
        ASSERT_TRUE(std::isfinite(sum_sq) && sum_sq > 0) << t.name;
    }
}

TEST(Gguf, HalfConversions) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = fp16_to_fp32(static_cast<uint16_t>(h));
        if (std::isnan(f)) {
            EXPECT_EQ(fp32_to_fp16(f) & 0x7E00, 0x7E00) << h;  // stays a (quiet) NaN
            continue;
        }
        ASSERT_EQ(fp32_to_fp16(f), h) << h;
#ifdef __FLT16_MAX__
        const uint16_t bits = static_cast<uint16_t>(h);
        _Float16 half;
        std::memcpy(&half, &bits, 2);
        ASSERT_TRUE(same_bits(f, static_cast<float>(half))) << h;
#endif
    }
    // Round to nearest even, overflow to inf, underflow to (signed) zero.
    EXPECT_EQ(fp32_to_fp16(1.0f + 1.0f / 2048), 0x3C00);  // tie -> even
    EXPECT_EQ(fp32_to_fp16(1.0f + 3.0f / 2048), 0x3C02);  // tie -> even (up)
    EXPECT_EQ(fp32_to_fp16(65519.0f), 0x7BFF);
    EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);
    EXPECT_EQ(fp32_to_fp16(-1e-9f), 0x8000);
    EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -24) * 1.5f), 0x0002);  // subnormal tie -> even
#ifdef __FLT16_MAX__
    std::mt19937 rng(7);
    for (int i = 0; i < 100000; ++i) {
        const uint32_t bits = rng();
        float f;
        std::memcpy(&f, &bits, 4);
        if (std::isnan(f)) continue;
        const _Float16 h = static_cast<_Float16>(f);
        uint16_t hb;
        std::memcpy(&hb, &h, 2);
        ASSERT_EQ(fp32_to_fp16(f), hb) << f;
    }
#endif
    EXPECT_EQ(fp32_to_bf16(1.0f), 0x3F80);
    EXPECT_EQ(fp32_to_bf16(std::nextafter(1.0f, 2.0f)), 0x3F80);
    EXPECT_EQ(bf16_to_fp32(0xC0A0), -5.0f);
}

TEST(Gguf, TypeTable) {
    EXPECT_EQ(ggml_row_bytes(GgmlType::kQ4_K, 512), 288u);
    EXPECT_EQ(ggml_row_bytes(GgmlType::kQ8_0, 64), 68u);
    EXPECT_THROW(ggml_row_bytes(GgmlType::kQ6_K, 100), std::invalid_argument);
    EXPECT_EQ(ggml_type_info(4u), nullptr);  // Q4_2, retired
    EXPECT_EQ(ggml_type_by_name("IQ4_XS")->type, GgmlType::kIQ4_XS);
    const std::vector<uint8_t> block(256, 0);
    std::vector<float> out(256);
    for (const GgmlType t : {GgmlType::kIQ2_XXS, GgmlType::kIQ4_NL, GgmlType::kQ8_K, GgmlType::kTQ2_0, GgmlType::kI32,
                             GgmlType::kF64, GgmlType::kMXFP4}) {
        try {
            dequantize(t, block.data(), out.data(), 0);
            ADD_FAILURE() << ggml_type_name(t);
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(std::string("type ") + ggml_type_name(t) + " cannot"),
                      std::string::npos)
                << e.what();
        }
    }
}

TEST(Gguf, WriterRoundTrip) {
    const std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
    std::vector<uint8_t> q(2 * 18, 0);
    q[0] = 0x00, q[1] = 0x3C;  // d = 1: block 0 holds (qs & 15) - 8 = -8 everywhere
    GgufWriter w;
    w.set("general.architecture", GgufValue::of_string("llama"));
    w.set("general.alignment", GgufValue::of_u32(64));
    w.set("x.list", GgufValue::of_i32s({3, -4}));
    w.set("x.f", GgufValue::of_f32s({0.5f}));
    w.set("x.names", GgufValue::of_strings({"p", "q"}));
    w.set("x.flag", GgufValue::of_bool(false));
    w.set("general.architecture", GgufValue::of_string("qwen2"));  // replaces in place
    w.add_tensor("a", GgmlType::kF32, {3, 2}, a.data());
    w.add_tensor("q", GgmlType::kQ4_0, {32, 2}, q.data());
    EXPECT_THROW(w.add_tensor("q", GgmlType::kF32, {1}, a.data()), std::invalid_argument);
    EXPECT_THROW(w.add_tensor("r", GgmlType::kQ4_0, {16}, q.data()), std::invalid_argument);
    GgufFile f(w.to_bytes(), "mem.gguf");
    EXPECT_EQ(f.alignment(), 64u);
    ASSERT_EQ(f.metadata().size(), 6u);
    EXPECT_EQ(f.metadata()[0].first, "general.architecture");
    EXPECT_EQ(f.get_string("general.architecture"), "qwen2");
    EXPECT_EQ(f.get_ints("x.list"), (std::vector<int64_t>{3, -4}));
    EXPECT_EQ(f.get_strings("x.names"), (std::vector<std::string>{"p", "q"}));
    EXPECT_FALSE(f.get_bool("x.flag"));
    ASSERT_EQ(f.tensors().size(), 2u);
    EXPECT_EQ(f.dequantize(*f.find_tensor("a")), a);
    EXPECT_EQ(f.find_tensor("q")->offset, 64u);
    const std::vector<float> qf = f.dequantize(*f.find_tensor("q"));
    EXPECT_EQ(qf[0], -8.0f);
    EXPECT_EQ(qf[32], -0.0f);  // d = 0

    {  // a GGUF held in memory keeps a released tensor's bytes (several pages of them)
        std::vector<float> big(16384);
        for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i);
        GgufWriter wb;
        wb.add_tensor("big", GgmlType::kF32, {16384}, big.data());
        GgufFile fb(wb.to_bytes(), "big.gguf");
        fb.release_tensor_pages(*fb.find_tensor("big"));
        EXPECT_EQ(fb.dequantize(*fb.find_tensor("big")), big);
    }

    const std::string path = (fs::temp_directory_path() / ("diagecg-gguf-" + std::to_string(::getpid()))).string();
    w.write(path);
    {
        GgufFile m(path);
        EXPECT_EQ(m.dequantize(*m.find_tensor("a")), a);
        EXPECT_EQ(fs::file_size(path), w.to_bytes().size());
    }
    fs::remove(path);
}

TEST(Gguf, UnsupportedTensorTypeIsRefusedByName) {
    Bytes b;
    b.header(1, 0).tensor("blk.0.w", {32}, 20 /* IQ4_NL */, 0).pad().zeros(18);
    GgufFile f(b.b, "iq.gguf");
    EXPECT_EQ(f.tensors()[0].type, GgmlType::kIQ4_NL);
    try {
        f.dequantize(f.tensors()[0]);
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("iq.gguf: tensor 'blk.0.w': ggml type IQ4_NL cannot be dequantized"),
                  std::string::npos)
            << e.what();
    }
}

TEST(Gguf, MalformedFiles) {
    expect_error({}, "too short");
    EXPECT_TRUE(GgufFile(Bytes().header(0, 0).b, "empty.gguf").metadata().empty());  // valid: an empty GGUF
    {  // version 2 has the same layout as 3 (u64 counts)
        const GgufFile v2(Bytes().header(1, 1, 2).str("k").u32(8).str("v").tensor("t", {2}, 0, 0).pad().zeros(8).b,
                          "v2");
        EXPECT_EQ(v2.version(), 2u);
        EXPECT_EQ(v2.get_string("k"), "v");
        EXPECT_EQ(v2.dequantize(v2.tensors()[0]), (std::vector<float>{0.0f, 0.0f}));
    }
    {
        Bytes b;
        b.header(0, 0);
        b.b[0] = 'X';
        expect_error(b.b, "not a GGUF file");
    }
    expect_error(Bytes().header(0, 0, 1).b, "version 1 is not supported");
    expect_error(Bytes().header(0, 0, 7).b, "unknown GGUF version 7");
    expect_error(Bytes().header(0, 0, 0x03000000).b, "big-endian");
    // Absurd counts and lengths.
    expect_error(Bytes().header(0, 1ull << 62).b, "metadata count 4611686018427387904 cannot fit");
    expect_error(Bytes().header(~0ull, 0).b, "tensor count");
    expect_error(Bytes().header(0, 1).u64(1ull << 62).zeros(8).b,
                 "metadata key at byte 24 has length 4611686018427387904");
    expect_error(Bytes().header(0, 1).str("k").u32(8).u64(~0ull).b, "string value at byte");
    expect_error(Bytes().header(0, 1).str("k").u32(9).u32(4).u64(1ull << 60).b,
                 "key 'k': array of 1152921504606846976 UINT32 needs at least 4 bytes each");
    expect_error(Bytes().header(0, 1).str("k").u32(9).u32(8).u64(1ull << 40).b, "array of 1099511627776 STRING");
    // Bad types and values.
    expect_error(Bytes().header(0, 1).str("k").u32(13).u32(0).b, "key 'k': unknown value type 13");
    expect_error(Bytes().header(0, 1).str("k").u32(9).u32(77).u64(0).b, "unknown array element type 77");
    expect_error(Bytes().header(0, 1).str("k").u32(7).u8(2).b, "BOOL value is 2");
    {
        Bytes b;
        b.header(0, 1).str("deep").u32(9);
        for (int i = 0; i < 10; ++i) b.u32(9).u64(1);
        b.u32(4).u64(0);
        expect_error(b.b, "arrays nested deeper than 8");
    }
    expect_error(Bytes().header(0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2).b, "duplicate metadata key 'k'");
    expect_error(Bytes().header(0, 1).str("general.alignment").u32(10).u64(32).b,
                 "'general.alignment' is UINT64, expected UINT32");
    expect_error(Bytes().header(0, 1).str("general.alignment").u32(4).u32(48).b, "alignment is 48");
    expect_error(Bytes().header(0, 1).str("general.alignment").u32(4).u32(0).b, "alignment is 0");
    // Truncated anywhere in the header: every prefix of a valid file fails cleanly.
    {
        GgufWriter w;
        w.set("s", GgufValue::of_strings({"ab", "c"}));
        w.set("f", GgufValue::of_f32(1.0f));
        const std::vector<float> x(32, 1.0f);
        w.add_tensor("t", GgmlType::kF32, {32}, x.data());
        const std::vector<uint8_t> full = w.to_bytes();
        GgufFile ok(full, "bad.gguf");
        const size_t data_end = full.size();  // 32 floats fill whole alignment units: no trailing padding
        for (size_t n = 0; n < data_end; ++n) {
            const std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<long>(n));
            EXPECT_THROW(GgufFile(prefix, "bad.gguf"), std::runtime_error) << n;
        }
        expect_error(std::vector<uint8_t>(full.begin(), full.begin() + 40),
                     "metadata count 2 cannot fit in the 16 bytes");
        expect_error(std::vector<uint8_t>(full.begin(), full.begin() + 66),
                     "truncated: array string at byte 59 needs 8 bytes, the file has 7 left");
    }
    // Tensor infos.
    expect_error(Bytes().header(1, 0).tensor("t", {1, 1, 1, 1, 1}, 0, 0).b, "tensor 't' has 5 dimensions");
    expect_error(Bytes().header(1, 0).tensor("t", {1ull << 62, 4}, 0, 0).b, "element count of its shape overflows");
    expect_error(Bytes().header(1, 0).tensor("t", {~0ull}, 0, 0).b, "overflows");
    expect_error(Bytes().header(1, 0).tensor("t", {1ull << 62}, 28 /* F64 */, 0).b, "byte size of ne");
    expect_error(Bytes().header(1, 0).tensor("t", {16}, 2 /* Q4_0 */, 0).b,
                 "row length 16 is not a multiple of the block size 32");
    expect_error(Bytes().header(1, 0).tensor("t", {4}, 99, 0).b, "tensor 't' has unknown ggml type 99");
    expect_error(Bytes().header(1, 0).tensor("t", {4}, 4, 0).b, "unknown ggml type 4");
    expect_error(Bytes().header(1, 0).tensor("t", {4}, 0, 16).pad().zeros(64).b,
                 "offset 16 is not a multiple of the alignment 32");
    expect_error(Bytes().header(1, 0).tensor("t", {16}, 0, 32).pad().zeros(64).b,
                 "64 bytes at offset 32) runs past the end of the data section (64 bytes)");
    expect_error(Bytes().header(1, 0).tensor("t", {4}, 0, ~0ull & ~31ull).pad().zeros(64).b, "runs past the end");
    expect_error(Bytes().header(1, 0).tensor("t", {4}, 0, 0).b, "past the end of the file");
    expect_error(Bytes().header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {8}, 0, 32).pad().zeros(96).b,
                 "tensors 'a' (bytes 0..64) and 'b' (from byte 32) overlap");
    expect_error(Bytes().header(2, 0).tensor("a", {8}, 0, 0).tensor("a", {8}, 0, 32).pad().zeros(64).b,
                 "duplicate tensor name 'a'");
    // A well-formed file made with the same helpers parses (the cases above fail for their stated reason).
    GgufFile good(Bytes().header(2, 0).tensor("a", {8}, 0, 0).tensor("b", {8}, 0, 32).pad().zeros(64).b, "ok");
    EXPECT_EQ(good.tensors().size(), 2u);
}

TEST(Gguf, MissingFile) {
    try {
        GgufFile f("/nonexistent/x.gguf");
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/x.gguf: cannot open"), std::string::npos);
    }
}
