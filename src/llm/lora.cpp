#include "diagecg/llm/lora.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "diagecg/llm/llm-io.h"
#include "diagecg/llm/peft-adapter.h"
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

namespace {

// Our pair: PATH.json {"format": "diagecg-lora", "r", "lora_alpha", "target_modules", "extra_tensors", ...}.
AdapterSpec read_our_adapter(const std::string& path) {
    const std::string json_path = path + ".json", st_path = path + ".safetensors";
    if (!fs::exists(json_path) || !fs::exists(st_path))
        throw std::runtime_error("LoRA adapter " + path + ": expected " + json_path + " and " + st_path +
                                 " (or a directory with PEFT's adapter_config.json + adapter_model.safetensors)");
    nlohmann::json meta;
    try {
        meta = nlohmann::json::parse(read_file_text(json_path));
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(json_path + ": not valid JSON: " + e.what());
    }
    if (meta.value("format", "") != "diagecg-lora") throw std::runtime_error(json_path + ": not a diagecg LoRA adapter");
    AdapterSpec s;
    s.path = path;
    s.safetensors_path = st_path;
    s.r = meta.at("r").get<int64_t>();
    s.scaling = meta.at("lora_alpha").get<double>() / static_cast<double>(s.r);
    for (const auto& t : meta.at("target_modules")) s.targets.push_back(t.get<std::string>());
    for (const auto& t : meta.value("extra_tensors", nlohmann::json::array()))
        s.whole_tensors.push_back(t.get<std::string>());
    s.vocab_size = meta.value("vocab_size", int64_t{-1});
    s.base_model = meta.value("base_model", "");
    s.dropout = meta.value("lora_dropout", 0.0);
    s.replaces_base_lora = meta.value("replaces_base_lora", false);
    if (const auto it = meta.find("prompt"); it != meta.end()) {
        if (!it->is_object()) throw std::runtime_error(json_path + ": \"prompt\" must be an object");
        s.prompt_ecg_first = it->value("ecg_first", false);
        s.prompt_rhythm = it->value("rhythm", false);
    }
    return s;
}

// "layers.3.self_attn.q_proj" -> 3
int64_t layer_index(const std::string& module) {
    return std::stoll(module.substr(7, module.find('.', 7) - 7));
}

}  // namespace

AdapterSpec read_adapter_spec(const std::string& path_in) {
    const fs::path p(path_in);
    if (fs::is_directory(p)) {
        if (fs::exists(p / "adapter.json")) return read_our_adapter((p / "adapter").string());
        if (is_peft_adapter_dir(p.string())) return read_peft_adapter(p.string());
        throw std::runtime_error("LoRA adapter " + path_in +
                                 ": the directory holds neither adapter.json (diagecg) nor "
                                 "adapter_config.json + adapter_model.safetensors (PEFT)");
    }
    if (p.filename() == "adapter_config.json" || p.filename() == "adapter_model.safetensors")
        return read_peft_adapter(p.parent_path().empty() ? "." : p.parent_path().string());
    return read_our_adapter(strip_ext(path_in));
}

std::string adapter_base_model(const std::string& path_in) {
    AdapterSpec s;
    try {
        s = read_adapter_spec(path_in);
    } catch (const std::exception&) {
        return "";  // no readable adapter: nothing recorded (apply_adapter reports the problem)
    }
    if (s.base_model.empty() || fs::path(s.base_model).is_absolute()) return s.base_model;
    return (fs::path(s.safetensors_path).parent_path() / s.base_model).lexically_normal().string();
}

void apply_adapter(Llama& model, const std::string& path, double scale) {
    apply_adapter(model, read_adapter_spec(path), scale);
}

bool adapter_replaces_base_lora(const std::string& path) {
    try {
        return read_adapter_spec(path).replaces_base_lora;
    } catch (const std::exception&) {
        return false;  // no readable adapter: apply_adapter reports the problem
    }
}

bool has_attached_lora(const Llama& model) {
    for (const auto& kv : model->named_modules("", false))
        if (const auto* l = kv.value()->as<LinearImpl>(); l && l->has_lora()) return true;
    return false;
}

bool has_quantized_weights(const Llama& model) {
    if (model->tied_head_q.defined()) return true;
    for (const auto& kv : model->named_modules("", false))
        if (const auto* l = kv.value()->as<LinearImpl>(); l && l->qweight.defined()) return true;
    return false;
}

LoraConfig attached_lora_config(Llama& model) {
    LoraConfig c;
    c.targets.clear();
    bool any = false;
    for (const auto& [name, lin] : target_layers(model, LoraConfig{}.targets)) {
        if (!lin->has_lora()) continue;
        const std::string proj = name.substr(name.rfind('.') + 1);
        const int64_t r = lin->lora_a.size(0);
        const double alpha = lin->lora_scale * static_cast<double>(r);
        if (any && (r != c.rank || std::abs(alpha - c.alpha) > 1e-9 * std::abs(alpha) || lin->lora_dropout != c.dropout))
            throw std::logic_error("the attached LoRA adapters differ in rank, alpha or dropout");
        c.rank = r;
        c.alpha = alpha;
        c.dropout = lin->lora_dropout;
        if (std::find(c.targets.begin(), c.targets.end(), proj) == c.targets.end()) c.targets.push_back(proj);
        any = true;
    }
    if (!any) throw std::logic_error("attached_lora_config: the model has no LoRA adapters attached");
    return c;
}

