// Stage 3's prefix packing (train/prefix-pack.h): examples about one ECG held as one shared prefix plus their
// own tails must give each example exactly its unpacked loss and gradient.
#include <gtest/gtest.h>

#include <set>

#include "diagecg/llm/llm-io.h"
#include "diagecg/train/prefix-pack.h"
#include "test-util.h"

using namespace diagecg;

namespace {

// Examples of three groups: a group's examples share a prompt prefix of 9-12 ids, then differ (question,
// answer of 1-3 tokens). One example of group 1 diverges early (a shorter common prefix for its pack).
void make_examples(std::vector<TokenizedExample>* ex, std::vector<std::string>* groups) {
    torch::manual_seed(3);
    for (int g = 0; g < 3; ++g) {
        const auto prefix = torch::randint(3, 61, {9 + g}, torch::kLong);
        for (int k = 0; k < 5 + g; ++k) {
            TokenizedExample e;
            e.ids.assign(prefix.data_ptr<int64_t>(), prefix.data_ptr<int64_t>() + prefix.numel());
            if (g == 1 && k == 2) e.ids.resize(4);   // diverges after 4 ids
            const auto q = torch::randint(3, 61, {2 + k % 3}, torch::kLong);
            e.ids.insert(e.ids.end(), q.data_ptr<int64_t>(), q.data_ptr<int64_t>() + q.numel());
            e.n_prompt = static_cast<int64_t>(e.ids.size());
            const auto a = torch::randint(3, 61, {1 + k % 3}, torch::kLong);
            e.ids.insert(e.ids.end(), a.data_ptr<int64_t>(), a.data_ptr<int64_t>() + a.numel());
            ex->push_back(e);
            groups->push_back("record-" + std::to_string(g));
        }
    }
}

// The unpacked reference: every example alone, each target's cross-entropy, averaged over all targets.
torch::Tensor reference_loss(Llama& model, const std::vector<TokenizedExample>& ex) {
    std::vector<torch::Tensor> losses;
    for (const auto& e : ex) {
        const auto ids = torch::tensor(e.ids, torch::kLong).unsqueeze(0);
        const auto lg = model->forward(ids.slice(1, 0, -1))[0];                  // [N-1, V]
        const auto sl = lg.slice(0, e.n_prompt - 1);
        const auto tgt = ids[0].slice(0, e.n_prompt);
        losses.push_back(torch::nn::functional::cross_entropy(
            sl, tgt, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone)));
    }
    return torch::cat(losses).mean();
}

std::vector<torch::Tensor> grads(Llama& model, const torch::Tensor& loss) {
    model->zero_grad();
    loss.backward();
    std::vector<torch::Tensor> g;
    for (const auto& p : model->parameters())
        if (p.grad().defined()) g.push_back(p.grad().clone());
    return g;
}

}  // namespace

TEST(PrefixPack, PackedLossAndGradientsAreTheUnpackedOnes) {
    std::vector<TokenizedExample> ex;
    std::vector<std::string> groups;
    make_examples(&ex, &groups);
    auto cfg = test::tiny_llm_config();
    cfg.max_position_embeddings = 128;   // packed sequences run past 64
    auto model = random_llama(cfg, 11, {});
    model->train();
    for (auto& p : model->parameters()) p.set_requires_grad(true);
    const auto ref = reference_loss(model, ex);
    const auto ref_grads = grads(model, ref);
    ASSERT_FALSE(ref_grads.empty());
    for (const int64_t per_pack : {1, 2, 4, 16}) {
        const auto packs = pack_shared_prefix(ex, groups, per_pack, /*max_len=*/128, /*seed=*/per_pack);
        // every example exactly once, never two groups in one sequence, at most per_pack each
        std::multiset<size_t> seen;
        for (const auto& s : packs) {
            EXPECT_LE(static_cast<int64_t>(s.examples.size()), per_pack);
            for (const size_t i : s.examples) {
                seen.insert(i);
                EXPECT_EQ(groups[i], groups[s.examples[0]]);
            }
        }
        ASSERT_EQ(seen.size(), ex.size());
        EXPECT_EQ(std::set<size_t>(seen.begin(), seen.end()).size(), ex.size());
        if (per_pack == 1) EXPECT_EQ(packs.size(), ex.size());
        if (per_pack == 16) EXPECT_EQ(packs.size(), 3u);
        std::vector<const PackedSequence*> batch;
        for (const auto& s : packs) batch.push_back(&s);
        int64_t n_tokens = 0;
        const auto loss = packed_loss(model, batch, /*pad_id=*/0, &n_tokens);
        EXPECT_NEAR(loss.item<double>(), ref.item<double>(), 1e-5) << "per_pack " << per_pack;
        int64_t alone = 0;
        for (const auto& e : ex) alone += static_cast<int64_t>(e.ids.size());
        if (per_pack == 1) EXPECT_EQ(n_tokens, alone);
        else EXPECT_LT(n_tokens, alone) << "packing held no prefix once";
        const auto g = grads(model, loss);
        ASSERT_EQ(g.size(), ref_grads.size());
        for (size_t i = 0; i < g.size(); ++i)
            EXPECT_TRUE(torch::allclose(g[i], ref_grads[i], 1e-4, 1e-6)) << "per_pack " << per_pack << ", parameter " << i;
    }
}

TEST(PrefixPack, SequencesRespectMaxLenAndBadInputIsRefused) {
    std::vector<TokenizedExample> ex;
    std::vector<std::string> groups;
    make_examples(&ex, &groups);
    for (const auto& s : pack_shared_prefix(ex, groups, 16, /*max_len=*/24, 0)) {
        EXPECT_LE(s.ids.size(), 24u);
        EXPECT_EQ(s.ids.size(), s.positions.size());
        EXPECT_EQ(s.ids.size(), s.segment.size());
    }
    EXPECT_THROW(pack_shared_prefix(ex, {"a"}, 2, 64, 0), std::invalid_argument);
    EXPECT_THROW(pack_shared_prefix(ex, groups, 0, 64, 0), std::invalid_argument);
    auto bad = ex;
    bad[0].n_prompt = static_cast<int64_t>(bad[0].ids.size());   // no target
    EXPECT_THROW(pack_shared_prefix(bad, groups, 2, 64, 0), std::invalid_argument);
}
