#include "diagecg/llm/lora.h"

#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "diagecg/llm/llm-io.h"
#include "diagecg/util/atomic-file.h"
#include "diagecg/util/byte-reader.h"
#include "diagecg/util/json-config.h"
#include "diagecg/util/log.h"
#include "diagecg/util/safetensors.h"

namespace diagecg {

namespace fs = std::filesystem;

namespace {

const std::set<std::string> kKnownTargets{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

// "layers.3.self_attn.q_proj" -> "q_proj"
std::string leaf(const std::string& name) {
    const auto dot = name.rfind('.');
    return dot == std::string::npos ? name : name.substr(dot + 1);
}

// Target projections of the model: module name -> layer.
std::vector<std::pair<std::string, LinearImpl*>> target_layers(Llama& model, const std::vector<std::string>& targets) {
    const std::set<std::string> want(targets.begin(), targets.end());
    std::vector<std::pair<std::string, LinearImpl*>> out;
    for (const auto& kv : model->named_modules("", false)) {
        if (kv.key().rfind("layers.", 0) != 0) continue;
        if (auto* lin = kv.value()->as<LinearImpl>(); lin && want.count(leaf(kv.key()))) out.emplace_back(kv.key(), lin);
    }
    return out;
}

std::string peft_name(const std::string& module, const char* ab) {
    return "base_model.model.model." + module + "." + ab + ".weight";
}

std::string strip_ext(const std::string& path) {
    for (const char* ext : {".safetensors", ".json"}) {
        const std::string e(ext);
        if (path.size() > e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0)
            return path.substr(0, path.size() - e.size());
    }
    return path;
}

}  // namespace

LoraConfig lora_config_from_json(const nlohmann::json& j, const std::string& path) {
    LoraConfig c;
    JsonObject o(j, path);
    o.get("rank", c.rank);
    o.get("alpha", c.alpha);
    o.get("dropout", c.dropout);
    o.get("targets", c.targets);
    o.finish();
    validate(c);
    return c;
}

nlohmann::json lora_config_to_json(const LoraConfig& c) {
    return {{"rank", c.rank}, {"alpha", c.alpha}, {"dropout", c.dropout}, {"targets", c.targets}};
}

void validate(const LoraConfig& c) {
    if (c.rank <= 0) throw std::invalid_argument("lora.rank must be > 0, got " + std::to_string(c.rank));
    if (!(c.alpha > 0)) throw std::invalid_argument("lora.alpha must be > 0");
    if (!(c.dropout >= 0 && c.dropout < 1)) throw std::invalid_argument("lora.dropout must be in [0, 1)");
    if (c.targets.empty()) throw std::invalid_argument("lora.targets is empty");
    for (const auto& t : c.targets)
        if (!kKnownTargets.count(t))
            throw std::invalid_argument("lora.targets: unknown projection '" + t +
                                        "' (expected q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
}

int64_t add_lora(Llama& model, const LoraConfig& c, uint64_t seed) {
    validate(c);
    torch::manual_seed(seed);
    const auto layers = target_layers(model, c.targets);
    for (const auto& [name, lin] : layers) lin->attach_lora(c.rank, c.alpha, c.dropout);
    return static_cast<int64_t>(layers.size());
}

void merge_lora(Llama& model) {
    for (const auto& kv : model->named_modules("", false))
        if (auto* lin = kv.value()->as<LinearImpl>(); lin && lin->has_lora()) lin->merge_lora();
}

void save_adapter(Llama& model, const LoraConfig& c, const std::vector<std::string>& extra, const std::string& path_in) {
    const std::string path = strip_ext(path_in);
    std::vector<torch::Tensor> keep;
    std::vector<TensorView> views;
    auto add = [&](const std::string& name, const torch::Tensor& t0) {
        auto t = t0.detach().to(torch::kCPU).contiguous();
        if (t.scalar_type() != torch::kFloat && t.scalar_type() != torch::kBFloat16 && t.scalar_type() != torch::kHalf)
            t = t.to(torch::kFloat);
        const DType dt = t.scalar_type() == torch::kFloat ? DType::kF32 : t.scalar_type() == torch::kBFloat16 ? DType::kBF16 : DType::kF16;
        keep.push_back(t);
        views.push_back({name, dt, t.sizes().vec(), t.data_ptr(), static_cast<size_t>(t.nbytes())});
    };
    int64_t n_adapted = 0;
    for (const auto& [name, lin] : target_layers(model, c.targets)) {
        if (!lin->has_lora()) continue;
        add(peft_name(name, "lora_A"), lin->lora_a);
        add(peft_name(name, "lora_B"), lin->lora_b);
        ++n_adapted;
    }
    if (n_adapted == 0) throw std::logic_error("save_adapter: the model has no LoRA adapters attached");
    const auto params = model->named_parameters(true);
    std::vector<std::string> extra_hf;
    for (const auto& e : extra) {
        const auto* t = params.find(e);
        if (!t) throw std::logic_error("save_adapter: no parameter '" + e + "'");
        extra_hf.push_back(hf_tensor_name(e));
        add(extra_hf.back(), *t);
    }
    fs::create_directories(fs::absolute(path).parent_path());
    write_safetensors(path + ".safetensors", views, {{"format", "pt"}});
    const nlohmann::json meta = {{"format", "diagecg-lora"},
                                 {"r", c.rank},
                                 {"lora_alpha", c.alpha},
                                 {"lora_dropout", c.dropout},
                                 {"target_modules", c.targets},
                                 {"vocab_size", model->config().vocab_size},
                                 {"extra_tensors", extra_hf}};
    write_file_atomic(path + ".json", meta.dump(2) + "\n");
}

std::string adapter_base_model(const std::string& path_in) {
    const std::string json_path = strip_ext(path_in) + ".json";
    if (!fs::exists(json_path)) return "";
    const auto j = nlohmann::json::parse(read_file_text(json_path), nullptr, false);
    const std::string base = j.is_object() && j.contains("base_model") && j["base_model"].is_string() ? j["base_model"].get<std::string>() : "";
    if (base.empty() || fs::path(base).is_absolute()) return base;
    return (fs::path(json_path).parent_path() / base).lexically_normal().string();
}

void apply_adapter(Llama& model, const std::string& path_in, double scale) {
    const std::string path = strip_ext(path_in);
    const std::string json_path = path + ".json", st_path = path + ".safetensors";
    if (!fs::exists(json_path) || !fs::exists(st_path))
        throw std::runtime_error("LoRA adapter " + path + ": expected " + json_path + " and " + st_path);
    nlohmann::json meta;
    try {
        meta = nlohmann::json::parse(read_file_text(json_path));
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(json_path + ": not valid JSON: " + e.what());
    }
    if (meta.value("format", "") != "diagecg-lora") throw std::runtime_error(json_path + ": not a diagecg LoRA adapter");
    const int64_t r = meta.at("r").get<int64_t>();
    const double alpha = meta.at("lora_alpha").get<double>();
    if (meta.value("vocab_size", model->config().vocab_size) != model->config().vocab_size)
        throw std::runtime_error(path + ": adapter was trained on a model with vocab_size " +
                                 std::to_string(meta.value("vocab_size", int64_t{0})) + ", this model has " +
                                 std::to_string(model->config().vocab_size));
    std::vector<std::string> targets;
    for (const auto& t : meta.at("target_modules")) targets.push_back(t.get<std::string>());

    const SafetensorsFile file(st_path);
    std::vector<std::string> problems;
    std::set<std::string> used;
    auto read = [&](const std::string& name, c10::IntArrayRef shape) -> torch::Tensor {
        const TensorInfo* info = file.find(name);
        if (!info) {
            std::ostringstream s;
            s << "missing tensor '" << name << "' (shape " << shape << ")";
            problems.push_back(s.str());
            return {};
        }
        used.insert(name);
        if (c10::IntArrayRef(info->shape) != shape) {
            std::ostringstream s;
            s << "tensor '" << name << "' has shape " << c10::IntArrayRef(info->shape) << ", expected " << shape;
            problems.push_back(s.str());
            return {};
        }
        const auto dt = info->dtype == DType::kF32 ? torch::kFloat : info->dtype == DType::kBF16 ? torch::kBFloat16
                      : info->dtype == DType::kF16 ? torch::kHalf : torch::kByte;
        if (dt == torch::kByte) {
            problems.push_back("tensor '" + name + "' has dtype " + dtype_name(info->dtype) + ", expected F32, F16 or BF16");
            return {};
        }
        return torch::from_blob(const_cast<uint8_t*>(file.data(*info)), info->shape, torch::TensorOptions().dtype(dt))
            .to(torch::kFloat);
    };
    torch::NoGradGuard ng;
    std::vector<std::pair<LinearImpl*, torch::Tensor>> deltas;
    for (const auto& [name, lin] : target_layers(model, targets)) {
        const auto a = read(peft_name(name, "lora_A"), {r, lin->weight.size(1)});
        const auto b = read(peft_name(name, "lora_B"), {lin->weight.size(0), r});
        if (a.defined() && b.defined()) deltas.emplace_back(lin, b.matmul(a) * (alpha / static_cast<double>(r) * scale));
    }
    auto params = model->named_parameters(true);
    std::vector<std::pair<torch::Tensor, torch::Tensor>> whole;
    for (const auto& hf : meta.value("extra_tensors", nlohmann::json::array())) {
        const std::string hf_name = hf.get<std::string>();
        torch::Tensor* target = nullptr;
        for (auto& kv : params)
            if (kv.key().find("lora_") == std::string::npos && hf_tensor_name(kv.key()) == hf_name) target = &kv.value();
        if (!target) {
            problems.push_back("tensor '" + hf_name + "' matches no parameter of the model");
            continue;
        }
        const auto t = read(hf_name, target->sizes());
        if (t.defined()) whole.emplace_back(*target, t);
    }
    for (const auto& info : file.tensors())
        if (!used.count(info.name)) problems.push_back("unexpected tensor '" + info.name + "'");
    if (!problems.empty()) {
        std::string msg = st_path + ": " + std::to_string(problems.size()) + " problem(s) loading the LoRA adapter:";
        for (const auto& p : problems) msg += "\n  " + p;
        throw std::runtime_error(msg);
    }
    for (auto& [lin, delta] : deltas)
        lin->weight.copy_((lin->weight.to(torch::kFloat) + delta.to(lin->weight.device())).to(lin->weight.scalar_type()));
    for (auto& [dst, src] : whole) dst.copy_(src.to(dst.device(), dst.scalar_type()));
    log::info("applied LoRA adapter {} (r {}, alpha {}, scale {}) to {} projections, {} whole tensors", path, r, alpha,
              scale, deltas.size(), whole.size());
}

std::pair<std::string, double> parse_lora_arg(const std::string& arg) {
    const auto colon = arg.rfind(':');
    if (colon != std::string::npos && colon + 1 < arg.size()) {
        const std::string tail = arg.substr(colon + 1);
        char* end = nullptr;
        const double s = std::strtod(tail.c_str(), &end);
        if (end && *end == '\0') return {arg.substr(0, colon), s};
    }
    return {arg, 1.0};
}

}  // namespace diagecg
