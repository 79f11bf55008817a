#include "diagecg/train/tokenizer-training.h"

#include <fstream>

#include "diagecg/ecg/record-set.h"
#include "diagecg/tokenizer/ecg-tokenizer-io.h"
#include "diagecg/util/json-config.h"
#include "diagecg/util/log.h"

namespace diagecg {

DataConfig data_config_from_json(const nlohmann::json& j, const std::string& path) {
    DataConfig c;
    JsonObject o(j, path);
    if (!o.get("path", c.path) || c.path.empty())
        throw std::invalid_argument(path + ".path: required (records to train on)");
    o.get("split_file", c.split_file);
    o.get("train_split", c.train_split);
    o.get("val_split", c.val_split);
    o.get("val_path", c.val_path);
    o.get("val_fraction", c.val_fraction);
    o.get("max_records", c.max_records);
    o.finish();
    if (!(c.val_fraction >= 0 && c.val_fraction < 1))
        throw std::invalid_argument(path + ".val_fraction: must be in [0, 1)");
    if (c.max_records < 0) throw std::invalid_argument(path + ".max_records: must be >= 0");
    return c;
}

nlohmann::json data_config_to_json(const DataConfig& c) {
    return {{"path", c.path},
            {"split_file", c.split_file},
            {"train_split", c.train_split},
            {"val_split", c.val_split},
            {"val_path", c.val_path},
            {"val_fraction", c.val_fraction},
            {"max_records", c.max_records}};
}

void resolve_data(const DataConfig& c, uint64_t seed, std::vector<std::string>& train, std::vector<std::string>& val) {
    const auto all = list_records(c.path);
    if (!c.split_file.empty()) {
        const auto splits = read_split_file(c.split_file);
        train = select_split(all, splits, c.train_split);
        if (train.empty())
            throw std::runtime_error(c.split_file + ": no record under " + c.path + " has split \"" + c.train_split +
                                     "\"");
        val = c.val_path.empty() ? select_split(all, splits, c.val_split) : list_records(c.val_path);
    } else if (!c.val_path.empty()) {
        train = all;
        val = list_records(c.val_path);
    } else {
        split_by_fraction(all, c.val_fraction, seed, train, val);
    }
    if (c.max_records > 0 && static_cast<int64_t>(train.size()) > c.max_records)
        train.resize(static_cast<size_t>(c.max_records));
    if (train.empty()) throw std::runtime_error(c.path + ": no training records");
}

TokenizerRunConfig tokenizer_run_config_from_json(const nlohmann::json& j, const std::string& path) {
    if (!j.is_object()) throw std::invalid_argument(path + ": expected a JSON object");
    TokenizerRunConfig c;
    for (const auto& [k, v] : j.items())
        if (k != "model" && k != "preprocess" && k != "data" && k != "train")
            throw std::invalid_argument("unknown config key(s): " + path + "." + k);
    if (!j.contains("data")) throw std::invalid_argument(path + ": no \"data\" section (records to train on)");
    if (j.contains("model")) c.model = ecg_tokenizer_config_from_json(j["model"], path + ".model");
    if (j.contains("preprocess")) c.preprocess = preprocess_config_from_json(j["preprocess"], path + ".preprocess");
    c.data = data_config_from_json(j["data"], path + ".data");
    if (j.contains("train")) c.train = train_config_from_json(j["train"], path + ".train");
    const auto n = static_cast<int64_t>(c.preprocess.sample_rate_hz * c.preprocess.duration_s + 0.5);
    if (n != c.model.n_samples)
        throw std::invalid_argument(path + ": preprocessing gives " + std::to_string(n) +
                                    " samples per lead but model.n_samples is " + std::to_string(c.model.n_samples));
    if (!c.preprocess.normalize)
        log::warn("{}: preprocess.normalize is false; the reference trains on z-normalised leads", path);
    return c;
}

TokenizerRunConfig load_tokenizer_run_config(const std::string& file) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error(file + ": cannot open config");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(file + ": invalid JSON: " + e.what());
    }
    return tokenizer_run_config_from_json(j, file);
}

