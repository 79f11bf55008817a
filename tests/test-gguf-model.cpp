// GGUF models onto Llama: tiny llama/qwen2 GGUFs built in code the way llama.cpp's converter lays them out
// (Q/K rows interleaved per head for llama) give the same logits as the HF-ordered model; SmolLM2-135M
// Q4_1's first-step logits against llama.cpp's (tests/data/gguf/smollm2-logits.json, from
// tools/make-gguf-logits.py) and its greedy ids for chat prompts against llama.cpp's
// (tests/data/gguf/smollm2-greedy.json, from tools/compare-llamacpp.py) when the model is in the cache.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "diagecg/llm/chat-template.h"
#include "diagecg/llm/generate.h"
#include "diagecg/llm/gguf-export.h"
#include "diagecg/llm/gguf-model.h"
#include "diagecg/llm/llm-io.h"
#include "diagecg/util/gguf-writer.h"

using namespace diagecg;
namespace fs = std::filesystem;

namespace {

std::string smollm2_path() {
    const char* cache = std::getenv("DIAGECG_CACHE");
    const char* home = std::getenv("HOME");
    const std::string dir = cache && *cache ? cache : std::string(home ? home : "") + "/.cache/diagecg";
    return dir + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

LlmConfig tiny_config(bool qwen2) {
    LlmConfig c;
    c.architecture = qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
    c.vocab_size = 96;
    c.hidden_size = 64;
    c.intermediate_size = 96;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.rms_norm_eps = 1e-5;
    c.rope_theta = 10000.0;
    c.max_position_embeddings = 128;
    c.tie_word_embeddings = qwen2;
    c.attention_bias = qwen2;
    return c;
}

// llama.cpp's converter for llama: [n*Dh, in] -> view [n, 2, Dh/2, in], swap axes 1 and 2.
torch::Tensor converter_permute(const torch::Tensor& w, int64_t n_head) {
    return w.reshape({n_head, 2, w.size(0) / n_head / 2, w.size(1)}).transpose(1, 2).reshape(w.sizes()).contiguous();
}

// The GGUF name of an HF tensor (inverse of hf_name_of_gguf, for the test only).
std::string gguf_name(const std::string& hf) {
    if (hf == "model.embed_tokens.weight") return "token_embd.weight";
    if (hf == "model.norm.weight") return "output_norm.weight";
    if (hf == "lm_head.weight") return "output.weight";
    static const std::pair<const char*, const char*> kLayer[] = {
        {"input_layernorm.weight", "attn_norm.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},   {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"},   {"self_attn.o_proj.weight", "attn_output.weight"},
        {"self_attn.q_proj.bias", "attn_q.bias"},       {"self_attn.k_proj.bias", "attn_k.bias"},
        {"self_attn.v_proj.bias", "attn_v.bias"},       {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"},        {"mlp.down_proj.weight", "ffn_down.weight"},
    };
    const std::string rest = hf.substr(std::string("model.layers.").size());
    const std::string layer = rest.substr(0, rest.find('.'));
    const std::string suffix = rest.substr(rest.find('.') + 1);
    for (const auto& [from, to] : kLayer)
        if (suffix == from) return "blk." + layer + "." + to;
    throw std::logic_error(hf);
}

// A GGUF of `model` laid out as llama.cpp's converter writes it.
std::vector<uint8_t> to_gguf(const Llama& model, std::vector<torch::Tensor>& keep) {
    const LlmConfig& c = model->config();
    const bool qwen2 = c.attention_bias;
    const std::string arch = qwen2 ? "qwen2" : "llama";
    GgufWriter w;
    w.set("general.architecture", GgufValue::of_string(arch));
    w.set(arch + ".block_count", GgufValue::of_u32(static_cast<uint32_t>(c.num_hidden_layers)));
    w.set(arch + ".context_length", GgufValue::of_u32(static_cast<uint32_t>(c.max_position_embeddings)));
    w.set(arch + ".embedding_length", GgufValue::of_u32(static_cast<uint32_t>(c.hidden_size)));
    w.set(arch + ".feed_forward_length", GgufValue::of_u32(static_cast<uint32_t>(c.intermediate_size)));
    w.set(arch + ".attention.head_count", GgufValue::of_u32(static_cast<uint32_t>(c.num_attention_heads)));
    w.set(arch + ".attention.head_count_kv", GgufValue::of_u32(static_cast<uint32_t>(c.num_key_value_heads)));
    w.set(arch + ".rope.freq_base", GgufValue::of_f32(static_cast<float>(c.rope_theta)));
    w.set(arch + ".attention.layer_norm_rms_epsilon", GgufValue::of_f32(static_cast<float>(c.rms_norm_eps)));
    w.set(arch + ".rope.dimension_count", GgufValue::of_u32(static_cast<uint32_t>(c.dim_head())));
    w.set("tokenizer.ggml.bos_token_id", GgufValue::of_u32(1));
    w.set("tokenizer.ggml.eos_token_id", GgufValue::of_u32(2));
    for (const auto& kv : model->named_parameters(true)) {
        const std::string hf = hf_tensor_name(kv.key());
        torch::Tensor t = kv.value().detach().to(torch::kFloat).contiguous();
        if (!qwen2 && hf.find("q_proj.weight") != std::string::npos) t = converter_permute(t, c.num_attention_heads);
        if (!qwen2 && hf.find("k_proj.weight") != std::string::npos) t = converter_permute(t, c.num_key_value_heads);
        GgmlType type = GgmlType::kF32;
        if (hf.find("mlp.up_proj") != std::string::npos) {  // one F16 tensor: exact for values that fit
            t = t.to(torch::kHalf).contiguous();
            type = GgmlType::kF16;
        }
        keep.push_back(t);
        const std::vector<int64_t> ne(t.sizes().rbegin(), t.sizes().rend());
        w.add_tensor(gguf_name(hf), type, ne, t.data_ptr());
    }
    return w.to_bytes();
}

void expect_same_logits(bool qwen2) {
    const LlmConfig cfg = tiny_config(qwen2);
    Llama ref = random_llama(cfg, 11, LoadOptions{});
    {  // up_proj goes through F16 in the GGUF: make the reference exactly representable
        torch::NoGradGuard ng;
        for (auto& kv : ref->named_parameters(true))
            if (kv.key().find("up_proj") != std::string::npos) kv.value().copy_(kv.value().to(torch::kHalf));
    }
    std::vector<torch::Tensor> keep;
    const GgufFile f(to_gguf(ref, keep), qwen2 ? "tiny-qwen2.gguf" : "tiny-llama.gguf");
    const LlmConfig got = llm_config_from_gguf(f);
    EXPECT_EQ(got.hidden_size, cfg.hidden_size);
    EXPECT_EQ(got.num_key_value_heads, cfg.num_key_value_heads);
    EXPECT_EQ(got.vocab_size, cfg.vocab_size);
    EXPECT_EQ(got.rms_norm_eps, 1e-5);  // the float32 in the file read back as the decimal it came from
    EXPECT_EQ(got.tie_word_embeddings, cfg.tie_word_embeddings);
    EXPECT_EQ(got.attention_bias, cfg.attention_bias);
    Llama model = llama_from_gguf(f);
    const auto tokens = torch::tensor({{1, 5, 9, 42, 7, 3, 88, 60}}, torch::kLong);
    torch::NoGradGuard ng;
    const auto a = ref->forward(tokens), b = model->forward(tokens);
    EXPECT_EQ((a - b).abs().max().item<float>(), 0.0f);
    // Loading the rows as stored (no un-permutation) would change the logits: the test can fail.
    if (!qwen2) {
        Llama wrong = llama_from_gguf(f);
        for (auto& kv : wrong->named_parameters(true))
            if (kv.key().find("q_proj.weight") != std::string::npos)
                kv.value().copy_(converter_permute(kv.value(), cfg.num_attention_heads));
        EXPECT_GT((wrong->forward(tokens) - a).abs().max().item<float>(), 1e-3f);
    }
}

}  // namespace

TEST(GgufModel, TinyLlamaMatchesHfOrder) {
    expect_same_logits(false);
}
TEST(GgufModel, TinyQwen2MatchesHfOrder) {
    expect_same_logits(true);
}

TEST(GgufModel, NamesAndErrors) {
    EXPECT_EQ(hf_name_of_gguf("blk.12.ffn_down.weight"), "model.layers.12.mlp.down_proj.weight");
    EXPECT_EQ(hf_name_of_gguf("blk.0.attn_k.bias"), "model.layers.0.self_attn.k_proj.bias");
    EXPECT_EQ(hf_name_of_gguf("output.weight"), "lm_head.weight");
    EXPECT_EQ(hf_name_of_gguf("blk.x.ffn_down.weight"), "");
    EXPECT_EQ(hf_name_of_gguf("rope_freqs.weight"), "");
    GgufWriter w;
    w.set("general.architecture", GgufValue::of_string("gpt2"));
    const GgufFile gpt2(w.to_bytes(), "gpt2.gguf");
    try {
        llm_config_from_gguf(gpt2);
        FAIL();
    } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()), "gpt2.gguf: architecture 'gpt2' is not supported (llama, mistral, qwen2)");
    }
    // A weight missing and one extra: both reported at once.
    const LlmConfig cfg = tiny_config(false);
    Llama ref = random_llama(cfg, 3, LoadOptions{});
    std::vector<torch::Tensor> keep;
    const GgufFile f(to_gguf(ref, keep), "tiny.gguf");
    GgufWriter w2;
    for (const auto& kv : f.metadata()) w2.set(kv.first, kv.second);
    for (const auto& t : f.tensors())
        if (t.name != "blk.1.ffn_up.weight") w2.add_tensor(t.name, t.type, t.ne, f.tensor_data(t));
    const std::vector<float> extra(64, 0.0f);
    w2.add_tensor("blk.0.mystery.weight", GgmlType::kF32, {64}, extra.data());
    const GgufFile broken(w2.to_bytes(), "broken.gguf");
    try {
        llama_from_gguf(broken);
        FAIL();
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("broken.gguf: 2 problem(s) loading weights"), std::string::npos) << what;
        EXPECT_NE(what.find("unexpected tensor 'blk.0.mystery.weight'"), std::string::npos) << what;
        EXPECT_NE(what.find("missing tensor for 'model.layers.1.mlp.up_proj.weight'"), std::string::npos) << what;
    }
}

