#include "diagecg/train/trainer.h"

#include "diagecg/train/distributed.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>

#include <sys/resource.h>

#include "diagecg/util/atomic-file.h"
#include "diagecg/util/byte-reader.h"
#include "diagecg/util/json-config.h"
#include "diagecg/util/log.h"
#include "diagecg/util/sha256.h"

namespace diagecg {
namespace fs = std::filesystem;

TrainConfig train_config_from_json(const nlohmann::json& j, const std::string& path) {
    TrainConfig c;
    JsonObject o(j, path);
    o.get("epochs", c.epochs);
    o.get("batch_size", c.batch_size);
    o.get("micro_batch_size", c.micro_batch_size);
    o.get("lr", c.lr);
    o.get("min_lr_ratio", c.min_lr_ratio);
    o.get("warmup_steps", c.warmup_steps);
    o.get("weight_decay", c.weight_decay);
    o.get("beta1", c.beta1);
    o.get("beta2", c.beta2);
    o.get("eps", c.eps);
    o.get("grad_clip", c.grad_clip);
    o.get("patience", c.patience);
    o.get("eval_every", c.eval_every);
    o.get("checkpoint_every", c.checkpoint_every);
    o.get("max_steps", c.max_steps);
    o.get("log_every", c.log_every);
    o.get("seed", c.seed);
    o.finish();
    validate(c);
    return c;
}

nlohmann::json train_config_to_json(const TrainConfig& c) {
    return {{"epochs", c.epochs},
            {"batch_size", c.batch_size},
            {"micro_batch_size", c.micro_batch_size},
            {"lr", c.lr},
            {"min_lr_ratio", c.min_lr_ratio},
            {"warmup_steps", c.warmup_steps},
            {"weight_decay", c.weight_decay},
            {"beta1", c.beta1},
            {"beta2", c.beta2},
            {"eps", c.eps},
            {"grad_clip", c.grad_clip},
            {"patience", c.patience},
            {"eval_every", c.eval_every},
            {"checkpoint_every", c.checkpoint_every},
            {"max_steps", c.max_steps},
            {"log_every", c.log_every},
            {"seed", c.seed}};
}

void validate(const TrainConfig& c) {
    auto fail = [](const std::string& m) { throw std::invalid_argument("train config: " + m); };
    if (c.epochs <= 0) fail("epochs must be > 0");
    if (c.batch_size <= 0) fail("batch_size must be > 0");
    if (c.micro_batch_size < 0 || c.micro_batch_size > c.batch_size) fail("micro_batch_size must be in [0, batch_size]");
    if (!(c.lr > 0)) fail("lr must be > 0");
    if (!(c.min_lr_ratio >= 0 && c.min_lr_ratio <= 1)) fail("min_lr_ratio must be in [0, 1]");
    if (c.warmup_steps < 0) fail("warmup_steps must be >= 0");
    if (!(c.weight_decay >= 0)) fail("weight_decay must be >= 0");
    if (!(c.beta1 >= 0 && c.beta1 < 1) || !(c.beta2 >= 0 && c.beta2 < 1)) fail("beta1 and beta2 must be in [0, 1)");
    if (!(c.eps > 0)) fail("eps must be > 0");
    if (!(c.grad_clip >= 0)) fail("grad_clip must be >= 0");
    if (c.patience < 0 || c.eval_every < 0 || c.max_steps < 0) fail("patience, eval_every and max_steps must be >= 0");
    if (c.checkpoint_every <= 0) fail("checkpoint_every must be > 0");
    if (c.log_every <= 0) fail("log_every must be > 0");
}

double scheduled_lr(const TrainConfig& c, int64_t step, int64_t total) {
    if (step < c.warmup_steps) return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps + 1);
    const double span = std::max<int64_t>(1, total - c.warmup_steps - 1);
    const double t = std::min(1.0, static_cast<double>(step - c.warmup_steps) / span);
    const double cosine = 0.5 * (1 + std::cos(M_PI * t));
    return c.lr * (c.min_lr_ratio + (1 - c.min_lr_ratio) * cosine);
}

