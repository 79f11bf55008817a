// Trainer (schedule, strict config, early stopping, interrupt + exact resume), record sets, tokenizer
// model directories and reconstruction figures.
#include <csignal>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "test-util.h"
#include "diagecg/ecg/record-set.h"
#include "diagecg/tokenizer/ecg-tokenizer-io.h"
#include "diagecg/train/trainer.h"
#include "diagecg/util/safetensors.h"

using namespace diagecg;
using diagecg::test::temp_dir;
namespace fs = std::filesystem;

namespace {

// Linear regression y = x w* + noise, with a validation set drawn from a shifted distribution when
// `val_shift` is set (its loss then grows as training fits the training set).
class ToyTask : public TrainTask {
public:
    explicit ToyTask(double val_shift = 0, int64_t interrupt_at_call = -1) : interrupt_at_(interrupt_at_call) {
        torch::manual_seed(123);
        x_ = torch::randn({40, 6});
        y_ = x_.matmul(torch::arange(1, 7, torch::kFloat)) + 0.01 * torch::randn({40});
        vx_ = torch::randn({10, 6});
        vy_ = vx_.matmul(torch::arange(1, 7, torch::kFloat)) * (1 - val_shift) + val_shift * 5;
        lin_ = torch::nn::Linear(6, 1);
    }
    torch::nn::Module& module() override { return *lin_; }
    int64_t n_train() const override { return x_.size(0); }
    torch::Tensor train_loss(const std::vector<int64_t>& idx) override {
        if (++calls_ == interrupt_at_) std::raise(SIGINT);   // the trainer's handler only sets a flag
        const auto i = torch::tensor(idx, torch::kLong);
        return torch::mse_loss(lin_(x_.index_select(0, i)).squeeze(-1), y_.index_select(0, i));
    }
    nlohmann::json validate() override {
        return {{"val_loss", torch::mse_loss(lin_(vx_).squeeze(-1), vy_).item<double>()}};
    }
    void save(const std::string& dir) override {
        std::ofstream(fs::path(dir) / "w.txt") << lin_->weight.sum().item<double>();
    }
    torch::nn::Linear lin_{nullptr};
private:
    torch::Tensor x_, y_, vx_, vy_;
    int64_t interrupt_at_;
    int64_t calls_ = 0;
};

TrainConfig toy_config() {
    TrainConfig c;
    c.epochs = 4;
    c.batch_size = 8;
    c.micro_batch_size = 3;
    c.lr = 0.05;
    c.warmup_steps = 3;
    c.checkpoint_every = 4;
    c.patience = 0;
    c.seed = 7;
    return c;
}

}  // namespace

TEST(Trainer, ScheduleWarmsUpThenDecaysToTheFloor) {
    TrainConfig c;
    c.lr = 1e-3;
    c.warmup_steps = 10;
    c.min_lr_ratio = 0.1;
    const int64_t total = 100;
    for (int64_t s = 1; s < c.warmup_steps; ++s) EXPECT_GT(scheduled_lr(c, s, total), scheduled_lr(c, s - 1, total));
    EXPECT_NEAR(scheduled_lr(c, c.warmup_steps, total), c.lr, 1e-12);
    for (int64_t s = c.warmup_steps + 1; s < total; ++s) EXPECT_LE(scheduled_lr(c, s, total), scheduled_lr(c, s - 1, total));
    EXPECT_NEAR(scheduled_lr(c, total - 1, total), c.lr * c.min_lr_ratio, 1e-12);
}

TEST(Trainer, ConfigIsStrict) {
    EXPECT_THROW(train_config_from_json({{"epochs", 2}, {"btach_size", 4}}, "t"), std::invalid_argument);
    EXPECT_THROW(train_config_from_json({{"lr", "fast"}}, "t"), std::invalid_argument);
    EXPECT_THROW(train_config_from_json({{"micro_batch_size", 300}}, "t"), std::invalid_argument);
    const auto c = train_config_from_json({{"epochs", 2}, {"lr", 0.1}}, "t");
    EXPECT_EQ(c.epochs, 2);
    EXPECT_EQ(train_config_to_json(train_config_from_json(train_config_to_json(c), "t")), train_config_to_json(c));
}

TEST(Trainer, LossFallsAndEveryStepIsLogged) {
    const auto dir = temp_dir("toy-fit");
    ToyTask task;
    TrainConfig c = toy_config();
    c.grad_clip = 0;   // also covers the unclipped path
    c.lr = 0.2;
    const auto r = train(task, c, {{"toy", 1}}, dir.string(), false);
    EXPECT_EQ(r.steps, 4 * 5);   // 40 examples / batch 8 = 5 steps per epoch
    std::ifstream in(dir / "metrics.jsonl");
    std::string line;
    int n_steps = 0;
    double first = -1, last = -1;
    while (std::getline(in, line)) {
        const auto j = nlohmann::json::parse(line);
        if (!j.contains("loss")) continue;
        ++n_steps;
        if (first < 0) first = j["loss"];
        last = j["loss"];
    }
    EXPECT_EQ(n_steps, 20);
    EXPECT_LT(last, 0.5 * first);
    EXPECT_TRUE(fs::exists(dir / "model" / "w.txt"));
    fs::remove_all(dir);
}

