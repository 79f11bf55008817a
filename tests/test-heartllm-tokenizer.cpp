// The authors' ECG tokenizer (heartllm): shapes and cost, code numbering, fused kernels against LibTorch's ops,
// state-dict import/export, and token identity with their PyTorch module through committed fixtures
// (tests/data/heartllm/README.md says how they were produced).
#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "diagecg/tokenizer/ecg-tokenizer-io.h"
#include "diagecg/tokenizer/heartllm-checkpoint.h"
#include "diagecg/tokenizer/heartllm-encoder-kernels.h"
#include "diagecg/tokenizer/heartllm-tokenizer.h"
#include "diagecg/util/atomic-file.h"
#include "diagecg/util/byte-reader.h"
#include "test-util.h"

using namespace diagecg;
namespace fs = std::filesystem;

namespace {

const std::string kFixtures = std::string(DIAGECG_TEST_DATA) + "/heartllm";
// The fixtures were made from every record, whatever its signal quality (some raw CinC records are noisy).
const RecordInput kAnyQuality{{}, true};

EcgTokenizerConfig small_config() {  // C = 32 (the fused kernels' width) on 1000 samples
    EcgTokenizerConfig c;
    c.n_samples = 1000;
    return c;
}

// The fixture records (tests/data/heartllm/records.txt: paths relative to ../shared/data) -> where to read each:
// tests/data/ecg holds a few of them; the rest need the shared data (absent: empty path).
std::vector<std::string> fixture_records(std::vector<std::string>* names = nullptr) {
    std::ifstream in(kFixtures + "/records.txt");
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) {
        if (line.empty()) continue;
        const std::string stem = fs::path(line).stem().string();
        const fs::path local = fs::path(DIAGECG_TEST_DATA) / "ecg" / (stem + ".hea");
        const fs::path shared = fs::path(DIAGECG_SHARED_DATA) / (line + ".hea");
        out.push_back(fs::exists(local) ? local.string() : fs::exists(shared) ? shared.string() : "");
        if (names) names->push_back(line);
    }
    return out;
}

// Their token ids: u16 little-endian [records][313].
std::vector<uint16_t> fixture_ids(const std::string& file) {
    const auto bytes = read_file_bytes(kFixtures + "/" + file);
    std::vector<uint16_t> ids(bytes.size() / 2);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = load_u16le(&bytes[2 * i]);
    return ids;
}

struct IdentityResult {
    int64_t n_records = 0, n_same = 0;
};

// Encodes every fixture record that can be read (`all`: also those only in the shared data) and compares each
// record's ids with theirs.
IdentityResult compare_ids(EcgTokenizer& net, const std::string& ids_file, bool all) {
    std::vector<std::string> names;
    const auto paths = fixture_records(&names);
    const auto ids = fixture_ids(ids_file);
    const int64_t p = net->config().n_steps();
    EXPECT_EQ(static_cast<int64_t>(ids.size()), static_cast<int64_t>(paths.size()) * p);
    std::vector<std::string> todo;
    std::vector<size_t> index;
    for (size_t i = 0; i < paths.size(); ++i)
        if (!paths[i].empty() && (all || paths[i].find(DIAGECG_TEST_DATA) == 0)) {
            todo.push_back(paths[i]);
            index.push_back(i);
        }
    IdentityResult r;
    torch::NoGradGuard ng;
    for (size_t b = 0; b < todo.size(); b += 16) {
        const std::vector<std::string> chunk(todo.begin() + b, todo.begin() + std::min(todo.size(), b + 16));
        const EcgTensor t = load_ecg_tensor(chunk, PreprocessConfig{}, kAnyQuality, net->config().n_samples);
        EXPECT_TRUE(t.failed.empty()) << (t.failed.empty() ? "" : t.failed[0].first + ": " + t.failed[0].second);
        const auto codes = net->encode(t.x).codes.contiguous();
        for (int64_t k = 0; k < codes.size(0); ++k) {
            const size_t rec = index[b + k];
            int64_t n_diff = 0;
            for (int64_t j = 0; j < p; ++j) n_diff += codes[k][j].item<int64_t>() != ids[rec * p + j];
            EXPECT_EQ(n_diff, 0) << names[rec] << ": " << n_diff << " of " << p
                                 << " token ids differ from the authors' module";
            ++r.n_records;
            r.n_same += n_diff == 0;
        }
    }
    return r;
}

