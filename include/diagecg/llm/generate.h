// Autoregressive generation with a KV cache: prefill, then one token per step; several prompts of
// different lengths run as one batch (left padding + key mask), each row giving what it would alone.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "diagecg/llm/llm.h"
#include "diagecg/llm/sampling.h"
#include "diagecg/llm/text-tokenizer.h"

namespace diagecg {

struct GenerateOptions {
    int64_t n_predict = 128;            // max new tokens per row
    SamplingParams sampling;            // one sampler per row, each seeded with sampling.seed
    std::vector<std::string> stop;      // stop strings (the stop string is not part of the result)
    bool stop_at_eos = true;
    std::vector<int64_t> allowed_ids;   // when non-empty, only these ids may be generated
};

struct GenerateResult {
    std::vector<int64_t> tokens;        // generated ids (no prompt), after stop truncation
    std::string text;
    std::string stop_reason;            // "eos" | "stop" | "length"
    int64_t n_prompt = 0;
};

struct GenerateStats {
    double prefill_s = 0, decode_s = 0;
    int64_t n_prefill_tokens = 0;       // real (unpadded) prompt tokens
    int64_t n_decode_steps = 0;
};

// Called with (row, new text) as text becomes final. Text that might still become a stop string
// is held back until it cannot.
using StreamFn = std::function<void(size_t row, const std::string& piece)>;

std::vector<GenerateResult> generate(Llama& model, const TextTokenizer& tok,
                                     const std::vector<std::vector<int64_t>>& prompts,
                                     const GenerateOptions& opts, const StreamFn& stream = {},
                                     GenerateStats* stats = nullptr);

}  // namespace diagecg
