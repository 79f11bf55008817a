// diagecg bench llm | read: throughput figures, printed (never asserted in tests).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <memory>

#include <fmt/format.h>
#include <torch/version.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "diagecg/ecg/ecg-preprocess.h"
#include "diagecg/ecg/read-ecg.h"
#include "diagecg/llm/generate.h"  // GenerateStats
#include "diagecg/llm/linear.h"
#include "diagecg/llm/llm-io.h"
#include "diagecg/tokenizer/ecg-tokenizer.h"
#include "diagecg/util/device.h"
#include "diagecg/util/log.h"

namespace diagecg::cli {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

struct BenchLlmOptions {
    std::string model_dir;  // a real model; empty: random weights of --shape
    std::string shape = "tinyllama";
    std::vector<std::string> dtypes{"f32", "bf16"};
    std::vector<int64_t> batches{1, 8};
    int64_t n_prompt = 128;
    int64_t n_gen = 32;
    int reps = 2;
    std::vector<std::string> kernels{"auto"};
    std::vector<std::string> attentions{"auto"};
    std::string device = "cpu";
};

LlmConfig shape_config(const std::string& shape) {
    LlmConfig c;
    if (shape == "tinyllama") {  // TinyLlama-1.1B
        c.vocab_size = 32000;
        c.hidden_size = 2048;
        c.intermediate_size = 5632;
        c.num_hidden_layers = 22;
        c.num_attention_heads = 32;
        c.num_key_value_heads = 4;
        c.rms_norm_eps = 1e-5;
        c.max_position_embeddings = 2048;
    } else if (shape == "stories260k") {
        c.vocab_size = 512;
        c.hidden_size = 64;
        c.intermediate_size = 172;
        c.num_hidden_layers = 5;
        c.num_attention_heads = 8;
        c.num_key_value_heads = 4;
        c.rms_norm_eps = 1e-5;
        c.max_position_embeddings = 512;
        c.tie_word_embeddings = true;
    } else {
        throw std::invalid_argument("--shape must be tinyllama or stories260k, got \"" + shape + "\"");
    }
    return c;
}

struct BenchLlmRow {
    std::string model, dtype, kernel, attention;
    int64_t batch = 0;
    double prefill_tok_s = 0, step_s = 0, weight_bytes = 0;
    double bandwidth = 0;  // the faster of the probes just before and just after the reported repetition
};

void run_bench_llm(const BenchLlmOptions& o) {
    // The host's memory bandwidth moved between ~50 and ~85 GB/s from minute to minute here (other tenants),
    // so each decode repetition is bracketed by two probes and its bound uses the faster of the two: the
    // bound describes the memory the repetition actually had, not a quieter moment.
    for (const auto& k : o.kernels) (void)parse_linear_kernel(k);  // bad names fail before any work
    for (const auto& a : o.attentions)
        if (!attention_kernel_available(parse_attention_kernel(a)))
            throw std::invalid_argument("--attention " + a +
                                        ": this LibTorch (" TORCH_VERSION
                                        ") has no scaled_dot_product_attention (>= 2.0)");
    for (const auto& d : o.dtypes) (void)parse_load_dtype(d);
    // One buffer for every probe, allocated before any model (while huge pages are easy to get).
    const BandwidthProbe bandwidth;
    double bw_max = 0, bw_min = 1e30;
    int n_probes = 0;
    const auto probe = [&] {
        const double bw = bandwidth.measure(3);
        bw_max = std::max(bw_max, bw);
        bw_min = std::min(bw_min, bw);
        ++n_probes;
        return bw;
    };
    // On a GPU the CPU's memory bandwidth is no bound: rows then show the GPU's times with bound and ratio 0.
    const torch::Device dev = parse_device(o.device);
    const auto sync = [&] {
        if (dev.is_cuda()) torch::cuda::synchronize();
    };
    std::vector<BenchLlmRow> rows;
    for (const auto& ds : o.dtypes) {
        const LoadOptions lo = parse_load_dtype(ds);
        const auto dtype = lo.dtype;
        LoadedModel m;
        std::string label;
        if (!o.model_dir.empty()) {
            m = load_model(o.model_dir, lo);
            label = std::filesystem::path(o.model_dir).filename().string();
        } else {
            m.model = random_llama(shape_config(o.shape), 1234, {dtype, torch::kCPU});
            if (lo.quantize_to != GgmlType::kF32) quantize_linear_layers(m.model, lo.quantize_to);
            label = o.shape + "(rand)";
        }
        if (dev.is_cuda()) m.model->to(dev);
        const auto& cfg = m.model->config();
        // Bytes one decode step must read: every weight, except the input embedding table when the head
        // is separate (only B rows of it are gathered).
        double weight_bytes = 0;
        for (const auto& p : m.model->parameters()) weight_bytes += p.nbytes();
        bool quantized = m.model->tied_head_q.defined();  // matrices held in quantized blocks
        for (const auto& kv : m.model->named_modules("", false))
            if (const auto* l = kv.value()->as<LinearImpl>(); l && l->qweight.defined()) {
                weight_bytes += l->qweight.n_bytes();
                quantized = true;
            }
        weight_bytes += m.model->tied_head_q.n_bytes();
        if (m.model->lm_head || m.model->tied_head_q.defined()) weight_bytes -= m.model->embed_tokens->weight.nbytes();
        const auto wdt = m.model->dtype();   // the weights' dtype as loaded (native: a BF16 GGUF loads in bf16)
        int64_t largest = 0;  // the kernel auto picks is shown for the largest weight matrix
        for (const auto& p : m.model->parameters()) largest = std::max(largest, p.numel());
        for (const auto& kname : o.kernels) {
            const LinearKernel kernel = parse_linear_kernel(kname);
            if (kernel != LinearKernel::kAuto && !linear_kernel_available(kernel, wdt)) {
                fmt::print("{:<12} {:<5} kernel {} cannot run {} weights on this CPU: skipped\n", label, ds, kname, ds);
                continue;
            }
            set_linear_kernel(kernel);
            for (const auto& aname : o.attentions) {
                set_attention_kernel(parse_attention_kernel(aname));
                for (const int64_t b : o.batches) {
                    const std::string kshown = quantized ? std::string("q8-") + quant_isa_name(quant_isa_auto())
                                               : kernel != LinearKernel::kAuto ? kname
                                               : !linear_kernel_available(kernel, wdt)
                                                   ? "libtorch"
                                                   : linear_kernel_name(auto_linear_kernel(wdt, b, largest));
                    std::vector<std::vector<int64_t>> prompts(b, std::vector<int64_t>(o.n_prompt));
                    for (int64_t i = 0; i < b; ++i)
                        for (int64_t j = 0; j < o.n_prompt; ++j)
                            prompts[i][j] = (i * 7919 + j * 104729) % cfg.vocab_size;
                    GenerateStats best;
                    best.decode_s = 1e30;
                    double best_bw = 0, last_bw = dev.is_cuda() ? 0.0 : probe();
                    for (int r = 0; r < o.reps; ++r) {
                        GenerateStats st;
                        {
                            // The forward path generate() uses, with greedy argmax on the device.
                            torch::NoGradGuard ng;
                            KvCache cache(cfg, b, o.n_prompt + o.n_gen, m.model->dtype(), dev);
                            auto toks = torch::empty({b, o.n_prompt}, torch::kLong);
                            for (int64_t i = 0; i < b; ++i)
                                for (int64_t j = 0; j < o.n_prompt; ++j) toks[i][j] = prompts[i][j];
                            toks = toks.to(dev);
                            sync();
                            auto t = Clock::now();
                            auto lg = m.model->logits(m.model->hidden(toks, &cache).select(1, o.n_prompt - 1));
                            auto next = lg.argmax(-1, true);
                            sync();
                            st.prefill_s = since(t);
                            st.n_prefill_tokens = b * o.n_prompt;
                            t = Clock::now();
                            for (int64_t s = 0; s < o.n_gen; ++s) {
                                lg = m.model->logits(m.model->hidden(next, &cache).select(1, 0));
                                next = lg.argmax(-1, true);
                            }
                            (void)next.sum().item<int64_t>();
                            st.decode_s = since(t);
                            st.n_decode_steps = o.n_gen;
                        }
                        const double bw = dev.is_cuda() ? 0.0 : probe();
                        if (st.decode_s / st.n_decode_steps <
                            best.decode_s / std::max<int64_t>(1, best.n_decode_steps)) {
                            best = st;
                            best_bw = std::max(last_bw, bw);
                        }
                        last_bw = bw;
                    }
                    const double step_s = best.decode_s / best.n_decode_steps;
                    rows.push_back({label, ds, kshown, aname, b, best.n_prefill_tokens / best.prefill_s, step_s,
                                    weight_bytes, best_bw});
                    log::info("{} {} {} attention {} batch {}: decode {:.2f} ms/step", label, ds, kshown, aname, b,
                              step_s * 1e3);
                }
            }
        }
        set_linear_kernel(LinearKernel::kAuto);
        set_attention_kernel(AttentionKernel::kAuto);
    }
    fmt::print("memory read bandwidth: {} probes, {:.1f} to {:.1f} GB/s; threads {}\n", n_probes, bw_min / 1e9,
               bw_max / 1e9, at::get_num_threads());
    fmt::print("{:<12} {:<5} {:<10} {:<6} {:>5} {:>14} {:>13} {:>10} {:>8} {:>10} {:>7}\n", "model", "dtype", "kernel",
               "attn", "batch", "prefill tok/s", "decode tok/s", "ms/step", "GB/s", "bound ms", "ratio");
    for (const auto& r : rows) {
        const double bound_s = r.bandwidth > 0 ? r.weight_bytes / r.bandwidth : 0.0;
        fmt::print("{:<12} {:<5} {:<10} {:<6} {:>5} {:>14.1f} {:>13.1f} {:>10.2f} {:>8.1f} {:>10.2f} {:>6.0f}%\n",
                   r.model, r.dtype, r.kernel, r.attention, r.batch, r.prefill_tok_s, r.batch / r.step_s,
                   r.step_s * 1e3, r.bandwidth / 1e9, bound_s * 1e3, 100.0 * bound_s / r.step_s);
    }
    fmt::print(
        "bound = weight bytes / GB/s (one decode step reads every weight once), GB/s = the faster of the two "
        "probes around the fastest repetition; ratio = bound / ms/step. A probe: 1 GiB in huge pages, fastest of "
        "3 passes x 2 read patterns.\n");
}

struct BenchTokenizerOptions {
    std::string arch = "heartllm";
    std::vector<std::string> kernels{"auto"};
    std::vector<std::string> dtypes{"f32", "bf16"};
    std::vector<int64_t> batches{1, 8, 64};
    int64_t n_ecgs = 64;
    int reps = 3;
    bool json = false;
    std::string device = "cpu";
};

// ECGs per second through EcgTokenizer::encode (codes included) with the reference shape; random weights and
// input (same cost as real ones). Every row encodes the same pool of n_ecgs ECGs in batches of its size, so that
// rows differ only by batching: `auto` re-encodes the same few ECGs (near a rounding boundary) in every row.
void run_bench_tokenizer(const BenchTokenizerOptions& o) {
    EcgTokenizerConfig cfg;
    cfg.architecture = parse_ecg_tokenizer_arch(o.arch);
    for (const auto& k : o.kernels) (void)parse_encoder_kernel(k);
    for (const auto& d : o.dtypes) (void)parse_dtype_flag(d);
    const double flops = cfg.encoder_flops();
    if (!o.json) {
        fmt::print("ECG tokenizer encoder ({}, {} x {} -> {} codes): {:.3f} GFLOP per ECG, threads {}\n", o.arch,
                   cfg.n_leads, cfg.n_samples, cfg.n_steps(), flops / 1e9, at::get_num_threads());
        fmt::print("{:<9} {:<5} {:>5} {:>10} {:>10} {:>10}\n", "kernel", "dtype", "batch", "ECGs/s", "ms/batch",
                   "GFLOP/s");
    }
    torch::manual_seed(0);
    const torch::Device dev = parse_device(o.device);
    EcgTokenizer tok(cfg);
    tok->eval();
    torch::NoGradGuard ng;
    for (const auto& ds : o.dtypes) {
        const auto dtype = parse_dtype_flag(ds);
        tok->to(dev, dtype);
        for (const auto& kernel : o.kernels) {
            tok->set_encoder_kernel(parse_encoder_kernel(kernel));
            torch::manual_seed(1);
            const auto pool = torch::randn({o.n_ecgs, cfg.n_leads, cfg.n_samples}).to(dev, dtype);
            for (const int64_t b : o.batches) {
                const int64_t n = o.n_ecgs;
                double best = 1e30;
                for (int r = 0; r < o.reps + 1; ++r) {  // the first pass warms up
                    const auto t = Clock::now();
                    int64_t sum = 0;
                    for (int64_t i = 0; i < n; i += b)
                        sum += tok->encode(pool.narrow(0, i, std::min(b, n - i))).codes.sum().item<int64_t>();
                    (void)sum;
                    if (r > 0) best = std::min(best, since(t));
                }
                if (o.json) {
                    print_result(nlohmann::json{{"arch", o.arch},
                                                {"kernel", kernel},
                                                {"dtype", ds},
                                                {"batch", b},
                                                {"n_ecgs", n},
                                                {"ecgs_per_s", n / best},
                                                {"ms_per_batch", best * 1e3 * b / n},
                                                {"gflop_per_s", flops * n / best / 1e9},
                                                {"threads", at::get_num_threads()}}
                                     .dump() +
                                 "\n");
                } else {
                    fmt::print("{:<9} {:<5} {:>5} {:>10.1f} {:>10.1f} {:>10.1f}\n", kernel, ds, b, n / best,
                               best * 1e3 * b / n, flops * n / best / 1e9);
                }
            }
        }
    }
    if (!o.json)
        fmt::print(
            "The authors' module in eager PyTorch, side by side: tools/bench-heartllm-tokenizer.py HEARTLLM_DIR\n");
}

struct BenchReadOptions {
    std::string dir;
    int64_t limit = 0;
};

// Files bench read takes: WFDB headers and the hospital formats read_ecg recognises by extension.
bool is_record_file(const std::filesystem::path& p) {
    std::string ext = p.extension().string();
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return ext == ".hea" || ext == ".xml" || ext == ".dcm" || ext == ".scp";
}

void run_bench_read(const BenchReadOptions& o) {
    namespace fs = std::filesystem;
    if (!fs::is_directory(o.dir)) throw std::runtime_error("bench read: " + o.dir + " is not a directory");
    std::vector<std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(o.dir))
        if (e.is_regular_file() && is_record_file(e.path())) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    if (o.limit > 0 && static_cast<int64_t>(files.size()) > o.limit) files.resize(o.limit);
    if (files.empty()) throw std::runtime_error("bench read: no .hea, .xml, .dcm or .scp files under " + o.dir);
    double t_read = 0, t_prep = 0;
    int64_t n_ok = 0, n_read = 0;
    for (const auto& f : files) {
        auto t = Clock::now();
        EcgRecord rec;
        try {
            rec = read_ecg(f);
        } catch (const std::exception& e) {  // e.g. an .xml that is not an ECG: counted, not fatal
            log::warn("bench read: skipped {}", e.what());
            continue;
        }
        t_read += since(t);
        ++n_read;
        t = Clock::now();
        try {
            n_ok += preprocess(rec).n_samples > 0;
        } catch (const std::exception& e) {  // e.g. a lead set without V3/V5 cannot become 12 leads
            log::warn("bench read: {} not preprocessed: {}", f, e.what());
        }
        t_prep += since(t);
    }
    fmt::print("{} of {} files read, {} preprocessed, from {}\n", n_read, files.size(), n_ok, o.dir);
    fmt::print("read:        {:.1f} files/s\n", n_read / t_read);
    fmt::print("preprocess:  {:.1f} records/s\n", n_ok / t_prep);
    fmt::print("both:        {:.1f} records/s (single thread)\n", n_read / (t_read + t_prep));
}

}  // namespace

