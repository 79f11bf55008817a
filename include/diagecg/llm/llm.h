// Llama-architecture decoder in LibTorch: RMSNorm, rotary embeddings (HF rotate-half), grouped-query
// attention with a causal + padding mask, SwiGLU MLP. One forward path serves training, evaluation
// and generation; generation passes a KvCache.
// Shapes: B batch, N new tokens, S keys (n_past + N), D hidden, H heads, Hkv kv heads, Dh head dim, V vocab.
#pragma once

#include <torch/torch.h>

#include "diagecg/llm/linear.h"
#include "diagecg/llm/llm-config.h"

namespace diagecg {

// Preallocated keys/values for every layer: k[l], v[l]: [B, Hkv, capacity, Dh].
class KvCache {
public:
    KvCache(const LlmConfig& cfg, int64_t batch, int64_t capacity, torch::Dtype dtype, torch::Device device);
    int64_t n_past() const { return n_past_; }
    int64_t capacity() const { return capacity_; }
    int64_t batch() const { return batch_; }
    void reset() { n_past_ = 0; }

    // Writes this step's k/v ([B, Hkv, N, Dh]) at n_past and returns views of all keys/values so far.
    std::pair<torch::Tensor, torch::Tensor> append(int64_t layer, const torch::Tensor& k, const torch::Tensor& v);
    void advance(int64_t n) { n_past_ += n; }
    // A layer's whole key and value buffers [B, Hkv, capacity, Dh]: the CPU decode step's loops write this step's
    // rows at n_past themselves and read the filled ones in place.
    const torch::Tensor& keys(int64_t layer) const { return k_[layer]; }
    const torch::Tensor& values(int64_t layer) const { return v_[layer]; }

private:
    std::vector<torch::Tensor> k_, v_;
    int64_t batch_ = 0, capacity_ = 0, n_past_ = 0;
};

class RmsNormImpl : public torch::nn::Module {
public:
    RmsNormImpl(int64_t dim, double eps);
    torch::Tensor forward(const torch::Tensor& x);   // [.., D] -> [.., D]
    torch::Tensor weight;
private:
    double eps_;
};
TORCH_MODULE(RmsNorm);

// How attention's two products and softmax run. kAuto: scaled_dot_product_attention (LibTorch >= 2.0, one fused
// kernel) for prefill and training, the small-step loops for a few decoding rows on the CPU; kManual: matmul,
// softmax, matmul (the only path on LibTorch 1.13); kSdpa: scaled_dot_product_attention for every step.
enum class AttentionKernel { kAuto, kManual, kSdpa };
AttentionKernel parse_attention_kernel(const std::string& name);   // auto | manual | sdpa; throws std::invalid_argument
const char* attention_kernel_name(AttentionKernel kernel);
bool attention_kernel_available(AttentionKernel kernel);            // kSdpa: LibTorch >= 2.0
void set_attention_kernel(AttentionKernel kernel);                  // process-wide (bench llm compares them)
AttentionKernel attention_kernel();

class AttentionImpl : public torch::nn::Module {
public:
    explicit AttentionImpl(const LlmConfig& cfg);
    // x: [B, N, D]; cos, sin: [B, 1, N, Dh]; mask: [B, 1, N, S] additive f32 or undefined -> [B, N, D]
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                          const torch::Tensor& mask, KvCache* cache, int64_t layer);
    Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
private:
    int64_t n_head_, n_kv_head_, head_dim_;
};
TORCH_MODULE(Attention);

class MlpImpl : public torch::nn::Module {
public:
    explicit MlpImpl(const LlmConfig& cfg);
    torch::Tensor forward(const torch::Tensor& x);   // [B, N, D] -> [B, N, D]
    Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Mlp);

class BlockImpl : public torch::nn::Module {
public:
    explicit BlockImpl(const LlmConfig& cfg);
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                          const torch::Tensor& mask, KvCache* cache, int64_t layer);
    RmsNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
    Attention self_attn{nullptr};
    Mlp mlp{nullptr};
};
TORCH_MODULE(Block);

