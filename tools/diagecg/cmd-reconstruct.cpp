// diagecg reconstruct -m MODEL_DIR RECORD... [-o FILE.svg]: encode -> codes -> decode, with reconstruction
// figures (MSE on the normalised signal, per-lead Pearson correlation, codebook usage).
#include <cmath>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "diagecg/ecg/ecg-plot.h"
#include "diagecg/ecg/record-set.h"
#include "diagecg/tokenizer/ecg-tokenizer-io.h"
#include "diagecg/util/atomic-file.h"
#include "diagecg/util/log.h"
#include "diagecg/util/safetensors.h"

namespace diagecg::cli {

namespace {

const char* const kLeads[12] = {"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"};

// Writes named CPU tensors (F32 or I64) as one safetensors file.
void save_tensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
    std::vector<torch::Tensor> keep;
    std::vector<TensorView> views;
    for (const auto& [name, t] : tensors) {
        keep.push_back(t.contiguous());
        TensorView v;
        v.name = name;
        v.dtype = t.scalar_type() == torch::kLong ? DType::kI64 : DType::kF32;
        v.shape.assign(t.sizes().begin(), t.sizes().end());
        v.data = keep.back().data_ptr();
        v.n_bytes = keep.back().nbytes();
        views.push_back(std::move(v));
    }
    write_safetensors(path, views);
    log::info("wrote {}", path);
}

struct ReconstructOptions {
    std::string model = default_tokenizer_dir();
    std::vector<std::string> records;
    std::string split_file, split = "test";
    std::string output;
    std::string save_tensors;
    std::string kernel = "auto";
    bool json = false;
    int64_t batch = 8;
    ReadFlags read;
};

void run_reconstruct(const ReconstructOptions& o) {
    EcgTokenizerModel m = load_ecg_tokenizer(o.model);
    const auto paths = expand_records(o.records, o.split_file, o.split);
    if (!o.output.empty() && paths.size() != 1)
        throw std::runtime_error(fmt::format("-o draws one record; {} records were given", paths.size()));
    m.net->set_encoder_kernel(parse_encoder_kernel(o.kernel));
    const auto& cfg = m.net->config();
    torch::NoGradGuard ng;
    ReconstructionMeter meter(cfg.codebook_size());
    torch::Tensor lead_r_sum = torch::zeros({cfg.n_leads}, torch::kDouble), lead_r_n = torch::zeros({cfg.n_leads}, torch::kDouble);
    int64_t n_failed = 0;
    std::vector<torch::Tensor> all_x, all_latent, all_codes, all_recon;   // --save-tensors
    for_each_batch(paths, o.batch, [&](const std::vector<std::string>& chunk) {
        const EcgTensor t = load_ecg_tensor(chunk, m.preprocess, o.read.input(), cfg.n_samples);
        for (const auto& [p, why] : t.failed) log::error("{}: {}", p, why);
        n_failed += static_cast<int64_t>(t.failed.size());
        if (t.x.size(0) == 0) return;
        const auto e = m.net->encode(t.x);
        const auto recon = m.net->decode(e.levels);
        meter.add(t.x, recon, e.codes);
        if (!o.save_tensors.empty()) {
            all_x.push_back(t.x);
            all_latent.push_back(e.latent.to(torch::kFloat));
            all_codes.push_back(e.codes);
            all_recon.push_back(recon.to(torch::kFloat));
        }
        const auto r = per_lead_pearson(t.x, recon);                       // [B, L]
        const auto ok = ~torch::isnan(r);
        lead_r_sum += torch::where(ok, r, torch::zeros_like(r)).sum(0);
        lead_r_n += ok.to(torch::kDouble).sum(0);
        if (!o.output.empty()) {
            OverlayOptions po;
            po.title = fmt::format("{}  |  ECG tokenizer reconstruction ({} codes)  |  MSE {:.4f}", record_id(t.paths[0]),
                                   e.codes.size(1), meter.mse());
            for (int64_t l = 0; l < cfg.n_leads; ++l) {
                const double v = r[0][l].item<double>();
                po.lead_labels.push_back(std::isnan(v) ? "r = n/a (flat)" : fmt::format("r = {:.3f}", v));
            }
            const auto a = t.x[0].contiguous(), b = recon[0].contiguous();
            write_file_atomic(o.output, render_overlay_svg(a.data_ptr<float>(), b.data_ptr<float>(), cfg.n_samples,
                                                           m.preprocess.sample_rate_hz, po));
            log::info("wrote {}", o.output);
        }
    });
    if (meter.n_ecgs() == 0) throw std::runtime_error("no record could be read (see above)");
    if (!o.save_tensors.empty()) save_tensors(o.save_tensors, {{"input", torch::cat(all_x)}, {"latent", torch::cat(all_latent)},
                                                              {"codes", torch::cat(all_codes)}, {"reconstruction", torch::cat(all_recon)}});
    nlohmann::json j = meter.summary();
    const auto per_lead = lead_r_sum / lead_r_n.clamp_min(1);
    nlohmann::json leads = nlohmann::json::object();
    for (int64_t l = 0; l < cfg.n_leads; ++l)
        leads[kLeads[l]] = lead_r_n[l].item<double>() > 0 ? nlohmann::json(per_lead[l].item<double>()) : nlohmann::json(nullptr);
    j["pearson_per_lead"] = leads;
    j["n_failed"] = n_failed;
    if (o.json) {
        print_result(j.dump(2) + "\n");
    } else {
        std::string out = fmt::format("records        {}\nMSE            {:.5f} (z-normalised signal)\nmean Pearson r {:.4f}\n"
                                      "codes used     {} / {}\nperplexity     {:.1f}\nper-lead r    ",
                                      meter.n_ecgs(), meter.mse(), meter.mean_pearson(), meter.codes_used(),
                                      cfg.codebook_size(), meter.perplexity());
        for (int64_t l = 0; l < cfg.n_leads; ++l)
            out += leads[kLeads[l]].is_null() ? fmt::format(" {}=n/a", kLeads[l])
                                              : fmt::format(" {}={:.3f}", kLeads[l], leads[kLeads[l]].get<double>());
        print_result(out + "\n");
    }
    if (n_failed > 0)
        throw std::runtime_error(fmt::format("{} of {} record(s) could not be read (see above)", n_failed, paths.size()));
}

}  // namespace

