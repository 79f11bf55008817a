// Llama-family model configuration, read from a Hugging Face config.json.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace diagecg {

struct RopeScaling {
    std::string type;                       // "" (none), "linear", "llama3"
    double factor = 1.0;
    double low_freq_factor = 1.0;           // llama3
    double high_freq_factor = 4.0;          // llama3
    int64_t original_max_position_embeddings = 8192;  // llama3
};

struct EcgVocabConfig {
    int64_t n_ecg_codes = 0;                // 0 = not extended; DiagECG: 1296
    int64_t base_vocab_size = 0;            // text vocabulary size before extension
};

struct LlmConfig {
    std::string architecture = "LlamaForCausalLM";
    int64_t vocab_size = 32000;             // V, including any extension
    int64_t hidden_size = 4096;             // D
    int64_t intermediate_size = 11008;      // SwiGLU inner width
    int64_t num_hidden_layers = 32;
    int64_t num_attention_heads = 32;       // H
    int64_t num_key_value_heads = 32;       // GQA: H_kv divides H
    int64_t head_dim = 0;                   // 0 = hidden_size / num_attention_heads
    double rms_norm_eps = 1e-6;
    double rope_theta = 10000.0;
    RopeScaling rope_scaling;
    int64_t max_position_embeddings = 2048;
    bool tie_word_embeddings = false;
    bool attention_bias = false;            // Qwen2-style q/k/v bias
    int64_t bos_token_id = 1;
    int64_t eos_token_id = 2;
    EcgVocabConfig ecg;                     // DiagECG vocabulary extension (our own key "diagecg")

    int64_t dim_head() const { return head_dim > 0 ? head_dim : hidden_size / num_attention_heads; }
    void validate() const;                  // throws std::invalid_argument
};

// HF config.json -> LlmConfig. Missing required fields are all reported in one error; fields
// that do not concern the model (torch_dtype, transformers_version, ...) are ignored.
// model_type must be "llama", "qwen2" or "mistral".
LlmConfig llm_config_from_json(const nlohmann::json& j, const std::string& where);
LlmConfig load_llm_config(const std::string& path);
nlohmann::json llm_config_to_json(const LlmConfig& c);

}  // namespace diagecg
