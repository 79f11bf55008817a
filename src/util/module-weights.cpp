#include "diagecg/util/module-weights.h"

#include <set>
#include <sstream>
#include <vector>

namespace diagecg {

namespace {

std::string shape_str(c10::IntArrayRef s) {
    std::ostringstream o;
    o << s;
    return o.str();
}

}  // namespace

torch::Dtype torch_dtype_of(DType d, const std::string& name) {
    switch (d) {
        case DType::kF32: return torch::kFloat;
        case DType::kF16: return torch::kHalf;
        case DType::kBF16: return torch::kBFloat16;
        default: throw std::runtime_error("tensor '" + name + "' has dtype " + dtype_name(d) + ", expected F32, F16 or BF16");
    }
}

DType dtype_from_torch(torch::Dtype d) {
    switch (d) {
        case torch::kFloat: return DType::kF32;
        case torch::kHalf: return DType::kF16;
        case torch::kBFloat16: return DType::kBF16;
        default: throw std::runtime_error(std::string("cannot save tensors of dtype ") + c10::toString(d));
    }
}

void load_module_weights(torch::nn::Module& module, const std::string& dir,
                         const std::function<std::string(const std::string&)>& name_of, const std::string& what) {
    const SafetensorsSet set(dir);
    std::vector<std::string> problems;
    std::set<std::string> used;
    torch::NoGradGuard ng;
    for (auto& kv : module.named_parameters(/*recurse=*/true)) {
        const std::string hf = name_of(kv.key());
        const SafetensorsFile* file = nullptr;
        const TensorInfo* info = set.find(hf, &file);
        if (!info) {
            problems.push_back("missing tensor '" + hf + "' (shape " + shape_str(kv.value().sizes()) + ")");
            continue;
        }
        used.insert(hf);
        if (c10::IntArrayRef(info->shape) != kv.value().sizes()) {
            problems.push_back("tensor '" + hf + "' has shape " + shape_str(info->shape) + ", expected " +
                               shape_str(kv.value().sizes()));
            continue;
        }
        try {
            const auto src = torch::from_blob(const_cast<uint8_t*>(file->data(*info)), info->shape,
                                              torch::TensorOptions().dtype(torch_dtype_of(info->dtype, hf)));
            kv.value().copy_(src);
        } catch (const std::runtime_error& e) {
            problems.push_back(e.what());
        }
    }
    for (const auto& name : set.names()) {
        // HF checkpoints may carry derived buffers; everything else unknown is reported.
        if (!used.count(name) && name.find("rotary_emb.inv_freq") == std::string::npos) {
            problems.push_back("unexpected tensor '" + name + "'");
        }
    }
    if (!problems.empty()) {
        std::string msg = dir + ": " + std::to_string(problems.size()) + " problem(s) loading " + what + ":";
        for (const auto& p : problems) msg += "\n  " + p;
        throw std::runtime_error(msg);
    }
}

}  // namespace diagecg
