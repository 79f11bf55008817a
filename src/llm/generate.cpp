#include "diagecg/llm/generate.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace diagecg {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Row {
    std::vector<int64_t> prompt;
    std::vector<int64_t> out;
    std::string text;          // decoded `out`
    size_t emitted = 0;        // bytes of `text` already streamed
    bool done = false;
    std::string reason;
};

// The text of `out` as it continues the prompt: decoded after the prompt's last token and cut after it, so a
// leading space survives (SentencePiece drops the space of a text's first piece: "Once" + "▁upon" must give
// " upon", not "upon").
std::string continuation_text(const TextTokenizer& tok, const Row& r) {
    if (r.prompt.empty()) return tok.decode(r.out);
    std::vector<int64_t> ids{r.prompt.back()};
    const std::string anchor = tok.decode(ids);
    ids.insert(ids.end(), r.out.begin(), r.out.end());
    const std::string full = tok.decode(ids);
    return full.compare(0, anchor.size(), anchor) == 0 ? full.substr(anchor.size()) : tok.decode(r.out);
}

// Longest suffix of `text` that is a proper prefix of some stop string: must be held back.
size_t held_back(const std::string& text, const std::vector<std::string>& stops) {
    size_t hold = 0;
    for (const auto& s : stops) {
        for (size_t k = std::min(s.size() - 1, text.size()); k > hold; --k) {
            if (text.compare(text.size() - k, k, s, 0, k) == 0) { hold = k; break; }
        }
    }
    return hold;
}

}  // namespace

