// Stages 2 and 3 through the real binary: data-parallel training equals one process, a killed run resumes to
// the same weights, and stage 3 trains an adapter that applies to the stage-2 model.
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test-util.h"
#include "diagecg/data/ptbxl-meta.h"
#include "diagecg/data/text-corpus.h"
#include "diagecg/train/llm-training.h"
#include "diagecg/util/safetensors.h"

using namespace diagecg;
using diagecg::test::temp_dir;
namespace fs = std::filesystem;

namespace {

// Runs the CLI from the source tree (the configs' relative paths), returns its exit status.
int run_cli(const std::string& args, const std::string& env = "") {
    const std::string cmd = "cd '" + std::string(DIAGECG_SOURCE_DIR) + "' && " + env + " '" + DIAGECG_CLI + "' " + args;
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// Largest |a - b| over every tensor of two safetensors files with the same names and shapes (F32).
double max_abs_diff(const std::string& a_path, const std::string& b_path) {
    const SafetensorsFile a(a_path), b(b_path);
    EXPECT_EQ(a.tensors().size(), b.tensors().size());
    double worst = 0;
    for (const auto& ta : a.tensors()) {
        const TensorInfo* tb = b.find(ta.name);
        if (!tb || tb->shape != ta.shape || ta.dtype != DType::kF32 || tb->dtype != DType::kF32) {
            ADD_FAILURE() << "tensor " << ta.name << " differs in presence, shape or dtype";
            return INFINITY;
        }
        const auto* pa = reinterpret_cast<const float*>(a.data(ta));
        const auto* pb = reinterpret_cast<const float*>(b.data(*tb));
        for (int64_t i = 0; i < ta.numel(); ++i) worst = std::max(worst, static_cast<double>(std::fabs(pa[i] - pb[i])));
    }
    return worst;
}

std::string read(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

const char* kPretrain = "pretrain --config configs/pretrain-tiny.json --log-level warn";

}  // namespace

TEST(Stage2, TwoProcessesGiveTheWeightsOfOneProcessWithTheSameGlobalBatch) {
    const auto dir = temp_dir("ddp");
    // Global batch 4 (micro-batch 2): one process runs both micro-batches, two processes one each.
    ASSERT_EQ(run_cli(std::string("-t 1 ") + kPretrain + " --max-steps 4 -o " + (dir / "one").string()), 0);
    const int port = 20000 + static_cast<int>(::getpid() % 20000);
    const std::string env = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port);
    const std::string args = std::string("-t 1 ") + kPretrain + " --max-steps 4 -o " + (dir / "two").string();
    const std::string both = "(RANK=1 " + env + " '" + DIAGECG_CLI + "' " + args + " & RANK=0 " + env + " '" + DIAGECG_CLI +
                             "' " + args + "; r0=$?; wait $!; r1=$?; exit $((r0 + r1)))";
    const int rc = std::system(("cd '" + std::string(DIAGECG_SOURCE_DIR) + "' && " + both).c_str());
    ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << "data-parallel run failed";
    const double d = max_abs_diff((dir / "one/model/model.safetensors").string(), (dir / "two/model/model.safetensors").string());
    EXPECT_LT(d, 1e-5) << "weights of 1 and 2 processes differ by " << d;
    // Both ran the 4 steps, and rank 1 wrote nothing of its own.
    EXPECT_NE(read(dir / "one/metrics.jsonl").find("\"step\":4"), std::string::npos);
    EXPECT_NE(read(dir / "two/metrics.jsonl").find("\"step\":4"), std::string::npos);
    EXPECT_FALSE(fs::exists(dir / "two/checkpoint.pt.tmp"));
    fs::remove_all(dir);
}

TEST(Stage2, KilledRunResumesToTheSameWeights) {
    const auto dir = temp_dir("resume");
    ASSERT_EQ(run_cli(std::string("-t 1 ") + kPretrain + " --max-steps 6 -o " + (dir / "straight").string()), 0);
    const int killed = run_cli(std::string("-t 1 ") + kPretrain + " --max-steps 6 --test-sigkill-at-step 3 -o " +
                               (dir / "killed").string());
    EXPECT_NE(killed, 0);
    ASSERT_FALSE(fs::exists(dir / "killed/model")) << "a killed run must not have exported yet";
    ASSERT_EQ(run_cli(std::string("-t 1 ") + kPretrain + " --max-steps 6 --resume -o " + (dir / "killed").string()), 0);
    EXPECT_EQ(max_abs_diff((dir / "straight/model/model.safetensors").string(), (dir / "killed/model/model.safetensors").string()),
              0.0);
    // Same metrics lines (the killed run's lines after its checkpoint were dropped and redone), same losses.
    auto losses = [](const std::string& text) {
        std::vector<double> out;
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);) {
            const auto j = nlohmann::json::parse(line);
            out.push_back(j.contains("loss") ? j["loss"].get<double>() : j.at("val_loss").get<double>());
        }
        return out;
    };
    EXPECT_EQ(losses(read(dir / "straight/metrics.jsonl")), losses(read(dir / "killed/metrics.jsonl")));
    fs::remove_all(dir);
}

