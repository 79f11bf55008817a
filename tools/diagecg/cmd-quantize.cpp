// diagecg quantize -m MODEL -o OUT.gguf --type T: the model as a GGUF that llama.cpp runs (llm/gguf-export.h).
#include <filesystem>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "commands.h"
#include "diagecg/llm/gguf-export.h"
#include "diagecg/llm/llm-io.h"
#include "diagecg/util/log.h"

namespace diagecg::cli {

namespace {

namespace fs = std::filesystem;

struct QuantizeOptions {
    std::string model;
    std::string out;
    std::string type = "q8_0";
};

// The GGUF whose tokenizer metadata the model's text ids follow.
std::string tokenizer_gguf_of(const std::string& model) {
    if (fs::is_regular_file(model) && fs::path(model).extension() == ".gguf") return model;
    if (fs::is_regular_file(fs::path(model) / "tokenizer.gguf")) return (fs::path(model) / "tokenizer.gguf").string();
    if (fs::is_regular_file(fs::path(model) / "base-model.json")) {
        const LoadedModel on_blocks = load_model(model, parse_load_dtype("native"));  // maps the base, checks it
        if (!on_blocks.base_gguf.empty()) return on_blocks.base_gguf;
    }
    throw std::runtime_error(model +
                             ": its tokenizer is not a GGUF's (a .gguf file, tokenizer.gguf, or a directory on a "
                             "GGUF base): GGUF export of tokenizer.json or SentencePiece models is not supported yet");
}

void run_quantize(const QuantizeOptions& o) {
    const GgmlType type = parse_export_type(o.type);
    if (fs::path(o.out).extension() != ".gguf")
        throw std::invalid_argument("-o " + o.out + ": expected a .gguf file name");
    const std::string tok = tokenizer_gguf_of(o.model);
    const LoadedModel m = load_model(o.model, LoadOptions{});
    log::info("{}: vocabulary {}{} -> {} ({})", o.model, m.model->config().vocab_size,
              m.vocab.extended() ? fmt::format(" ({} ECG codes)", m.vocab.n_ecg_codes()) : "", o.out,
              ggml_type_name(type));
    export_gguf(m, tok, o.out, type);
    std::cout << fmt::format("{{\"model\": \"{}\", \"out\": \"{}\", \"type\": \"{}\", \"bytes\": {}}}\n", o.model,
                             o.out, o.type, fs::file_size(o.out));
}

}  // namespace

void add_quantize(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<QuantizeOptions>();
    auto* sub =
        app.add_subcommand("quantize", "Write a model as a GGUF file that llama.cpp loads (weights in one ggml type)");
    sub->add_option("-m,--model", o->model,
                    "model: a .gguf, a model directory with tokenizer.gguf, or a directory on a GGUF base (QLoRA runs)")
        ->required();
    sub->add_option("-o,--out", o->out, "output .gguf (written atomically)")->required();
    sub->add_option("--type", o->type, "weights type: q8_0, q4_0, q4_1, q4_k, q6_k (K types: matrices whose rows are not whole 256s get q4_1 / q8_0), f16, bf16 or f32 (norms stay f32)")
        ->capture_default_str();
    sub->callback([&run, o] { run = [o] { run_quantize(*o); }; });
}

}  // namespace diagecg::cli
