// Stage 1 training: the ECG tokenizer as an autoencoder (MSE on the normalised signal), driven by a
// JSON run config:
//   {
//     "model":      { EcgTokenizerConfig },            // configs/tokenizer-model-reference.json keys
//     "preprocess": { PreprocessConfig },              // optional
//     "data": {
//       "path": "DIR | LIST.txt | RECORD",             // training records (and validation, see below)
//       "split_file": "records.csv",                   // optional: "id,split" rows select the splits
//       "train_split": "train", "val_split": "val",    // split names used with split_file
//       "val_path": "...",                             // optional: validation records elsewhere
//       "val_fraction": 0.1,                           // otherwise: held out of "path" by seed
//       "max_records": 0                               // cap on training records (0 = all)
//     },
//     "train": { TrainConfig }
//   }
// Relative data paths are taken from the current directory.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "diagecg/ecg/ecg-preprocess.h"
#include "diagecg/tokenizer/ecg-tokenizer.h"
#include "diagecg/train/trainer.h"

namespace diagecg {

struct DataConfig {
    std::string path;
    std::string split_file;
    std::string train_split = "train";
    std::string val_split = "val";
    std::string val_path;
    double val_fraction = 0.1;
    int64_t max_records = 0;
};
DataConfig data_config_from_json(const nlohmann::json& j, const std::string& path);   // strict
nlohmann::json data_config_to_json(const DataConfig& c);

// Training and validation record lists from a data config (see the header comment).
void resolve_data(const DataConfig& c, uint64_t seed, std::vector<std::string>& train, std::vector<std::string>& val);

struct TokenizerRunConfig {
    EcgTokenizerConfig model;
    PreprocessConfig preprocess;
    DataConfig data;
    TrainConfig train;
};
TokenizerRunConfig tokenizer_run_config_from_json(const nlohmann::json& j, const std::string& path);   // strict
TokenizerRunConfig load_tokenizer_run_config(const std::string& file);
nlohmann::json tokenizer_run_config_to_json(const TokenizerRunConfig& c);

// Trains (or resumes) into run_dir; the best model ends up in run_dir/model (a tokenizer model directory).
// device: where the network and each batch live (the records stay in host memory).
TrainResult train_tokenizer(const TokenizerRunConfig& c, const std::string& run_dir, bool resume,
                            const TrainHooks& hooks = {}, torch::Device device = torch::kCPU);

}  // namespace diagecg
