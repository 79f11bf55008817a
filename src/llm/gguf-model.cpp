#include "diagecg/llm/gguf-model.h"

#include <ATen/Parallel.h>
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>
#include <vector>

#include "diagecg/llm/llm-io.h"
#include "diagecg/util/device.h"

namespace diagecg {

namespace {

// GGUF per-layer tensor suffix -> HF suffix under "model.layers.N.".
const std::map<std::string, std::string>& layer_names() {
    static const std::map<std::string, std::string> m = {
        {"attn_norm.weight", "input_layernorm.weight"}, {"ffn_norm.weight", "post_attention_layernorm.weight"},
        {"attn_q.weight", "self_attn.q_proj.weight"},   {"attn_k.weight", "self_attn.k_proj.weight"},
        {"attn_v.weight", "self_attn.v_proj.weight"},   {"attn_output.weight", "self_attn.o_proj.weight"},
        {"attn_q.bias", "self_attn.q_proj.bias"},       {"attn_k.bias", "self_attn.k_proj.bias"},
        {"attn_v.bias", "self_attn.v_proj.bias"},       {"ffn_gate.weight", "mlp.gate_proj.weight"},
        {"ffn_up.weight", "mlp.up_proj.weight"},        {"ffn_down.weight", "mlp.down_proj.weight"},
    };
    return m;
}

// GGUF stores these as float32: back to the shortest decimal that reads as the same float (1e-5, not
// 9.99999974738e-06), which is what the HF config held.
double float_decimal(double v) {
    const float f = static_cast<float>(v);
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, f);
    double d = v;
    std::from_chars(buf, r.ptr, d);
    return d;
}

std::string shape_str(c10::IntArrayRef s) {
    std::ostringstream o;
    o << s;
    return o.str();
}

bool permuted_qk(const std::string& arch) {
    return arch == "llama" || arch == "mistral";
}

// Llama 3.1+ GGUFs carry rope_freqs.weight ([Dh/2] divisors of the inverse frequencies) instead of the
// rope_scaling parameters. Finds the Meta "llama3" parameters that reproduce it.
RopeScaling llama3_scaling_from_factors(const GgufFile& f, const LlmConfig& cfg, const GgufTensorInfo& t) {
    const std::vector<float> got = f.dequantize(t);
    LlmConfig probe = cfg;
    probe.rope_scaling.type = "";
    const torch::Tensor base = rope_inv_freq(probe).to(torch::kDouble);
    for (const double factor : {8.0, 16.0, 32.0, 4.0, 2.0}) {
        for (const int64_t orig : {8192, 4096, 2048}) {
            probe.rope_scaling = RopeScaling{"llama3", factor, 1.0, 4.0, orig};
            const torch::Tensor want = base / rope_inv_freq(probe).to(torch::kDouble);  // expected divisors
            if (want.numel() != static_cast<int64_t>(got.size())) break;
            const auto w = want.accessor<double, 1>();
            bool same = true;
            for (int64_t i = 0; i < want.numel() && same; ++i) same = std::fabs(w[i] - got[i]) <= 1e-3 * w[i];
            if (same) return probe.rope_scaling;
        }
    }
    throw std::runtime_error(f.path() + ": rope_freqs.weight matches no llama3 rope scaling (factor 2..32)");
}

}  // namespace