EcgTokenizer fixture_model(const std::string& file, bool encoder_only) {
    HeartllmImportOptions o;
    o.allow_missing_decoder = encoder_only;
    return heartllm_tokenizer_from_state_dict(read_torch_state_dict(kFixtures + "/" + file), o, file);
}

bool have_shared_data() {
    return fs::exists(fs::path(DIAGECG_SHARED_DATA) / "ptbxl-processed" / "records.csv");
}

}  // namespace

TEST(HeartllmTokenizer, ReferenceShapeCostAndParameterCount) {
    const EcgTokenizerConfig c;
    EXPECT_EQ(c.architecture, EcgTokenizerArch::kHeartllm);
    EXPECT_EQ(c.n_steps(), 313);
    EXPECT_EQ(c.codebook_size(), 1296);
    EXPECT_NEAR(c.encoder_flops() / 1e9, 0.8267, 5e-4);  // REFERENCE.md section 2: about 0.83 GFLOP
    torch::manual_seed(0);
    EcgTokenizer tok(c);
    int64_t n = 0, n_enc = 0;
    for (const auto& kv : tok->named_parameters()) {
        n += kv.value().numel();
        if (heartllm_name_from_ours(kv.key()).rfind("enc.", 0) == 0) n_enc += kv.value().numel();
    }
    EXPECT_EQ(n, 4170608);    // the authors' FSQ_AE, counted in PyTorch
    EXPECT_EQ(n_enc, 30692);  // its ECGEncoder
    torch::NoGradGuard ng;
    const auto x = torch::randn({2, 12, 5000});
    const auto e = tok->encode(x);
    EXPECT_EQ(e.codes.sizes(), (std::vector<int64_t>{2, 313}));
    EXPECT_EQ(tok->lead_features(x).sizes(), (std::vector<int64_t>{2, 12, 32, 313}));
    EXPECT_EQ(tok->decode(e.levels).sizes(), (std::vector<int64_t>{2, 12, 5000}));
}

TEST(HeartllmTokenizer, EncoderFlopsMatchAHandCount) {
    EcgTokenizerConfig c;
    c.n_leads = 1;
    c.n_samples = 8;
    c.channels = 4;
    c.groups = 1;
    c.n_stages = 1;
    c.fsq_levels = {3};
    // stage: branches 2*1*1*16*8 = 256, residual 2*1*4*8 = 64, down to 4: 2*4*4*3*4 = 384;
    // bottleneck 2*4*1*16*4 = 512; linear 2*1*4*1*4 = 32
    EXPECT_DOUBLE_EQ(c.encoder_flops(), 256 + 64 + 384 + 512 + 32);
}

TEST(HeartllmTokenizer, CodesAreLittleEndianMixedRadix) {
    const Fsq fsq({6, 6, 6, 6}, Fsq::CodeOrder::kFirstDimLeastSignificant);
    const auto all = torch::arange(1296, torch::kLong);
    EXPECT_TRUE(torch::equal(fsq.levels_to_codes(fsq.codes_to_levels(all)), all));
    // levels (v0, v1, v2, v3) = (1, 2, 0, 5): 1 + 2*6 + 0*36 + 5*216 = 1093 (HeartLLM's q2idx)
    EXPECT_EQ(fsq.levels_to_codes(torch::tensor({{1.0f, 2.0f, 0.0f, 5.0f}})).item<int64_t>(), 1093);
    const auto l = fsq.codes_to_levels(torch::tensor({1093}, torch::kLong))[0];
    EXPECT_EQ(l[0].item<float>(), 1);
    EXPECT_EQ(l[3].item<float>(), 5);
    // The decoder sees round(c * 5) / 5, as their FSQ: a division, bit for bit.
    const auto q = torch::tensor({0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f});
    EXPECT_TRUE(
        torch::equal(Fsq({6}, Fsq::CodeOrder::kFirstDimLeastSignificant).unit(q.unsqueeze(-1)).squeeze(-1), q / 5));
    // Rounding half to even, as torch.round: sigmoid(z) * 5 = 2.5 -> 2
    const auto z = torch::logit(torch::tensor({0.5f}));
    EXPECT_EQ(Fsq({6}, Fsq::CodeOrder::kFirstDimLeastSignificant).quantize(z.unsqueeze(-1)).item<float>(), 2.0f);
}

