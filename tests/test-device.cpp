// The model on another device against the CPU: logits of real checkpoints within bf16 tolerance, KV-cached
// decoding, LoRA merged == unmerged, a training step. The device is $DIAGECG_TEST_DEVICE (default cuda); where it
// is a CUDA device and none is visible (a CPU-only LibTorch, or no GPU) these tests are skipped, and
// scripts/device-check.sh --dry-run runs them with DIAGECG_TEST_DEVICE=cpu (CPU against CPU) to exercise them.
// SmolLM2 needs $DIAGECG_SMOLLM2 (a model directory or .gguf; scripts/setup-python.sh puts the GGUF in the cache).
#include <cstdlib>
#include <filesystem>
#include <optional>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diagecg/llm/llm-io.h"
#include "diagecg/llm/lora.h"
#include "diagecg/util/device.h"
#include "test-util.h"

using namespace diagecg;

namespace {

const std::string kStories = std::string(DIAGECG_TEST_DATA) + "/models/stories260K";

// The device under test, or nullopt (the test skips) when it cannot be had here.
std::optional<torch::Device> test_device() {
    const char* env = std::getenv("DIAGECG_TEST_DEVICE");
    const std::string name = env && *env ? env : "cuda";
    try {
        return parse_device(name);
    } catch (const std::invalid_argument&) {
        if (name.rfind("cuda", 0) == 0) return std::nullopt;
        throw;
    }
}

#define DEVICE_OR_SKIP(dev)                                                      \
    const auto dev##_opt = test_device();                                        \
    if (!dev##_opt) GTEST_SKIP() << "no CUDA device here (DIAGECG_TEST_DEVICE)"; \
    const torch::Device dev = *dev##_opt

// Relative max error of b against a (f32).
double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
    return (a.to(torch::kCPU, torch::kFloat) - b.to(torch::kCPU, torch::kFloat)).abs().max().item<double>() /
           a.abs().max().item<double>();
}

// Prompt logits and 8 greedy KV-cached decode steps on `dev` against the same on the CPU; returns the larger
// relative error, and checks the greedy tokens agree where the CPU's top-2 margin is clear.
double compare_on_device(const std::string& model, torch::Dtype dtype, torch::Device dev) {
    torch::NoGradGuard ng;
    auto cpu = load_model(model, {dtype, torch::kCPU}).model;
    auto gpu = load_model(model, {dtype, dev}).model;
    const int64_t v = cpu->config().vocab_size;
    const auto toks = (torch::arange(1, 17, torch::kLong) * 37 % (v - 1) + 1).unsqueeze(0);  // [1, 16]
    const auto a = cpu->forward(toks);
    const auto b = gpu->forward(toks.to(dev));
    double err = rel_err(a, b);
    KvCache ca(cpu->config(), 1, 32, cpu->dtype(), torch::kCPU), cb(gpu->config(), 1, 32, gpu->dtype(), dev);
    auto la = cpu->forward(toks, &ca).select(1, 15);
    auto lb = gpu->forward(toks.to(dev), &cb).select(1, 15);
    for (int s = 0; s < 8; ++s) {
        err = std::max(err, rel_err(la, lb));
        const auto top = std::get<0>(la.topk(2, -1));
        const auto next = la.argmax(-1, true);
        if ((top[0][0] - top[0][1]).item<double>() > 0.05 * la.abs().max().item<double>())
            EXPECT_EQ(next.item<int64_t>(), lb.argmax(-1).item<int64_t>()) << "step " << s;
        la = cpu->forward(next, &ca).select(1, 0);
        lb = gpu->forward(next.to(dev), &cb).select(1, 0);
    }
    return err;
}

}  // namespace

TEST(Device, Stories260kLogitsMatchTheCpu) {
    DEVICE_OR_SKIP(dev);
    EXPECT_LT(compare_on_device(kStories, torch::kFloat, dev), 1e-4);
    EXPECT_LT(compare_on_device(kStories, torch::kBFloat16, dev), 0.05);  // bf16: 8 mantissa bits
}

TEST(Device, SmolLm2LogitsMatchTheCpu) {
    const char* smol = std::getenv("DIAGECG_SMOLLM2");
    if (!smol || !std::filesystem::exists(smol)) GTEST_SKIP() << "DIAGECG_SMOLLM2 is not set to a model";
    DEVICE_OR_SKIP(dev);
    EXPECT_LT(compare_on_device(smol, torch::kFloat, dev), 1e-3);
    EXPECT_LT(compare_on_device(smol, torch::kBFloat16, dev), 0.05);
}

TEST(Device, LoraMergedEqualsUnmerged) {
    DEVICE_OR_SKIP(dev);
    torch::NoGradGuard ng;
    auto m = random_llama(test::tiny_llm_config(), 3, {torch::kFloat, dev});
    LoraConfig lc;
    lc.rank = 4;
    lc.alpha = 8;
    lc.dropout = 0;
    add_lora(m, lc, 1);
    m->to(dev);
    torch::manual_seed(9);
    for (auto& kv : m->named_parameters(true))
        if (kv.key().find("lora_B") != std::string::npos) kv.value().normal_(0, 0.05);
    const auto toks = torch::tensor({{3, 14, 15, 9, 26, 5, 35, 8, 9, 7}}, torch::kLong).to(dev);
    const auto unmerged = m->forward(toks);
    EXPECT_EQ(unmerged.device(), dev);
    merge_lora(m);
    EXPECT_TRUE(torch::allclose(m->forward(toks), unmerged, 1e-4, 1e-5));
}

TEST(Device, TrainingStepMatchesTheCpu) {
    DEVICE_OR_SKIP(dev);
    // One AdamW step of next-token loss: the updated weights on the device equal the CPU's.
    auto step = [](torch::Device d) {
        auto m = random_llama(test::tiny_llm_config(), 5, {torch::kFloat, torch::kCPU});
        m->to(d);
        torch::optim::AdamW opt(m->parameters(), torch::optim::AdamWOptions(1e-2));
        const auto toks = torch::tensor({{3, 14, 15, 9, 26, 5, 35, 8, 9, 7}}, torch::kLong).to(d);
        const auto logits = m->forward(toks.narrow(1, 0, 9));
        const auto loss =
            torch::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), toks.narrow(1, 1, 9).reshape(-1));
        loss.backward();
        opt.step();
        return std::make_pair(loss.item<double>(),
                              m->layers[0]->named_parameters()["self_attn.q_proj.weight"].detach().cpu());
    };
    const auto [loss_cpu, w_cpu] = step(torch::kCPU);
    const auto [loss_dev, w_dev] = step(dev);
    EXPECT_NEAR(loss_dev, loss_cpu, 1e-4);
    EXPECT_TRUE(torch::allclose(w_dev, w_cpu, 1e-4, 1e-5));
}
