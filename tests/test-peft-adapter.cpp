// PEFT's LoRA layout (peft-adapter.h): our adapters exported to it and read back, and a hand-made PEFT directory
// (rsLoRA, layers_to_transform, two targets) applied as its config says; what we cannot apply is refused by name.
#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "diagecg/llm/llm-io.h"
#include "diagecg/llm/lora.h"
#include "diagecg/llm/peft-adapter.h"
#include "diagecg/util/safetensors.h"
#include "test-util.h"

using namespace diagecg;
using diagecg::test::temp_dir;
namespace fs = std::filesystem;

namespace {

LlmConfig tiny_config() { return test::tiny_llm_config(); }

const torch::Tensor kTokens = torch::tensor({{3, 14, 15, 9, 26, 5, 35, 8, 9, 7}}, torch::kLong);

void write_text(const fs::path& p, const std::string& s) {
    std::ofstream(p) << s;
}

nlohmann::json read_json(const fs::path& p) {
    std::ifstream in(p);
    return nlohmann::json::parse(in);
}

// A PEFT config as PeftModel.save_pretrained writes it for a Llama, with `changes` applied.
nlohmann::json peft_config(const nlohmann::json& changes) {
    nlohmann::json j = {{"peft_type", "LORA"},
                        {"task_type", "CAUSAL_LM"},
                        {"base_model_name_or_path", "TinyLlama/x"},
                        {"r", 2},
                        {"lora_alpha", 4},
                        {"lora_dropout", 0.05},
                        {"target_modules", {"v_proj", "q_proj"}},
                        {"modules_to_save", nullptr},
                        {"bias", "none"},
                        {"fan_in_fan_out", false},
                        {"inference_mode", true},
                        {"init_lora_weights", true},
                        {"layers_to_transform", nullptr},
                        {"layers_pattern", nullptr},
                        {"rank_pattern", nlohmann::json::object()},
                        {"alpha_pattern", nlohmann::json::object()},
                        {"use_rslora", false},
                        {"use_dora", false},
                        {"revision", nullptr}};
    j.update(changes);
    return j;
}

}  // namespace

TEST(LoraPeft, ExportedAdapterIsPeftAndGivesTheTunedModel) {
    const auto dir = temp_dir("peft-export");
    torch::NoGradGuard ng;
    LoraConfig lc;
    lc.rank = 4;
    lc.alpha = 8;
    lc.dropout = 0.05;
    auto tuned = random_llama(tiny_config(), 3, {});
    add_lora(tuned, lc, 1);
    torch::manual_seed(11);
    for (auto& kv : tuned->named_parameters(true))
        if (kv.key().find("lora_B") != std::string::npos) kv.value().normal_(0, 0.05);
    tuned->norm->weight.fill_(1.5);
    const auto want = tuned->forward(kTokens);
    save_adapter(tuned, lc, {"norm.weight"}, (dir / "adapter").string());
    export_peft_adapter((dir / "adapter").string(), (dir / "peft").string());

    const auto cfg = read_json(dir / "peft" / "adapter_config.json");
    EXPECT_EQ(cfg["peft_type"], "LORA");
    EXPECT_EQ(cfg["task_type"], "CAUSAL_LM");
    EXPECT_EQ(cfg["r"], 4);
    EXPECT_EQ(cfg["lora_alpha"], 8.0);
    EXPECT_EQ(cfg["lora_dropout"], 0.05);
    EXPECT_EQ(cfg["target_modules"], nlohmann::json(lc.targets));
    EXPECT_EQ(cfg["modules_to_save"], nlohmann::json({"model.norm"}));
    EXPECT_EQ(cfg["bias"], "none");
    const SafetensorsFile st((dir / "peft" / "adapter_model.safetensors").string());
    EXPECT_EQ(st.tensors().size(), 2u * 7u * 2u + 1u);  // A and B for 7 projections x 2 layers, and the norm
    EXPECT_NE(st.find("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"), nullptr);
    EXPECT_NE(st.find("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight"), nullptr);
    EXPECT_NE(st.find("base_model.model.model.norm.weight"), nullptr);

    // read back through each way of naming it: the directory, either of its files
    for (const auto& arg :
         {dir / "peft", dir / "peft" / "adapter_config.json", dir / "peft" / "adapter_model.safetensors"}) {
        auto base = random_llama(tiny_config(), 3, {});
        EXPECT_GT((base->forward(kTokens) - want).abs().max().item<double>(), 1e-3);  // the test has teeth
        apply_adapter(base, arg.string(), 1.0);
        EXPECT_TRUE(torch::allclose(base->forward(kTokens), want, 1e-4, 1e-5)) << arg;
    }
    // a directory holding ours is read as ours
    EXPECT_EQ(read_adapter_spec(dir.string()).whole_prefix, "");
    EXPECT_EQ(read_adapter_spec((dir / "peft").string()).whole_prefix, "base_model.model.");
    fs::remove_all(dir);
}