TEST(Trainer, EarlyStoppingWhenValidationGetsWorse) {
    const auto dir = temp_dir("toy-early");
    ToyTask task(/*val_shift=*/1.0);   // validation targets are constant: fitting the training set hurts it
    TrainConfig c = toy_config();
    c.epochs = 20;
    c.patience = 2;
    const auto r = train(task, c, {{"toy", 2}}, dir.string(), false);
    EXPECT_TRUE(r.early_stopped);
    EXPECT_LT(r.steps, 20 * 5);
    EXPECT_EQ(r.best_step % 5, 0);   // validations happen at epoch ends
    fs::remove_all(dir);
}

TEST(Trainer, InterruptedAndResumedRunEqualsUninterrupted) {
    const auto d1 = temp_dir("toy-full"), d2 = temp_dir("toy-interrupted");
    ToyTask full;
    train(full, toy_config(), {{"toy", 3}}, d1.string(), false);

    ToyTask first(0, /*interrupt_at_call=*/17);   // SIGINT during step 6 (3 micro-batches per step)
    const auto r1 = train(first, toy_config(), {{"toy", 3}}, d2.string(), false);
    ASSERT_TRUE(r1.interrupted);
    EXPECT_EQ(r1.steps, 6);
    ToyTask second;   // a new process would start from fresh weights: the checkpoint must restore them
    const auto r2 = train(second, toy_config(), {{"toy", 3}}, d2.string(), true);
    EXPECT_FALSE(r2.interrupted);
    EXPECT_EQ(r2.steps, 20);
    EXPECT_TRUE(torch::equal(full.lin_->weight, second.lin_->weight));
    EXPECT_TRUE(torch::equal(full.lin_->bias, second.lin_->bias));

    ToyTask other;
    EXPECT_THROW(train(other, toy_config(), {{"toy", 4}}, d2.string(), true), std::runtime_error);   // other config
    fs::remove_all(d1);
    fs::remove_all(d2);
}

namespace {

void flip_byte(const fs::path& file, uint64_t at) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(static_cast<std::streamoff>(at));
    f.write(&c, 1);
}

// An interrupted toy run: checkpoint.pt at step 6, checkpoint.prev.pt at step 4 (checkpoint_every 4).
fs::path interrupted_run(const std::string& name) {
    const auto d = temp_dir(name);
    ToyTask first(0, /*interrupt_at_call=*/17);
    EXPECT_TRUE(train(first, toy_config(), {{"toy", 3}}, d.string(), false).interrupted);
    EXPECT_TRUE(fs::exists(d / "checkpoint.manifest.json"));
    EXPECT_TRUE(fs::exists(d / "checkpoint.prev.pt"));
    EXPECT_TRUE(fs::exists(d / "checkpoint.prev.manifest.json"));
    return d;
}

}  // namespace

TEST(Trainer, FlippedCheckpointBytesAreRefusedAndThePreviousOneResumesExactly) {
    const auto d1 = temp_dir("toy-full-2");
    ToyTask full;
    train(full, toy_config(), {{"toy", 3}}, d1.string(), false);
    const auto d = interrupted_run("toy-flipped");
    flip_byte(d / "checkpoint.pt", fs::file_size(d / "checkpoint.pt") / 2);
    ToyTask second;
    const auto r = train(second, toy_config(), {{"toy", 3}}, d.string(), true);   // falls back to step 4
    EXPECT_EQ(r.steps, 20);
    EXPECT_TRUE(torch::equal(full.lin_->weight, second.lin_->weight));
    EXPECT_TRUE(torch::equal(full.lin_->bias, second.lin_->bias));
    fs::remove_all(d1);
    fs::remove_all(d);
}

TEST(Trainer, NoGoodCheckpointIsOneErrorNamingEach) {
    const auto d = interrupted_run("toy-both-bad");
    flip_byte(d / "checkpoint.pt", 100);
    fs::remove(d / "checkpoint.prev.manifest.json");   // incomplete: as after a crash before its manifest
    ToyTask t;
    try {
        train(t, toy_config(), {{"toy", 3}}, d.string(), true);
        ADD_FAILURE() << "resumed from a corrupt checkpoint";
    } catch (const std::runtime_error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("no good checkpoint"), std::string::npos) << msg;
        EXPECT_NE(msg.find("checkpoint.pt: sha256 differs"), std::string::npos) << msg;
        EXPECT_NE(msg.find("checkpoint.prev.pt has no manifest"), std::string::npos) << msg;
    }
    fs::remove_all(d);
}

