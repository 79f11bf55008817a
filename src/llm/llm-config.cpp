#include "diagecg/llm/llm-config.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "diagecg/util/byte-reader.h"
#include "diagecg/util/json-config.h"

namespace diagecg {

using nlohmann::json;

namespace {

// bos/eos may be an int or a list of ints (first is used)
void read_token_id(const json& j, const char* key, int64_t& out, const std::string& where) {
    if (!j.contains(key) || j[key].is_null()) return;
    const json& v = j[key];
    if (v.is_number_integer())
        out = v.get<int64_t>();
    else if (v.is_array() && !v.empty() && v[0].is_number_integer())
        out = v[0].get<int64_t>();
    else
        throw std::invalid_argument(where + ": field \"" + key + "\" must be an integer or a list of integers, got " +
                                    v.dump());
}

}  // namespace

void LlmConfig::validate() const {
    auto positive = [](int64_t v, const char* name) {
        if (v <= 0)
            throw std::invalid_argument(std::string("model config: ") + name + " must be positive, got " +
                                        std::to_string(v));
    };
    positive(vocab_size, "vocab_size");
    positive(hidden_size, "hidden_size");
    positive(intermediate_size, "intermediate_size");
    positive(num_hidden_layers, "num_hidden_layers");
    positive(num_attention_heads, "num_attention_heads");
    positive(num_key_value_heads, "num_key_value_heads");
    positive(max_position_embeddings, "max_position_embeddings");
    if (head_dim == 0 && hidden_size % num_attention_heads != 0)
        throw std::invalid_argument("model config: hidden_size " + std::to_string(hidden_size) +
                                    " is not divisible by num_attention_heads " + std::to_string(num_attention_heads));
    if (num_attention_heads % num_key_value_heads != 0)
        throw std::invalid_argument("model config: num_attention_heads " + std::to_string(num_attention_heads) +
                                    " is not a multiple of num_key_value_heads " + std::to_string(num_key_value_heads));
    if (head_dim < 0)
        throw std::invalid_argument(
            "model config: head_dim must be >= 0 (0 = hidden_size / num_attention_heads), got " +
            std::to_string(head_dim));
    if (dim_head() % 2 != 0)
        throw std::invalid_argument("model config: head dim " + std::to_string(dim_head()) + " must be even (rotary)");
    if (!(rms_norm_eps > 0)) throw std::invalid_argument("model config: rms_norm_eps must be > 0");
    if (!(rope_theta > 0)) throw std::invalid_argument("model config: rope_theta must be > 0");
    if (ecg.n_ecg_codes < 0 || ecg.base_vocab_size < 0)
        throw std::invalid_argument("model config: diagecg fields must be >= 0");
}

LlmConfig llm_config_from_json(const json& j, const std::string& where) {
    if (!j.is_object()) throw std::invalid_argument(where + ": not a JSON object");
    LlmConfig c;
    JsonObject o(j, where);  // HF configs carry many fields we do not need: no finish() here
    std::string model_type;
    if (!o.get("model_type", model_type))
        throw std::invalid_argument(where + ": no \"model_type\" (expected llama, mistral or qwen2)");
    if (model_type != "llama" && model_type != "mistral" && model_type != "qwen2")
        throw std::invalid_argument(where + ": model_type \"" + model_type +
                                    "\" is not supported (llama, mistral, qwen2)");
    c.attention_bias = model_type == "qwen2";
    if (j.contains("architectures") && !j["architectures"].is_null()) {
        const json& a = j["architectures"];
        if (!a.is_array() || (!a.empty() && !a[0].is_string()))
            throw std::invalid_argument(where + ".architectures: expected a list of strings, got " + a.dump());
        if (!a.empty()) c.architecture = a[0].get<std::string>();
    }

    std::string missing;
    auto required = [&](const char* key, int64_t& out) {
        if (!o.get(key, out)) missing += std::string(missing.empty() ? "" : ", ") + key;
    };
    required("vocab_size", c.vocab_size);
    required("hidden_size", c.hidden_size);
    required("intermediate_size", c.intermediate_size);
    required("num_hidden_layers", c.num_hidden_layers);
    required("num_attention_heads", c.num_attention_heads);
    if (!missing.empty()) throw std::invalid_argument(where + ": missing required field(s): " + missing);
    c.num_key_value_heads = c.num_attention_heads;
    o.get("num_key_value_heads", c.num_key_value_heads);
    o.get("head_dim", c.head_dim);
    o.get("rms_norm_eps", c.rms_norm_eps);
    o.get("rope_theta", c.rope_theta);
    o.get("max_position_embeddings", c.max_position_embeddings);
    o.get("tie_word_embeddings", c.tie_word_embeddings);
    o.get("attention_bias", c.attention_bias);
    read_token_id(j, "bos_token_id", c.bos_token_id, where);
    read_token_id(j, "eos_token_id", c.eos_token_id, where);

    if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
        const std::string w = where + ".rope_scaling";
        JsonObject rs(j["rope_scaling"], w);
        std::string type;
        if (!rs.get("rope_type", type)) rs.get("type", type);
        if (type == "default" || type.empty()) {
            type.clear();
        } else if (type != "linear" && type != "llama3") {
            throw std::invalid_argument(w + ": type \"" + type + "\" is not supported (linear, llama3)");
        }
        // Only the fields the type uses are kept, so to_json/from_json round-trips exactly.
        RopeScaling r;
        r.type = type;
        if (!type.empty()) {
            if (!rs.get("factor", r.factor))
                throw std::invalid_argument(w + ".factor: missing for type \"" + type + "\"");
            if (!(r.factor > 0))
                throw std::invalid_argument(w + ".factor: must be > 0, got " + std::to_string(r.factor));
        }
        if (type == "llama3") {
            rs.get("low_freq_factor", r.low_freq_factor);
            rs.get("high_freq_factor", r.high_freq_factor);
            rs.get("original_max_position_embeddings", r.original_max_position_embeddings);
            if (!(r.low_freq_factor > 0) || !(r.high_freq_factor > r.low_freq_factor) ||
                r.original_max_position_embeddings <= 0)
                throw std::invalid_argument(w +
                                            ": llama3 needs 0 < low_freq_factor < high_freq_factor and "
                                            "original_max_position_embeddings > 0");
        }
        c.rope_scaling = r;
    }

