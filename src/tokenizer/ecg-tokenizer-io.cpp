#include "diagecg/tokenizer/ecg-tokenizer-io.h"

#include <chrono>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "diagecg/ecg/read-ecg.h"
#include "diagecg/util/atomic-file.h"
#include "diagecg/util/log.h"
#include "diagecg/util/module-weights.h"
#include "diagecg/util/safetensors.h"

namespace diagecg {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "diagecg-ecg-tokenizer";

}  // namespace

void save_ecg_tokenizer(EcgTokenizer& net, const PreprocessConfig& preprocess, const nlohmann::json& info,
                        const std::string& dir) {
    fs::create_directories(dir);
    std::vector<torch::Tensor> keep;   // contiguous f32 copies live until written
    std::vector<TensorView> views;
    for (const auto& kv : net->named_parameters(/*recurse=*/true)) {
        auto t = kv.value().detach().to(torch::kCPU, torch::kFloat).contiguous();
        keep.push_back(t);
        TensorView v;
        v.name = kv.key();
        v.dtype = DType::kF32;
        v.shape.assign(t.sizes().begin(), t.sizes().end());
        v.data = t.data_ptr();
        v.n_bytes = static_cast<size_t>(t.numel()) * sizeof(float);
        views.push_back(std::move(v));
    }
    write_safetensors((fs::path(dir) / "model.safetensors").string(), views, {{"format", "pt"}});
    const nlohmann::json cfg = {{"format", kFormat},
                                {"model", ecg_tokenizer_config_to_json(net->config())},
                                {"preprocess", preprocess_config_to_json(preprocess)},
                                {"info", info.is_null() ? nlohmann::json::object() : info}};
    write_file_atomic((fs::path(dir) / "config.json").string(), cfg.dump(2) + "\n");
}

EcgTokenizerModel load_ecg_tokenizer(const std::string& dir) {
    const std::string cfg_path = (fs::path(dir) / "config.json").string();
    std::ifstream in(cfg_path);
    if (!in) throw std::runtime_error(dir + ": not an ECG tokenizer directory (cannot open config.json)");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(cfg_path + ": invalid JSON: " + e.what());
    }
    if (!j.is_object() || !j.contains("format") || j["format"] != kFormat)
        throw std::runtime_error(cfg_path + ": \"format\" must be \"" + kFormat + "\" (is this an ECG tokenizer?)");
    for (const auto& [k, v] : j.items())
        if (k != "format" && k != "model" && k != "preprocess" && k != "info")
            throw std::runtime_error(cfg_path + ": unknown key \"" + k + "\"");
    if (!j.contains("model")) throw std::runtime_error(cfg_path + ": no \"model\" section");
    EcgTokenizerModel m;
    // Directories written before "architecture" existed hold diagecg-v1 weights.
    const EcgTokenizerConfig cfg = ecg_tokenizer_config_from_json(j["model"], cfg_path + ".model", EcgTokenizerArch::kDiagecgV1);
    m.preprocess = j.contains("preprocess") ? preprocess_config_from_json(j["preprocess"], cfg_path + ".preprocess")
                                            : PreprocessConfig{};
    m.info = j.value("info", nlohmann::json::object());
    m.net = EcgTokenizer(cfg);

    load_module_weights(*m.net, dir, [](const std::string& name) { return name; }, "the ECG tokenizer");
    m.net->eval();
    return m;
}