// First-step logits against llama.cpp's on the same file (tools/make-gguf-logits.py). "exact": llama.cpp on
// the weights dequantized to F32 with an F32 KV cache, i.e. the same arithmetic as ours: max |diff| <= 1e-3 x
// the logits' std. "native": llama.cpp running the Q4_1 file itself, whose CPU matmuls quantize activations
// to Q8_0/Q8_1 blocks (and whose KV cache is f16): max |diff| <= 0.5 x std (measured 0.16-0.29), which can
// flip a close top-2 (it does for one prompt).
TEST(GgufModel, SmolLM2LogitsMatchLlamaCpp) {
    const std::string path = smollm2_path();
    if (!fs::exists(path)) GTEST_SKIP() << "no SmolLM2 GGUF at " << path << " (scripts/setup-python.sh)";
    const auto ref = nlohmann::json::parse(std::ifstream(std::string(DIAGECG_TEST_DATA) + "/gguf/smollm2-logits.json"));
    const GgufFile f(path);
    Llama model = llama_from_gguf(f);
    EXPECT_TRUE(model->config().tie_word_embeddings);
    const int64_t n_vocab = model->config().vocab_size;
    // The full [V] logits written beside the model by tools/make-gguf-logits.py, when present.
    const auto read_full = [&](const std::string& file) {
        std::vector<float> v(ref["prompts"].size() * static_cast<size_t>(n_vocab));
        std::ifstream in(file, std::ios::binary);
        in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
        return in ? v : std::vector<float>{};
    };
    const std::vector<float> full_native = read_full(path + ".logits.f32");
    const std::vector<float> full_exact = read_full(path + ".logits-exact.f32");
    torch::NoGradGuard ng;
    size_t p = 0;
    for (const auto& prompt : ref["prompts"]) {
        const auto ids = prompt["ids"].get<std::vector<int64_t>>();
        const auto logits = model->forward(torch::tensor(ids).unsqueeze(0))[0][-1].contiguous();  // [V] f32
        const float* got = logits.data_ptr<float>();
        const double std_dev = prompt["std"].get<double>();
        const auto index = prompt["index"].get<std::vector<int64_t>>();
        const auto max_diff = [&](const std::vector<double>& want, const float* full) {
            double d = 0;
            if (full) {
                for (int64_t i = 0; i < n_vocab; ++i) d = std::max(d, std::fabs(static_cast<double>(got[i]) - full[i]));
            } else {
                for (size_t i = 0; i < index.size(); ++i) d = std::max(d, std::fabs(got[index[i]] - want[i]));
            }
            return d;
        };
        const double exact = max_diff(prompt["logits_exact"].get<std::vector<double>>(),
                                      full_exact.empty() ? nullptr : full_exact.data() + p * n_vocab);
        const double native = max_diff(prompt["logits"].get<std::vector<double>>(),
                                       full_native.empty() ? nullptr : full_native.data() + p * n_vocab);
        std::string label = prompt["text"].get<std::string>();
        std::replace(label.begin(), label.end(), '\n', ' ');
        EXPECT_LE(exact, 1e-3 * std_dev) << prompt["text"];
        EXPECT_LE(native, 0.5 * std_dev) << prompt["text"];
        EXPECT_EQ(logits.argmax().item<int64_t>(), prompt["argmax_exact"].get<int64_t>()) << prompt["text"];
        std::printf("  %-32.32s max|diff| vs llama.cpp exact %.2e = %.1e x std, native %.3f = %.3f x std (%s)\n",
                    label.c_str(), exact, exact / std_dev, native, native / std_dev,
                    full_native.empty() ? "sampled logits" : "all logits");
        ++p;
    }
}

