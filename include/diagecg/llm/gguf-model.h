// GGUF models (llama.cpp's format) onto our Llama: architectures `llama` (also Mistral, which llama.cpp
// converts as llama), `mistral` and `qwen2`. GGUF tensor names map to Hugging Face names; quantized
// tensors are dequantized as llama.cpp does (util/gguf-quants.h); for `llama`/`mistral`, the Q and K rows
// that llama.cpp's converter interleaved per head (for its GPT-J-style RoPE) are put back in HF's
// rotate-half order, the convention LlamaImpl uses.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include <torch/torch.h>

#include "diagecg/llm/llm.h"
#include "diagecg/util/gguf.h"

namespace diagecg {

// GGUF metadata -> LlmConfig; throws std::runtime_error naming the file and key for an unsupported
// architecture, rope scaling or partial rotary, or a missing key.
LlmConfig llm_config_from_gguf(const GgufFile& f);

// The HF name of a GGUF tensor ("blk.3.attn_q.weight" -> "model.layers.3.self_attn.q_proj.weight"), or ""
// for a tensor the model does not use.
std::string hf_name_of_gguf(const std::string& gguf_name);
// The inverse: the GGUF name of an HF tensor name, or "" for one GGUF has no name for.
std::string gguf_name_of_hf(const std::string& hf_name);

// One tensor, HF name and layout ([out, in] for weights), dequantized to f32 then cast to dtype.
torch::Tensor gguf_tensor_as_hf(const GgufFile& f, const LlmConfig& cfg, const GgufTensorInfo& t,
                                torch::Dtype dtype = torch::kFloat);

// Every tensor the model uses, by HF name.
std::map<std::string, torch::Tensor> gguf_hf_tensors(const GgufFile& f, const LlmConfig& cfg,
                                                     torch::Dtype dtype = torch::kFloat);

// Copies the GGUF's tensors into `model`'s parameters one at a time (peak memory: the model plus one f32
// tensor). Every missing, unexpected or mis-shaped tensor is reported at once in one std::runtime_error.
// `held`: HF names of tensors keep_gguf_quantized took (their parameters are left as they are).
void load_gguf_weights(Llama& model, const GgufFile& f, const std::set<std::string>* held = nullptr);

// Keeps the GGUF's Q4_0/Q4_1/Q8_0/Q4_K/Q6_K matrices quantized in `model`: each such Linear runs on the blocks
// (llm/quant-matmul.h) and drops its f32 weight; token_embd in those types is looked up from its blocks and,
// when tied, drives the output projection. Call it before load_gguf_weights(model, f, held), which then loads
// the rest. Returns the number of matrices kept; their HF names go to `held`.
// The blocks are views of the mapped file, which stays mapped while any of them lives.
int64_t keep_gguf_quantized(Llama& model, const std::shared_ptr<const GgufFile>& f, std::set<std::string>* held = nullptr);

// A model with the GGUF's config and weights, in eval mode.
Llama llama_from_gguf(const GgufFile& f, torch::Dtype dtype = torch::kFloat, torch::Device device = torch::kCPU);

}  // namespace diagecg
