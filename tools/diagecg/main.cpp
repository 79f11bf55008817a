// diagecg: one binary, one subcommand per job. Exceptions are caught here only.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <glob.h>
#include <malloc.h>
#include <exception>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "diagecg/data/ptbxl-meta.h"
#include "diagecg/ecg/record-set.h"
#include "diagecg/util/byte-reader.h"
#include "diagecg/util/device.h"
#include "diagecg/util/log.h"

#ifndef DIAGECG_VERSION
#define DIAGECG_VERSION "dev"
#endif

namespace diagecg::cli {

void add_read_options(CLI::App* sub, ReadFlags& f) {
    sub->add_option("--sample-rate", f.sample_rate_hz, "sample rate in Hz of CSV/NPY input (0 = from the file)")->capture_default_str();
    sub->add_option("--leads", f.leads, "comma-separated lead names of CSV/NPY columns (default: from the file, or the 12 standard leads)");
    sub->add_option("--units", f.units, "units of CSV/NPY values")->capture_default_str();
    sub->add_option("--layout", f.layout, "NPY array layout: auto, TL ([T, L]) or LT ([L, T])")
        ->check(CLI::IsMember({"auto", "TL", "LT"}))->capture_default_str();
    sub->add_flag("--allow-poor-signal", f.allow_poor_signal,
                  "feed records whose signal quality is poor (flat, noise, padding) to the model anyway; the output says so");
}

ReadOptions ReadFlags::options() const {
    ReadOptions o;
    if (sample_rate_hz > 0) o.sample_rate_hz = sample_rate_hz;
    o.units = units;
    o.layout = layout;
    std::string cur;
    for (const char c : leads + ",") {
        if (c == ',') {
            if (!cur.empty()) o.lead_names.push_back(cur);
            cur.clear();
        } else if (c != ' ') {
            cur += c;
        }
    }
    return o;
}

void add_preprocess_options(CLI::App* sub, PreprocessFlags& f) {
    sub->add_option("--config", f.config_path, "preprocessing config JSON (see configs/); flags below override it");
    sub->add_option("--length-policy", f.length_policy, "records not 10 s long: start (keep/pad at the end), center, error")
        ->check(CLI::IsMember({"start", "center", "error"}));
    sub->add_flag("--bandpass", f.bandpass, "0.5-40 Hz band-pass, the one the PTB-XL training data went through (4th-order Butterworth, zero phase; off by default, as in the reference)");
    sub->add_option("--notch", f.notch_hz, "powerline notch in Hz (50 or 60; 0 = off)");
}

PreprocessConfig PreprocessFlags::resolve() const {
    PreprocessConfig c;
    if (!config_path.empty()) {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(read_file_text(config_path));
        } catch (const nlohmann::json::exception& e) {
            throw std::runtime_error(config_path + ": not valid JSON: " + e.what());
        }
        c = preprocess_config_from_json(j, config_path);
    }
    if (!length_policy.empty()) c.length_policy = parse_length_policy(length_policy);
    if (bandpass) c.bandpass = true;
    if (notch_hz >= 0) c.notch_hz = notch_hz;
    validate(c);
    return c;
}

std::vector<std::string> expand_records(const std::vector<std::string>& args, const std::string& split_file,
                                        const std::string& split) {
    std::vector<std::string> out;
    for (const auto& a : args) {
        std::vector<std::string> paths = {a};
        if (!std::filesystem::exists(a) && a.find_first_of("*?[") != std::string::npos) {   // a quoted glob
            glob_t g{};
            const int rc = ::glob(a.c_str(), 0, nullptr, &g);
            paths.assign(g.gl_pathv, g.gl_pathv + (rc == 0 ? g.gl_pathc : 0));
            globfree(&g);
            if (paths.empty()) throw std::runtime_error("no file matches " + a);
        }
        for (const auto& p : paths) {
            const auto r = list_records(p);
            out.insert(out.end(), r.begin(), r.end());
        }
    }
    if (!split_file.empty()) {
        const std::size_t before = out.size();
        out = select_split(out, read_split_file(split_file), split);
        if (out.empty())
            throw std::runtime_error(split_file + ": none of the " + std::to_string(before) + " records has split \"" + split + "\"");
    }
    return out;
}

