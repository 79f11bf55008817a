#include "diagecg/train/prefix-pack.h"

#include <algorithm>
#include <random>
#include <stdexcept>
#include <unordered_map>

namespace diagecg {

namespace {

size_t common_prefix(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    const size_t n = std::min(a.size(), b.size());
    size_t i = 0;
    while (i < n && a[i] == b[i]) ++i;
    return i;
}

// The prefix ends before the predictor of the example's first target (that predictor belongs to the tail).
size_t prefix_limit(const TokenizedExample& e) { return static_cast<size_t>(e.n_prompt - 1); }

PackedSequence make_sequence(const std::vector<TokenizedExample>& examples, const std::vector<size_t>& members,
                             size_t prefix) {
    PackedSequence s;
    const auto& first = examples[members[0]].ids;
    for (size_t t = 0; t < prefix; ++t) {
        s.ids.push_back(first[t]);
        s.positions.push_back(static_cast<int64_t>(t));
        s.segment.push_back(0);
    }
    for (size_t k = 0; k < members.size(); ++k) {
        const TokenizedExample& e = examples[members[k]];
        const auto off = static_cast<int64_t>(s.ids.size());
        for (size_t t = prefix; t < e.ids.size(); ++t) {
            s.ids.push_back(e.ids[t]);
            s.positions.push_back(static_cast<int64_t>(t));
            s.segment.push_back(static_cast<int64_t>(k) + 1);
        }
        // target e.ids[a] (a >= n_prompt) is predicted at the example's index a - 1 >= prefix
        for (auto a = static_cast<size_t>(e.n_prompt); a < e.ids.size(); ++a) {
            s.predict_at.push_back(off + static_cast<int64_t>(a - 1 - prefix));
            s.targets.push_back(e.ids[a]);
        }
        s.examples.push_back(members[k]);
    }
    return s;
}

}  // namespace

std::vector<PackedSequence> pack_shared_prefix(const std::vector<TokenizedExample>& examples,
                                               const std::vector<std::string>& groups, int64_t per_pack,
                                               int64_t max_len, uint64_t seed) {
    if (groups.size() != examples.size())
        throw std::invalid_argument("pack_shared_prefix: " + std::to_string(groups.size()) + " group keys for " +
                                    std::to_string(examples.size()) + " examples");
    if (per_pack < 1) throw std::invalid_argument("pack_shared_prefix: per_pack must be >= 1");
    std::vector<std::vector<size_t>> members;   // per group, in order of first appearance
    std::unordered_map<std::string, size_t> group_index;
    for (size_t i = 0; i < examples.size(); ++i) {
        const auto& e = examples[i];
        if (e.n_prompt < 1 || e.n_prompt >= static_cast<int64_t>(e.ids.size()))
            throw std::invalid_argument("pack_shared_prefix: example " + std::to_string(i) +
                                        " needs a prompt and at least one target token");
        const auto [it, added] = group_index.emplace(groups[i], members.size());
        if (added) members.emplace_back();
        members[it->second].push_back(i);
    }
    std::mt19937_64 rng(seed);
    std::vector<PackedSequence> out;
    for (auto& g : members) {
        if (per_pack > 1) std::shuffle(g.begin(), g.end(), rng);
        std::vector<size_t> cur;
        size_t prefix = 0, tails = 0;   // tails: the summed lengths of cur's examples past `prefix`
        const auto flush = [&] {
            if (!cur.empty()) out.push_back(make_sequence(examples, cur, prefix));
            cur.clear();
        };
        for (const size_t i : g) {
            const auto& e = examples[i];
            if (!cur.empty() && static_cast<int64_t>(cur.size()) < per_pack) {
                const size_t p = std::min({prefix, common_prefix(examples[cur[0]].ids, e.ids), prefix_limit(e)});
                // a shorter prefix moves (prefix - p) tokens of every member into its tail
                const size_t total = p + tails + (prefix - p) * cur.size() + (e.ids.size() - p);
                if (static_cast<int64_t>(total) <= max_len) {
                    tails += (prefix - p) * cur.size() + (e.ids.size() - p);
                    prefix = p;
                    cur.push_back(i);
                    continue;
                }
            }
            flush();
            cur = {i};
            prefix = prefix_limit(e);
            tails = e.ids.size() - prefix;
        }
        flush();
    }
    return out;
}

torch::Tensor packed_loss(Llama& model, const std::vector<const PackedSequence*>& batch, int64_t pad_id,
                          int64_t* n_tokens) {
    TORCH_CHECK(!batch.empty(), "packed_loss: empty batch");
    int64_t width = 0;
    bool shared = false;   // some sequence holds more than one tail: the segment mask and positions are needed
    for (const auto* s : batch) {
        width = std::max<int64_t>(width, static_cast<int64_t>(s->ids.size()));
        shared = shared || (!s->segment.empty() && s->segment.back() > 1);
    }
    const int64_t n = width - 1;   // the last token predicts nothing
    const auto b = static_cast<int64_t>(batch.size());
    auto tokens = torch::full({b, n}, pad_id, torch::kLong);
    auto positions = torch::zeros({b, n}, torch::kLong);
    auto segment = torch::full({b, n}, -1, torch::kLong);   // -1: padding
    std::vector<int64_t> sel, tgt;
    if (n_tokens) *n_tokens = 0;
    auto ta = tokens.accessor<int64_t, 2>();
    auto pa = positions.accessor<int64_t, 2>();
    auto sa = segment.accessor<int64_t, 2>();
    for (int64_t r = 0; r < b; ++r) {
        const PackedSequence& s = *batch[static_cast<size_t>(r)];
        const auto len = std::min<int64_t>(static_cast<int64_t>(s.ids.size()), n);
        for (int64_t t = 0; t < len; ++t) {
            ta[r][t] = s.ids[static_cast<size_t>(t)];
            pa[r][t] = s.positions[static_cast<size_t>(t)];
            sa[r][t] = s.segment[static_cast<size_t>(t)];
        }
        for (size_t k = 0; k < s.predict_at.size(); ++k) {
            TORCH_CHECK(s.predict_at[k] < len, "packed_loss: predictor ", s.predict_at[k], " past the sequence");
            sel.push_back(r * n + s.predict_at[k]);
            tgt.push_back(s.targets[k]);
        }
        if (n_tokens) *n_tokens += static_cast<int64_t>(s.ids.size());
    }
    const auto dev = model->device();
    torch::Tensor pos, allowed;
    if (shared) {
        // query i may see key j (j <= i, applied by the model) in the prefix or in its own tail, never padding
        const auto kj = segment.unsqueeze(1), qi = segment.unsqueeze(2);   // [B, 1, N], [B, N, 1]
        allowed = (kj.eq(0) | kj.eq(qi)) & kj.ge(0);                         // [B, N, N]
        pos = positions;
    }
    const auto h = model->hidden(tokens.to(dev), nullptr, pos, allowed);    // [B, N, D]
    const auto idx = torch::tensor(sel, torch::kLong).to(dev);
    const auto lg = model->logits(h.reshape({-1, h.size(-1)}).index_select(0, idx));   // [T, V] f32
    return torch::nn::functional::cross_entropy(lg, torch::tensor(tgt, torch::kLong).to(dev));
}

}  // namespace diagecg
