// ECG tokenizer model: shapes, lead independence inside the encoder, FSQ codes, gradients.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "diagecg/tokenizer/ecg-tokenizer.h"

using namespace diagecg;

namespace {

EcgTokenizerConfig tiny_config() {
    EcgTokenizerConfig c;
    c.n_samples = 500;
    c.channels = 8;
    c.groups = 4;
    c.n_stages = 2;
    return c;
}

}  // namespace

TEST(EcgTokenizer, ReferenceShapeGives313CodesOf1296) {
    EcgTokenizerConfig c;
    EXPECT_EQ(c.n_steps(), 313);
    EXPECT_EQ(c.codebook_size(), 1296);
    torch::manual_seed(0);
    EcgTokenizer tok(c);
    torch::NoGradGuard ng;
    const auto x = torch::randn({2, 12, 5000});
    const auto e = tok->encode(x);
    EXPECT_EQ(e.codes.sizes(), (std::vector<int64_t>{2, 313}));
    EXPECT_EQ(e.latent.sizes(), (std::vector<int64_t>{2, 313, 4}));
    EXPECT_GE(e.codes.min().item<int64_t>(), 0);
    EXPECT_LT(e.codes.max().item<int64_t>(), 1296);
    EXPECT_EQ(tok->decode(e.levels).sizes(), (std::vector<int64_t>{2, 12, 5000}));
}

TEST(EcgTokenizer, EncoderKeepsLeadsIndependent) {
    torch::manual_seed(1);
    EcgTokenizer tok(tiny_config());
    torch::NoGradGuard ng;
    auto x = torch::randn({1, 12, 500});
    const auto f = tok->lead_features(x);                   // [1, 12, C, P]
    auto y = x.clone();
    y[0][7] += torch::randn({500});                          // perturb lead V2 only
    const auto g = tok->lead_features(y);
    for (int l = 0; l < 12; ++l) {
        if (l == 7) {
            EXPECT_FALSE(torch::allclose(f[0][l], g[0][l])) << "lead " << l;
        } else {
            EXPECT_TRUE(torch::equal(f[0][l], g[0][l])) << "lead " << l;
        }
    }
    // ... and the cross-lead latent does change
    EXPECT_FALSE(torch::allclose(tok->encode(x).latent, tok->encode(y).latent));
}

TEST(EcgTokenizer, FsqCodesRoundTripAndMixedRadix) {
    const Fsq fsq({6, 6, 6, 6}, Fsq::CodeOrder::kFirstDimMostSignificant);
    const auto all = torch::arange(1296, torch::kLong);
    const auto levels = fsq.codes_to_levels(all);
    EXPECT_TRUE(torch::equal(fsq.levels_to_codes(levels), all));
    // code 0042 = 0*216 + 1*36 + 1*6 + 0
    const auto l42 = fsq.codes_to_levels(torch::tensor({42}, torch::kLong))[0];
    EXPECT_EQ(l42[0].item<float>(), 0);
    EXPECT_EQ(l42[1].item<float>(), 1);
    EXPECT_EQ(l42[2].item<float>(), 1);
    EXPECT_EQ(l42[3].item<float>(), 0);
    const auto norm = fsq.normalize(levels);
    EXPECT_FLOAT_EQ(norm.min().item<float>(), -1.0f);
    EXPECT_FLOAT_EQ(norm.max().item<float>(), 1.0f);
    EXPECT_THROW(fsq.codes_to_levels(torch::tensor({1296}, torch::kLong)), c10::Error);
}

TEST(EcgTokenizer, StraightThroughGradientReachesTheEncoder) {
    torch::manual_seed(2);
    EcgTokenizer tok(tiny_config());
    const auto x = torch::randn({2, 12, 500});
    const auto e = tok->encode(x);
    const auto loss = torch::mse_loss(tok->decode(e.levels), x);
    loss.backward();
    for (const auto& kv : tok->named_parameters()) {
        ASSERT_TRUE(kv.value().grad().defined()) << kv.key();
        EXPECT_GT(kv.value().grad().abs().sum().item<float>(), 0.0f) << kv.key();
    }
    // quantized levels are integers
    EXPECT_TRUE(torch::equal(e.levels.detach(), e.levels.detach().round()));
}

TEST(EcgTokenizer, ConfigJsonStrictAndShippedConfigs) {
    const auto c = ecg_tokenizer_config_from_json(nlohmann::json::parse(R"({"channels": 16, "groups": 4, "fsq_levels": [8, 5, 5, 5]})"), "tok");
    EXPECT_EQ(c.codebook_size(), 1000);
    EXPECT_EQ(ecg_tokenizer_config_to_json(ecg_tokenizer_config_from_json(ecg_tokenizer_config_to_json(c), "x")),
              ecg_tokenizer_config_to_json(c));
    EXPECT_THROW(ecg_tokenizer_config_from_json(nlohmann::json::parse(R"({"chanels": 16})"), "tok"), std::invalid_argument);
    EXPECT_THROW(ecg_tokenizer_config_from_json(nlohmann::json::parse(R"({"channels": 12, "groups": 8})"), "tok"), std::invalid_argument);
    EXPECT_THROW(ecg_tokenizer_config_from_json(nlohmann::json::parse(R"({"fsq_levels": [6, "6"]})"), "tok"), std::invalid_argument);
    std::ifstream in(std::string(DIAGECG_SOURCE_DIR) + "/configs/tokenizer-model-reference.json");
    ASSERT_TRUE(in);
    const auto ref = ecg_tokenizer_config_from_json(nlohmann::json::parse(in), "reference");
    EXPECT_EQ(ref.n_steps(), 313);
    EXPECT_EQ(ref.codebook_size(), 1296);
}

TEST(EcgTokenizer, EncoderFlopsMatchAHandCount) {
    EcgTokenizerConfig c;
    c.architecture = EcgTokenizerArch::kDiagecgV1;
    c.n_leads = 1;
    c.n_samples = 8;
    c.channels = 2;
    c.groups = 1;
    c.n_stages = 1;
    c.fsq_levels = {3};
    // input 2*2*7*8 = 224; block 2*4*16*8 = 1024; down to 4: 2*4*3*4 = 96; bottleneck 2*4*4 = 32; linear 2*1*2*1*4 = 16
    EXPECT_DOUBLE_EQ(c.encoder_flops(), 224 + 1024 + 96 + 32 + 16);
}
