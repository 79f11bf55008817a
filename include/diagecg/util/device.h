// Threads, devices and dtypes: parsing of the --device/--dtype/--threads flags.
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

namespace diagecg {

// Sets LibTorch's intra-op threads: requested > 0, else the number of cores. Returns the count used.
int init_threads(int requested);

// "cpu" | "cuda" | "cuda:N"; std::invalid_argument with one line saying why not: a CPU-only LibTorch, no visible GPU,
// an index past the last device.
torch::Device parse_device(const std::string& s);
torch::Dtype parse_dtype_flag(const std::string& s);     // "f32"/"fp32"/"float32" | "bf16"/"bfloat16" | "f16"
std::string dtype_string(torch::Dtype d);
// Memory read bandwidth in bytes/s (the roofline of a decode step, which reads every weight once) over one
// buffer in huge pages (as place_parameters_in_huge_pages puts the weights), allocated and filled once so that
// repeated measurements read the same pages. measure(): the fastest of `reps` passes by all threads with
// AVX-512 (or AVX2) loads, each thread as one sequential stream and as four streams side by side.
class BandwidthProbe {
public:
    explicit BandwidthProbe(size_t bytes = size_t(1) << 30);
    double measure(int reps = 3) const;

private:
    int64_t n_;                  // floats
    std::shared_ptr<void> mem_;
};

// Moves every CPU parameter of `module` into one 2 MiB-aligned buffer advised for transparent huge pages.
// A decode step streams every weight once; with 4 KiB pages the hardware prefetchers restart at each page
// (measured here: sequential reads 10-17% faster from huge pages). Values, shapes, dtypes and requires_grad
// are kept; parameters on other devices are left alone. A later module->to(dtype/device) reallocates.
void place_parameters_in_huge_pages(torch::nn::Module& module);
// A 2 MiB-aligned buffer of `bytes`, advised for transparent huge pages (advice only: where THP is off it has
// no effect).
std::shared_ptr<void> alloc_huge_pages(size_t bytes);
// The same for other tensors (e.g. quantized blocks, which are not parameters): each CPU tensor's values are
// copied into one such buffer and *t becomes a view of it (shape and dtype kept; others left alone).
void place_tensors_in_huge_pages(const std::vector<torch::Tensor*>& tensors);

// True when this CPU runs bf16 matmul natively (AVX512-BF16 / AMX through oneDNN).
bool cpu_has_fast_bf16();

}  // namespace diagecg