void for_each_batch(const std::vector<std::string>& paths, int64_t batch,
                    const std::function<void(const std::vector<std::string>&)>& fn) {
    if (batch <= 0) throw std::runtime_error("--batch must be > 0");
    for (size_t b0 = 0; b0 < paths.size(); b0 += static_cast<size_t>(batch))
        fn(std::vector<std::string>(paths.begin() + static_cast<std::ptrdiff_t>(b0),
                                    paths.begin() + static_cast<std::ptrdiff_t>(std::min(paths.size(), b0 + batch))));
}

void print_result(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

void TrainRunFlags::add(CLI::App* sub, const std::string& config_hint) {
    sub->add_option("--config", config, "run config JSON (see " + config_hint + ")")->required();
    sub->add_option("-o,--out", out, "run directory: metrics.jsonl, checkpoint.pt, model/ (default: runs/<config name>)");
    sub->add_flag("--resume", resume, "continue the run in --out from its last checkpoint");
    sub->add_option("--epochs", epochs, "overrides train.epochs");
    sub->add_option("--max-steps", max_steps, "overrides train.max_steps (0 = epochs decide)");
    sub->add_option("--test-sigkill-at-step", sigkill_at_step, "testing: SIGKILL this process after that step")
        ->group("");   // hidden
}

void TrainRunFlags::apply(TrainConfig& c) const {
    if (epochs > 0) c.epochs = epochs;
    if (max_steps >= 0) c.max_steps = max_steps;
    validate(c);
}

std::string TrainRunFlags::out_dir() const {
    return out.empty() ? (std::filesystem::path("runs") / std::filesystem::path(config).stem()).string() : out;
}

TrainHooks TrainRunFlags::hooks() const {
    TrainHooks h;
    h.sigkill_at_step = sigkill_at_step;
    return h;
}

void add_device_flag(CLI::App* sub, std::string& device, const std::string& what) {
    sub->add_option("--device", device, "cpu, cuda or cuda:N" + (what.empty() ? std::string() : "; " + what))
        ->check(CLI::Validator(
            [](std::string& s) {
                try {
                    (void)parse_device(s);
                } catch (const std::invalid_argument& e) {
                    return std::string(e.what());
                }
                return std::string();
            },
            "DEVICE", "device"))
        ->capture_default_str();
}

void ModelFlags::add(CLI::App* sub) {
    sub->add_option("-m,--model", model_dir, "DiagECG model directory (stage-2/merged model, or a stage-3 run's model/ with adapter.json); "
                    "default: $DIAGECG_MODEL, else the bundled model beside the binary")
        ->capture_default_str();
    sub->add_option("--lora", loras, "extra LoRA adapter FILE or FILE:SCALE (repeatable)");
    sub->add_option("--dtype", dtype, "weights: f32, bf16, or native (the base GGUF's blocks kept quantized, adapters attached beside them: "
                    "less memory, int8-activation arithmetic; figures on the model cards are f32/bf16)")->capture_default_str();
    add_device_flag(sub, device);
    sub->add_option("--token-cache", token_cache, "directory caching ECG codes between runs (default: none)");
}

void PatientFlags::add(CLI::App* sub) {
    sub->add_option("--age", age, "patient age in years (default: from the record header)");
    sub->add_option("--sex", sex, "male or female; M or F (default: from the record header)")
        ->transform(CLI::CheckedTransformer(std::map<std::string, std::string>{{"male", "male"}, {"m", "male"}, {"female", "female"}, {"f", "female"}},
                                            CLI::ignore_case));
    sub->add_option("--height", height_cm, "height in cm (default: from the record header)");
    sub->add_option("--weight", weight_kg, "weight in kg (default: from the record header)");
}

std::string PatientFlags::text(const EcgRecord* header) const {
    PtbxlRecord r;
    if (header) {
        r.age = header->patient.age_years;
        if (header->patient.sex) r.sex = *header->patient.sex == "female" ? 1 : 0;
        r.height_cm = header->patient.height_cm;
        r.weight_kg = header->patient.weight_kg;
    }
    if (age >= 0) r.age = age;
    if (!sex.empty()) r.sex = sex == "female" ? 1 : 0;
    if (height_cm > 0) r.height_cm = height_cm;
    if (weight_kg > 0) r.weight_kg = weight_kg;
    return patient_features_text(r);
}

void finish_training(const TrainResult& r, const std::string& out, bool print) {
    const nlohmann::json j = {{"run_dir", out},
                              {"model_dir", (std::filesystem::path(out) / "model").string()},
                              {"steps", r.steps},
                              {"epochs_done", r.epochs_done},
                              {"last_loss", r.last_loss},
                              {"best_val_loss", r.best_val_loss},
                              {"best_step", r.best_step},
                              {"early_stopped", r.early_stopped},
                              {"interrupted", r.interrupted},
                              {"seconds", r.seconds},
                              {"tokens_per_s", r.tokens > 0 && r.step_seconds > 0 ? r.tokens / r.step_seconds : 0.0},
                              {"peak_rss_mb", r.peak_rss_mb}};
    if (print) print_result(j.dump(2) + "\n");
    if (r.interrupted) throw std::runtime_error("training interrupted; continue with --resume -o " + out);
}

}  // namespace diagecg::cli

