// LoRA adapters on the Llama projections (the paper's stage 3: r 64, alpha 16, dropout 0.05 on q, k, v, o,
// gate, up, down). An adapter file pair is the unit users keep and share:
//   NAME.safetensors   lora_A / lora_B per adapted layer, PEFT's tensor names
//                      ("base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight"), plus any other
//                      tensors the run trained (norms, embeddings) under their HF names, stored whole
//   NAME.json          {"format": "diagecg-lora", "r", "lora_alpha", "lora_dropout", "target_modules",
//                       "base_vocab_size", "extra_tensors": [...]}
// Applying an adapter with a scale s adds s * (alpha / r) * B A to each target weight; whole tensors (norms,
// embeddings) replace the model's and are not scaled. Hugging Face PEFT's layout (adapter_config.json +
// adapter_model.safetensors) is read and written too: peft-adapter.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "diagecg/llm/llm.h"

namespace diagecg {

struct LoraConfig {
    int64_t rank = 64;                                  // r
    double alpha = 16;                                  // scale = alpha / r
    double dropout = 0.05;                              // on the adapter's input, training only
    std::vector<std::string> targets{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
};
LoraConfig lora_config_from_json(const nlohmann::json& j, const std::string& path);   // strict
nlohmann::json lora_config_to_json(const LoraConfig& c);
void validate(const LoraConfig& c);

// Attaches fresh adapters (A random, B = 0) to every target projection of every layer; returns how many.
int64_t add_lora(Llama& model, const LoraConfig& c, uint64_t seed);

// Merges every attached adapter into its weight and removes it (the model is then a plain Llama).
void merge_lora(Llama& model);

// Writes PATH.safetensors + PATH.json (PATH without extension; both atomic): the attached adapters and the
// model parameters named in `extra` (our parameter names, e.g. "norm.weight") stored whole.
void save_adapter(Llama& model, const LoraConfig& c, const std::vector<std::string>& extra, const std::string& path);

// What an adapter holds, whichever layout it was read from (ours, or PEFT's: peft-adapter.h).
struct AdapterSpec {
    std::string path;  // for messages and the log
    std::string safetensors_path;
    int64_t r = 0;
    double scaling = 0;                      // delta W = scaling * B A (alpha / r; alpha / sqrt(r) with rsLoRA)
    std::vector<std::string> targets;        // projection names (q_proj, ...)
    std::vector<int64_t> layers;             // adapted layer indices; empty = every layer
    std::vector<std::string> whole_tensors;  // file tensor names stored whole: whole_prefix + HF tensor name
    std::string whole_prefix;                // "" (ours) or "base_model.model." (PEFT)
    int64_t vocab_size = -1;                 // of the model it was trained on; -1 = not recorded
    std::string base_model;                  // as recorded (resolved by adapter_base_model), may be ""
    double dropout = 0;                      // recorded lora_dropout (used when the adapter is attached to train on)
    // It continued its base model's own LoRA (a stage-2 model on a GGUF base, base-model.json + lora.json): it
    // holds that LoRA's trained continuation, so the base is loaded without its own (LoadOptions::base_lora).
    bool replaces_base_lora = false;
    // The prompt layout stage 3 tuned it with (adapter.json "prompt": {"ecg_first": true, "rhythm": true};
    // PromptOptions).
    bool prompt_ecg_first = false;
    bool prompt_rhythm = false;
};

// Reads what an adapter argument names: PATH (our pair, PATH.json or PATH.safetensors), or a directory holding
// adapter.json (ours) or adapter_config.json + adapter_model.safetensors (PEFT), or one of PEFT's two files.
AdapterSpec read_adapter_spec(const std::string& path);

// Reads an adapter (as read_adapter_spec) and applies it to `model` with `scale` (see the top comment). Every
// missing/unexpected/mis-shaped tensor is reported at once.
void apply_adapter(Llama& model, const std::string& path, double scale);
// attach: the A/B pairs become the layers' (trainable) LoRA parameters instead of being merged into the weights
// (weights held in quantized blocks cannot take a merge); whole tensors are copied either way; scale must be 1.
void apply_adapter(Llama& model, const AdapterSpec& spec, double scale, bool attach = false);

// Whether the adapter PATH names continued its base model's own LoRA (AdapterSpec::replaces_base_lora); false
// when it cannot be read (apply_adapter then reports why).
bool adapter_replaces_base_lora(const std::string& path);

// Whether any Linear of `model` has a LoRA attached (unmerged).
bool has_attached_lora(const Llama& model);
// Whether `model` holds matrices in quantized blocks (a Linear's qweight or the tied output projection's): an
// adapter can then only be attached beside them, not merged.
bool has_quantized_weights(const Llama& model);
// The rank, alpha, dropout and targets of the adapters attached to `model` (throws if none, or if they differ).
LoraConfig attached_lora_config(Llama& model);

// The base model an adapter records (our "base_model", PEFT's "base_model_name_or_path"; a relative path is taken
// from the adapter's directory, so a bundle of base model and adapters can move), or "" when it records none.
std::string adapter_base_model(const std::string& path);

// "FILE" or "FILE:SCALE" (the --lora flag) -> {file, scale}.
std::pair<std::string, double> parse_lora_arg(const std::string& arg);

}  // namespace diagecg
