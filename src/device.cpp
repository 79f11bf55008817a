#include "diagecg/device.h"

#include <fstream>
#include <stdexcept>
#include <thread>

namespace diagecg {

int init_threads(int requested) {
    int n = requested;
    if (n <= 0) {
        n = static_cast<int>(std::thread::hardware_concurrency());
        if (n <= 0) n = 1;
    }
    at::set_num_threads(n);
    return n;
}

torch::Device parse_device(const std::string& s) {
    if (s == "cpu") return torch::kCPU;
    if (s.rfind("cuda", 0) == 0) {
        if (!torch::cuda::is_available())
            throw std::invalid_argument("--device " + s + ": this build of LibTorch has no CUDA device available");
        return torch::Device(s);
    }
    throw std::invalid_argument("--device must be cpu, cuda or cuda:N, got \"" + s + "\"");
}

torch::Dtype parse_dtype_flag(const std::string& s) {
    if (s == "f32" || s == "fp32" || s == "float32") return torch::kFloat;
    if (s == "bf16" || s == "bfloat16") return torch::kBFloat16;
    if (s == "f16" || s == "fp16" || s == "float16") return torch::kHalf;
    throw std::invalid_argument("--dtype must be f32, bf16 or f16, got \"" + s + "\"");
}

std::string dtype_string(torch::Dtype d) {
    switch (d) {
        case torch::kFloat: return "f32";
        case torch::kBFloat16: return "bf16";
        case torch::kHalf: return "f16";
        default: return std::string(c10::toString(d));
    }
}

bool cpu_has_fast_bf16() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("flags", 0) == 0) {
            return line.find(" amx_bf16") != std::string::npos || line.find(" avx512_bf16") != std::string::npos;
        }
    }
    return false;
}

}  // namespace diagecg