namespace diagecg::cli {

// "unknown command "reprot"; did you mean "report"?" (the closest subcommand by edit distance, if close).
std::string unknown_command_message(CLI::App& app, const std::string& word) {
    auto distance = [](const std::string& a, const std::string& b) {
        std::vector<size_t> d(b.size() + 1);
        for (size_t j = 0; j <= b.size(); ++j) d[j] = j;
        for (size_t i = 1; i <= a.size(); ++i) {
            size_t prev = d[0];
            d[0] = i;
            for (size_t j = 1; j <= b.size(); ++j) {
                const size_t cur = d[j];
                d[j] = std::min({d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1)});
                prev = cur;
            }
        }
        return d[b.size()];
    };
    std::string best;
    size_t best_d = 3;
    for (const auto* sub : app.get_subcommands({})) {
        const size_t dd = distance(word, sub->get_name());
        if (dd < best_d) best_d = dd, best = sub->get_name();
    }
    return "unknown command \"" + word + "\"" + (best.empty() ? "" : "; did you mean \"" + best + "\"?");
}

}  // namespace diagecg::cli

int main(int argc, char** argv) {
    using namespace diagecg;
    // Keep freed tensor memory in the heap instead of returning it to the kernel: glibc otherwise serves
    // every allocation above 128 KiB with a fresh mmap, and the page faults of re-zeroing them cost as much
    // system time as the training itself (measured: sys ~ user). DIAGECG_MALLOC_DEFAULTS=1 turns this off.
    if (!std::getenv("DIAGECG_MALLOC_DEFAULTS")) {
        mallopt(M_MMAP_THRESHOLD, 32 << 20);   // glibc's maximum
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
        mallopt(M_TOP_PAD, 64 << 20);
    }
    CLI::App app{"diagecg: read 12-lead ECGs with a language model (DiagECG / HeartLLM)"};
    app.require_subcommand(1);
    app.fallthrough();
    app.set_version_flag("--version", std::string("diagecg ") + DIAGECG_VERSION);
    int threads = 0;
    std::string log_level = "info";
    app.add_option("-t,--threads", threads, "LibTorch threads (0 = number of cores)")->capture_default_str();
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")->capture_default_str();

    cli::RunFn run;
    cli::add_inspect(app, run);
    cli::add_plot(app, run);
    cli::add_generate(app, run);
    cli::add_perplexity(app, run);
    cli::add_bench(app, run);
    cli::add_train_tokenizer(app, run);
    cli::add_tokenize(app, run);
    cli::add_tokenize_text(app, run);
    cli::add_quantize(app, run);
    cli::add_reconstruct(app, run);
    cli::add_convert_tokenizer(app, run);
    cli::add_pretrain(app, run);
    cli::add_finetune(app, run);
    cli::add_lora(app, run);
    cli::add_report_data(app, run);
    cli::add_text_corpus(app, run);
    cli::add_init_llm(app, run);
    cli::add_ecgqa_generate(app, run);
    cli::add_qa(app, run);
    cli::add_report(app, run);
    cli::add_eval(app, run);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version exit 0 through CLI11; usage errors are one line, exit 2 (runtime errors exit 1).
        if (e.get_exit_code() == 0) return app.exit(e);
        std::string msg = e.what();
        if (argc > 1 && argv[1][0] != '-') {
            bool known = false;
            for (const auto* sub : app.get_subcommands({})) known = known || sub->check_name(argv[1]);
            if (!known) msg = cli::unknown_command_message(app, argv[1]);
        }
        std::fprintf(stderr, "diagecg: error: %s (see diagecg --help)\n", msg.c_str());
        return 2;
    }
    try {
        log::set_level(log_level);
        const int n = init_threads(threads);
        log::debug("using {} thread(s)", n);
        if (run) run();
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "diagecg: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