void add_reconstruct(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<ReconstructOptions>();
    auto* sub = app.add_subcommand("reconstruct", "Encode and decode records with an ECG tokenizer; print MSE, correlation, codebook usage");
    sub->add_option("-m,--model", o->model, "ECG tokenizer directory")->capture_default_str();
    sub->add_option("records", o->records, "records, directories or list files")->required();
    sub->add_option("-o,--output", o->output, "SVG of original and reconstruction overlaid per lead (one record)");
    sub->add_option("--split-file", o->split_file, "CSV of id,split rows: keep only the records of --split");
    sub->add_option("--split", o->split, "split to keep with --split-file")->capture_default_str();
    sub->add_option("--save-tensors", o->save_tensors,
                    "also write FILE.safetensors: input [N, L, T], latent [N, P, Z], codes [N, P] (I64), reconstruction [N, L, T], "
                    "records in the order read");
    sub->add_option("--kernel", o->kernel,
                    "encoder kernels: auto (fused CPU kernels where available, codes as LibTorch's), fused (no re-check), libtorch")
        ->check(CLI::IsMember({"auto", "fused", "libtorch"}))->capture_default_str();
    sub->add_flag("--json", o->json, "figures as one JSON object");
    sub->add_option("--batch", o->batch, "records per forward pass")->capture_default_str();
    add_read_options(sub, o->read);
    sub->callback([&run, o] { run = [o] { run_reconstruct(*o); }; });
}

}  // namespace diagecg::cli