TEST(Trainer, CheckpointWithoutManifestFallsBackToThePreviousOne) {
    const auto d = interrupted_run("toy-no-manifest");
    fs::remove(d / "checkpoint.manifest.json");   // killed between the rename and the manifest
    ToyTask t;
    EXPECT_EQ(train(t, toy_config(), {{"toy", 3}}, d.string(), true).steps, 20);
    fs::remove_all(d);
}

TEST(Trainer, NanWeightsInACheckpointAreRefused) {
    // A trainable parameter the loss never touches keeps its NaN through AdamW and into the checkpoints.
    class PoisonedTask : public ToyTask {
    public:
        explicit PoisonedTask(int64_t interrupt_at) : ToyTask(0, interrupt_at) {
            lin_->register_parameter("poison", torch::full({2}, std::nan("")));
        }
    };
    const auto d = temp_dir("toy-nan");
    PoisonedTask first(17);
    ASSERT_TRUE(train(first, toy_config(), {{"toy", 3}}, d.string(), false).interrupted);
    PoisonedTask second(-1);
    try {
        train(second, toy_config(), {{"toy", 3}}, d.string(), true);
        ADD_FAILURE() << "resumed NaN weights";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("'poison' holds NaN or Inf"), std::string::npos) << e.what();
    }
    fs::remove_all(d);
}

TEST(Trainer, FinishedRunWithoutItsModelDoesNotResumeIntoSuccess) {
    const auto d = temp_dir("toy-no-model");
    ToyTask t;
    train(t, toy_config(), {{"toy", 3}}, d.string(), false);
    fs::remove_all(d / "model");
    ToyTask again;   // best weights = last checkpoint here: the model is exported again
    train(again, toy_config(), {{"toy", 3}}, d.string(), true);
    EXPECT_TRUE(fs::exists(d / "model" / "w.txt"));
    fs::remove_all(d);

    const auto e = temp_dir("toy-no-model-early");
    ToyTask shifted(/*val_shift=*/1.0);
    TrainConfig c = toy_config();
    c.epochs = 20;
    c.patience = 2;
    const auto r = train(shifted, c, {{"toy", 5}}, e.string(), false);
    ASSERT_TRUE(r.early_stopped);
    ASSERT_NE(r.best_step, r.steps);
    fs::remove_all(e / "model");
    ToyTask shifted2(1.0);
    EXPECT_THROW(train(shifted2, c, {{"toy", 5}}, e.string(), true), std::runtime_error);
    fs::remove_all(e);
}

TEST(RecordSet, DirectoryListsRecordsOnce) {
    const auto recs = list_records(std::string(DIAGECG_TEST_DATA) + "/ecg");
    auto has = [&](const std::string& name) {
        return std::any_of(recs.begin(), recs.end(), [&](const std::string& r) { return fs::path(r).filename() == name; });
    };
    EXPECT_TRUE(has("00043.hea"));
    EXPECT_TRUE(has("HR06000.hea"));
    EXPECT_FALSE(has("HR06000.mat"));
    EXPECT_FALSE(has("HR06000.edf"));      // beside HR06000.hea: the same record
    EXPECT_FALSE(has("00009.npy"));
    EXPECT_TRUE(has("00009-lt-f8.npy"));   // a record of its own
    EXPECT_TRUE(std::is_sorted(recs.begin(), recs.end()));
    EXPECT_THROW(list_records("/no/such/dir"), std::runtime_error);
}

TEST(RecordSet, SplitFileMatchesNumericIds) {
    const auto dir = temp_dir("split");
    std::ofstream(dir / "records.csv") << "ecg_id,split\n9,test\n43,train\n85,val\n";
    const auto splits = read_split_file((dir / "records.csv").string());
    const std::vector<std::string> recs = {"a/00009.hea", "a/00043.hea", "a/00085.hea", "a/00100.hea"};
    EXPECT_EQ(select_split(recs, splits, "train"), std::vector<std::string>{"a/00043.hea"});
    EXPECT_EQ(select_split(recs, splits, "test"), std::vector<std::string>{"a/00009.hea"});
    std::ofstream(dir / "dup.csv") << "ecg_id,split\n9,test\n09,train\n";
    EXPECT_THROW(read_split_file((dir / "dup.csv").string()), std::runtime_error);
    std::ofstream(dir / "bad.csv") << "ecg_id,split\n9 test\n";
    EXPECT_THROW(read_split_file((dir / "bad.csv").string()), std::runtime_error);
    fs::remove_all(dir);
}