nlohmann::json tokenizer_run_config_to_json(const TokenizerRunConfig& c) {
    return {{"model", ecg_tokenizer_config_to_json(c.model)},
            {"preprocess", preprocess_config_to_json(c.preprocess)},
            {"data", data_config_to_json(c.data)},
            {"train", train_config_to_json(c.train)}};
}

namespace {

class TokenizerTask : public TrainTask {
public:
    TokenizerTask(const TokenizerRunConfig& c, EcgTensor train, EcgTensor val, torch::Device device)
        : c_(c), net_(c.model), train_(std::move(train)), val_(std::move(val)), device_(device) {
        net_->to(device_);
    }

    torch::nn::Module& module() override { return *net_; }
    int64_t n_train() const override { return train_.x.size(0); }

    torch::Tensor train_loss(const std::vector<int64_t>& idx) override {
        const auto x = train_.x.index_select(0, torch::tensor(idx, torch::kLong)).to(device_);  // [B, L, T]
        const auto recon = net_->decode(net_->encode(x).levels);
        return torch::mse_loss(recon, x);
    }

    nlohmann::json validate() override {
        if (val_.x.size(0) == 0) return nullptr;
        ReconstructionMeter meter(net_->config().codebook_size());
        const int64_t chunk = std::max<int64_t>(1, c_.train.micro_batch_size > 0 ? c_.train.micro_batch_size : 8);
        for (int64_t i = 0; i < val_.x.size(0); i += chunk) {
            const auto x = val_.x.narrow(0, i, std::min(chunk, val_.x.size(0) - i));
            const auto e = net_->encode(x.to(device_));
            meter.add(x, net_->decode(e.levels).to(torch::kCPU), e.codes.to(torch::kCPU));
        }
        nlohmann::json j = meter.summary();
        j["val_loss"] = meter.mse();
        return j;
    }

    void save(const std::string& dir) override {
        nlohmann::json info = {
            {"trained_on", c_.data.path}, {"n_train_records", n_train()}, {"n_val_records", val_.x.size(0)}};
        save_ecg_tokenizer(net_, c_.preprocess, info, dir);
    }

private:
    TokenizerRunConfig c_;
    EcgTokenizer net_;
    EcgTensor train_, val_;
    torch::Device device_;
};

EcgTensor load_split(const std::vector<std::string>& paths, const TokenizerRunConfig& c, const char* what) {
    EcgTensor t = load_ecg_tensor(paths, c.preprocess, {}, c.model.n_samples);
    for (const auto& [p, why] : t.failed) log::warn("{} record left out: {}: {}", what, p, why);
    log::info("{} records: {} ({} left out, {:.0f} MB in memory)", what, t.x.size(0), t.failed.size(),
              static_cast<double>(t.x.numel()) * 4 / 1e6);
    return t;
}

}  // namespace

TrainResult train_tokenizer(const TokenizerRunConfig& c, const std::string& run_dir, bool resume,
                            const TrainHooks& hooks, torch::Device device) {
    std::vector<std::string> train_paths, val_paths;
    resolve_data(c.data, c.train.seed, train_paths, val_paths);
    EcgTensor train_set = load_split(train_paths, c, "training");
    if (train_set.x.size(0) == 0) throw std::runtime_error("no training record could be read (see the warnings above)");
    EcgTensor val = load_split(val_paths, c, "validation");
    torch::manual_seed(c.train.seed);  // model initialisation
    TokenizerTask task(c, std::move(train_set), std::move(val), device);
    log::info(
        "ECG tokenizer: {} parameters, {} codes per ECG, codebook {}",
        [&] {
            int64_t n = 0;
            for (const auto& p : task.module().parameters()) n += p.numel();
            return n;
        }(),
        c.model.n_steps(), c.model.codebook_size());
    return diagecg::train(task, c.train, tokenizer_run_config_to_json(c), run_dir, resume, hooks);
}

}  // namespace diagecg
