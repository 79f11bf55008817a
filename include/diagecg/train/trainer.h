// The training loop shared by every stage (tokenizer autoencoder, ECG-token pretraining, LoRA tuning):
// AdamW, linear warmup + cosine decay, gradient clipping, gradient accumulation, validation with early
// stopping, one JSONL metrics record per step, atomic checkpoints and an exact resume.
//
// Files in the run directory:
//   metrics.jsonl    one object per training step ({"step", "epoch", "loss", "lr", "grad_norm", "elapsed_s"})
//                    and per validation ({"step", "epoch", "val_loss", ...task figures, "best_val_loss"})
//   checkpoint.pt    model, optimiser, counters, data position and RNG state (written to a temp file, renamed)
//   model/           the exported model with the best validation loss (the last one without validation data)
//
// Resume reloads checkpoint.pt and continues from its step: the data order of an epoch is a function of
// (seed, epoch) and the learning rate a function of the step, so a killed and resumed run ends with the
// same weights as an uninterrupted one (same thread count: CPU kernels are deterministic per thread count).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace diagecg {

struct TrainConfig {
    int64_t epochs = 5;
    int64_t batch_size = 200;
    int64_t micro_batch_size = 0;       // examples per forward/backward (0 = batch_size); gradients accumulate
    double lr = 2e-3;                   // peak learning rate
    double min_lr_ratio = 0.1;          // cosine decays to lr * min_lr_ratio
    int64_t warmup_steps = 0;           // linear warmup from 0
    double weight_decay = 0.01;         // AdamW (decoupled)
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double grad_clip = 1.0;             // max global gradient norm (0 = off)
    int64_t patience = 3;               // validations without improvement before stopping (0 = never stop early)
    int64_t eval_every = 0;             // steps between validations (0 = at the end of each epoch)
    int64_t checkpoint_every = 20;      // steps between checkpoints (also written after each validation)
    int64_t max_steps = 0;              // stop after this many steps (0 = epochs decide)
    int64_t log_every = 1;              // steps between progress lines on stderr
    uint64_t seed = 0;                  // model init (by the caller), data order, torch RNG
};
TrainConfig train_config_from_json(const nlohmann::json& j, const std::string& path);   // strict
nlohmann::json train_config_to_json(const TrainConfig& c);
void validate(const TrainConfig& c);

// Learning rate at `step` (0-based) of `total` steps.
double scheduled_lr(const TrainConfig& c, int64_t step, int64_t total);

// What a stage provides to the trainer.
class TrainTask {
public:
    virtual ~TrainTask() = default;
    virtual torch::nn::Module& module() = 0;        // parameters that train; saved in checkpoints
    virtual int64_t n_train() const = 0;            // training examples
    // Mean loss over the examples `idx` (indices into the training set), in training mode, with grad.
    virtual torch::Tensor train_loss(const std::vector<int64_t>& idx) = 0;
    // Validation figures, computed without grad: an object with "val_loss" (plus any task figures), or
    // null when there is no validation data.
    virtual nlohmann::json validate() = 0;
    // Exports the usable model into the existing, empty directory `dir`.
    virtual void save(const std::string& dir) = 0;
    // Tokens the last train_loss() call processed (language-model stages; 0 = not counted).
    virtual int64_t last_tokens() const { return 0; }
};

struct TrainResult {
    int64_t steps = 0;                  // optimiser steps done in total (all sessions)
    int64_t epochs_done = 0;            // whole epochs finished
    double last_loss = 0;               // training loss of the last step
    double best_val_loss = 0;           // NaN without validation data
    int64_t best_step = 0;
    bool early_stopped = false;
    bool interrupted = false;           // SIGINT/SIGTERM: checkpoint written, resume to continue
    double seconds = 0;                 // training time in total (all sessions)
    int64_t tokens = 0;                 // tokens processed in this session, all ranks (language-model stages)
    double step_seconds = 0;            // this session's time in training steps (validation and checkpoints excluded)
    double peak_rss_mb = 0;             // this process's peak resident memory
};

struct TrainHooks {
    int64_t sigkill_at_step = 0;        // testing: the process kills itself (SIGKILL) after this step
};

class Distributed;

// Runs (or with `resume`, continues) training into `run_dir`. `run_config` is recorded in the checkpoint;
// a resume with a different one is refused. Starting fresh in a directory that has a checkpoint is refused.
// Only parameters with requires_grad train (and are held in optimiser state and checkpoints).
// With `dist` (data parallel, see distributed.h), the micro-batches of each global batch are dealt out to the
// ranks in turn (micro-batch k to rank k mod world), gradients are summed over ranks before the step, and only
// rank 0 writes files; all ranks must share run_dir's filesystem for --resume. Validation runs on every rank
// (same weights, same data, so the same early-stopping decisions).
TrainResult train(TrainTask& task, const TrainConfig& cfg, const nlohmann::json& run_config, const std::string& run_dir,
                  bool resume, const TrainHooks& hooks = {}, Distributed* dist = nullptr);

}  // namespace diagecg
