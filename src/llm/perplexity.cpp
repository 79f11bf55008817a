#include "diagecg/llm/perplexity.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace diagecg {

double PerplexityResult::perplexity() const {
    return std::exp(mean_nll());
}

PerplexityResult score_documents(Llama& model, const std::vector<std::vector<int64_t>>& docs, int64_t batch_size,
                                 const std::function<void(int64_t, int64_t)>& progress) {
    if (batch_size < 1)
        throw std::invalid_argument("perplexity: batch size must be >= 1, got " + std::to_string(batch_size));
    const int64_t n_ctx = model->config().max_position_embeddings, vocab = model->config().vocab_size;
    std::vector<size_t> kept;
    for (size_t i = 0; i < docs.size(); ++i) {
        if (docs[i].size() < 2) continue;
        if (static_cast<int64_t>(docs[i].size()) > n_ctx)
            throw std::invalid_argument("perplexity: document " + std::to_string(i) + " has " +
                                        std::to_string(docs[i].size()) + " tokens, beyond the model's context of " +
                                        std::to_string(n_ctx));
        for (const int64_t t : docs[i])
            if (t < 0 || t >= vocab)
                throw std::invalid_argument("perplexity: document " + std::to_string(i) + " holds token id " +
                                            std::to_string(t) + ", outside the vocabulary of " + std::to_string(vocab));
        kept.push_back(i);
    }
    torch::NoGradGuard ng;
    const bool was_training = model->is_training();
    model->eval();
    PerplexityResult r;
    const auto dev = model->device();
    for (size_t b0 = 0; b0 < kept.size(); b0 += static_cast<size_t>(batch_size)) {
        const size_t b1 = std::min(kept.size(), b0 + static_cast<size_t>(batch_size));
        int64_t len = 0;
        for (size_t k = b0; k < b1; ++k) len = std::max<int64_t>(len, static_cast<int64_t>(docs[kept[k]].size()));
        const auto nb = static_cast<int64_t>(b1 - b0);
        auto tokens = torch::zeros({nb, len}, torch::kLong);
        auto target = torch::full({nb, len - 1}, -100, torch::kLong);  // -100: padding, not scored
        auto* tp = tokens.data_ptr<int64_t>();
        auto* gp = target.data_ptr<int64_t>();
        for (int64_t j = 0; j < nb; ++j) {
            const auto& d = docs[kept[b0 + static_cast<size_t>(j)]];
            std::copy(d.begin(), d.end(), tp + j * len);
            std::copy(d.begin() + 1, d.end(), gp + j * (len - 1));
        }
        const auto logits = model->forward(tokens.to(dev)).narrow(1, 0, len - 1).to(torch::kCPU, torch::kFloat);
        const auto nll = torch::nll_loss(torch::log_softmax(logits, -1).reshape({-1, logits.size(-1)}),
                                         target.reshape({-1}), {}, at::Reduction::None, -100)
                             .reshape({nb, len - 1})
                             .to(torch::kDouble)
                             .sum(1);
        for (int64_t j = 0; j < nb; ++j) {
            const double v = nll[j].item<double>();
            r.doc_nll.push_back(v);
            r.nll += v;
            r.tokens += static_cast<int64_t>(docs[kept[b0 + static_cast<size_t>(j)]].size()) - 1;
        }
        r.documents += nb;
        if (progress) progress(r.documents, static_cast<int64_t>(kept.size()));
    }
    if (was_training) model->train();
    return r;
}

}  // namespace diagecg