TEST(RecordSet, FractionSplitIsDeterministicAndDisjoint) {
    std::vector<std::string> recs;
    for (int i = 0; i < 50; ++i) recs.push_back("r" + std::to_string(i));
    std::vector<std::string> a1, b1, a2, b2, a3, b3;
    split_by_fraction(recs, 0.2, 5, a1, b1);
    split_by_fraction(recs, 0.2, 5, a2, b2);
    split_by_fraction(recs, 0.2, 6, a3, b3);
    EXPECT_EQ(b1.size(), 10u);
    EXPECT_EQ(a1.size(), 40u);
    EXPECT_EQ(b1, b2);
    EXPECT_NE(b1, b3);
    for (const auto& r : b1) EXPECT_EQ(std::count(a1.begin(), a1.end(), r), 0);
}

TEST(EcgTokenizerIo, SaveLoadRoundTripGivesTheSameCodes) {
    EcgTokenizerConfig c;
    c.channels = 8;
    c.groups = 2;
    torch::manual_seed(3);
    EcgTokenizer net(c);
    const auto dir = temp_dir("tok-io");
    PreprocessConfig prep;
    prep.length_policy = LengthPolicy::kCenter;
    save_ecg_tokenizer(net, prep, {{"note", "test"}}, dir.string());
    auto m = load_ecg_tokenizer(dir.string());
    EXPECT_EQ(m.preprocess.length_policy, LengthPolicy::kCenter);
    EXPECT_EQ(m.net->config().channels, 8);
    torch::NoGradGuard ng;
    net->eval();
    const auto x = torch::randn({2, 12, 5000});
    EXPECT_TRUE(torch::equal(net->encode(x).codes, m.net->encode(x).codes));
    EXPECT_TRUE(torch::equal(net->decode(net->encode(x).levels), m.net->decode(m.net->encode(x).levels)));
    fs::remove_all(dir);
}

TEST(EcgTokenizerIo, LoadReportsEveryProblemAtOnce) {
    EcgTokenizerConfig c;
    c.channels = 8;
    c.groups = 2;
    EcgTokenizer net(c);
    const auto dir = temp_dir("tok-bad");
    save_ecg_tokenizer(net, {}, nullptr, dir.string());
    // Rewrite the weights without one tensor and with one extra.
    const SafetensorsFile f((dir / "model.safetensors").string());
    std::vector<TensorView> views;
    for (const auto& t : f.tensors()) {
        if (t.name == "to_latent.weight") continue;
        views.push_back({t.name, t.dtype, t.shape, f.data(t), static_cast<size_t>(t.numel()) * 4});
    }
    const float extra[2] = {1, 2};
    views.push_back({"stray.weight", DType::kF32, {2}, extra, sizeof extra});
    write_safetensors((dir / "model2.safetensors").string(), views);
    fs::rename(dir / "model2.safetensors", dir / "model.safetensors");
    try {
        load_ecg_tokenizer(dir.string());
        FAIL() << "expected an error";
    } catch (const std::runtime_error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("2 problem(s)"), std::string::npos) << m;
        EXPECT_NE(m.find("missing tensor 'to_latent.weight'"), std::string::npos) << m;
        EXPECT_NE(m.find("unexpected tensor 'stray.weight'"), std::string::npos) << m;
    }
    fs::remove_all(dir);
}

TEST(Reconstruction, PearsonIsScaleFreeAndNanOnFlatLeads) {
    const auto x = torch::randn({1, 2, 100});
    auto y = 3 * x + 1;
    y[0][1].fill_(0.5);
    const auto r = per_lead_pearson(x, y);
    EXPECT_NEAR(r[0][0].item<double>(), 1.0, 1e-9);
    EXPECT_TRUE(std::isnan(r[0][1].item<double>()));
    EXPECT_NEAR(per_lead_pearson(x, -x)[0][0].item<double>(), -1.0, 1e-9);
}

TEST(Reconstruction, MeterFigures) {
    ReconstructionMeter m(16);
    // Quarter-integer values: x + 1 is exact in float32, so the expected MSE is exact too.
    torch::manual_seed(3);
    const auto x = torch::randint(-40, 40, {2, 12, 50}).to(torch::kFloat) / 4;
    m.add(x, x, torch::tensor({{0, 1, 2, 3}, {0, 1, 2, 3}}));
    EXPECT_EQ(m.mse(), 0.0);
    EXPECT_NEAR(m.mean_pearson(), 1.0, 1e-9);
    EXPECT_EQ(m.codes_used(), 4);
    EXPECT_NEAR(m.perplexity(), 4.0, 1e-9);   // uniform over 4 codes
    m.add(x, x + 1, torch::tensor({{5, 5, 5, 5}}));
    EXPECT_NEAR(m.mse(), 0.5, 1e-9);          // half the values off by exactly 1
    EXPECT_EQ(m.codes_used(), 5);
    EXPECT_EQ(m.n_ecgs(), 4);
}