// r 2, alpha 4, rsLoRA (scaling 4 / sqrt 2), q_proj and v_proj of layer 1 only, and a whole norm tensor.
TEST(LoraPeft, HandMadePeftDirectoryIsAppliedAsItsConfigSays) {
    const auto dir = temp_dir("peft-hand");
    torch::NoGradGuard ng;
    const auto cfg = tiny_config();
    const int64_t d = cfg.hidden_size, d_kv = cfg.hidden_size / cfg.num_attention_heads * cfg.num_key_value_heads;
    torch::manual_seed(5);
    const auto qa = torch::randn({2, d}), qb = torch::randn({d, 2}), va = torch::randn({2, d}),
               vb = torch::randn({d_kv, 2});
    const auto norm = torch::full({d}, 0.75f);
    const std::vector<TensorView> views = {
        {"base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight",
         DType::kF32,
         {2, d},
         qa.data_ptr(),
         size_t(qa.nbytes())},
        {"base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight",
         DType::kF32,
         {d, 2},
         qb.data_ptr(),
         size_t(qb.nbytes())},
        {"base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight",
         DType::kF32,
         {2, d},
         va.data_ptr(),
         size_t(va.nbytes())},
        {"base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight",
         DType::kF32,
         {d_kv, 2},
         vb.data_ptr(),
         size_t(vb.nbytes())},
        {"base_model.model.model.norm.weight", DType::kF32, {d}, norm.data_ptr(), size_t(norm.nbytes())}};
    write_safetensors((dir / "adapter_model.safetensors").string(), views);
    write_text(dir / "adapter_config.json",
               peft_config({{"use_rslora", true}, {"layers_to_transform", {1}}, {"modules_to_save", {"norm"}}}).dump());

    auto model = random_llama(tiny_config(), 3, {});
    auto ref = random_llama(tiny_config(), 3, {});
    apply_adapter(model, dir.string(), 1.0);
    const double scaling = 4.0 / std::sqrt(2.0);
    auto params = model->named_parameters(true);
    auto ref_params = ref->named_parameters(true);
    for (const auto& kv : params) {
        const auto& before = *ref_params.find(kv.key());
        torch::Tensor expect = before;
        if (kv.key() == "layers.1.self_attn.q_proj.weight") expect = before + scaling * qb.matmul(qa);
        if (kv.key() == "layers.1.self_attn.v_proj.weight") expect = before + scaling * vb.matmul(va);
        if (kv.key() == "norm.weight") expect = norm;
        EXPECT_TRUE(torch::allclose(kv.value(), expect, 1e-5, 1e-6)) << kv.key();
    }
    EXPECT_EQ(adapter_base_model(dir.string()), (dir / "TinyLlama/x").lexically_normal().string());
    fs::remove_all(dir);
}

TEST(LoraPeft, WhatCannotBeAppliedIsRefusedByName) {
    const auto dir = temp_dir("peft-refuse");
    torch::NoGradGuard ng;
    const auto cfg = tiny_config();
    const int64_t d = cfg.hidden_size;
    const auto a = torch::zeros({2, d}), b = torch::zeros({d, 2});
    auto write = [&](const nlohmann::json& changes, bool with_b = true, bool extra = false) {
        std::vector<TensorView> v;
        for (int l = 0; l < 2; ++l) {
            const std::string m = "base_model.model.model.layers." + std::to_string(l) + ".self_attn.q_proj.";
            v.push_back({m + "lora_A.weight", DType::kF32, {2, d}, a.data_ptr(), size_t(a.nbytes())});
            if (with_b || l == 0)
                v.push_back({m + "lora_B.weight", DType::kF32, {d, 2}, b.data_ptr(), size_t(b.nbytes())});
        }
        if (extra)
            v.push_back({"base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector",
                         DType::kF32,
                         {d},
                         b.data_ptr(),
                         size_t(d * 4)});
        write_safetensors((dir / "adapter_model.safetensors").string(), v);
        write_text(dir / "adapter_config.json", peft_config(changes).dump());
    };
    auto error_of = [&]() -> std::string {
        auto m = random_llama(tiny_config(), 3, {});
        try {
            apply_adapter(m, dir.string(), 1.0);
        } catch (const std::runtime_error& e) {
            return e.what();
        }
        return "";
    };
    write({{"target_modules", {"q_proj"}}});
    EXPECT_EQ(error_of(), "");  // the well-formed one applies
    write({{"use_dora", true}});
    EXPECT_NE(error_of().find("DoRA"), std::string::npos);
    write({{"bias", "all"}});
    EXPECT_NE(error_of().find("bias is \"all\""), std::string::npos);
    write({{"target_modules", ".*proj"}});
    EXPECT_NE(error_of().find("regex string is not supported"), std::string::npos);
    write({{"peft_type", "IA3"}});
    EXPECT_NE(error_of().find("peft_type is \"IA3\""), std::string::npos);
    write({{"rank_pattern", {{"q_proj", 4}}}});
    EXPECT_NE(error_of().find("rank_pattern is set"), std::string::npos);
    write({{"target_modules", {"query_key_value"}}});
    EXPECT_NE(error_of().find("'query_key_value' is not a Llama projection"), std::string::npos);
    write({{"target_modules", {"q_proj"}}}, false, true);  // layer 1's lora_B missing, a DoRA tensor extra
    const std::string e = error_of();
    EXPECT_NE(e.find("2 problem(s)"), std::string::npos) << e;
    EXPECT_NE(e.find("missing tensor 'base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight'"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("unexpected tensor 'base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector'"),
              std::string::npos)
        << e;
    fs::remove(dir / "adapter_model.safetensors");
    EXPECT_NE(
        error_of().find("neither adapter.json (diagecg) nor adapter_config.json + adapter_model.safetensors (PEFT)"),
        std::string::npos);
    fs::remove_all(dir);
}
