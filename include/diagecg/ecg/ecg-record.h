// EcgRecord: one multi-lead ECG as read from a file, in physical units.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace diagecg {

// Patient fields taken from a record's header comments (or given by the user).
struct PatientInfo {
    std::optional<double> age_years;        // age in years
    std::optional<std::string> sex;         // "male" | "female"
    std::optional<double> height_cm;
    std::optional<double> weight_kg;
    std::vector<std::string> diagnoses;     // free-text diagnoses or codes (e.g. SNOMED "Dx" codes)
    std::vector<std::string> comments;      // every header comment line, verbatim, '#' stripped
};

// signal: [L, T] float32, row-major (lead-major), physical units given per lead in `units`.
struct EcgRecord {
    std::string name;                       // record name (file stem)
    std::string format;                     // "wfdb-16", "wfdb-212", "csv", "npy", "edf", ...
    double sample_rate_hz = 0.0;
    int64_t n_samples = 0;                  // T
    std::vector<std::string> lead_names;    // L names, as in the file
    std::vector<std::string> units;         // L unit strings ("mV", "uV", "z", ...)
    std::vector<float> signal;              // L*T values, lead l sample t at [l*T + t]
    PatientInfo patient;

    int64_t n_leads() const { return static_cast<int64_t>(lead_names.size()); }
    const float* lead(int64_t l) const { return signal.data() + l * n_samples; }
    float* lead(int64_t l) { return signal.data() + l * n_samples; }
    double duration_s() const { return sample_rate_hz > 0 ? n_samples / sample_rate_hz : 0.0; }
};

// Options for readers of formats that do not carry sample rate or lead names (CSV, NPY).
struct ReadOptions {
    std::optional<double> sample_rate_hz;   // required for CSV/NPY unless the file says it
    std::vector<std::string> lead_names;    // names for CSV/NPY columns when the file has none
    std::string units = "mV";               // units assumed for CSV/NPY values
    std::string layout = "auto";            // NPY: "auto" | "TL" ([T, L]) | "LT" ([L, T])
};

// The 12 standard lead names in canonical order (I, II, III, aVR, aVL, aVF, V1..V6): the default
// names for CSV/NPY files with 12 unnamed columns.
const std::vector<std::string>& standard_12_lead_names();

}  // namespace diagecg
