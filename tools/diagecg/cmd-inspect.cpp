// diagecg inspect RECORD [--json]: what a record holds, leads in canonical order.
#include <cmath>
#include <limits>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "diagecg/ecg/ecg-preprocess.h"
#include "diagecg/ecg/lead-map.h"
#include "diagecg/ecg/read-ecg.h"
#include "diagecg/util/log.h"

namespace diagecg::cli {

namespace {

struct InspectOptions {
    std::string path;
    bool json = false;
    bool check = false;
    ReadFlags read;
    PreprocessFlags prep;
};

struct LeadStats {
    double min = 0, max = 0, mean = 0, std = 0;
    int64_t n_nan = 0;
};

LeadStats lead_stats(const float* x, int64_t n) {
    LeadStats s;
    double sum = 0, sum2 = 0;
    int64_t k = 0;
    s.min = std::numeric_limits<double>::infinity();
    s.max = -s.min;
    for (int64_t i = 0; i < n; ++i) {
        if (std::isnan(x[i])) { ++s.n_nan; continue; }
        s.min = std::min<double>(s.min, x[i]);
        s.max = std::max<double>(s.max, x[i]);
        sum += x[i];
        ++k;
    }
    if (k == 0) {
        s.min = s.max = s.mean = s.std = std::numeric_limits<double>::quiet_NaN();
        return s;
    }
    s.mean = sum / k;
    for (int64_t i = 0; i < n; ++i) if (!std::isnan(x[i])) sum2 += (x[i] - s.mean) * (x[i] - s.mean);
    s.std = std::sqrt(sum2 / k);
    return s;
}

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json patient_json(const PatientInfo& p) {
    nlohmann::json j = nlohmann::json::object();
    j["age"] = p.age_years ? nlohmann::json(*p.age_years) : nlohmann::json(nullptr);
    j["sex"] = p.sex ? nlohmann::json(*p.sex) : nlohmann::json(nullptr);
    j["height_cm"] = p.height_cm ? nlohmann::json(*p.height_cm) : nlohmann::json(nullptr);
    j["weight_kg"] = p.weight_kg ? nlohmann::json(*p.weight_kg) : nlohmann::json(nullptr);
    j["diagnoses"] = p.diagnoses;
    j["comments"] = p.comments;  // header comments, or a hospital format's device and measurement fields
    return j;
}

void run_inspect(const InspectOptions& o) {
    const EcgRecord raw = read_ecg(o.path, o.read.options());
    LeadMapping mapping;
    EcgRecord rec;
    bool canonical = true;
    try {
        rec = to_canonical_leads(raw, &mapping);
    } catch (const std::invalid_argument& e) {
        // Still worth showing what the file holds; the model would refuse it.
        log::warn("{}", e.what());
        rec = raw;
        canonical = false;
    }
    for (const auto& n : mapping.notes) log::info("{}", n);
    // --check: the record must also make a valid model input (throws with the reason otherwise).
    std::vector<std::string> prep_notes;
    PreprocessConfig prep_cfg;
    if (o.check) {
        prep_cfg = o.prep.resolve();
        prep_notes = preprocess(raw, prep_cfg).notes;
    }

    if (o.json) {
        nlohmann::json j;
        j["name"] = rec.name;
        j["format"] = rec.format;
        j["sample_rate_hz"] = rec.sample_rate_hz;
        j["n_samples"] = rec.n_samples;
        j["duration_s"] = rec.duration_s();
        j["canonical_leads"] = canonical;
        j["notes"] = mapping.notes;
        j["leads"] = nlohmann::json::array();
        for (int64_t l = 0; l < rec.n_leads(); ++l) {
            const LeadStats s = lead_stats(rec.lead(l), rec.n_samples);
            j["leads"].push_back({{"name", rec.lead_names[l]}, {"units", rec.units[l]}, {"min", num(s.min)},
                                  {"max", num(s.max)}, {"mean", num(s.mean)}, {"std", num(s.std)}, {"n_nan", s.n_nan}});
        }
        j["patient"] = patient_json(rec.patient);
        if (o.check) j["preprocess"] = {{"ok", true}, {"notes", prep_notes}, {"config", preprocess_config_to_json(prep_cfg)}};
        print_result(j.dump(2) + "\n");
        return;
    }
    std::string out;
    out += fmt::format("record    {} ({})\n", rec.name, rec.format);
    out += fmt::format("sampling  {:g} Hz, {} samples, {:.2f} s\n", rec.sample_rate_hz, rec.n_samples, rec.duration_s());
    out += fmt::format("leads     {}{}:", rec.n_leads(), canonical ? " (canonical order)" : " (file order; not a full 12-lead set)");
    for (const auto& n : rec.lead_names) out += " " + n;
    out += "\n";
    const auto& p = rec.patient;
    out += "patient   ";
    out += p.age_years ? fmt::format("age {:g}", *p.age_years) : std::string("age unknown");
    out += p.sex ? ", " + *p.sex : std::string(", sex unknown");
    if (p.height_cm) out += fmt::format(", {:g} cm", *p.height_cm);
    if (p.weight_kg) out += fmt::format(", {:g} kg", *p.weight_kg);
    out += "\n";
    for (const auto& d : p.diagnoses) out += "diagnosis " + d + "\n";
    for (const auto& c : p.comments) out += "comment   " + c + "\n";
    for (const auto& n : mapping.notes) out += "note      " + n + "\n";
    if (o.check) {
        out += fmt::format("model     input OK: 12 x {} at {:g} Hz\n", std::llround(prep_cfg.duration_s * prep_cfg.sample_rate_hz),
                           prep_cfg.sample_rate_hz);
        for (const auto& n : prep_notes) out += "prep      " + n + "\n";
    }
    out += fmt::format("\n{:<5} {:<6} {:>10} {:>10} {:>10} {:>10}\n", "lead", "units", "min", "max", "mean", "std");
    for (int64_t l = 0; l < rec.n_leads(); ++l) {
        const LeadStats s = lead_stats(rec.lead(l), rec.n_samples);
        out += fmt::format("{:<5} {:<6} {:>10.4f} {:>10.4f} {:>10.4f} {:>10.4f}{}\n", rec.lead_names[l], rec.units[l],
                           s.min, s.max, s.mean, s.std, s.n_nan ? fmt::format("  ({} NaN)", s.n_nan) : "");
    }
    print_result(out);
}

}  // namespace

void add_inspect(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<InspectOptions>();
    auto* sub = app.add_subcommand("inspect", "Summarise an ECG record: format, leads, sampling, per-lead statistics, patient");
    sub->add_option("record", o->path, "record file (.hea, .mat, .dat, .npy, .csv, .edf)")->required();
    sub->add_flag("--json", o->json, "print one JSON object");
    sub->add_flag("--check", o->check, "also preprocess to the model input (12 x 5000 at 500 Hz) and fail if that is impossible");
    add_read_options(sub, o->read);
    add_preprocess_options(sub, o->prep);
    sub->callback([&run, o] { run = [o] { run_inspect(*o); }; });
}

}  // namespace diagecg::cli
