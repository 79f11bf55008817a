// Stages 2 and 3 (REFERENCE.md sections 4-5), driven by JSON run configs (see configs/README.md):
//
// Stage 2, ECG-token pretraining: base LLM (HF directory) + trained ECG tokenizer -> vocabulary extended with
// the ECG tokens; the ECG corpus is tokenized once into the token cache; each ECG becomes
// <|start_ecg|> e_1 .. e_P <|end_ecg|>, the blocks are concatenated in record order and cut into windows of
// seq_len + 1 tokens; next-token loss on every position (all are ECG-vocabulary tokens). Trains the embedding
// matrix (incl. the new rows), the output head when untied, the norms and LoRA adapters, as configured.
// Output: run_dir/model, a full model directory (LoRA merged) with the ECG tokenizer copied into
// model/ecg-tokenizer/, so the directory alone is enough for stage 3 and generation.
//
// Stage 3, instruction tuning: a stage-2 model (or a base model, extended here) + LoRA adapters (+ norms);
// examples from prompt.h's builder; loss on the answer/report tokens only. Output: run_dir/model/adapter.json +
// adapter.safetensors (lora.h), with the base model's path recorded.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "diagecg/data/prompt.h"
#include "diagecg/llm/llm-config.h"
#include "diagecg/llm/lora.h"
#include "diagecg/train/tokenizer-training.h"
#include "diagecg/train/trainer.h"

namespace diagecg {

class Distributed;

enum class Precision { kF32, kBf16 };   // bf16: autocast (matmuls in bf16, f32 master weights and optimiser)
Precision parse_precision(const std::string& s);   // "f32" | "bf16"

struct TrainableConfig {
    bool all = false;                   // every weight (a model trained from scratch); no LoRA then
    bool embeddings = true;             // the whole embedding matrix (and an untied output head)
    bool norms = true;                  // every RMSNorm weight
    bool lora = true;                   // LoRA adapters (lora section)
};

// Plain-text documents trained on alongside the ECGs in stage 2 (a language model from scratch, see
// text-corpus.h): files of one document per line, each becoming BOS text EOS in the token stream.
struct TextDataConfig {
    std::vector<std::string> train, val;
};

struct PretrainRunConfig {
    std::string base_model;             // HF model directory (config.json, model.safetensors, tokenizer.model)
    std::string ecg_tokenizer;          // ECG tokenizer model directory (stage 1)
    std::string token_cache = "runs/token-cache";   // directory of the codes cache ("" = memory only)
    DataConfig data;                    // ECG records, as in stage 1
    int64_t seq_len = 512;              // tokens per training window (input; the window holds seq_len + 1)
    int64_t window_stride = 0;          // tokens between window starts (0 = seq_len: no overlap)
    TextDataConfig text;                // optional; documents and ECG blocks are shuffled together (seeded)
    TrainableConfig trainable;
    LoraConfig lora;
    // QLoRA: base_model is a GGUF (or a directory on one) whose Q4_0/Q4_1/Q8_0/Q4_K/Q6_K matrices stay frozen in their
    // blocks, dequantized on the fly in forward and backward (CPU); the ECG rows, norms and a LoRA train; saved as
    // a directory on that GGUF (llm-io.h), the LoRA beside the blocks (lora.json + lora.safetensors).
    bool qlora = false;
    // The new rows start as N(mean, new_rows_cov_scale * cov) of the text rows (extend_vocab): 1e-5 nearly alike,
    // 1 as spread as the text rows.
    double new_rows_cov_scale = 1e-5;
    std::string precision = "f32";
    std::string device = "cpu";         // "cpu" | "cuda" | "cuda:N" (data parallel on CUDA: cuda:LOCAL_RANK)
    TrainConfig train;
};
PretrainRunConfig pretrain_run_config_from_json(const nlohmann::json& j, const std::string& path);   // strict
nlohmann::json pretrain_run_config_to_json(const PretrainRunConfig& c);
PretrainRunConfig load_pretrain_run_config(const std::string& file);

// `k` of `n` indices spread evenly over [0, n), ascending (floor(i n / k)): what a capped `"subset": "spread"`
// keeps. All n when k <= 0 or k >= n.
std::vector<size_t> spread_indices(size_t n, int64_t k);

struct FinetuneDataConfig {
    std::vector<std::string> train;     // QA: ECG-QA JSON files; report: JSON array or JSONL of {ecg_id|record, report,
                                        // patient?}; a directory stands for its .json/.jsonl files
    std::vector<std::string> val;       // same, held out (may be empty)
    std::string ecg_dir;                // where records of ecg_ids live (NNNNN.hea, NNNNN_hr.hea or PTB-XL's records500/)
    std::string ptbxl_database;         // optional ptbxl_database.csv: patient features (age, sex, height, weight)
    int64_t max_train = 0;              // caps (0 = all)
    int64_t max_val = 0;
    std::string subset = "first";       // what a cap keeps: "first" N in file order, or N "spread" evenly over the
                                        // files (every record and template represented; deterministic)
};

struct FinetuneRunConfig {
    std::string model;                  // stage-2 model directory (has ecg-tokenizer/) or a base HF directory
    std::string ecg_tokenizer;          // "" = model/ecg-tokenizer
    std::string token_cache = "runs/token-cache";
    std::string task = "qa";            // "qa" | "report"
    FinetuneDataConfig data;
    PromptOptions prompt;
    int64_t max_len = 1024;             // longer examples are left out (logged); also the packed sequences' limit
    // Training examples about the same ECG(s) packed up to this many to a sequence, their common prompt prefix
    // held once (prefix-pack.h: each example's loss is its unpacked one); train.batch_size then counts
    // sequences. 1: one example per sequence. Validation is never packed.
    int64_t pack_per_ecg = 1;
    LoraConfig lora;
    // Start from an adapter of an earlier stage-3 run on this model (its LoRA pairs and whole tensors, e.g. the
    // QA adapter before tuning for reports) instead of a fresh LoRA or the model's own; "" = off.
    std::string init_adapter;
    bool train_norms = true;
    bool train_embeddings = false;      // also the embedding matrix / output head, stored whole in the adapter file
                                        // (off in the reference; needed when the backbone never learned EOS, as
                                        // stories260K, whose TinyStories training separates stories by BOS only)
    bool qlora = false;                 // as in stage 2: the model's GGUF blocks stay frozen and quantized
    std::string precision = "f32";
    std::string device = "cpu";         // as in stage 2
    TrainConfig train;
};
FinetuneRunConfig finetune_run_config_from_json(const nlohmann::json& j, const std::string& path);   // strict
nlohmann::json finetune_run_config_to_json(const FinetuneRunConfig& c);
FinetuneRunConfig load_finetune_run_config(const std::string& file);

TrainResult run_pretrain(const PretrainRunConfig& c, const std::string& run_dir, bool resume, const TrainHooks& hooks = {},
                         Distributed* dist = nullptr);
TrainResult run_finetune(const FinetuneRunConfig& c, const std::string& run_dir, bool resume, const TrainHooks& hooks = {},
                         Distributed* dist = nullptr);

// The training device of a run config's "device" for this process (CUDA ranks take cuda:LOCAL_RANK).
torch::Device training_device(const std::string& device);

// The ECG tokenizer that belongs to a model directory: DIR/ecg-tokenizer (written by stage 2).
std::string model_ecg_tokenizer_dir(const std::string& model_dir);

}  // namespace diagecg
