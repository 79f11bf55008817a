// Stage 3's examples about one ECG share a long prompt prefix when the question follows the ECG
// (PromptOptions::ecg_first): chat header, patient text and the ECG block, most of a QA example. Packing holds that prefix once per sequence, followed by each example's own
// tail. A tail attends to the prefix and to itself only, at the rotary positions it has alone, so each
// example's loss (and gradient) is its unpacked one. The trainer logs how many fewer tokens a run's packing
// runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "diagecg/data/prompt.h"
#include "diagecg/llm/llm.h"

namespace diagecg {

struct PackedSequence {
    std::vector<int64_t> ids;          // the shared prefix, then each tail
    std::vector<int64_t> positions;    // rotary position per token: prefix 0..P-1, every tail from P on
    std::vector<int64_t> segment;      // 0 for the prefix, k for the k-th tail (1-based)
    std::vector<int64_t> predict_at;   // indices whose next-token prediction carries loss ...
    std::vector<int64_t> targets;      // ... and the token each must predict
    std::vector<size_t> examples;      // the input examples it holds, in order
};

// Packs examples that share a group key (their records) into sequences of at most per_pack examples and at most
// max_len tokens, the prefix being the examples' longest common prefix (cut to end before the first target's
// predictor). Examples are shuffled within their group (seeded) before packing; sequences come out in group
// order (the trainer shuffles them). per_pack 1: one sequence per example, its ids unchanged.
std::vector<PackedSequence> pack_shared_prefix(const std::vector<TokenizedExample>& examples,
                                               const std::vector<std::string>& groups, int64_t per_pack,
                                               int64_t max_len, uint64_t seed);

// Mean next-token cross-entropy over every target of the batch (sequences right-padded with pad_id); counts the
// tokens run (padding excluded) into *n_tokens when given.
torch::Tensor packed_loss(Llama& model, const std::vector<const PackedSequence*>& batch, int64_t pad_id,
                          int64_t* n_tokens = nullptr);

}  // namespace diagecg