namespace {

std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

// Installs SIGINT/SIGTERM handlers for the scope of a run, restoring the previous ones after.
class StopSignals {
public:
    StopSignals() {
        g_stop_signal = 0;
        old_int_ = std::signal(SIGINT, on_stop_signal);
        old_term_ = std::signal(SIGTERM, on_stop_signal);
    }
    ~StopSignals() {
        std::signal(SIGINT, old_int_);
        std::signal(SIGTERM, old_term_);
    }
private:
    void (*old_int_)(int);
    void (*old_term_)(int);
};

// Everything a resume needs besides model and optimiser.
struct Progress {
    int64_t step = 0;               // optimiser steps done
    int64_t epoch = 0;              // current epoch (0-based)
    int64_t step_in_epoch = 0;      // batches of `epoch` done
    int64_t metrics_lines = 0;      // lines of metrics.jsonl that belong to this state
    int64_t bad_evals = 0;          // validations since the best one
    int64_t best_step = 0;
    double best_val = NAN;
    double last_loss = NAN;
    double seconds = 0;
};

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) + 1);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
    return order;
}

torch::Tensor scalar_i64(int64_t v) { return torch::tensor(v, torch::kLong); }
torch::Tensor scalar_f64(double v) { return torch::tensor(v, torch::kDouble); }

// Checkpoint manifests: CHECKPOINT.manifest.json = {"bytes", "sha256", "step"}, written after the checkpoint.
struct Manifest {
    std::string error;      // why the checkpoint cannot be trusted ("" = it can)
    uint64_t bytes = 0;
    std::string sha256;
    int64_t step = 0;
};
std::string manifest_path(const std::string& ckpt) { return ckpt.substr(0, ckpt.size() - 3) + ".manifest.json"; }
std::string prev_path(const std::string& ckpt) { return ckpt.substr(0, ckpt.size() - 3) + ".prev.pt"; }

void write_manifest(const std::string& ckpt, const Manifest& m) {
    const nlohmann::json j = {{"file", fs::path(ckpt).filename().string()}, {"bytes", m.bytes}, {"sha256", m.sha256}, {"step", m.step}};
    write_file_atomic(manifest_path(ckpt), j.dump(2) + "\n");
}

// Whether `ckpt` is complete and unchanged: its manifest exists and its size and sha256 match.
Manifest verify_checkpoint(const std::string& ckpt) {
    Manifest m;
    if (!fs::exists(ckpt)) return {ckpt + " does not exist"};
    const std::string mp = manifest_path(ckpt);
    if (!fs::exists(mp)) return {ckpt + " has no manifest (" + fs::path(mp).filename().string() + "): incomplete"};
    try {
        const auto j = nlohmann::json::parse(read_file_text(mp));
        m.bytes = j.at("bytes").get<uint64_t>();
        m.sha256 = j.at("sha256").get<std::string>();
        m.step = j.at("step").get<int64_t>();
    } catch (const std::exception& e) {
        return {mp + ": unreadable manifest (" + e.what() + ")"};
    }
    const uint64_t size = fs::file_size(ckpt);
    if (size != m.bytes) return {fmt::format("{} is {} bytes, its manifest says {}: incomplete or altered", ckpt, size, m.bytes)};
    const std::string sha = sha256_file(ckpt);
    if (sha != m.sha256) return {ckpt + ": sha256 differs from its manifest: the file was altered or corrupted"};
    return m;
}

void save_checkpoint(const std::string& path, TrainTask& task, torch::optim::Optimizer& opt, const Progress& p,
                     const std::string& run_config) {
    torch::serialize::OutputArchive ar;
    torch::serialize::OutputArchive model_ar, opt_ar;
    // Only what training changes: trainable parameters and buffers (frozen weights come from the base model).
    for (const auto& kv : task.module().named_parameters(true))
        if (kv.value().requires_grad()) model_ar.write(kv.key(), kv.value(), /*is_buffer=*/false);
    for (const auto& kv : task.module().named_buffers(true)) model_ar.write(kv.key(), kv.value(), /*is_buffer=*/true);
    opt.save(opt_ar);
    ar.write("model", model_ar);
    ar.write("optimizer", opt_ar);
    ar.write("step", scalar_i64(p.step));
    ar.write("epoch", scalar_i64(p.epoch));
    ar.write("step_in_epoch", scalar_i64(p.step_in_epoch));
    ar.write("metrics_lines", scalar_i64(p.metrics_lines));
    ar.write("bad_evals", scalar_i64(p.bad_evals));
    ar.write("best_step", scalar_i64(p.best_step));
    ar.write("best_val", scalar_f64(p.best_val));
    ar.write("last_loss", scalar_f64(p.last_loss));
    ar.write("seconds", scalar_f64(p.seconds));
    ar.write("torch_rng", at::detail::getDefaultCPUGenerator().get_state());
    ar.write("run_config", c10::IValue(run_config));
    const std::string tmp = path + ".tmp";
    ar.save_to(tmp);
    // The previous good checkpoint stays as checkpoint.prev.pt (with its manifest) until this one is complete;
    // the manifest, written last and atomically, is what makes a checkpoint complete.
    const Manifest m{"", std::filesystem::file_size(tmp), sha256_file(tmp), p.step};
    std::error_code ec;
    if (fs::exists(path) && fs::exists(manifest_path(path))) {
        fs::rename(path, prev_path(path), ec);
        if (!ec) fs::rename(manifest_path(path), manifest_path(prev_path(path)), ec);
        if (ec) throw std::runtime_error("cannot keep the previous checkpoint as " + prev_path(path) + ": " + ec.message());
    }
    fs::rename(tmp, path, ec);
    if (ec) throw std::runtime_error("cannot move checkpoint into place at " + path + ": " + ec.message());
    write_manifest(path, m);
}

