// diagecg tokenize -m MODEL_DIR RECORD...: ECG token ids (313 per 10 s ECG with the reference tokenizer).
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "diagecg/tokenizer/ecg-tokenizer-io.h"
#include "diagecg/util/device.h"
#include "diagecg/util/log.h"

namespace diagecg::cli {

namespace {

struct TokenizeOptions {
    std::string model = default_tokenizer_dir();
    std::vector<std::string> records;
    std::string split_file, split = "test";
    bool json = false;
    int64_t batch = 8;
    std::string device = "cpu";
    std::string dtype = "f32";
    ReadFlags read;
};

void run_tokenize(const TokenizeOptions& o) {
    EcgTokenizerModel m = load_ecg_tokenizer(o.model);
    const auto device = parse_device(o.device);
    const auto dtype = parse_dtype_flag(o.dtype);
    m.net->to(device, dtype);
    const auto paths = expand_records(o.records, o.split_file, o.split);
    const auto& cfg = m.net->config();
    torch::NoGradGuard ng;
    int64_t n_failed = 0;
    for_each_batch(paths, o.batch, [&](const std::vector<std::string>& chunk) {
        const EcgTensor t = load_ecg_tensor(chunk, m.preprocess, o.read.input(), cfg.n_samples);
        for (const auto& [p, why] : t.failed) log::error("{}: {}", p, why);
        n_failed += static_cast<int64_t>(t.failed.size());
        if (t.x.size(0) == 0) return;
        const auto codes = m.net->encode(t.x.to(device, dtype)).codes.to(torch::kCPU).contiguous();
        std::string out;
        for (int64_t i = 0; i < codes.size(0); ++i) {
            const int64_t* c = codes[i].data_ptr<int64_t>();
            const std::vector<int64_t> ids(c, c + codes.size(1));
            if (o.json) {
                const nlohmann::json j = {{"record", t.paths[static_cast<size_t>(i)]},
                                          {"n_tokens", codes.size(1)},
                                          {"tokens", ids},
                                          {"codebook_size", cfg.codebook_size()},
                                          {"signal_quality", signal_quality_to_json(t.quality[static_cast<size_t>(i)])}};
                out += j.dump() + "\n";
            } else {
                out += fmt::format("{}\t{}\n", t.paths[static_cast<size_t>(i)], fmt::join(ids, " "));
            }
        }
        print_result(out);
    });
    if (n_failed > 0)
        throw std::runtime_error(fmt::format("{} of {} record(s) could not be tokenized (see above)", n_failed, paths.size()));
}

}  // namespace

void add_tokenize(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<TokenizeOptions>();
    auto* sub = app.add_subcommand("tokenize", "Print the ECG token ids of records (batched)");
    sub->add_option("-m,--model", o->model, "ECG tokenizer directory")->capture_default_str();
    sub->add_option("records", o->records, "records, directories or list files")->required();
    sub->add_option("--split-file", o->split_file, "CSV of id,split rows: keep only the records of --split");
    sub->add_option("--split", o->split, "split to keep with --split-file")->capture_default_str();
    sub->add_flag("--json", o->json, "one JSON object per record: record, n_tokens, tokens, codebook_size");
    sub->add_option("--batch", o->batch, "records per forward pass")->capture_default_str();
    add_device_flag(sub, o->device);
    sub->add_option("--dtype", o->dtype, "f32 or bf16")->capture_default_str();
    add_read_options(sub, o->read);
    sub->callback([&run, o] { run = [o] { run_tokenize(*o); }; });
}

}  // namespace diagecg::cli
