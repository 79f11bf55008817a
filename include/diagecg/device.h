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
// Memory read bandwidth in bytes/s: best of `reps` passes over a `bytes` buffer, read by all threads
// with independent accumulators (the roofline that a decode step, which reads every weight once, meets).
double measure_read_bandwidth(size_t bytes = size_t(1) << 30, int reps = 5);

// True when this CPU runs bf16 matmul natively (AVX512-BF16 / AMX through oneDNN).
bool cpu_has_fast_bf16();

}  // namespace diagecg
