// Hugging Face PEFT's LoRA layout (PeftModel.save_pretrained), read and written beside ours (lora.h):
//   1. DIR/adapter_config.json: {"peft_type": "LORA", "r", "lora_alpha", "lora_dropout", "target_modules": [...],
//      "modules_to_save": [...] | null, "base_model_name_or_path", "bias": "none", "use_rslora", "use_dora",
//      "layers_to_transform", "rank_pattern", "alpha_pattern", "task_type": "CAUSAL_LM", ...}
//   2. DIR/adapter_model.safetensors: "base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight" [r, in]
//      and "...lora_B.weight" [out, r] per adapted projection (the adapter name removed); modules_to_save and
//      resized embeddings stored whole as "base_model.model." + their HF name ("base_model.model.model.norm.weight").
// Scaling: lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora.
#pragma once

#include <string>

#include "diagecg/llm/lora.h"

namespace diagecg {

// DIR holds adapter_config.json and adapter_model.safetensors.
bool is_peft_adapter_dir(const std::string& dir);

// Reads DIR's config and lists its tensors. What we cannot apply is refused by name: a peft_type other than LORA,
// DoRA, bias other than "none", fan_in_fan_out, rank_pattern/alpha_pattern, layers_pattern, a regex target_modules.
AdapterSpec read_peft_adapter(const std::string& dir);

// Writes our adapter (PATH, PATH.json or PATH.safetensors) in PEFT's layout into `dir` (both files atomic):
// the same tensors, whole ones renamed "base_model.model." + HF name and listed as modules_to_save.
void export_peft_adapter(const std::string& adapter_path, const std::string& dir);

}  // namespace diagecg