void apply_adapter(Llama& model, const AdapterSpec& spec, double scale, bool attach) {
    const std::string& path = spec.path;
    if (attach && scale != 1.0) throw std::logic_error("apply_adapter: an attached adapter has scale 1");
    const int64_t r = spec.r;
    if (r <= 0) throw std::runtime_error(path + ": LoRA rank r must be > 0, got " + std::to_string(r));
    if (spec.vocab_size >= 0 && spec.vocab_size != model->config().vocab_size)
        throw std::runtime_error(path + ": adapter was trained on a model with vocab_size " +
                                 std::to_string(spec.vocab_size) + ", this model has " +
                                 std::to_string(model->config().vocab_size));
    for (const auto& t : spec.targets)
        if (!kKnownTargets.count(t))
            throw std::runtime_error(
                path + ": target module '" + t +
                "' is not a Llama projection (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
    const std::set<int64_t> layers(spec.layers.begin(), spec.layers.end());

    const SafetensorsFile file(spec.safetensors_path);
    const std::string& st_path = spec.safetensors_path;
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
    // read and checked before the model changes; merged one projection at a time (one f32 delta alive, not 210)
    std::vector<std::tuple<LinearImpl*, torch::Tensor, torch::Tensor>> pairs;
    for (const auto& [name, lin] : target_layers(model, spec.targets)) {
        if (!layers.empty() && !layers.count(layer_index(name))) continue;
        const auto a = read(peft_name(name, "lora_A"), {r, lin->in_features()});
        const auto b = read(peft_name(name, "lora_B"), {lin->out_features(), r});
        if (!a.defined() || !b.defined()) continue;
        if (!attach && lin->qweight.defined())
            throw std::runtime_error(path + ": a LoRA adapter cannot be merged into weights held in quantized blocks "
                                            "(load the model with --dtype f32 or bf16)");
        pairs.emplace_back(lin, a, b);
    }
    auto params = model->named_parameters(true);
    std::vector<std::pair<torch::Tensor, torch::Tensor>> whole;
    for (const auto& file_name : spec.whole_tensors) {
        const std::string hf_name = file_name.substr(spec.whole_prefix.size());
        torch::Tensor* target = nullptr;
        for (auto& kv : params)
            if (kv.key().find("lora_") == std::string::npos && hf_tensor_name(kv.key()) == hf_name) target = &kv.value();
        // ECG rows trained beside quantized blocks (QLoRA), applied to a model loaded in f32: its matrix's last rows
        torch::Tensor rows;
        const TensorInfo* info = file.find(file_name);
        if (!target && info && info->shape.size() == 2 &&
            (hf_name == "diagecg.embed_extra" || hf_name == "diagecg.head_extra")) {
            const torch::Tensor& w = hf_name == "diagecg.head_extra" && model->lm_head ? model->lm_head->weight
                                                                                       : model->embed_tokens->weight;
            if (w.dim() == 2 && info->shape[0] < w.size(0)) {
                rows = w.narrow(0, w.size(0) - info->shape[0], info->shape[0]);
                target = &rows;
            }
        }
        if (!target) {
            problems.push_back("tensor '" + file_name + "' matches no parameter of the model");
            used.insert(file_name);
            continue;
        }
        const auto t = read(file_name, target->sizes());
        if (t.defined()) whole.emplace_back(*target, t);
    }
    for (const auto& info : file.tensors())
        if (!used.count(info.name)) problems.push_back("unexpected tensor '" + info.name + "'");
    if (!problems.empty()) {
        std::string msg = st_path + ": " + std::to_string(problems.size()) + " problem(s) loading the LoRA adapter:";
        for (const auto& p : problems) msg += "\n  " + p;
        throw std::runtime_error(msg);
    }
    for (auto& [lin, a, b] : pairs) {
        if (!attach) {
            const auto delta = b.matmul(a).mul_(spec.scaling * scale).to(lin->weight.device());
            if (lin->weight.scalar_type() == torch::kFloat)
                lin->weight.add_(delta);
            else
                lin->weight.copy_((lin->weight.to(torch::kFloat) + delta).to(lin->weight.scalar_type()));
            continue;
        }
        lin->attach_lora(r, spec.scaling * static_cast<double>(r), spec.dropout);
        lin->lora_a.copy_(a.to(lin->lora_a.device()));
        lin->lora_b.copy_(b.to(lin->lora_b.device()));
    }
    for (auto& [dst, src] : whole) dst.copy_(src.to(dst.device(), dst.scalar_type()));
    log::info("{} LoRA adapter {} (r {}, scaling {}, scale {}) to {} projections, {} whole tensors",
              attach ? "attached" : "applied", path, r, spec.scaling, scale, pairs.size(), whole.size());
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