Progress load_checkpoint(const std::string& path, TrainTask& task, torch::optim::Optimizer& opt,
                         const std::string& run_config) {
    torch::serialize::InputArchive ar;
    try {
        ar.load_from(path);
    } catch (const c10::Error& e) {
        throw std::runtime_error(path + ": cannot read checkpoint (" + std::string(e.what_without_backtrace()) + ")");
    }
    c10::IValue cfg;
    ar.read("run_config", cfg);
    if (cfg.toStringRef() != run_config)
        throw std::runtime_error(path + ": the checkpoint was written with a different configuration; resume with the "
                                 "same config (recorded in the checkpoint) or start a new run directory");
    torch::serialize::InputArchive model_ar, opt_ar;
    ar.read("model", model_ar);
    ar.read("optimizer", opt_ar);
    {
        torch::NoGradGuard ng;
        for (auto& kv : task.module().named_parameters(true)) {
            if (!kv.value().requires_grad()) continue;
            torch::Tensor t;
            if (!model_ar.try_read(kv.key(), t))
                throw std::runtime_error(path + ": checkpoint has no tensor '" + kv.key() + "' (written by another model set-up?)");
            if (t.sizes() != kv.value().sizes())
                throw std::runtime_error(path + ": checkpoint tensor '" + kv.key() + "' has another shape than the model's");
            if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>())
                throw std::runtime_error(path + ": checkpoint tensor '" + kv.key() + "' holds NaN or Inf values");
            kv.value().copy_(t);
        }
        for (auto& kv : task.module().named_buffers(true)) {
            torch::Tensor t;
            if (model_ar.try_read(kv.key(), t, /*is_buffer=*/true)) kv.value().copy_(t);
        }
    }
    opt.load(opt_ar);
    auto i64 = [&](const char* k) { torch::Tensor t; ar.read(k, t); return t.item<int64_t>(); };
    auto f64 = [&](const char* k) { torch::Tensor t; ar.read(k, t); return t.item<double>(); };
    Progress p;
    p.step = i64("step");
    p.epoch = i64("epoch");
    p.step_in_epoch = i64("step_in_epoch");
    p.metrics_lines = i64("metrics_lines");
    p.bad_evals = i64("bad_evals");
    p.best_step = i64("best_step");
    p.best_val = f64("best_val");
    p.last_loss = f64("last_loss");
    p.seconds = f64("seconds");
    torch::Tensor rng;
    ar.read("torch_rng", rng);
    auto gen = at::detail::getDefaultCPUGenerator();
    gen.set_state(rng);
    return p;
}

// Loads checkpoint.pt if its manifest vouches for it, else checkpoint.prev.pt (the one before), naming what was
// refused. A checkpoint with no manifest anywhere in the run is from a version before manifests: loaded with a
// warning. NaN/Inf weights are refused like a corrupt file.
Progress load_verified_checkpoint(const std::string& ckpt, TrainTask& task, torch::optim::Optimizer& opt,
                                  const std::string& run_config) {
    const bool legacy = !fs::exists(manifest_path(ckpt)) && !fs::exists(manifest_path(prev_path(ckpt)));
    if (legacy) {
        log::warn("{}: no manifest (written before checkpoints had one): loading it unverified", ckpt);
        return load_checkpoint(ckpt, task, opt, run_config);
    }
    std::vector<std::string> refused;
    for (const std::string& candidate : {ckpt, prev_path(ckpt)}) {
        if (!fs::exists(candidate)) continue;
        const Manifest m = verify_checkpoint(candidate);
        if (!m.error.empty()) {
            refused.push_back(m.error);
            log::error("refusing checkpoint: {}", m.error);
            continue;
        }
        try {
            Progress p = load_checkpoint(candidate, task, opt, run_config);
            if (candidate != ckpt) log::warn("resuming from the previous good checkpoint {} (step {})", candidate, p.step);
            return p;
        } catch (const std::runtime_error& e) {
            refused.push_back(e.what());
            log::error("refusing checkpoint: {}", e.what());
        }
    }
    std::string msg = "no good checkpoint to resume from:";
    for (const auto& r : refused) msg += " " + r + ";";
    throw std::runtime_error(msg.substr(0, msg.size() - 1));
}