// Greedy decoding of chat prompts against llama.cpp's on the same weights in f32 (the F32-dequantized GGUF,
// F32 KV cache), stored by tools/compare-llamacpp.py --write-greedy: the GGUF's chat template and tokenizer give
// the same prompt ids, and one batch of generate() gives the same ids, EOS included, for every row. The stored
// prompts are those whose top-2 logits never come closer than 1e-3 of their magnitude on the way.
TEST(GgufModel, SmolLM2GreedyMatchesLlamaCpp) {
    const std::string path = smollm2_path();
    if (!fs::exists(path)) GTEST_SKIP() << "no SmolLM2 GGUF at " << path << " (scripts/setup-python.sh)";
    const auto ref = nlohmann::json::parse(std::ifstream(std::string(DIAGECG_TEST_DATA) + "/gguf/smollm2-greedy.json"));
    auto m = load_model(path, LoadOptions{});
    const ChatTemplate tpl = ChatTemplate::from_source(m.tokenizer->chat_template());
    std::vector<std::vector<int64_t>> prompts;
    for (const auto& p : ref["prompts"]) {
        prompts.push_back(
            m.tokenizer->encode(tpl.render({{"user", p["prompt"].get<std::string>()}}, true).text, false));
        EXPECT_EQ(prompts.back(), p["prompt_ids"].get<std::vector<int64_t>>()) << p["prompt"];
    }
    ASSERT_GE(prompts.size(), 5u);
    GenerateOptions opts;
    opts.n_predict = ref["n_predict"].get<int64_t>();
    opts.sampling.temperature = 0.0f;
    const auto got = generate(m.model, *m.tokenizer, prompts, opts);
    for (size_t i = 0; i < got.size(); ++i) {
        const auto& want = ref["prompts"][i];
        EXPECT_EQ(got[i].tokens, want["ids"].get<std::vector<int64_t>>()) << want["prompt"];
        EXPECT_EQ(got[i].stop_reason, want["eos"].get<bool>() ? "eos" : "length") << want["prompt"];
    }
}