void add_bench(CLI::App& app, RunFn& run) {
    auto* bench = app.add_subcommand("bench", "Throughput benchmarks (figures are printed, never asserted)");
    bench->require_subcommand(1);

    auto lo = std::make_shared<BenchLlmOptions>();
    auto* llm = bench->add_subcommand("llm", "Prefill and decode tokens/s vs the memory-bandwidth bound");
    llm->add_option("-m,--model", lo->model_dir, "model directory or GGUF file (default: random weights of --shape)");
    llm->add_option("--shape", lo->shape, "random-weight shape: tinyllama or stories260k")->capture_default_str();
    llm->add_option("--dtype", lo->dtypes,
                    "weight dtypes to run: f32, bf16, f16, native (a GGUF's Q4_0/Q4_1/Q8_0/Q4_K/Q6_K kept in blocks), "
                    "q8_0/q4_0/q4_1/q4_k/q6_k (quantized at load)")
        ->capture_default_str();
    llm->add_option("--batch", lo->batches, "batch sizes to run")->capture_default_str()->check(CLI::Range(1, 1 << 20));
    llm->add_option("--n-prompt", lo->n_prompt, "prompt tokens per row")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 20));
    llm->add_option("--n-gen", lo->n_gen, "decode steps")->capture_default_str()->check(CLI::Range(1, 1 << 20));
    llm->add_option("--reps", lo->reps, "repetitions (best is reported)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 20));
    llm->add_option(
           "--kernel", lo->kernels,
           "decode matmul kernels to compare: auto, libtorch, rows, f32-seq, bf16-pairs, bf16-dot (ones this CPU "
           "cannot run for a dtype are skipped)")
        ->capture_default_str();
    llm->add_option(
           "--attention", lo->attentions,
           "attention to compare: auto (scaled_dot_product_attention for prefill, where LibTorch >= 2.0), manual "
           "(matmul, softmax, matmul), sdpa (every step; LibTorch >= 2.0)")
        ->capture_default_str();
    add_device_flag(llm, lo->device);
    llm->callback([&run, lo] { run = [lo] { run_bench_llm(*lo); }; });

    auto to = std::make_shared<BenchTokenizerOptions>();
    auto* tk = bench->add_subcommand("tokenizer", "ECGs tokenized per second (reference encoder shape), with FLOP/s");
    tk->add_option("--arch", to->arch, "architecture: heartllm or diagecg-v1")->capture_default_str();
    tk->add_option(
          "--kernel", to->kernels,
          "encoder kernels: auto (fused, codes re-checked against LibTorch near rounding boundaries), fused, libtorch")
        ->capture_default_str();
    tk->add_option("--dtype", to->dtypes, "dtypes to run")->capture_default_str();
    tk->add_option("--batch", to->batches, "batch sizes to run")->capture_default_str()->check(CLI::Range(1, 1 << 20));
    tk->add_option("--ecgs", to->n_ecgs, "ECGs per pass: each batch size encodes the same random ECGs")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 20));
    tk->add_option("--reps", to->reps, "passes (the best is reported)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1 << 20));
    tk->add_flag("--json", to->json, "one JSON object per row on stdout");
    add_device_flag(tk, to->device);
    tk->callback([&run, to] { run = [to] { run_bench_tokenizer(*to); }; });

    auto ro = std::make_shared<BenchReadOptions>();
    auto* rd = bench->add_subcommand(
        "read", "Records read + preprocessed per second over a directory of WFDB, XML, DICOM or SCP-ECG files");
    rd->add_option("dir", ro->dir, "directory searched recursively for .hea, .xml, .dcm and .scp files")->required();
    rd->add_option("--limit", ro->limit, "at most this many records (0 = all)")->capture_default_str();
    rd->callback([&run, ro] { run = [ro] { run_bench_read(*ro); }; });
}

}  // namespace diagecg::cli
