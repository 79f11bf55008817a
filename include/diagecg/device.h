// Threads, devices and dtypes: parsing of the --device/--dtype/--threads flags.
#pragma once

#include <string>

#include <torch/torch.h>

namespace diagecg {

// Sets LibTorch's intra-op threads: requested > 0, else the number of cores. Returns the count used.
int init_threads(int requested);

torch::Device parse_device(const std::string& s);        // "cpu" | "cuda" | "cuda:N"
torch::Dtype parse_dtype_flag(const std::string& s);     // "f32"/"fp32"/"float32" | "bf16"/"bfloat16" | "f16"
std::string dtype_string(torch::Dtype d);
// True when this CPU runs bf16 matmul natively (AVX512-BF16 / AMX through oneDNN).
bool cpu_has_fast_bf16();

}  // namespace diagecg