LlmConfig llm_config_from_gguf(const GgufFile& f) {
    const std::string arch = f.get_string("general.architecture");
    if (arch != "llama" && arch != "mistral" && arch != "qwen2")
        throw std::runtime_error(f.path() + ": architecture '" + arch + "' is not supported (llama, mistral, qwen2)");
    const auto key = [&](const char* k) { return arch + "." + k; };
    LlmConfig c;
    c.architecture = arch == "qwen2"     ? "Qwen2ForCausalLM"
                     : arch == "mistral" ? "MistralForCausalLM"
                                         : "LlamaForCausalLM";
    c.hidden_size = f.get_int(key("embedding_length"));
    c.intermediate_size = f.get_int(key("feed_forward_length"));
    c.num_hidden_layers = f.get_int(key("block_count"));
    c.num_attention_heads = f.get_int(key("attention.head_count"));
    c.num_key_value_heads = f.get_int(key("attention.head_count_kv"), c.num_attention_heads);
    if (c.num_attention_heads <= 0) throw std::runtime_error(f.path() + ": " + key("attention.head_count") + " is 0");
    const int64_t key_length = f.get_int(key("attention.key_length"), c.hidden_size / c.num_attention_heads);
    if (f.get_int(key("attention.value_length"), key_length) != key_length)
        throw std::runtime_error(f.path() + ": key and value head sizes differ (not supported)");
    if (key_length != c.hidden_size / c.num_attention_heads) c.head_dim = key_length;
    const int64_t rope_dims = f.get_int(key("rope.dimension_count"), c.dim_head());
    if (rope_dims != c.dim_head())
        throw std::runtime_error(f.path() + ": " + key("rope.dimension_count") + " is " + std::to_string(rope_dims) +
                                 ", the head size " + std::to_string(c.dim_head()) +
                                 " (partial rotary is not supported)");
    c.rms_norm_eps = float_decimal(f.get_float(key("attention.layer_norm_rms_epsilon")));
    c.rope_theta = float_decimal(f.get_float(key("rope.freq_base"), 10000.0));
    c.max_position_embeddings = f.get_int(key("context_length"), 2048);
    const std::string scaling = f.get_string(key("rope.scaling.type"), "none");
    if (scaling == "linear") {
        c.rope_scaling.type = "linear";
        c.rope_scaling.factor = float_decimal(f.get_float(key("rope.scaling.factor")));
    } else if (scaling != "none") {
        throw std::runtime_error(f.path() + ": rope scaling '" + scaling + "' is not supported (none, linear, llama3)");
    } else if (f.has(key("rope.scale_linear"))) {
        c.rope_scaling.type = "linear";
        c.rope_scaling.factor = float_decimal(f.get_float(key("rope.scale_linear")));
    }
    const GgufTensorInfo* emb = f.find_tensor("token_embd.weight");
    if (!emb || emb->ne.size() != 2)
        throw std::runtime_error(f.path() + ": no 2-D tensor 'token_embd.weight' (is this a vocab-only GGUF?)");
    c.vocab_size = emb->ne[1];
    c.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
    c.attention_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
    if (c.attention_bias && arch != "qwen2")
        throw std::runtime_error(f.path() + ": " + arch + " with q/k/v biases is not supported");
    if (arch == "qwen2" && !c.attention_bias)
        throw std::runtime_error(f.path() + ": qwen2 without 'blk.0.attn_q.bias'");
    c.bos_token_id = f.get_int("tokenizer.ggml.bos_token_id", c.bos_token_id);
    c.eos_token_id = f.get_int("tokenizer.ggml.eos_token_id", c.eos_token_id);
    if (const GgufTensorInfo* rf = f.find_tensor("rope_freqs.weight")) {
        if (!c.rope_scaling.type.empty())
            throw std::runtime_error(f.path() + ": both rope_freqs.weight and a rope scaling type");
        c.rope_scaling = llama3_scaling_from_factors(f, c, *rf);
    }
    try {
        c.validate();
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(f.path() + ": " + e.what());
    }
    return c;
}

std::string hf_name_of_gguf(const std::string& name) {
    if (name == "token_embd.weight") return "model.embed_tokens.weight";
    if (name == "output_norm.weight") return "model.norm.weight";
    if (name == "output.weight") return "lm_head.weight";
    if (name.rfind("blk.", 0) != 0) return "";
    const size_t dot = name.find('.', 4);
    if (dot == std::string::npos || dot == 4) return "";
    const std::string layer = name.substr(4, dot - 4);
    if (layer.find_first_not_of("0123456789") != std::string::npos) return "";
    const auto it = layer_names().find(name.substr(dot + 1));
    return it == layer_names().end() ? "" : "model.layers." + layer + "." + it->second;
}

std::string gguf_name_of_hf(const std::string& hf) {
    if (hf == "model.embed_tokens.weight") return "token_embd.weight";
    if (hf == "model.norm.weight") return "output_norm.weight";
    if (hf == "lm_head.weight") return "output.weight";
    const std::string prefix = "model.layers.";
    if (hf.rfind(prefix, 0) != 0) return "";
    const size_t dot = hf.find('.', prefix.size());
    if (dot == std::string::npos) return "";
    const std::string layer = hf.substr(prefix.size(), dot - prefix.size());
    for (const auto& [g, h] : layer_names())
        if (hf.compare(dot + 1, std::string::npos, h) == 0) return "blk." + layer + "." + g;
    return "";
}

