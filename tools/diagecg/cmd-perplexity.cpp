// diagecg perplexity -m MODEL -f TEXT: perplexity of a model on plain-text documents (one per line), each scored on
// its own (perplexity.h); --tokens-out writes the token ids scored, so another engine (tools/perplexity-llamacpp.py:
// llama.cpp) scores exactly the same tokens.
#include <chrono>
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "diagecg/data/text-corpus.h"
#include "diagecg/llm/llm-io.h"
#include "diagecg/llm/perplexity.h"
#include "diagecg/llm/text-tokenizer.h"
#include "diagecg/util/atomic-file.h"
#include "diagecg/util/device.h"
#include "diagecg/util/log.h"

namespace diagecg::cli {

namespace {

struct PerplexityOptions {
    std::string model;
    std::string file;
    std::string dtype = "native";
    std::string device = "cpu";
    int64_t max_docs = 0;  // 0 = all
    int64_t batch_size = 16;
    bool no_bos = false;
    std::string tokens_out;  // JSONL, one {"tokens": [...]} per document scored
};

void run_perplexity(const PerplexityOptions& o) {
    auto texts = read_text_documents({o.file});
    if (o.max_docs > 0 && static_cast<int64_t>(texts.size()) > o.max_docs) texts.resize(static_cast<size_t>(o.max_docs));
    if (texts.empty()) throw std::invalid_argument(o.file + ": no document (one per non-blank line)");
    auto m = load_model(o.model, parse_load_dtype(o.dtype, parse_device(o.device)));
    std::vector<std::vector<int64_t>> docs;
    for (const auto& t : texts) docs.push_back(m.tokenizer->encode(t, !o.no_bos, false));
    if (!o.tokens_out.empty()) {
        std::string s;
        for (const auto& d : docs)
            if (d.size() >= 2) s += nlohmann::json{{"tokens", d}}.dump() + "\n";
        write_file_atomic(o.tokens_out, s);
    }
    const auto t0 = std::chrono::steady_clock::now();
    int64_t last_pct = -1;
    const auto r = score_documents(m.model, docs, o.batch_size, [&](int64_t done, int64_t total) {
        const int64_t pct = done * 10 / total;
        if (pct != last_pct) log::info("perplexity: {} / {} documents", done, total);
        last_pct = pct;
    });
    if (r.documents == 0) throw std::invalid_argument(o.file + ": no document of 2 or more tokens");
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const nlohmann::json j = {{"model", o.model},
                              {"dtype", o.dtype},
                              {"file", o.file},
                              {"documents", r.documents},
                              {"tokens", r.tokens},
                              {"nll_per_token", r.mean_nll()},
                              {"perplexity", r.perplexity()},
                              {"bos", !o.no_bos && m.tokenizer->bos_id() >= 0},
                              {"seconds", s},
                              {"tokens_per_s", static_cast<double>(r.tokens) / s}};
    print_result(j.dump(2) + "\n");
}

}  // namespace

void add_perplexity(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<PerplexityOptions>();
    auto* sub = app.add_subcommand(
        "perplexity", "Perplexity of a model on plain-text documents (one per line, each scored on its own)");
    sub->add_option("-m,--model", o->model, "model directory or GGUF file")->required();
    sub->add_option("-f,--file", o->file, "text file: one document per non-blank line (whitespace collapsed)")->required();
    sub->add_option("--dtype", o->dtype,
                    "weights: native (a GGUF's Q4_0/Q4_1/Q8_0/Q4_K/Q6_K kept in their blocks), f32, bf16, f16, q8_0, q4_0, q4_1, q4_k, q6_k")
        ->capture_default_str();
    add_device_flag(sub, o->device);
    sub->add_option("--max-docs", o->max_docs, "score the first N documents only (0 = all)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    sub->add_option("-b,--batch-size", o->batch_size, "documents per forward pass (with kept quantized weights, a pass of 64+ rows (256+ interleaved) runs on the dense GEMM instead of the int8 kernels; 1 keeps shorter documents on the int8 kernels, llama.cpp's arithmetic)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    sub->add_flag("--no-bos", o->no_bos, "do not prepend BOS (models whose tokenizer adds one)");
    sub->add_option("--tokens-out", o->tokens_out,
                    "write the token ids of each scored document (JSONL) for another engine");
    sub->callback([&run, o] { run = [o] { run_perplexity(*o); }; });
}

}  // namespace diagecg::cli