TEST(Stage3, AdapterTrainedOnTheStage2ModelAppliesAndMerges) {
    const auto dir = temp_dir("stage3");
    ASSERT_EQ(run_cli(std::string("-t 1 ") + kPretrain + " --max-steps 2 -o " + (dir / "pre").string()), 0);
    ASSERT_TRUE(fs::exists(dir / "pre/model/ecg-tokenizer/config.json"));
    ASSERT_EQ(run_cli("-t 1 --log-level warn finetune --config configs/finetune-report-tiny.json -m " + (dir / "pre/model").string() +
                      " -o " + (dir / "ft").string() + " > " + (dir / "ft.json").string()),
              0);
    const auto result = nlohmann::json::parse(read(dir / "ft.json"));
    EXPECT_EQ(result.at("steps").get<int64_t>(), 4);   // 5 examples, batch 4, 2 epochs
    EXPECT_TRUE(std::isfinite(result.at("best_val_loss").get<double>()));
    const auto meta = nlohmann::json::parse(read(dir / "ft/model/adapter.json"));
    EXPECT_EQ(meta.at("r").get<int64_t>(), 4);
    EXPECT_EQ(meta.at("task").get<std::string>(), "report");
    EXPECT_EQ(fs::path(meta.at("base_model").get<std::string>()), fs::absolute(dir / "pre/model").lexically_normal());
    // Merging writes a full model directory that still carries the ECG tokenizer.
    ASSERT_EQ(run_cli("--log-level warn lora merge --lora " + (dir / "ft/model/adapter").string() + " -o " +
                      (dir / "merged").string() + " > /dev/null"),
              0);
    EXPECT_TRUE(fs::exists(dir / "merged/model.safetensors"));
    EXPECT_TRUE(fs::exists(dir / "merged/ecg-tokenizer/model.safetensors"));
    EXPECT_GT(max_abs_diff((dir / "pre/model/model.safetensors").string(), (dir / "merged/model.safetensors").string()), 0.0);
    fs::remove_all(dir);
}

// A capped "subset": "spread" keeps samples from the whole file (ECG-QA files list each record's questions
// together: the first 96 of the v2 validation file ask about 4 of its 183 ECGs, the spread 96 about 96 ECGs and
// 25 of its 26 templates).
TEST(Stage3, SpreadSubsetKeepsEvenlySpacedSamples) {
    EXPECT_EQ(spread_indices(10, 3), (std::vector<size_t>{0, 3, 6}));
    const auto v = spread_indices(4512, 96);
    ASSERT_EQ(v.size(), 96u);
    EXPECT_EQ(v.front(), 0u);
    EXPECT_EQ(v.back(), 4465u);   // 95 * 4512 / 96
    for (size_t i = 1; i < v.size(); ++i) EXPECT_EQ(v[i] - v[i - 1], 47u);
    const std::vector<size_t> all{0, 1, 2, 3, 4};
    EXPECT_EQ(spread_indices(5, 0), all);   // no cap
    EXPECT_EQ(spread_indices(5, 5), all);
    EXPECT_EQ(spread_indices(5, 9), all);
    EXPECT_TRUE(spread_indices(0, 3).empty());
}

