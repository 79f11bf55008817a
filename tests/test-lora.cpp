// LoRA and stage-2/3 plumbing: properties that need no reference numbers.
#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "test-util.h"
#include "diagecg/llm/llm-io.h"
#include "diagecg/llm/lora.h"

using namespace diagecg;
using diagecg::test::temp_dir;
namespace fs = std::filesystem;

namespace {

LlmConfig tiny_config() { return test::tiny_llm_config(); }

LoraConfig tiny_lora() {
    LoraConfig c;
    c.rank = 4;
    c.alpha = 8;
    c.dropout = 0;
    return c;
}

const torch::Tensor kTokens = torch::tensor({{3, 14, 15, 9, 26, 5, 35, 8, 9, 7}}, torch::kLong);

// Gives every lora_B random values, so the adapters change the output.
void perturb_b(Llama& m, uint64_t seed) {
    torch::manual_seed(seed);
    torch::NoGradGuard ng;
    for (auto& kv : m->named_parameters(true))
        if (kv.key().find("lora_B") != std::string::npos) kv.value().normal_(0, 0.05);
}

}  // namespace

TEST(Lora, ZeroBEqualsBaseModel) {
    torch::NoGradGuard ng;
    auto base = random_llama(tiny_config(), 3, {});
    const auto want = base->forward(kTokens);
    EXPECT_EQ(add_lora(base, tiny_lora(), 1), 2 * 7);   // 7 projections per layer
    EXPECT_TRUE(torch::equal(base->forward(kTokens), want));
}

TEST(Lora, AdaptersChangeTheOutputAndMergedEqualsUnmerged) {
    torch::NoGradGuard ng;
    auto m = random_llama(tiny_config(), 3, {});
    const auto base_out = m->forward(kTokens);
    add_lora(m, tiny_lora(), 1);
    perturb_b(m, 9);
    const auto unmerged = m->forward(kTokens);
    EXPECT_GT((unmerged - base_out).abs().max().item<double>(), 1e-3);   // the test has teeth
    merge_lora(m);
    for (const auto& kv : m->named_parameters(true)) EXPECT_EQ(kv.key().find("lora_"), std::string::npos) << kv.key();
    EXPECT_TRUE(torch::allclose(m->forward(kTokens), unmerged, 1e-4, 1e-5));
}

TEST(Lora, OnlyTargetsAreAdapted) {
    auto m = random_llama(tiny_config(), 3, {});
    LoraConfig c = tiny_lora();
    c.targets = {"q_proj", "v_proj"};
    EXPECT_EQ(add_lora(m, c, 1), 4);
    for (const auto& kv : m->named_parameters(true)) {
        if (kv.key().find("lora_") != std::string::npos) {
            EXPECT_TRUE(kv.key().find("q_proj") != std::string::npos || kv.key().find("v_proj") != std::string::npos) << kv.key();
        }
    }
}

TEST(Lora, SavedAdapterAppliedToTheBaseGivesTheTunedModel) {
    const auto dir = temp_dir("lora-save");
    torch::NoGradGuard ng;
    auto tuned = random_llama(tiny_config(), 3, {});
    add_lora(tuned, tiny_lora(), 1);
    perturb_b(tuned, 11);
    tuned->norm->weight.fill_(1.5);   // a trained whole tensor, carried in the adapter file
    const auto want = tuned->forward(kTokens);
    save_adapter(tuned, tiny_lora(), {"norm.weight"}, (dir / "adapter").string());
    ASSERT_TRUE(fs::exists(dir / "adapter.json"));
    ASSERT_TRUE(fs::exists(dir / "adapter.safetensors"));

    auto base = random_llama(tiny_config(), 3, {});
    const auto base_out = base->forward(kTokens);
    apply_adapter(base, (dir / "adapter.json").string(), 1.0);
    EXPECT_TRUE(torch::allclose(base->forward(kTokens), want, 1e-4, 1e-5));

    // scale 0 adds nothing to the projections (the whole norm tensor still replaces the base's)
    auto base0 = random_llama(tiny_config(), 3, {});
    apply_adapter(base0, (dir / "adapter").string(), 0.0);
    base0->norm->weight.fill_(1.0);
    EXPECT_TRUE(torch::allclose(base0->forward(kTokens), base_out, 1e-5, 1e-6));
    fs::remove_all(dir);
}

TEST(Lora, AdapterForAnotherShapeIsRefusedWithEveryProblem) {
    const auto dir = temp_dir("lora-shape");
    auto a = random_llama(tiny_config(), 3, {});
    add_lora(a, tiny_lora(), 1);
    save_adapter(a, tiny_lora(), {}, (dir / "adapter").string());
    LlmConfig other = tiny_config();
    other.intermediate_size = 40;   // gate/up/down differ
    auto b = random_llama(other, 3, {});
    try {
        apply_adapter(b, (dir / "adapter").string(), 1.0);
        FAIL() << "expected a shape error";
    } catch (const std::runtime_error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("6 problem(s)"), std::string::npos) << m;   // gate, up, down x A/B... per layer: see below
        EXPECT_NE(m.find("layers.1.mlp.down_proj.lora_A"), std::string::npos) << m;
    }
    fs::remove_all(dir);
}

TEST(Lora, ConfigIsStrict) {
    EXPECT_THROW(lora_config_from_json({{"rank", 8}, {"alhpa", 4}}, "lora"), std::invalid_argument);
    EXPECT_THROW(lora_config_from_json({{"rank", 0}}, "lora"), std::invalid_argument);
    EXPECT_THROW(lora_config_from_json({{"targets", {"qkv_proj"}}}, "lora"), std::invalid_argument);
    const auto c = lora_config_from_json({{"rank", 8}, {"targets", {"q_proj"}}}, "lora");
    EXPECT_EQ(c.rank, 8);
    EXPECT_EQ(c.targets, std::vector<std::string>{"q_proj"});
    EXPECT_EQ(parse_lora_arg("a/b.json:0.5"), std::make_pair(std::string("a/b.json"), 0.5));
    EXPECT_EQ(parse_lora_arg("a/b.json"), std::make_pair(std::string("a/b.json"), 1.0));
}

TEST(Lora, SavedModelMergesAttachedAdapters) {
    const auto dir = temp_dir("lora-model");
    torch::NoGradGuard ng;
    LoadedModel m;
    m.dir = std::string(DIAGECG_TEST_DATA) + "/models/stories260K";
    m = load_model(m.dir, {});
    const auto toks = torch::tensor({{1, 400, 300, 20, 7}}, torch::kLong);
    add_lora(m.model, tiny_lora(), 2);
    perturb_b(m.model, 5);
    const auto want = m.model->forward(toks);
    save_model(m, dir.string());
    auto back = load_model(dir.string(), {});
    EXPECT_TRUE(torch::allclose(back.model->forward(toks), want, 1e-4, 1e-5));
    fs::remove_all(dir);
}
