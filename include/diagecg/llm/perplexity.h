// Perplexity of a causal LM on documents given as token ids: each document is scored on its own (its first token
// only conditions, every later one is predicted from the tokens before it), as llama.cpp's perplexity of one
// document per context. The model runs its one forward path (hidden + logits), documents batched with right
// padding (causal attention: the padding after a document never reaches its tokens).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "diagecg/llm/llm.h"

namespace diagecg {

struct PerplexityResult {
    int64_t documents = 0;          // scored (documents of fewer than 2 tokens are skipped)
    int64_t tokens = 0;             // predicted tokens
    double nll = 0;                 // summed negative log-likelihood, nats
    std::vector<double> doc_nll;    // per scored document, in input order (skipped ones left out)
    double mean_nll() const { return tokens ? nll / static_cast<double>(tokens) : 0.0; }
    double perplexity() const;
};

// progress(done_documents, total_documents) after each batch, may be empty.
PerplexityResult score_documents(Llama& model, const std::vector<std::vector<int64_t>>& docs, int64_t batch_size,
                                 const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace diagecg