TEST(HeartllmTokenizer, EncoderKeepsLeadsIndependentOnBothPaths) {
    torch::manual_seed(1);
    EcgTokenizer tok(small_config());
    tok->eval();
    torch::NoGradGuard ng;
    auto x = torch::randn({1, 12, 1000});
    auto y = x.clone();
    y[0][7] += torch::randn({1000});
    for (const auto k : {EncoderKernel::kAuto, EncoderKernel::kLibtorch}) {
        tok->set_encoder_kernel(k);
        const bool fused = k == EncoderKernel::kAuto;
        const auto f = tok->lead_features(x), g = tok->lead_features(y);
        for (int l = 0; l < 12; ++l) {
            if (l == 7)
                EXPECT_FALSE(torch::allclose(f[0][l], g[0][l])) << "lead " << l;
            else
                EXPECT_TRUE(torch::equal(f[0][l], g[0][l])) << "lead " << l << (fused ? " (fused)" : "");
        }
    }
}

TEST(HeartllmTokenizer, StraightThroughGradientReachesEveryWeight) {
    torch::manual_seed(2);
    EcgTokenizerConfig c = small_config();
    c.channels = 8;
    EcgTokenizer tok(c);
    const auto x = torch::randn({2, 12, 1000});
    const auto e = tok->encode(x);
    torch::mse_loss(tok->decode(e.levels), x).backward();
    for (const auto& kv : tok->named_parameters()) {
        ASSERT_TRUE(kv.value().grad().defined()) << kv.key();
        EXPECT_GT(kv.value().grad().abs().sum().item<float>(), 0.0f) << kv.key();
    }
}

TEST(HeartllmTokenizer, FusedKernelsMatchLibTorchOps) {
    if (!heartllm_kernels_supported(32, false)) GTEST_SKIP() << "no AVX-512 on this CPU";
    torch::manual_seed(3);
    EcgTokenizerConfig c = small_config();
    c.n_samples = 997;  // odd lengths at every stage: the stride-2 padding and the last register tile
    EcgTokenizer tok(c);
    tok->eval();
    // GroupNorm affine that matters (the default is 1 and 0).
    for (auto& kv : tok->named_parameters())
        if (kv.key().find("norm") != std::string::npos) kv.value().data().uniform_(-1.5, 1.5);
    torch::NoGradGuard ng;
    const auto x = torch::randn({3, 12, 997}) * 2;
    tok->set_encoder_kernel(EncoderKernel::kLibtorch);
    const auto ref = tok->lead_features(x);
    tok->set_encoder_kernel(EncoderKernel::kAuto);
    ASSERT_TRUE(std::dynamic_pointer_cast<HeartllmTokenizerImpl>(tok.ptr())->uses_fused_kernels(x));
    const auto fused = tok->lead_features(x);
    EXPECT_LT((fused - ref).abs().max().item<float>(), 1e-4f * (1 + ref.abs().max().item<float>()));
    const auto codes_auto = tok->encode(x).codes;
    tok->set_encoder_kernel(EncoderKernel::kFused);
    const auto codes_fused = tok->encode(x).codes;
    tok->set_encoder_kernel(EncoderKernel::kLibtorch);
    EXPECT_TRUE(torch::equal(codes_auto, tok->encode(x).codes));
    EXPECT_LE((codes_fused != codes_auto).sum().item<int64_t>(), 2);
    if (heartllm_kernels_supported(32, true)) {  // bf16: approximate (bf16 inputs and weights, f32 sums)
        tok->set_encoder_kernel(EncoderKernel::kAuto);
        tok->to(torch::kBFloat16);
        const auto f16 = tok->lead_features(x.to(torch::kBFloat16)).to(torch::kFloat);
        const double rel = ((f16 - ref).norm() / ref.norm()).item<double>();
        EXPECT_LT(rel, 0.05) << "bf16 fused features vs f32";
    }
}

