// ECG tokenizer model directories, batches of preprocessed records, and reconstruction figures.
//
// A tokenizer model directory holds:
//   config.json        {"format": "diagecg-ecg-tokenizer", "model": {...}, "preprocess": {...}, "info": {...}};
//                      "model" names its "architecture" ("heartllm" or "diagecg-v1"); a "model" without the
//                      key was written before it existed and is diagecg-v1
//   model.safetensors  the encoder/quantizer/decoder weights (F32), names as in the architecture's module
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "diagecg/ecg/ecg-preprocess.h"
#include "diagecg/ecg/ecg-record.h"
#include "diagecg/tokenizer/ecg-tokenizer.h"

namespace diagecg {

struct EcgTokenizerModel {
    EcgTokenizer net{nullptr};
    PreprocessConfig preprocess;
    nlohmann::json info;           // free-form: training data, figures
};

// Writes config.json and model.safetensors into `dir` (created if needed; each file atomically).
void save_ecg_tokenizer(EcgTokenizer& net, const PreprocessConfig& preprocess, const nlohmann::json& info,
                        const std::string& dir);
// Loads a model directory; every problem (missing/unexpected/mis-shaped tensor) is reported at once.
EcgTokenizerModel load_ecg_tokenizer(const std::string& dir);

// Records read and preprocessed into one tensor.
struct EcgTensor {
    torch::Tensor x;                                        // [N, L, T] f32 (model input)
    std::vector<std::string> paths;                         // the N records, in order
    std::vector<SignalQuality> quality;                     // the N records' signal quality (signal-quality.h)
    std::vector<std::pair<std::string, std::string>> failed;   // (path, why) of records left out
};

// How records reach a model: the reader options (CSV/NPY rate, lead names, units, layout) and the signal-quality
// gate. Every command that feeds a model takes this one struct.
struct RecordInput {
    ReadOptions read;
    bool allow_poor_signal = false;     // read records whose quality verdict is "poor" (with a warning)
};

// Reads and preprocesses `paths`; a record that cannot be read, or whose signal quality is poor (unless
// allowed), is left out and listed in `failed` (callers decide whether that is an error); borderline records
// are kept with a warning. Logs progress for long lists.
EcgTensor load_ecg_tensor(const std::vector<std::string>& paths, const PreprocessConfig& preprocess,
                          const RecordInput& input = {}, int64_t n_samples = 5000);

// Pearson correlation per lead: x, y [B, L, T] -> [B, L]; NaN where either lead is constant.
torch::Tensor per_lead_pearson(const torch::Tensor& x, const torch::Tensor& y);

// Accumulates reconstruction MSE, per-lead correlation and codebook usage over batches.
class ReconstructionMeter {
public:
    explicit ReconstructionMeter(int64_t codebook_size);
    // x, recon [B, L, T] (model input and decoder output); codes [B, P]
    void add(const torch::Tensor& x, const torch::Tensor& recon, const torch::Tensor& codes);
    int64_t n_ecgs() const { return n_ecgs_; }
    double mse() const;                 // mean over every sample of every lead
    double mean_pearson() const;        // mean over (ECG, lead) pairs with a defined correlation
    int64_t codes_used() const;
    double perplexity() const;          // exp(entropy of the code histogram), 1..K
    nlohmann::json summary() const;     // {"n_ecgs", "mse", "mean_pearson", "codes_used", "codebook_size", "perplexity"}
private:
    int64_t n_ecgs_ = 0;
    double sq_err_ = 0;
    int64_t n_values_ = 0;
    double pearson_sum_ = 0;
    int64_t n_pearson_ = 0;
    std::vector<int64_t> hist_;
};

}  // namespace diagecg