EcgTensor load_ecg_tensor(const std::vector<std::string>& paths, const PreprocessConfig& prep, const RecordInput& input,
                          int64_t n_samples) {
    EcgTensor out;
    std::vector<std::vector<float>> signals;
    const auto t0 = std::chrono::steady_clock::now();
    auto last_log = t0;
    for (size_t i = 0; i < paths.size(); ++i) {
        try {
            const EcgRecord rec = read_ecg(paths[i], input.read);
            PreprocessResult r = preprocess(rec, prep);
            if (r.n_samples != n_samples)
                throw std::runtime_error("preprocessed to " + std::to_string(r.n_samples) + " samples, the model takes " +
                                         std::to_string(n_samples));
            if (r.quality.verdict == QualityVerdict::kPoor) {
                if (!input.allow_poor_signal)
                    throw std::runtime_error("refused: signal quality " + r.quality.summary() +
                                             " (--allow-poor-signal reads it anyway)");
                log::warn("{}: signal quality {}; read anyway (--allow-poor-signal)", paths[i], r.quality.summary());
            } else if (r.quality.verdict == QualityVerdict::kBorderline) {
                log::warn("{}: signal quality {}", paths[i], r.quality.summary());
            }
            signals.push_back(std::move(r.signal));
            out.paths.push_back(paths[i]);
            out.quality.push_back(std::move(r.quality));
        } catch (const std::exception& e) {
            out.failed.emplace_back(paths[i], e.what());
        }
        const auto now = std::chrono::steady_clock::now();
        if (std::chrono::duration<double>(now - last_log).count() > 5) {
            log::info("reading records: {}/{}", i + 1, paths.size());
            last_log = now;
        }
    }
    const auto n = static_cast<int64_t>(signals.size());
    out.x = torch::empty({n, 12, n_samples}, torch::kFloat);
    for (int64_t i = 0; i < n; ++i)
        std::memcpy(out.x[i].data_ptr<float>(), signals[static_cast<size_t>(i)].data(),
                    sizeof(float) * static_cast<size_t>(12 * n_samples));
    log::debug("read {} records ({} left out) in {:.1f} s", n, out.failed.size(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return out;
}

torch::Tensor per_lead_pearson(const torch::Tensor& x, const torch::Tensor& y) {
    const auto xd = x.to(torch::kDouble), yd = y.to(torch::kDouble);
    const auto xc = xd - xd.mean(-1, true), yc = yd - yd.mean(-1, true);
    const auto num = (xc * yc).sum(-1);
    const auto den = (xc.pow(2).sum(-1) * yc.pow(2).sum(-1)).sqrt();
    const auto nan = torch::full_like(num, std::numeric_limits<double>::quiet_NaN());
    return torch::where(den > 1e-12, num / den.clamp_min(1e-300), nan);
}

ReconstructionMeter::ReconstructionMeter(int64_t codebook_size) : hist_(static_cast<size_t>(codebook_size), 0) {}

void ReconstructionMeter::add(const torch::Tensor& x, const torch::Tensor& recon, const torch::Tensor& codes) {
    torch::NoGradGuard ng;
    const auto xf = x.to(torch::kCPU, torch::kFloat), rf = recon.to(torch::kCPU, torch::kFloat);
    sq_err_ += (xf.to(torch::kDouble) - rf.to(torch::kDouble)).pow(2).sum().item<double>();
    n_values_ += xf.numel();
    n_ecgs_ += xf.size(0);
    const auto r = per_lead_pearson(xf, rf);
    const auto ok = ~torch::isnan(r);
    pearson_sum_ += r.masked_select(ok).sum().item<double>();
    n_pearson_ += ok.sum().item<int64_t>();
    const auto c = codes.to(torch::kCPU, torch::kLong).contiguous();
    const int64_t* p = c.data_ptr<int64_t>();
    for (int64_t i = 0; i < c.numel(); ++i) {
        if (p[i] < 0 || p[i] >= static_cast<int64_t>(hist_.size())) throw std::logic_error("code out of range");
        ++hist_[static_cast<size_t>(p[i])];
    }
}

double ReconstructionMeter::mse() const { return n_values_ ? sq_err_ / static_cast<double>(n_values_) : NAN; }
double ReconstructionMeter::mean_pearson() const { return n_pearson_ ? pearson_sum_ / static_cast<double>(n_pearson_) : NAN; }

int64_t ReconstructionMeter::codes_used() const {
    int64_t n = 0;
    for (const int64_t h : hist_) n += h > 0;
    return n;
}

double ReconstructionMeter::perplexity() const {
    double total = 0;
    for (const int64_t h : hist_) total += static_cast<double>(h);
    if (total == 0) return NAN;
    double entropy = 0;
    for (const int64_t h : hist_)
        if (h > 0) {
            const double q = static_cast<double>(h) / total;
            entropy -= q * std::log(q);
        }
    return std::exp(entropy);
}

nlohmann::json ReconstructionMeter::summary() const {
    return {{"n_ecgs", n_ecgs_},         {"mse", mse()},
            {"mean_pearson", mean_pearson()}, {"codes_used", codes_used()},
            {"codebook_size", static_cast<int64_t>(hist_.size())}, {"perplexity", perplexity()}};
}

}  // namespace diagecg