// diagecg quantize's writer read back by the GGUF loader: F32 gives every parameter bit for bit (so the Q/K
// interleave is the inverse of the loader's), Q8_0 within its rounding; an extended vocabulary's ids follow the
// tokenizer's as diagecg spells them. (cli_e2e runs the exports in llama.cpp itself.)
TEST(GgufExport, WrittenModelLoadsBackToTheSameWeights) {
    const fs::path dir = fs::temp_directory_path() / ("diagecg-test-gguf-export-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    LlmConfig cfg;
    cfg.vocab_size = 256 + 41 + Vocab::kNumSpecials;
    cfg.hidden_size = 64;
    cfg.intermediate_size = 96;
    cfg.num_hidden_layers = 2;
    cfg.num_attention_heads = 4;
    cfg.num_key_value_heads = 2;
    cfg.max_position_embeddings = 128;
    cfg.tie_word_embeddings = true;
    LoadedModel m;
    m.dir = (dir / "tiny").string();
    m.model = random_llama(cfg, 7, LoadOptions{});
    m.vocab = Vocab(256, 41);
    GgufWriter tw;   // a tokenizer of 256 text tokens
    std::vector<std::string> tokens;
    for (int i = 0; i < 256; ++i) tokens.push_back(i == 0 ? "a" : i == 1 ? "b" : i == 2 ? "ab" : "t" + std::to_string(i));
    tw.set("tokenizer.ggml.model", GgufValue::of_string("gpt2"));
    tw.set("tokenizer.ggml.tokens", GgufValue::of_strings(tokens));
    tw.set("tokenizer.ggml.token_type", GgufValue::of_i32s(std::vector<int32_t>(256, 1)));
    tw.set("tokenizer.ggml.merges", GgufValue::of_strings({"a b"}));   // (load_model builds the tokenizer too)
    tw.write((dir / "tok.gguf").string());

    for (const GgmlType t : {GgmlType::kF32, GgmlType::kQ8_0}) {
        const std::string out = (dir / (std::string(ggml_type_name(t)) + ".gguf")).string();
        export_gguf(m, (dir / "tok.gguf").string(), out, t);
        const GgufFile f(out);
        const auto& toks = f.get_strings("tokenizer.ggml.tokens");
        ASSERT_EQ(static_cast<int64_t>(toks.size()), cfg.vocab_size);
        EXPECT_EQ(toks[255], "t255");
        EXPECT_EQ(toks[256 + 40], "<ecg_0040>");
        EXPECT_EQ(toks[cfg.vocab_size - 1], "<|pad|>");
        EXPECT_EQ(f.get_ints("tokenizer.ggml.token_type")[256], 4);
        EXPECT_EQ(f.get_int("diagecg.vocab.n_ecg_codes"), 41);
        EXPECT_EQ(f.find_tensor("output.weight"), nullptr);   // tied
        EXPECT_EQ(f.find_tensor("blk.1.attn_q.weight")->type, t);
        EXPECT_EQ(f.find_tensor("blk.1.attn_norm.weight")->type, GgmlType::kF32);
        const Llama back = llama_from_gguf(f);
        const auto want = m.model->named_parameters();
        const auto got = back->named_parameters();
        ASSERT_EQ(want.size(), got.size());
        for (const auto& p : want) {
            const torch::Tensor g = got[p.key()];
            ASSERT_EQ(g.sizes(), p.value().sizes()) << p.key();
            const double d = (g - p.value()).abs().max().item<double>();
            if (t == GgmlType::kF32 || p.value().dim() == 1)
                EXPECT_EQ(d, 0.0) << p.key();
            else   // Q8_0: half a step of each block scale, amax / 127
                EXPECT_LE(d, p.value().abs().max().item<double>() / 127 * 0.6) << p.key();   // + the f16 scale
        }
    }
    {   // --dtype native keeps a file's blocks, and a BF16 file's own dtype: bf16 weights, as --dtype bf16 loads them
        const std::string q8 = (dir / "Q8_0.gguf").string(), b16 = (dir / "BF16.gguf").string();
        export_gguf(m, (dir / "tok.gguf").string(), b16, GgmlType::kBF16);
        const LoadedModel nq = load_model(q8, parse_load_dtype("native"));
        EXPECT_EQ(nq.base_gguf, q8);
        LoadedModel nb = load_model(b16, parse_load_dtype("native"));
        EXPECT_TRUE(nb.base_gguf.empty());
        EXPECT_EQ(nb.model->dtype(), torch::kBFloat16);
        LoadedModel eb = load_model(b16, parse_load_dtype("bf16"));
        torch::NoGradGuard ng;
        const auto ids = torch::tensor(std::vector<int64_t>{3, 70, 255, 9}, torch::kLong).unsqueeze(0);
        EXPECT_TRUE(torch::equal(nb.model->forward(ids), eb.model->forward(ids)));
    }
    EXPECT_EQ(parse_export_type("q4_k"), GgmlType::kQ4_K);
    EXPECT_EQ(parse_export_type("q6_k"), GgmlType::kQ6_K);
    EXPECT_THROW(parse_export_type("q5_k"), std::invalid_argument);
    fs::remove_all(dir);
}