// The bundled model's path (models/diagecg): a text corpus without held-out reports, SentencePiece + a random
// model from init-llm, and stage 2 on text and ECGs together training every weight.
TEST(Stage2, FromScratchOnTextAndEcgsTrainsEveryWeight) {
    const auto dir = temp_dir("scratch");
    const std::string d = dir.string();
    ASSERT_EQ(run_cli("text-corpus --ptbxl-database tests/data/ecgqa/ptbxl_database_form.csv --exclude-folds 9 10 "
                      "--ecgqa tests/data/ecgqa/ecgqa-sample.json --scp-statements tests/data/ecgqa/scp_statements.csv "
                      "--all-languages -o " + d + "/text --log-level warn > /dev/null"), 0);
    // no report of an excluded fold is in the corpus, unless a kept record has the same text
    std::set<std::string> kept, held_out;
    for (const auto& [id, r] : read_ptbxl_database(std::string(DIAGECG_SOURCE_DIR) + "/tests/data/ecgqa/ptbxl_database_form.csv"))
        ((r.strat_fold == 9 || r.strat_fold == 10) ? held_out : kept).insert(clean_ptbxl_report(r.report));
    const std::string corpus = read(dir / "text" / "train.txt") + read(dir / "text" / "val.txt");
    int64_t n_held_out = 0;
    for (const auto& rep : held_out) {
        if (rep.empty() || kept.count(rep)) continue;
        ++n_held_out;
        EXPECT_EQ(corpus.find(rep + "\n"), std::string::npos) << rep;
    }
    EXPECT_GT(n_held_out, 0) << "the sample has no fold-9/10 report: the exclusion is untested";
    EXPECT_NE(corpus.find("question: "), std::string::npos);

    std::ofstream(dir / "init.json") << R"({"text": [")" << d << R"(/text/train.txt"], "tokenizer": {"vocab_size": 400},
        "model": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                  "num_key_value_heads": 2, "max_position_embeddings": 128}, "seed": 3})";
    ASSERT_EQ(run_cli("init-llm -c " + d + "/init.json -o " + d + "/init --log-level warn > /dev/null"), 0);
    const auto init_cfg = nlohmann::json::parse(read(dir / "init" / "config.json"));
    EXPECT_EQ(init_cfg["hidden_size"], 32);
    EXPECT_LE(init_cfg["vocab_size"].get<int64_t>(), 400);

    std::ofstream(dir / "pretrain.json") << R"({"base_model": ")" << d << R"(/init", "ecg_tokenizer": "models/ecg-tokenizer",
        "token_cache": "runs/token-cache", "data": {"path": "tests/data/tokenizer-tiny.txt", "val_fraction": 0.2},
        "text": {"train": [")" << d << R"(/text/train.txt"], "val": [")" << d << R"(/text/val.txt"]},
        "seq_len": 64, "trainable": {"all": true},
        "train": {"epochs": 1, "batch_size": 4, "lr": 0.003, "max_steps": 3, "patience": 0, "seed": 1}})";
    ASSERT_EQ(run_cli("pretrain --config " + d + "/pretrain.json -o " + d + "/run --log-level warn > /dev/null"), 0);
    const auto cfg = nlohmann::json::parse(read(dir / "run" / "model" / "config.json"));
    EXPECT_EQ(cfg["vocab_size"].get<int64_t>(), init_cfg["vocab_size"].get<int64_t>() + 1296 + 3);
    // every weight of the text model moved (not only embeddings, norms or adapters)
    const SafetensorsFile before((dir / "init" / "model.safetensors").string()), after((dir / "run" / "model" / "model.safetensors").string());
    for (const auto& t : before.tensors()) {
        const TensorInfo* u = after.find(t.name);
        ASSERT_NE(u, nullptr) << t.name;
        if (t.name == "model.embed_tokens.weight") continue;   // grew: compared below on the text rows
        ASSERT_EQ(t.shape, u->shape) << t.name;
        EXPECT_NE(std::memcmp(before.data(t), after.data(*u), static_cast<size_t>(t.numel()) * 4), 0) << t.name << " did not train";
    }
    const TensorInfo* e0 = before.find("model.embed_tokens.weight");
    const TensorInfo* e1 = after.find("model.embed_tokens.weight");
    ASSERT_TRUE(e0 && e1);
    EXPECT_NE(std::memcmp(before.data(*e0), after.data(*e1), static_cast<size_t>(e0->numel()) * 4), 0);
}
