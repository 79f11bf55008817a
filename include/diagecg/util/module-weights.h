// Module weights from safetensors files: one loader for every LibTorch module (the LLM and the ECG
// tokenizer), and the mapping between safetensors dtypes and LibTorch's.
#pragma once

#include <functional>
#include <string>

#include <torch/torch.h>

#include "diagecg/util/safetensors.h"

namespace diagecg {

// Copies every parameter of `module` from the safetensors in `dir` (see SafetensorsSet), tensor names given
// by `name_of(parameter name)`; F32/F16/BF16 are converted. Every missing, unexpected or mis-shaped tensor is
// reported at once in one exception ("DIR: N problem(s) loading <what>: ...").
void load_module_weights(torch::nn::Module& module, const std::string& dir,
                         const std::function<std::string(const std::string&)>& name_of, const std::string& what);

// F32/F16/BF16 <-> LibTorch dtypes; anything else throws naming the tensor (`name`) or the dtype.
torch::Dtype torch_dtype_of(DType d, const std::string& name);
DType dtype_from_torch(torch::Dtype d);

}  // namespace diagecg