class LlamaImpl : public torch::nn::Module {
public:
    explicit LlamaImpl(const LlmConfig& cfg);

    // tokens: [B, N] i64. positions: [B, N] i64 rotary positions (undefined: n_past + 0..N-1).
    // key_mask: [B, n_past + N] bool, false for padding keys (undefined: all keys valid).
    // Returns final hidden states [B, N, D] (after the last norm).
    torch::Tensor hidden(const torch::Tensor& tokens, KvCache* cache = nullptr,
                         const torch::Tensor& positions = {}, const torch::Tensor& key_mask = {});
    // h: [.., D] -> logits [.., V] f32
    torch::Tensor logits(const torch::Tensor& h);
    // hidden() then logits(): [B, N] -> [B, N, V] f32
    torch::Tensor forward(const torch::Tensor& tokens, KvCache* cache = nullptr,
                          const torch::Tensor& positions = {}, const torch::Tensor& key_mask = {});

    const LlmConfig& config() const { return cfg_; }
    void set_config(const LlmConfig& cfg) { cfg_ = cfg; }   // metadata only (e.g. the ECG extension record)
    // Grows embedding (and untied head) to cfg.vocab_size = new_vocab rows; see llm-io.h for init. With the
    // embedding held in blocks (embed_q) the new rows go to embed_extra / head_extra and the blocks stay.
    void resize_vocab(int64_t new_vocab, const torch::Tensor& new_embed_rows, const torch::Tensor& new_head_rows);
    torch::Dtype dtype() const { return embed_tokens->weight.scalar_type(); }
    torch::Device device() const { return embed_tokens->weight.device(); }

    torch::nn::Embedding embed_tokens{nullptr};
    torch::nn::ModuleList layers{nullptr};
    RmsNorm norm{nullptr};
    Linear lm_head{nullptr};     // null when tie_word_embeddings
    // With tied embeddings held quantized (a GGUF's token_embd in Q4_0/Q4_1/Q8_0/Q4_K/Q6_K, --dtype native): the output
    // projection runs on these blocks, as llama.cpp's does; the lookup uses embed_tokens (dequantized).
    QuantWeight tied_head_q;
    // The input embedding held in blocks (a GGUF's token_embd in Q4_0/Q4_1/Q8_0/Q4_K/Q6_K, --dtype native): rows are
    // dequantized at lookup, as llama.cpp's get_rows, and embed_tokens->weight is [V, 0].
    QuantWeight embed_q;
    // Rows appended to a vocabulary whose base rows are held in blocks (ECG tokens on a quantized GGUF: QLoRA),
    // f32 parameters [V_new - V_base, D]: the lookup of ids >= embed_q.rows reads embed_extra, and the output
    // projection appends h embed_extra^T (tied) or h head_extra^T (a quantized untied head). Undefined otherwise.
    torch::Tensor embed_extra, head_extra;
    // Every matrix held in blocks (layers, tied head) runs dequantized (LinearImpl::quant_exact): QLoRA training.
    void set_quant_exact(bool on);

private:
    torch::Tensor embed(const torch::Tensor& tokens);   // [B, N] ids -> [B, N, D] input embeddings
    // A decode step on the CPU (few rows, KV cache, no autograd, f32 activations, no adapters) runs as loops on raw
    // buffers (hidden_step) instead of the modules' forward: the same kernels and roundings, no per-layer ops.
    bool step_loops_apply(const torch::Tensor& tokens, const KvCache* cache) const;
    torch::Tensor hidden_step(const torch::Tensor& tokens, KvCache& cache, const torch::Tensor& positions,
                              const torch::Tensor& key_mask);
    bool quant_exact_ = false;
    LlmConfig cfg_;
    torch::Tensor inv_freq_;                // [Dh/2] f32, rope scaling applied
};
TORCH_MODULE(Llama);

// Rotary inverse frequencies [Dh/2] with the config's rope scaling ("linear", "llama3").
torch::Tensor rope_inv_freq(const LlmConfig& cfg);

}  // namespace diagecg