TEST(HeartllmTokenizer, NameTableCoversEveryWeightBothWays) {
    EcgTokenizer tok(EcgTokenizerConfig{});
    for (const auto& kv : tok->named_parameters()) {
        const std::string theirs = heartllm_name_from_ours(kv.key());
        ASSERT_FALSE(theirs.empty()) << kv.key();
        EXPECT_EQ(heartllm_name_to_ours(theirs), kv.key());
    }
    EXPECT_EQ(heartllm_name_to_ours("enc.blocks.3.1.weight"), "enc_down.3.weight");
    EXPECT_EQ(heartllm_name_to_ours("dec.dec.2.inc.b4.weight"), "dec_blocks.2.pool_proj.weight");
    EXPECT_EQ(heartllm_name_to_ours("enc.blocks.0.0.match.weight"), "enc_blocks.0.residual.weight");
    EXPECT_EQ(heartllm_name_to_ours("enc.blocks.x.0.match.weight"), "");
    EXPECT_EQ(heartllm_name_to_ours("quant.n"), "");
}

TEST(HeartllmTokenizer, ExportedStateDictImportsToTheSameModel) {
    torch::manual_seed(4);
    EcgTokenizerConfig c = small_config();
    c.channels = 8;
    c.n_samples = 5000;
    EcgTokenizer tok(c);
    tok->eval();
    const auto dir = test::temp_dir("heartllm-export");
    save_heartllm_state_dict(tok, (dir / "fsq.pt").string());
    const auto sd = read_torch_state_dict((dir / "fsq.pt").string());
    EXPECT_EQ(sd.count("enc.blocks.0.0.inc.b1.weight"), 1u);
    EXPECT_EQ(sd.count("dec.final.bias"), 1u);
    EcgTokenizer back = heartllm_tokenizer_from_state_dict(sd);
    EXPECT_EQ(back->config().channels, 8);
    EXPECT_EQ(back->config().n_stages, 4);
    const auto a = tok->named_parameters(), b = back->named_parameters();
    for (const auto& kv : a) EXPECT_TRUE(torch::equal(kv.value(), b[kv.key()])) << kv.key();
    EcgTokenizer v1(EcgTokenizerConfig{EcgTokenizerArch::kDiagecgV1});
    EXPECT_THROW(save_heartllm_state_dict(v1, (dir / "v1.pt").string()), std::invalid_argument);
    fs::remove_all(dir);
}

