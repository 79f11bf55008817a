#include "diagecg/llm/peft-adapter.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "diagecg/util/atomic-file.h"
#include "diagecg/util/byte-reader.h"
#include "diagecg/util/safetensors.h"

namespace diagecg {

namespace fs = std::filesystem;

namespace {

constexpr const char* kConfig = "adapter_config.json";
constexpr const char* kWeights = "adapter_model.safetensors";
constexpr const char* kWholePrefix = "base_model.model.";

bool null_or_empty(const nlohmann::json& j, const char* key) {
    return !j.contains(key) || j[key].is_null() || (j[key].is_object() && j[key].empty()) ||
           (j[key].is_array() && j[key].empty());
}

}  // namespace

bool is_peft_adapter_dir(const std::string& dir) {
    return fs::exists(fs::path(dir) / kConfig) && fs::exists(fs::path(dir) / kWeights);
}

AdapterSpec read_peft_adapter(const std::string& dir) {
    const std::string cfg_path = (fs::path(dir) / kConfig).string(), st_path = (fs::path(dir) / kWeights).string();
    if (!is_peft_adapter_dir(dir))
        throw std::runtime_error("PEFT adapter " + dir + ": expected " + cfg_path + " and " + st_path);
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(read_file_text(cfg_path));
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(cfg_path + ": not valid JSON: " + e.what());
    }
    auto refuse = [&](const std::string& what) {
        throw std::runtime_error(cfg_path + ": " + what + " (diagecg applies plain LoRA)");
    };
    if (!j.is_object()) refuse("not a JSON object");
    if (j.value("peft_type", "") != "LORA")
        refuse("peft_type is " + (j.contains("peft_type") ? j["peft_type"].dump() : std::string("missing")) +
               ", expected \"LORA\"");
    if (!j.contains("r") || !j["r"].is_number_integer()) refuse("\"r\" is missing or not an integer");
    if (!j.contains("lora_alpha") || !j["lora_alpha"].is_number()) refuse("\"lora_alpha\" is missing or not a number");
    if (j.value("use_dora", false)) refuse("use_dora is true: DoRA adapters are not supported");
    if (j.contains("bias") && j["bias"] != "none")
        refuse("bias is " + j["bias"].dump() + ": only \"none\" is supported");
    if (j.value("fan_in_fan_out", false)) refuse("fan_in_fan_out is true (GPT-2 Conv1D weights), not a Llama layout");
    for (const char* k : {"rank_pattern", "alpha_pattern", "layers_pattern"})
        if (!null_or_empty(j, k))
            refuse(std::string(k) + " is set: per-module ranks and layer patterns are not supported");
    if (!j.contains("target_modules") || !j["target_modules"].is_array())
        refuse("target_modules must be a list of module names (a regex string is not supported)");

    AdapterSpec s;
    s.path = dir;
    s.safetensors_path = st_path;
    s.r = j["r"].get<int64_t>();
    if (s.r <= 0) refuse("r must be > 0");
    const double alpha = j["lora_alpha"].get<double>();
    s.scaling =
        j.value("use_rslora", false) ? alpha / std::sqrt(static_cast<double>(s.r)) : alpha / static_cast<double>(s.r);
    for (const auto& t : j["target_modules"]) {
        if (!t.is_string()) refuse("target_modules holds a non-string");
        s.targets.push_back(t.get<std::string>());
    }
    if (j.contains("layers_to_transform") && !j["layers_to_transform"].is_null()) {
        const auto& l = j["layers_to_transform"];
        if (l.is_number_integer())
            s.layers.push_back(l.get<int64_t>());
        else if (l.is_array())
            for (const auto& x : l) s.layers.push_back(x.get<int64_t>());
        else
            refuse("layers_to_transform must be an integer or a list of integers");
    }
    if (j.contains("base_model_name_or_path") && j["base_model_name_or_path"].is_string())
        s.base_model = j["base_model_name_or_path"].get<std::string>();
    s.whole_prefix = kWholePrefix;
    const SafetensorsFile file(st_path);
    for (const auto& t : file.tensors())
        if (t.name.find(".lora_") == std::string::npos && t.name.rfind(kWholePrefix, 0) == 0)
            s.whole_tensors.push_back(t.name);
    return s;
}

void export_peft_adapter(const std::string& adapter_path, const std::string& dir) {
    const AdapterSpec ours = read_adapter_spec(adapter_path);
    if (!ours.whole_prefix.empty()) throw std::invalid_argument(adapter_path + " is already a PEFT adapter");
    const auto meta = nlohmann::json::parse(read_file_text(ours.path + ".json"));  // alpha and dropout as recorded
    const SafetensorsFile file(ours.safetensors_path);
    std::vector<TensorView> views;
    nlohmann::json modules_to_save = nlohmann::json::array();
    for (const auto& t : file.tensors()) {
        std::string name = t.name;
        const bool whole =
            std::find(ours.whole_tensors.begin(), ours.whole_tensors.end(), t.name) != ours.whole_tensors.end();
        if (whole) {
            name = kWholePrefix + t.name;
            const std::string suffix = ".weight";
            if (t.name.size() <= suffix.size() ||
                t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) != 0)
                throw std::runtime_error(ours.safetensors_path + ": whole tensor '" + t.name +
                                         "' is not a module's weight");
            modules_to_save.push_back(t.name.substr(0, t.name.size() - suffix.size()));  // "model.norm"
        }
        views.push_back({name, t.dtype, t.shape, file.data(t), static_cast<size_t>(t.end - t.begin)});
    }
    const nlohmann::json cfg = {
        {"peft_type", "LORA"},
        {"task_type", "CAUSAL_LM"},
        {"base_model_name_or_path",
         ours.base_model.empty() ? nlohmann::json(nullptr) : nlohmann::json(ours.base_model)},
        {"revision", nullptr},
        {"inference_mode", true},
        {"r", ours.r},
        {"lora_alpha", meta.at("lora_alpha")},
        {"lora_dropout", meta.value("lora_dropout", 0.0)},
        {"target_modules", ours.targets},
        {"modules_to_save", modules_to_save.empty() ? nlohmann::json(nullptr) : modules_to_save},
        {"bias", "none"},
        {"fan_in_fan_out", false},
        {"init_lora_weights", true},
        {"layers_to_transform", nullptr},
        {"layers_pattern", nullptr},
        {"rank_pattern", nlohmann::json::object()},
        {"alpha_pattern", nlohmann::json::object()},
        {"use_rslora", false},
        {"use_dora", false},
    };
    fs::create_directories(dir);
    write_safetensors((fs::path(dir) / kWeights).string(), views, {{"format", "pt"}});
    write_file_atomic((fs::path(dir) / kConfig).string(), cfg.dump(2) + "\n");
}

}  // namespace diagecg