std::vector<GenerateResult> generate(Llama& model, const TextTokenizer& tok,
                                     const std::vector<std::vector<int64_t>>& prompts,
                                     const GenerateOptions& opts, const StreamFn& stream, GenerateStats* stats) {
    if (prompts.empty()) return {};
    if (opts.n_predict < 0) throw std::invalid_argument("n_predict must be >= 0");
    for (const auto& s : opts.stop) if (s.empty()) throw std::invalid_argument("stop strings must not be empty");
    const auto& cfg = model->config();
    const int64_t b = static_cast<int64_t>(prompts.size());
    int64_t p_max = 0;
    for (size_t i = 0; i < prompts.size(); ++i) {
        if (prompts[i].empty()) throw std::invalid_argument("prompt " + std::to_string(i) + " is empty");
        for (const int64_t id : prompts[i])
            if (id < 0 || id >= cfg.vocab_size)
                throw std::invalid_argument("prompt " + std::to_string(i) + " has token id " + std::to_string(id) +
                                            " outside the vocabulary [0, " + std::to_string(cfg.vocab_size) + ")");
        p_max = std::max<int64_t>(p_max, prompts[i].size());
    }
    const int64_t capacity = p_max + opts.n_predict;
    if (capacity > cfg.max_position_embeddings)
        throw std::invalid_argument("prompt (" + std::to_string(p_max) + " tokens) + n_predict (" + std::to_string(opts.n_predict) +
                                    ") exceed the model's context of " + std::to_string(cfg.max_position_embeddings));

    torch::NoGradGuard ng;
    const auto dev = model->device();
    std::vector<Row> rows(b);
    std::vector<Sampler> samplers;
    samplers.reserve(b);
    // Left padding: row i's real tokens end at column p_max-1; keys of padding are masked out.
    auto tokens = torch::zeros({b, p_max}, torch::kLong);
    auto key_mask = torch::zeros({b, capacity}, torch::kBool);
    auto positions = torch::zeros({b, p_max}, torch::kLong);
    std::vector<int64_t> next_pos(b);
    for (int64_t i = 0; i < b; ++i) {
        rows[i].prompt = prompts[i];
        const int64_t n = prompts[i].size(), pad = p_max - n;
        for (int64_t j = 0; j < n; ++j) {
            tokens[i][pad + j] = prompts[i][j];
            positions[i][pad + j] = j;
        }
        key_mask[i].narrow(0, pad, capacity - pad).fill_(true);
        next_pos[i] = n;
        samplers.emplace_back(opts.sampling);
    }
    std::vector<uint8_t> allowed;
    if (!opts.allowed_ids.empty()) {
        allowed.assign(cfg.vocab_size, 0);
        for (const int64_t id : opts.allowed_ids) {
            if (id < 0 || id >= cfg.vocab_size) throw std::invalid_argument("allowed id outside the vocabulary");
            allowed[id] = 1;
        }
    }

    KvCache cache(cfg, b, capacity, model->dtype(), dev);
    const auto t0 = Clock::now();
    auto logits = model->logits(model->hidden(tokens.to(dev), &cache, positions.to(dev),
                                              key_mask.narrow(1, 0, p_max).to(dev)).select(1, p_max - 1));   // [B, V]
    if (stats) {
        stats->prefill_s = seconds_since(t0);
        for (const auto& p : prompts) stats->n_prefill_tokens += p.size();
    }
    const auto t1 = Clock::now();
    const int64_t eos = tok.eos_id();
    for (int64_t step = 0; step < opts.n_predict; ++step) {
        auto lg = logits.to(torch::kCPU).contiguous();
        float* data = lg.data_ptr<float>();
        auto next = torch::zeros({b, 1}, torch::kLong);
        auto pos = torch::zeros({b, 1}, torch::kLong);
        bool all_done = true;
        for (int64_t i = 0; i < b; ++i) {
            Row& r = rows[i];
            if (r.done) continue;
            float* row_logits = data + i * cfg.vocab_size;
            if (!allowed.empty())
                for (int64_t v = 0; v < cfg.vocab_size; ++v)
                    if (!allowed[v]) row_logits[v] = -std::numeric_limits<float>::infinity();
            std::vector<int64_t> history = r.prompt;
            history.insert(history.end(), r.out.begin(), r.out.end());
            const int64_t id = samplers[i].sample(row_logits, cfg.vocab_size, history);
            if (opts.stop_at_eos && id == eos) {
                r.done = true;
                r.reason = "eos";
            } else {
                r.out.push_back(id);
                r.text = continuation_text(tok, r);
                for (const auto& s : opts.stop) {
                    const size_t at = r.text.find(s);
                    if (at != std::string::npos) {
                        r.text.resize(at);
                        r.done = true;
                        r.reason = "stop";
                    }
                }
                if (!r.done && static_cast<int64_t>(r.out.size()) >= opts.n_predict) {
                    r.done = true;
                    r.reason = "length";
                }
            }
            if (stream) {
                const size_t hold = r.done ? 0 : held_back(r.text, opts.stop);
                if (r.text.size() > r.emitted + hold) {
                    stream(i, r.text.substr(r.emitted, r.text.size() - hold - r.emitted));
                    r.emitted = r.text.size() - hold;
                }
            }
            next[i][0] = r.out.empty() ? 0 : r.out.back();
            pos[i][0] = next_pos[i]++;
            all_done = all_done && r.done;
        }
        if (stats) stats->n_decode_steps = step + 1;
        if (all_done) break;
        logits = model->logits(model->hidden(next.to(dev), &cache, pos.to(dev),
                                             key_mask.narrow(1, 0, cache.n_past() + 1).to(dev)).select(1, 0));
    }
    if (stats) stats->decode_s = seconds_since(t1);

    std::vector<GenerateResult> out(b);
    for (int64_t i = 0; i < b; ++i) {
        Row& r = rows[i];
        if (r.reason.empty()) r.reason = "length";
        if (r.reason == "stop") {
            // keep only the tokens whose text precedes the stop string
            while (!r.out.empty() && continuation_text(tok, r).size() > r.text.size()) r.out.pop_back();
        }
        out[i] = {r.out, r.text, r.reason, static_cast<int64_t>(r.prompt.size())};
    }
    return out;
}

}  // namespace diagecg