torch::Tensor gguf_tensor_as_hf(const GgufFile& f, const LlmConfig& cfg, const GgufTensorInfo& t, torch::Dtype dtype) {
    const GgmlTypeInfo& info = ggml_type_info(t.type);
    if (!info.dequantizable)
        throw std::runtime_error(f.path() + ": tensor '" + t.name + "' has ggml type " + info.name +
                                 ", which cannot be dequantized");
    auto out = torch::empty(t.shape(), torch::kFloat);
    const int64_t row = t.ne.empty() ? 1 : t.ne[0];
    const int64_t n_rows = row ? t.numel() / row : 0;
    const uint64_t row_bytes = ggml_row_bytes(t.type, row);
    const uint8_t* src = f.tensor_data(t);
    float* dst = out.data_ptr<float>();
    // rows: [n_rows] of `row` values each, whole blocks
    at::parallel_for(0, n_rows, std::max<int64_t>(1, 65536 / std::max<int64_t>(row, 1)), [&](int64_t b, int64_t e) {
        dequantize(t.type, src + static_cast<uint64_t>(b) * row_bytes, dst + b * row, (e - b) * row);
    });
    // llama.cpp's converter reordered each head's Q/K rows from HF's halves [x0..x(d/2-1) | x(d/2)..] to
    // interleaved pairs (x0, x(d/2)), (x1, x(d/2+1)), ...: [n, Dh/2, 2, in] -> [n, 2, Dh/2, in] undoes it.
    const std::string arch = f.get_string("general.architecture");
    const auto ends_with = [&](const std::string& suffix) {
        return t.name.size() > suffix.size() &&
               t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    const bool is_q = ends_with(".attn_q.weight");
    const bool is_k = ends_with(".attn_k.weight");
    if (permuted_qk(arch) && (is_q || is_k)) {
        const int64_t n_head = is_q ? cfg.num_attention_heads : cfg.num_key_value_heads;
        const int64_t dh = cfg.dim_head();
        if (out.dim() != 2 || out.size(0) != n_head * dh)
            throw std::runtime_error(f.path() + ": tensor '" + t.name + "' has shape " + shape_str(out.sizes()) +
                                     ", expected " + std::to_string(n_head * dh) + " rows");
        const int64_t in = out.size(1);
        out = out.view({n_head, dh / 2, 2, in}).transpose(1, 2).reshape({n_head * dh, in});
    }
    return dtype == torch::kFloat ? out : out.to(dtype);
}

int64_t keep_gguf_quantized(Llama& model, const std::shared_ptr<const GgufFile>& file, std::set<std::string>* held) {
    const GgufFile& f = *file;
    const LlmConfig& cfg = model->config();
    std::map<std::string, const GgufTensorInfo*> by_hf;
    for (const auto& t : f.tensors())
        if (const std::string hf = hf_name_of_gguf(t.name); !hf.empty()) by_hf.emplace(hf, &t);
    const std::string arch = f.get_string("general.architecture");
    // The blocks are viewed in the mapped file (read-only pages shared with the page cache, as llama.cpp maps them;
    // the tensor keeps the file mapped) unless they are copied into the CPU's decode layout (interleave_for_cpu).
    const auto block_of = [&](const GgufTensorInfo& t) {
        const auto shape = t.shape();
        return quant_weight_from_blocks(t.type, shape.at(0), shape.at(1), f.tensor_data(t), file);
    };
    // The matrices kept, and one huge-page arena for those copied into the CPU's decode layout (written there
    // directly: no intermediate copy stays on the heap)
    struct Kept {
        std::string key, hf;  // the module's name, the weight's HF name
        LinearImpl* lin;
        const GgufTensorInfo* t;
    };
    std::vector<Kept> kept;
    for (auto& kv : model->named_modules("", false)) {
        auto* lin = kv.value()->as<LinearImpl>();
        if (!lin) continue;
        const auto it = by_hf.find(hf_tensor_name(kv.key() + ".weight"));
        if (it == by_hf.end() || !quant_matmul_supported(it->second->type) || it->second->ne.size() != 2) continue;
        kept.push_back({kv.key(), it->first, lin, it->second});
    }
    const auto embd = by_hf.find("model.embed_tokens.weight");
    const bool keep_embd = embd != by_hf.end() && quant_matmul_supported(embd->second->type) && embd->second->ne.size() == 2;
    constexpr size_t kAlign = 64;
    const auto arena_bytes = [&](const GgufTensorInfo& t) {
        return quant_interleave_available(t.type) ? (t.n_bytes + kAlign - 1) / kAlign * kAlign : 0;
    };
    size_t total = keep_embd ? arena_bytes(*embd->second) : 0, off = 0;
    for (const auto& k : kept) total += arena_bytes(*k.t);
    const std::shared_ptr<void> arena = total ? alloc_huge_pages(total) : nullptr;
    const auto for_cpu = [&](const QuantWeight& q, const GgufTensorInfo& t) {
        if (!quant_interleave_available(t.type)) return q;
        QuantWeight o = interleave_weight(q, static_cast<char*>(arena.get()) + off, arena);
        off += arena_bytes(t);
        return o;
    };
    int64_t n = 0;
    for (const auto& k : kept) {
        const GgufTensorInfo& t = *k.t;
        QuantWeight q = block_of(t);
        const bool is_q = k.key.find("q_proj") != std::string::npos, is_k = k.key.find("k_proj") != std::string::npos;
        if (permuted_qk(arch) && (is_q || is_k)) {  // the rows gguf_tensor_as_hf reorders, as an index
            const int64_t n_head = is_q ? cfg.num_attention_heads : cfg.num_key_value_heads, dh = cfg.dim_head();
            const auto index = torch::arange(n_head * dh).view({n_head, dh / 2, 2}).transpose(1, 2).reshape({-1});
            q = quant_weight_rows(q, index);
        }
        k.lin->set_quantized(for_cpu(q, t));
        // a copy (interleaved or reordered): the file's pages of it are not needed in memory
        if (k.lin->qweight.blocks.data_ptr() != f.tensor_data(t)) f.release_tensor_pages(t);
        if (held) held->insert(k.hf);
        ++n;
    }
    // token_embd: the lookup gathers rows from the blocks; a tied head multiplies by them
    if (keep_embd) {
        const GgufTensorInfo& t = *embd->second;
        model->embed_q = for_cpu(block_of(t), t);
        if (model->embed_q.blocks.data_ptr() != f.tensor_data(t)) f.release_tensor_pages(t);
        torch::NoGradGuard ng;
        model->embed_tokens->weight.set_data(torch::empty({model->embed_q.rows, 0}, model->embed_tokens->weight.options()));
        if (!model->lm_head) model->tied_head_q = model->embed_q;
        if (held) held->insert(embd->first);
        ++n;
    }
    return n;
}

std::map<std::string, torch::Tensor> gguf_hf_tensors(const GgufFile& f, const LlmConfig& cfg, torch::Dtype dtype) {
    std::map<std::string, torch::Tensor> out;
    for (const auto& t : f.tensors()) {
        const std::string hf = hf_name_of_gguf(t.name);
        if (!hf.empty()) out.emplace(hf, gguf_tensor_as_hf(f, cfg, t, dtype));
    }
    return out;
}

void load_gguf_weights(Llama& model, const GgufFile& f, const std::set<std::string>* held) {
    const LlmConfig& cfg = model->config();
    std::map<std::string, const GgufTensorInfo*> by_hf;
    std::vector<std::string> problems;
    for (const auto& t : f.tensors()) {
        const std::string hf = hf_name_of_gguf(t.name);
        if (!hf.empty()) {
            by_hf.emplace(hf, &t);
        } else if (t.name != "rope_freqs.weight") {  // folded into the config's rope scaling
            problems.push_back("unexpected tensor '" + t.name + "'");
        }
    }
    std::set<std::string> used;
    torch::NoGradGuard ng;
    for (auto& kv : model->named_parameters(/*recurse=*/true)) {
        const std::string hf = hf_tensor_name(kv.key());
        const auto it = by_hf.find(hf);
        if (it == by_hf.end()) {
            problems.push_back("missing tensor for '" + hf + "' (shape " + shape_str(kv.value().sizes()) + ")");
            continue;
        }
        used.insert(hf);
        if (held && held->count(hf)) continue;  // kept in its blocks (keep_gguf_quantized)
        const GgufTensorInfo& t = *it->second;
        if (c10::IntArrayRef(t.shape()) != kv.value().sizes()) {
            problems.push_back("tensor '" + t.name + "' has shape " + shape_str(t.shape()) + ", expected " +
                               shape_str(kv.value().sizes()) + " for '" + hf + "'");
            continue;
        }
        try {
            kv.value().copy_(gguf_tensor_as_hf(f, cfg, t));
        } catch (const std::runtime_error& e) {
            problems.push_back(e.what());
        }
    }
    for (const auto& kv : by_hf)
        if (!used.count(kv.first)) problems.push_back("unexpected tensor '" + kv.second->name + "'");
    if (!problems.empty()) {
        std::string msg = f.path() + ": " + std::to_string(problems.size()) + " problem(s) loading weights:";
        for (const auto& p : problems) msg += "\n  " + p;
        throw std::runtime_error(msg);
    }
}

Llama llama_from_gguf(const GgufFile& f, torch::Dtype dtype, torch::Device device) {
    Llama model(llm_config_from_gguf(f));
    load_gguf_weights(model, f);
    model->to(dtype);
    model->to(device);
    model->eval();
    return model;
}

}  // namespace diagecg