    if (j.contains("diagecg")) {
        // Our own section: strict, unknown keys are errors.
        JsonObject d(j["diagecg"], where + ".diagecg");
        d.get("n_ecg_codes", c.ecg.n_ecg_codes);
        d.get("base_vocab_size", c.ecg.base_vocab_size);
        d.finish();
    }
    try {
        c.validate();
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(where + ": " + e.what());
    }
    return c;
}

LlmConfig load_llm_config(const std::string& path) {
    json j;
    try {
        j = json::parse(read_file_text(path));
    } catch (const json::exception& e) {
        throw std::runtime_error(path + ": not valid JSON: " + e.what());
    }
    return llm_config_from_json(j, path);
}

json llm_config_to_json(const LlmConfig& c) {
    json j = {
        {"architectures", {c.architecture}},
        {"model_type", c.attention_bias ? "qwen2" : "llama"},
        {"vocab_size", c.vocab_size},
        {"hidden_size", c.hidden_size},
        {"intermediate_size", c.intermediate_size},
        {"num_hidden_layers", c.num_hidden_layers},
        {"num_attention_heads", c.num_attention_heads},
        {"num_key_value_heads", c.num_key_value_heads},
        {"rms_norm_eps", c.rms_norm_eps},
        {"rope_theta", c.rope_theta},
        {"max_position_embeddings", c.max_position_embeddings},
        {"tie_word_embeddings", c.tie_word_embeddings},
        {"attention_bias", c.attention_bias},
        {"bos_token_id", c.bos_token_id},
        {"eos_token_id", c.eos_token_id},
        {"hidden_act", "silu"},
    };
    if (c.head_dim > 0) j["head_dim"] = c.head_dim;
    if (c.rope_scaling.type.empty()) {
        j["rope_scaling"] = nullptr;
    } else {
        j["rope_scaling"] = {{"rope_type", c.rope_scaling.type}, {"factor", c.rope_scaling.factor}};
        if (c.rope_scaling.type == "llama3") {
            j["rope_scaling"]["low_freq_factor"] = c.rope_scaling.low_freq_factor;
            j["rope_scaling"]["high_freq_factor"] = c.rope_scaling.high_freq_factor;
            j["rope_scaling"]["original_max_position_embeddings"] = c.rope_scaling.original_max_position_embeddings;
        }
    }
    if (c.ecg.n_ecg_codes > 0)
        j["diagecg"] = {{"n_ecg_codes", c.ecg.n_ecg_codes}, {"base_vocab_size", c.ecg.base_vocab_size}};
    return j;
}

}  // namespace diagecg
