#include "diagecg/llm/gguf-export.h"

#include <filesystem>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>

#include "diagecg/llm/gguf-model.h"
#include "diagecg/llm/quant-matmul.h"
#include "diagecg/util/gguf-writer.h"
#include "diagecg/util/gguf.h"
#include "diagecg/util/log.h"

namespace diagecg {

namespace {

// llama.cpp's llama_file_type for a file whose matrices are all of one type.
uint32_t file_type_of(GgmlType t) {
    switch (t) {
        case GgmlType::kF32:
            return 0;
        case GgmlType::kF16:
            return 1;
        case GgmlType::kQ4_0:
            return 2;
        case GgmlType::kQ4_1:
            return 3;
        case GgmlType::kQ8_0:
            return 7;
        case GgmlType::kQ4_K:
            return 14;  // LLAMA_FTYPE_MOSTLY_Q4_K_S (mostly Q4_K)
        case GgmlType::kQ6_K:
            return 18;  // LLAMA_FTYPE_MOSTLY_Q6_K
        case GgmlType::kBF16:
            return 32;
        default:
            throw std::invalid_argument("no GGUF file type for " + std::string(ggml_type_name(t)));
    }
}

// llama.cpp's token types (llama_token_type): user-defined tokens are matched in text before BPE.
constexpr int32_t kTokenUserDefined = 4;

}  // namespace

GgmlType parse_export_type(const std::string& name) {
    for (const auto& [n, t] : {std::pair<const char*, GgmlType>{"q8_0", GgmlType::kQ8_0},
                               {"q4_0", GgmlType::kQ4_0},
                               {"q4_1", GgmlType::kQ4_1},
                               {"q4_k", GgmlType::kQ4_K},
                               {"q6_k", GgmlType::kQ6_K},
                               {"f16", GgmlType::kF16},
                               {"bf16", GgmlType::kBF16},
                               {"f32", GgmlType::kF32}})
        if (name == n) return t;
    throw std::invalid_argument("unknown GGUF type \"" + name + "\" (q8_0, q4_0, q4_1, q4_k, q6_k, f16, bf16 or f32)");
}

void export_gguf(const LoadedModel& m, const std::string& tokenizer_gguf, const std::string& out, GgmlType type) {
    torch::NoGradGuard ng;
    const LlmConfig& cfg = m.model->config();
    if (cfg.attention_bias) throw std::runtime_error(m.dir + ": q/k/v biases (qwen2) are not exported to GGUF yet");
    if (!cfg.rope_scaling.type.empty() && cfg.rope_scaling.type != "linear")
        throw std::runtime_error(m.dir + ": rope scaling '" + cfg.rope_scaling.type + "' is not exported to GGUF yet");
    const GgufFile tok(tokenizer_gguf);
    const std::vector<std::string>& text_tokens = tok.get_strings("tokenizer.ggml.tokens");
    const int64_t n_text = static_cast<int64_t>(text_tokens.size());
    if (n_text > cfg.vocab_size)
        throw std::runtime_error(tokenizer_gguf + ": its tokenizer has " + std::to_string(n_text) +
                                 " tokens, more than the model's vocabulary of " + std::to_string(cfg.vocab_size));

    GgufWriter w;
    const std::string arch = "llama";
    const auto key = [&](const char* k) { return arch + "." + k; };
    w.set("general.architecture", GgufValue::of_string(arch));
    const std::string name = std::filesystem::path(m.dir).filename().string();
    w.set("general.name", GgufValue::of_string(name.empty() ? "diagecg" : name));
    w.set("general.file_type", GgufValue::of_u32(file_type_of(type)));
    w.set(key("vocab_size"), GgufValue::of_u32(static_cast<uint32_t>(cfg.vocab_size)));
    w.set(key("context_length"), GgufValue::of_u32(static_cast<uint32_t>(cfg.max_position_embeddings)));
    w.set(key("embedding_length"), GgufValue::of_u32(static_cast<uint32_t>(cfg.hidden_size)));
    w.set(key("block_count"), GgufValue::of_u32(static_cast<uint32_t>(cfg.num_hidden_layers)));
    w.set(key("feed_forward_length"), GgufValue::of_u32(static_cast<uint32_t>(cfg.intermediate_size)));
    w.set(key("attention.head_count"), GgufValue::of_u32(static_cast<uint32_t>(cfg.num_attention_heads)));
    w.set(key("attention.head_count_kv"), GgufValue::of_u32(static_cast<uint32_t>(cfg.num_key_value_heads)));
    if (cfg.dim_head() * cfg.num_attention_heads != cfg.hidden_size) {
        w.set(key("attention.key_length"), GgufValue::of_u32(static_cast<uint32_t>(cfg.dim_head())));
        w.set(key("attention.value_length"), GgufValue::of_u32(static_cast<uint32_t>(cfg.dim_head())));
    }
    w.set(key("rope.dimension_count"), GgufValue::of_u32(static_cast<uint32_t>(cfg.dim_head())));
    w.set(key("rope.freq_base"), GgufValue::of_f32(static_cast<float>(cfg.rope_theta)));
    if (cfg.rope_scaling.type == "linear") {
        w.set(key("rope.scaling.type"), GgufValue::of_string("linear"));
        w.set(key("rope.scaling.factor"), GgufValue::of_f32(static_cast<float>(cfg.rope_scaling.factor)));
    }
    w.set(key("attention.layer_norm_rms_epsilon"), GgufValue::of_f32(static_cast<float>(cfg.rms_norm_eps)));

    // The tokenizer as it came, its token list extended by the model's own ids (ECG codes and markers).
    for (const auto& [k, v] : tok.metadata())
        if (k.rfind("tokenizer.", 0) == 0) w.set(k, v);
    if (cfg.vocab_size > n_text) {
        std::vector<std::string> tokens = text_tokens;
        std::vector<int32_t> types;
        for (const int64_t t : tok.get_ints("tokenizer.ggml.token_type")) types.push_back(static_cast<int32_t>(t));
        if (static_cast<int64_t>(types.size()) != n_text)
            throw std::runtime_error(tokenizer_gguf + ": tokenizer.ggml.token_type does not have one entry per token");
        for (int64_t id = n_text; id < cfg.vocab_size; ++id) {
            tokens.push_back(m.vocab.extended() && !m.vocab.is_text(id)
                                 ? m.vocab.special_string(id)
                                 : "<|diagecg_unused_" + std::to_string(id) + "|>");
            types.push_back(kTokenUserDefined);
        }
        w.set("tokenizer.ggml.tokens", GgufValue::of_strings(tokens));
        w.set("tokenizer.ggml.token_type", GgufValue::of_i32s(types));
        if (tok.has("tokenizer.ggml.scores")) {
            std::vector<float> scores = tok.get_floats("tokenizer.ggml.scores");
            scores.resize(static_cast<size_t>(cfg.vocab_size), 0.0f);
            w.set("tokenizer.ggml.scores", GgufValue::of_f32s(scores));
        }
    }
    w.set("diagecg.config", GgufValue::of_string(llm_config_to_json(cfg).dump()));
    if (m.vocab.extended()) {
        w.set("diagecg.vocab.base_size", GgufValue::of_u32(static_cast<uint32_t>(m.vocab.base_size())));
        w.set("diagecg.vocab.n_ecg_codes", GgufValue::of_u32(static_cast<uint32_t>(m.vocab.n_ecg_codes())));
    }

    // Tensors: HF [out, in] -> ggml ne {in, out}; the bytes stay alive in `keep` until the write.
    std::vector<torch::Tensor> keep;
    std::vector<QuantWeight> keep_q;
    keep_q.reserve(m.model->named_parameters().size());
    int64_t n_f32_fallback = 0, n_type_fallback = 0;
    for (const auto& p : m.model->named_parameters()) {
        const std::string hf = hf_tensor_name(p.key());
        const std::string gname = gguf_name_of_hf(hf);
        if (gname.empty()) throw std::runtime_error(m.dir + ": parameter " + p.key() + " has no GGUF name");
        torch::Tensor t = p.value().detach().to(torch::kFloat).contiguous();
        if (t.numel() == 0)
            throw std::runtime_error(m.dir + ": parameter " + p.key() + " is held in blocks: load the model in f32");
        const bool is_q = gname.size() > 14 && gname.compare(gname.size() - 14, 14, ".attn_q.weight") == 0;
        const bool is_k = gname.size() > 14 && gname.compare(gname.size() - 14, 14, ".attn_k.weight") == 0;
        if (is_q || is_k) {  // HF's rotate-half halves -> llama.cpp's interleaved pairs, per head
            const int64_t n_head = is_q ? cfg.num_attention_heads : cfg.num_key_value_heads, dh = cfg.dim_head();
            t = t.view({n_head, 2, dh / 2, t.size(1)}).transpose(1, 2).reshape({n_head * dh, t.size(1)}).contiguous();
        }
        std::vector<int64_t> ne(t.sizes().rbegin(), t.sizes().rend());
        GgmlType tt = t.dim() == 2 ? type : GgmlType::kF32;
        if (tt != GgmlType::kF32 && tt != GgmlType::kF16 && tt != GgmlType::kBF16) {
            const GgmlType fit = quant_type_for_cols(tt, t.size(1));
            n_f32_fallback += fit == GgmlType::kF32;
            n_type_fallback += fit != GgmlType::kF32 && fit != tt;
            tt = fit;
        }
        if (tt == GgmlType::kF32 || tt == GgmlType::kF16 || tt == GgmlType::kBF16) {
            if (tt != GgmlType::kF32) t = t.to(tt == GgmlType::kF16 ? torch::kHalf : torch::kBFloat16).contiguous();
            keep.push_back(t);
            w.add_tensor(gname, tt, ne, keep.back().data_ptr());
        } else {
            keep_q.push_back(quantize_weight(t, tt));
            w.add_tensor(gname, tt, ne, keep_q.back().blocks.data_ptr());
        }
    }
    if (n_f32_fallback)
        log::info("{} matrices stay F32: their rows are not a multiple of 32 ({} blocks need that)", n_f32_fallback,
                  ggml_type_name(type));
    if (n_type_fallback)
        log::info("{} matrices are {}: their rows are not a multiple of 256 ({} super-blocks need that)",
                  n_type_fallback, ggml_type_name(quant_type_for_cols(type, 32)), ggml_type_name(type));
    w.write(out);
}

}  // namespace diagecg