TEST(HeartllmTokenizer, CheckpointReaderRefusesWhatIsNotAStateDict) {
    const auto dir = test::temp_dir("heartllm-bad");
    const auto err = [](const std::string& path) {
        try {
            read_torch_state_dict(path);
        } catch (const std::runtime_error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    write_file_atomic((dir / "text.pt").string(), std::string("hello"));
    EXPECT_NE(err((dir / "text.pt").string()).find("not a PyTorch checkpoint"), std::string::npos);
    write_file_atomic((dir / "legacy.pt").string(), std::string("\x80\x02\x8a\x0a", 4));
    EXPECT_NE(err((dir / "legacy.pt").string()).find("legacy"), std::string::npos);
    // torch.save(nn.Linear(2, 2)): a pickled module object, never executed
    EXPECT_NE(err(kFixtures + "/module-object.pt").find("refusing to create a torch.nn.modules.linear.Linear object"),
              std::string::npos)
        << err(kFixtures + "/module-object.pt");
    // torch.save([1, 2, 3])
    EXPECT_NE(err(kFixtures + "/list.pt").find("not a state dict"), std::string::npos) << err(kFixtures + "/list.pt");
    // A state dict of another model: every missing tensor named
    EcgTokenizer v1(EcgTokenizerConfig{EcgTokenizerArch::kDiagecgV1});
    const auto sd = read_torch_state_dict(kFixtures + "/heartllm-c32-encoder.pt");
    auto broken = sd;
    broken.erase("enc.blocks.2.1.weight");
    broken["enc.extra.weight"] = sd.at("enc.to_code.bias");
    try {
        HeartllmImportOptions o;
        o.allow_missing_decoder = true;
        heartllm_tokenizer_from_state_dict(broken, o, "broken.pt");
        FAIL() << "expected an error";
    } catch (const std::runtime_error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("missing tensor 'enc.blocks.2.1.weight'"), std::string::npos) << m;
        EXPECT_NE(m.find("unexpected tensor 'enc.extra.weight'"), std::string::npos) << m;
    }
    fs::remove_all(dir);
}

TEST(HeartllmTokenizer, ModelDirectoriesWithoutArchitectureAreV1) {
    const auto v1 = load_ecg_tokenizer(std::string(DIAGECG_SOURCE_DIR) + "/models/ecg-tokenizer");
    EXPECT_EQ(v1.net->config().architecture, EcgTokenizerArch::kDiagecgV1);
    const auto c = ecg_tokenizer_config_from_json(nlohmann::json::parse(R"({"channels": 16})"), "train");
    EXPECT_EQ(c.architecture, EcgTokenizerArch::kHeartllm);
    EXPECT_EQ(ecg_tokenizer_config_to_json(c)["architecture"], "heartllm");
    EXPECT_THROW(ecg_tokenizer_config_from_json(nlohmann::json::parse(R"({"architecture": "heartlm"})"), "x"),
                 std::invalid_argument);
    // A new directory names its architecture and loads back as it.
    EcgTokenizerConfig small;
    small.channels = 8;
    EcgTokenizer tok(small);
    const auto dir = test::temp_dir("heartllm-dir");
    save_ecg_tokenizer(tok, {}, nullptr, dir.string());
    EXPECT_EQ(load_ecg_tokenizer(dir.string()).net->config().architecture, EcgTokenizerArch::kHeartllm);
    fs::remove_all(dir);
}

// Token identity with the authors' module: their ids for the fixture records, from the same weights.
TEST(HeartllmTokenizer, IdsEqualTheAuthorsModuleFullWidthEncoder) {
    EcgTokenizer net = fixture_model("heartllm-c32-encoder.pt", true);
    for (const auto k : {EncoderKernel::kAuto, EncoderKernel::kLibtorch}) {
        const bool fused = k == EncoderKernel::kAuto;
        net->set_encoder_kernel(k);
        const auto r = compare_ids(net, "ids-c32.u16", have_shared_data());
        EXPECT_GE(r.n_records, 6);  // tests/data/ecg: 3 PTB-XL test records, 3 CinC records
        EXPECT_EQ(r.n_same, r.n_records);
        std::cout << (fused ? "fused" : "libtorch") << ": ids identical on " << r.n_same << "/" << r.n_records
                  << " records\n";
    }
}

TEST(HeartllmTokenizer, IdsAndReconstructionEqualTheAuthorsModuleNarrow) {
    EcgTokenizer net = fixture_model("heartllm-c8.pt", false);
    const auto r = compare_ids(net, "ids-c8.u16", have_shared_data());
    EXPECT_EQ(r.n_same, r.n_records);
    // Their reconstruction of the first fixture record (PTB-XL 00009): within 1e-4.
    const auto paths = fixture_records();
    torch::NoGradGuard ng;
    const EcgTensor t = load_ecg_tensor({paths[0]}, PreprocessConfig{}, kAnyQuality, 5000);
    const auto recon = net->decode(net->encode(t.x).levels);
    const auto bytes = read_file_bytes(kFixtures + "/recon-c8-00009.f32");
    ASSERT_EQ(bytes.size(), static_cast<size_t>(12 * 5000 * 4));
    const auto theirs = torch::from_blob(const_cast<uint8_t*>(bytes.data()), {1, 12, 5000}, torch::kFloat).clone();
    EXPECT_LT((recon - theirs).abs().max().item<float>(), 1e-4f);
}
