// Model directories: load a Hugging Face Llama-family directory (config.json, safetensors, tokenizer.model)
// into a Llama module, save one back, and extend its vocabulary with DiagECG's ECG tokens.
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

#include "diagecg/llm/llm.h"
#include "diagecg/llm/text-tokenizer.h"

namespace diagecg {

struct LoadOptions {
    torch::Dtype dtype = torch::kFloat;
    torch::Device device = torch::kCPU;
    // A GGUF's Q4_0/Q4_1/Q8_0/Q4_K/Q6_K matrices stay in their blocks (llm/quant-matmul.h; CPU, f32 activations);
    // the rest is loaded in `dtype`. Model directories ignore it.
    bool keep_quantized = false;
    // Quantize every Linear whose rows are whole blocks of 32 (and tied embeddings, for the output projection)
    // to this type at load (Q4_0, Q4_1, Q8_0, Q4_K or Q6_K; quantize_weight's quantizers), from any model; F32 = off.
    GgmlType quantize_to = GgmlType::kF32;
    // A directory on a GGUF base may hold its own LoRA (lora.json + lora.safetensors: stage 2 trained one beside
    // the blocks). true: it is merged into dense weights, or attached unmerged (trainable) to kept blocks;
    // false: left out (an adapter that continued it replaces it: AdapterSpec::replaces_base_lora).
    bool base_lora = true;
};

// The model's Linear layers (and tied output projection) quantized to `t` (quantize_weight, quant-matmul.h);
// layers whose input size is not a multiple of 32 stay as they are. Returns the number quantized.
int64_t quantize_linear_layers(Llama& model, GgmlType t);

// --dtype: f32 | bf16 | f16, "native" (a GGUF's own block types kept where quant_matmul supports them, f32
// elsewhere and for model directories; a GGUF whose matrices are all BF16 loads in bf16), or q8_0 | q4_0 | q4_1 | q4_k | q6_k (quantized at load from any model). Throws
// std::invalid_argument otherwise.
LoadOptions parse_load_dtype(const std::string& dtype, torch::Device device = torch::kCPU);

struct LoadedModel {
    std::string dir;
    Llama model{nullptr};
    std::shared_ptr<TextTokenizer> tokenizer;
    Vocab vocab;                 // id layout (extended or not)
    // The GGUF whose quantized blocks the model holds (loaded with keep_quantized), "" otherwise. save_model then
    // writes a directory that refers to it (base-model.json) instead of copying it.
    std::string base_gguf;
};

// The one table from our parameter names to HF tensor names: "layers.3.self_attn.q_proj.weight"
// -> "model.layers.3.self_attn.q_proj.weight"; "lm_head.weight" -> "lm_head.weight".
std::string hf_tensor_name(const std::string& param_name);

// Loads weights into `model` (shapes from its config). Every missing, unexpected or mis-shaped
// tensor is reported in one std::runtime_error.
void load_weights(Llama& model, const std::string& dir);

// A model directory, a .gguf file, or a directory on a GGUF base (base-model.json, below).
LoadedModel load_model(const std::string& dir, const LoadOptions& opts);

// Writes DIR/config.json, DIR/model.safetensors (HF names, the model's dtype) and copies the
// tokenizer model; each file is written atomically. Creates DIR.
// A model holding a GGUF's blocks (base_gguf set: QLoRA on a quantized backbone) is written as a directory on
// that base: base-model.json ({"format": "diagecg-gguf-base", "file", "bytes", "sha256", optional "source"}),
// config.json, and model.safetensors with only the parameters outside the blocks (norms, the ECG rows as
// "diagecg.embed_extra"), and lora.json + lora.safetensors with the attached adapters, if any (they cannot be
// merged into blocks; load_model applies them, see LoadOptions::base_lora). load_model finds the GGUF beside the
// directory's files or in the cache's models/ (DIAGECG_CACHE, else ~/.cache/diagecg) and checks its size and
// sha256, each a one-line error.
void save_model(const LoadedModel& m, const std::string& dir);

// Appends the ECG code tokens and specials (vocab.h) after the text vocabulary. New embedding
// (and untied head) rows are drawn from N(mean, cov_scale * cov) of the existing rows, so they start
// inside the embedding distribution rather than at zero. Tied embeddings stay tied. The default 1e-5 (as
// Hugging Face's mean resizing) starts the new tokens nearly alike, a small share of the text's probability; 1
// spreads them as the text rows are spread, so the model can tell 1,296 codes apart from the first step.
void extend_vocab(LoadedModel& m, int64_t n_ecg_codes, uint64_t seed, double cov_scale = 1e-5);

// A model with random weights (N(0, 0.02), norms 1): tests and benchmarks.
Llama random_llama(const LlmConfig& cfg, uint64_t seed, const LoadOptions& opts);

}  // namespace diagecg
