#include "diagecg/model/batch-answer.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <stdexcept>

#include "diagecg/util/log.h"

namespace diagecg {

BatchRun answer_in_batches(EcgLlm& llm, const std::vector<BatchItem>& items, const BatchOptions& opts,
                           const std::function<void(std::vector<BatchAnswer>&)>& on_batch) {
    if (opts.batch_size < 1) throw std::invalid_argument("batch size must be >= 1");
    BatchRun run;
    // Every ECG is tokenized once per preprocessing, however many items share it. Keys: "<config>\n<path>".
    auto config_key = [](const BatchItem& it) { return it.preprocess ? preprocess_config_to_json(*it.preprocess).dump() : std::string(); };
    std::map<std::string, std::pair<const PreprocessConfig*, std::vector<std::string>>> groups;
    for (const auto& it : items) {
        auto& g = groups[config_key(it)];
        g.first = it.preprocess ? &*it.preprocess : nullptr;
        g.second.insert(g.second.end(), it.records.begin(), it.records.end());
    }
    std::map<std::string, std::vector<int64_t>> codes;
    std::map<std::string, SignalQuality> quality;
    std::map<std::string, std::string> rhythm;
    std::map<std::string, std::string> why_failed;   // by path
    for (auto& [key, g] : groups) {
        auto& paths = g.second;
        std::sort(paths.begin(), paths.end());
        paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
        std::vector<std::pair<std::string, std::string>> failed;
        std::vector<SignalQuality> q;
        std::vector<std::string> rh;
        auto c = llm.codes(paths, &failed, opts.input, &q, g.first, &rh);
        for (size_t i = 0; i < paths.size(); ++i) {
            if (c[i].empty()) continue;
            codes[key + "\n" + paths[i]] = std::move(c[i]);
            quality[key + "\n" + paths[i]] = q[i];
            rhythm[key + "\n" + paths[i]] = rh[i];
        }
        for (const auto& [p, why] : failed) {
            log::warn("record {} cannot be read ({}): its samples are skipped", p, why);
            why_failed[key + "\n" + p] = why;
        }
    }

    struct Prompt {
        size_t index;
        std::vector<int64_t> ids;
    };
    std::vector<Prompt> prompts;
    const int64_t ctx = llm.model().model->config().max_position_embeddings;
    int64_t too_long = 0;
    for (size_t i = 0; i < items.size(); ++i) {
        const BatchItem& item = items[i];
        PromptInput in;
        in.task = opts.task;
        in.question = item.question;
        in.patient = item.patient;
        std::string missing;
        for (const auto& r : item.records) {
            const auto it = codes.find(config_key(item) + "\n" + r);
            if (it == codes.end()) {
                missing = r;
                break;
            }
            in.ecgs.push_back(it->second);
            in.rhythm.push_back(rhythm[it->first]);
        }
        if (!missing.empty()) {
            const auto w = why_failed.find(config_key(item) + "\n" + missing);
            run.skipped.push_back({i, "record " + missing + " cannot be read (" + (w == why_failed.end() ? "not tokenized" : w->second) + ")"});
            continue;
        }
        auto ids = build_prompt(llm.tokenizer(), in, llm.prompt_options(opts.prompt.patient_features));
        if (static_cast<int64_t>(ids.size()) >= ctx) {
            ++too_long;
            run.skipped.push_back({i, "prompt of " + std::to_string(ids.size()) + " tokens does not fit the model's context of " +
                                          std::to_string(ctx)});
            continue;
        }
        prompts.push_back({i, std::move(ids)});
    }
    if (too_long > 0)
        log::warn("{} sample(s) skipped: their prompt does not fit the model's context of {} tokens (not scored)", too_long, ctx);
    // Similar lengths together: less padding in each batch's prefill.
    std::stable_sort(prompts.begin(), prompts.end(), [](const Prompt& a, const Prompt& b) { return a.ids.size() < b.ids.size(); });
    const auto t0 = std::chrono::steady_clock::now();
    const size_t bs = static_cast<size_t>(opts.batch_size);
    for (size_t b0 = 0; b0 < prompts.size(); b0 += bs) {
        const size_t b1 = std::min(prompts.size(), b0 + bs);
        std::vector<std::vector<int64_t>> batch;
        for (size_t i = b0; i < b1; ++i) batch.push_back(prompts[i].ids);
        auto results = llm.answer(batch, opts.n_predict);
        std::vector<BatchAnswer> answers;
        for (size_t i = b0; i < b1; ++i) {
            BatchAnswer a;
            a.index = prompts[i].index;
            a.result = std::move(results[i - b0]);
            for (const auto& r : items[a.index].records) {
                a.quality.push_back(quality.at(config_key(items[a.index]) + "\n" + r));
                if (llm.prompt_options(true).rhythm) a.rhythm.push_back(rhythm.at(config_key(items[a.index]) + "\n" + r));
            }
            answers.push_back(std::move(a));
        }
        on_batch(answers);
        run.n_answered += static_cast<int64_t>(b1 - b0);
        run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double rate = static_cast<double>(run.n_answered) / run.seconds;
        log::info("{} {}/{} samples, {:.2f} samples/s, ETA {:.0f} s", opts.label, run.n_answered, prompts.size(), rate,
                  static_cast<double>(prompts.size() - b1) / rate);
    }
    return run;
}

}  // namespace diagecg