// Keeps the first `n` lines of the metrics file (lines written after the checkpoint are redone).
void truncate_lines(const std::string& path, int64_t n) {
    std::ifstream in(path);
    std::string kept, line;
    for (int64_t i = 0; i < n && std::getline(in, line); ++i) kept += line + "\n";
    in.close();
    write_file_atomic(path, kept);
}

// Exports the model into run_dir/model through a temp folder, so a crash never leaves half a model.
void export_model(TrainTask& task, const fs::path& run_dir) {
    const fs::path dst = run_dir / "model", tmp = run_dir / "model.tmp", old = run_dir / "model.old";
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    task.save(tmp.string());
    fs::remove_all(old);
    if (fs::exists(dst)) fs::rename(dst, old);
    fs::rename(tmp, dst);
    fs::remove_all(old);
}

std::string format_duration(double s) {
    if (!std::isfinite(s) || s < 0) return "?";
    const auto t = static_cast<int64_t>(s + 0.5);
    if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
    if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
    return fmt::format("{}s", t);
}

}  // namespace

TrainResult train(TrainTask& task, const TrainConfig& cfg, const nlohmann::json& run_config_json,
                  const std::string& run_dir_str, bool resume, const TrainHooks& hooks, Distributed* dist) {
    validate(cfg);
    const int64_t rank = dist ? dist->rank() : 0, world = dist ? dist->world_size() : 1;
    const bool main_rank = rank == 0;
    const fs::path run_dir(run_dir_str);
    const std::string ckpt_path = (run_dir / "checkpoint.pt").string();
    const std::string metrics_path = (run_dir / "metrics.jsonl").string();
    const std::string run_config = run_config_json.dump();
    const int64_t n = task.n_train();
    if (n <= 0) throw std::runtime_error("no training examples");

    fs::create_directories(run_dir);
    if (!resume && fs::exists(ckpt_path))
        throw std::runtime_error(run_dir_str + " already holds a run (checkpoint.pt): pass --resume to continue it, "
                                 "or choose another output directory");
    if (resume && !fs::exists(ckpt_path))
        throw std::runtime_error(run_dir_str + ": nothing to resume (no checkpoint.pt)");

    std::vector<torch::Tensor> params;
    for (const auto& t : task.module().parameters())
        if (t.requires_grad()) params.push_back(t);
    if (params.empty()) throw std::runtime_error("nothing to train: every parameter is frozen");
    torch::optim::AdamW opt(params, torch::optim::AdamWOptions(cfg.lr)
                                        .betas({cfg.beta1, cfg.beta2})
                                        .eps(cfg.eps)
                                        .weight_decay(cfg.weight_decay));
    Progress p;
    if (resume) {
        p = load_verified_checkpoint(ckpt_path, task, opt, run_config);
        if (main_rank) truncate_lines(metrics_path, p.metrics_lines);
        log::info("resuming {} at step {} (epoch {}, batch {})", run_dir_str, p.step, p.epoch + 1, p.step_in_epoch);
    } else {
        torch::manual_seed(cfg.seed);
        if (main_rank) {
            write_file_atomic(metrics_path, "");
            write_file_atomic((run_dir / "run-config.json").string(), run_config_json.dump(2) + "\n");
        }
    }
    if (dist) dist->barrier();   // every rank has read the checkpoint before rank 0 writes the next one

    const int64_t steps_per_epoch = (n + cfg.batch_size - 1) / cfg.batch_size;
    int64_t total = cfg.epochs * steps_per_epoch;
    if (cfg.max_steps > 0) total = std::min(total, cfg.max_steps);
    const bool finished = p.step >= total || (cfg.patience > 0 && p.bad_evals >= cfg.patience);
    if (resume && main_rank && finished && !fs::exists(run_dir / "model")) {
        // A finished run whose model/ was deleted must not "resume" into success with no model.
        if (!std::isnan(p.best_val) && p.best_step != p.step)
            throw std::runtime_error(fmt::format(
                "{}: the run is finished but its model/ is missing, and its best weights (step {}) are not in the last "
                "checkpoint (step {}): train again into a new directory",
                run_dir_str, p.best_step, p.step));
        log::warn("{}: the run is finished but its model/ is missing: exporting it again from the checkpoint (step {})",
                  run_dir_str, p.step);
        export_model(task, run_dir);
    }
    const int64_t micro = cfg.micro_batch_size > 0 ? cfg.micro_batch_size : cfg.batch_size;

    std::ofstream metrics;
    if (main_rank) {
        metrics.open(metrics_path, std::ios::app);
        if (!metrics) throw std::runtime_error("cannot open " + metrics_path + " for writing");
    }
    auto emit = [&](const nlohmann::json& j) {
        if (main_rank) {
            metrics << j.dump() << "\n";
            metrics.flush();
        }
        ++p.metrics_lines;
    };

    TrainResult r;
    StopSignals signals;
    const auto session_start = std::chrono::steady_clock::now();
    const double seconds_before = p.seconds;
    const int64_t step_at_start = p.step;
    int64_t session_tokens = 0;
    double step_seconds = 0;   // this session's time in training steps (no validation, no checkpoints)
    auto elapsed = [&] {
        return seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - session_start).count();
    };
    auto checkpoint = [&] {
        p.seconds = elapsed();
        if (main_rank) save_checkpoint(ckpt_path, task, opt, p, run_config);
    };
    auto run_validation = [&](int64_t epoch) -> bool {   // epoch: 1-based, in progress or just finished; true = stop
        torch::NoGradGuard ng;
        task.module().eval();
        nlohmann::json v = task.validate();
        task.module().train();
        if (v.is_null()) return false;
        const double val = v.at("val_loss").get<double>();
        const bool better = !(val >= p.best_val);   // also true for the first (best_val NaN)
        if (better) {
            p.best_val = val;
            p.best_step = p.step;
            p.bad_evals = 0;
            if (main_rank) export_model(task, run_dir);
        } else {
            ++p.bad_evals;
        }
        v["step"] = p.step;
        v["epoch"] = epoch;
        v["best_val_loss"] = p.best_val;
        v["elapsed_s"] = elapsed();
        emit(v);
        log::info("validation at step {}: loss {:.5f}{} (best {:.5f} at step {})", p.step, val, better ? " *" : "",
                  p.best_val, p.best_step);
        return cfg.patience > 0 && p.bad_evals >= cfg.patience;
    };

    task.module().train();
    log::info("training: {} examples, batch {} (micro-batch {}), {} steps per epoch, {} steps in all", n,
              cfg.batch_size, micro, steps_per_epoch, total);
    bool stop = false;
    if (cfg.patience > 0 && p.bad_evals >= cfg.patience) {   // resuming a run that already stopped early
        log::info("this run stopped early at step {}; nothing to do", p.step);
        stop = r.early_stopped = true;
    }
    while (!stop && p.step < total && p.epoch < cfg.epochs) {
        const auto order = epoch_order(n, cfg.seed, p.epoch);
        while (p.step_in_epoch < steps_per_epoch && p.step < total) {
            const int64_t b0 = p.step_in_epoch * cfg.batch_size, b1 = std::min(n, b0 + cfg.batch_size);
            const auto step_start = std::chrono::steady_clock::now();
            opt.zero_grad();
            double loss_sum = 0;
            double step_tokens = 0;
            int64_t k = 0;   // micro-batch index within the batch
            for (int64_t m0 = b0; m0 < b1; m0 += micro, ++k) {
                if (k % world != rank) continue;
                const int64_t m1 = std::min(b1, m0 + micro);
                const std::vector<int64_t> idx(order.begin() + m0, order.begin() + m1);
                auto loss = task.train_loss(idx);
                const double w = static_cast<double>(m1 - m0) / static_cast<double>(b1 - b0);
                (loss * w).backward();
                loss_sum += loss.item<double>() * w;
                step_tokens += static_cast<double>(task.last_tokens());
            }
            if (dist && world > 1) {
                // Sum gradients (each rank's are already weighted by its share of the batch), the loss and
                // the stop request, so every rank takes the same step and stops at the same one.
                std::vector<torch::Tensor> sync;
                for (auto& t : params) {
                    if (!t.grad().defined()) t.mutable_grad() = torch::zeros_like(t);
                    sync.push_back(t.grad());
                }
                auto extra = torch::tensor({loss_sum, static_cast<double>(g_stop_signal != 0), step_tokens}, torch::kDouble);
                sync.push_back(extra);
                dist->all_reduce_sum(sync);
                loss_sum = sync.back()[0].item<double>();
                step_tokens = sync.back()[2].item<double>();
                if (sync.back()[1].item<double>() > 0 && g_stop_signal == 0) g_stop_signal = SIGTERM;
            }
            if (!std::isfinite(loss_sum))
                throw std::runtime_error(fmt::format("training loss is {} at step {}; last good checkpoint: {}", loss_sum,
                                                     p.step, ckpt_path));
            double grad_norm = 0;
            {
                torch::NoGradGuard ng;
                if (cfg.grad_clip > 0) {
                    grad_norm = torch::nn::utils::clip_grad_norm_(params, cfg.grad_clip);
                } else {
                    for (const auto& t : params)
                        if (t.grad().defined()) grad_norm += t.grad().pow(2).sum().item<double>();
                    grad_norm = std::sqrt(grad_norm);
                }
            }
            const double lr = scheduled_lr(cfg, p.step, total);
            for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
            opt.step();
            ++p.step;
            ++p.step_in_epoch;
            p.last_loss = loss_sum;
            session_tokens += static_cast<int64_t>(step_tokens);
            step_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - step_start).count();
            nlohmann::json line = {{"step", p.step},       {"epoch", p.epoch + 1},         {"loss", loss_sum},
                                   {"lr", lr},             {"grad_norm", grad_norm},       {"elapsed_s", elapsed()}};
            if (step_tokens > 0) line["tokens"] = static_cast<int64_t>(step_tokens);
            emit(line);
            if (p.step % cfg.log_every == 0 || p.step == total) {
                const double session_s = elapsed() - seconds_before;
                const double per_step = session_s / static_cast<double>(p.step - step_at_start);
                const std::string tok_rate =
                    session_tokens > 0 ? fmt::format(" {:.0f} tok/s", static_cast<double>(session_tokens) / step_seconds) : "";
                log::info("step {}/{} epoch {}/{} loss {:.5f} lr {:.2e} |g| {:.3f} {:.2f} s/step{} ETA {}", p.step, total,
                          p.epoch + 1, cfg.epochs, loss_sum, lr, grad_norm, per_step, tok_rate,
                          format_duration(per_step * static_cast<double>(total - p.step)));
            }
            if (hooks.sigkill_at_step > 0 && p.step == hooks.sigkill_at_step) {
                log::warn("test hook: killing this process with SIGKILL after step {}", p.step);
                std::raise(SIGKILL);
            }
            const bool end_of_epoch = p.step_in_epoch == steps_per_epoch;
            bool evaluated = false;
            if (cfg.eval_every > 0 && p.step % cfg.eval_every == 0 && !end_of_epoch) {
                stop = run_validation(p.epoch + 1);
                evaluated = true;
            }
            if (end_of_epoch) {
                ++p.epoch;
                p.step_in_epoch = 0;
                stop = run_validation(p.epoch) || stop;
                evaluated = true;
            }
            if (evaluated || p.step % cfg.checkpoint_every == 0 || p.step == total || stop) checkpoint();
            if (stop) {
                log::info("early stopping at step {}: no validation improvement in {} evaluations", p.step, cfg.patience);
                r.early_stopped = true;
                break;
            }
            if (g_stop_signal != 0) {
                checkpoint();
                log::warn("stopped by signal {} at step {}; checkpoint written, continue with --resume", int(g_stop_signal),
                          p.step);
                r.interrupted = true;
                stop = true;
                break;
            }
            if (end_of_epoch) break;   // the next epoch has its own order
        }
    }
    if (!r.interrupted && !r.early_stopped && p.step_in_epoch > 0 && p.step > step_at_start) {
        // max_steps ended mid-epoch: validate the final weights too.
        run_validation(p.epoch + 1);
        checkpoint();
    }
    if (!r.interrupted && std::isnan(p.best_val) && main_rank) export_model(task, run_dir);
    if (dist) dist->barrier();   // no validation data: keep the last
    r.steps = p.step;
    r.epochs_done = p.epoch;
    r.last_loss = p.last_loss;
    r.best_val_loss = p.best_val;
    r.best_step = p.best_step;
    r.seconds = elapsed();
    r.step_seconds = step_seconds;
    r.tokens = session_tokens;
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    r.peak_rss_mb = static_cast<double>(ru.ru_maxrss) / 1024.0;
    return r;
}

}  // namespace diagecg
