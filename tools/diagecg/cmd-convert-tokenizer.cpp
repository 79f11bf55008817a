// diagecg convert-tokenizer INPUT -o OUTPUT: the authors' tokenizer checkpoint (HeartLLM FSQ_AE, torch.save) to
// a diagecg tokenizer directory, or a heartllm tokenizer directory back to their layout.
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "commands.h"
#include "diagecg/tokenizer/ecg-tokenizer-io.h"
#include "diagecg/tokenizer/heartllm-checkpoint.h"
#include "diagecg/util/log.h"

namespace diagecg::cli {

namespace {

struct ConvertTokenizerOptions {
    std::string input, output;
    HeartllmImportOptions import;
};

int64_t n_parameters(EcgTokenizer& net) {
    int64_t n = 0;
    for (const auto& p : net->parameters()) n += p.numel();
    return n;
}

void run_convert_tokenizer(const ConvertTokenizerOptions& o) {
    namespace fs = std::filesystem;
    if (fs::is_directory(o.input)) {  // ours -> theirs
        EcgTokenizerModel m = load_ecg_tokenizer(o.input);
        save_heartllm_state_dict(m.net, o.output);
        print_result(fmt::format(
            "wrote {}: the authors' FSQ_AE checkpoint layout ({{'model': state_dict, 'step': 0}}), {} parameters\n",
            o.output, n_parameters(m.net)));
        return;
    }
    const auto state = read_torch_state_dict(o.input);
    EcgTokenizer net = heartllm_tokenizer_from_state_dict(state, o.import, o.input);
    PreprocessConfig prep;  // the authors': raw leads at 500 Hz, 10 s, per-lead z-score (StandardScaler)
    prep.duration_s = static_cast<double>(o.import.n_samples) / prep.sample_rate_hz;
    const nlohmann::json info = {{"converted_from", fs::absolute(o.input).string()},
                                 {"source", "HeartLLM FSQ_AE state dict (ecg_tokenizer/tokenizer.py)"}};
    save_ecg_tokenizer(net, prep, info, o.output);
    const auto& c = net->config();
    print_result(fmt::format(
        "wrote {}: heartllm tokenizer, {} leads x {} channels, {} stages, {} codes of {} per ECG, {} parameters\n",
        o.output, c.n_leads, c.channels, c.n_stages, c.n_steps(), c.codebook_size(), n_parameters(net)));
}

}  // namespace

void add_convert_tokenizer(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<ConvertTokenizerOptions>();
    auto* sub = app.add_subcommand(
        "convert-tokenizer",
        "Convert the authors' ECG tokenizer checkpoint (HeartLLM FSQ_AE, .pt) to a tokenizer directory, "
        "or a heartllm tokenizer directory to their .pt layout");
    sub->add_option("input", o->input,
                    "a torch.save state dict of FSQ_AE (or their {'model': ..., 'step': ...} checkpoint), "
                    "or a heartllm tokenizer directory")
        ->required();
    sub->add_option("-o,--output", o->output,
                    "tokenizer directory to write (from a .pt), or .pt file (from a directory)")
        ->required();
    sub->add_option("--n-samples", o->import.n_samples, "samples per lead the tokenizer takes (not in a state dict)")
        ->capture_default_str();
    sub->add_option("--groups", o->import.groups, "GroupNorm groups (not in a state dict)")->capture_default_str();
    sub->add_option("--fsq-level", o->import.fsq_level, "FSQ levels per latent dim (not in a state dict)")
        ->capture_default_str();
    sub->add_option("--negative-slope", o->import.negative_slope, "LeakyReLU slope (not in a state dict)")
        ->capture_default_str();
    sub->callback([&run, o] { run = [o] { run_convert_tokenizer(*o); }; });
}

}  // namespace diagecg::cli
