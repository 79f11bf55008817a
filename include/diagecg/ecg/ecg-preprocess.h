// Turns any EcgRecord into the model input: 12 canonical leads x 5000 samples at 500 Hz,
// z-normalised per lead (REFERENCE.md section 1).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "diagecg/ecg/ecg-record.h"
#include "diagecg/ecg/signal-quality.h"

namespace diagecg {

enum class LengthPolicy {
    kCenter,    // longer: take the central window; shorter: pad with zeros at both ends
    kStart,     // longer: take the first window; shorter: pad with zeros at the end
    kError,     // any length other than the target is an error
};
LengthPolicy parse_length_policy(const std::string& s);   // "center" | "start" | "error"

struct PreprocessConfig {
    double sample_rate_hz = 500.0;      // model input rate
    double duration_s = 10.0;           // model input length
    LengthPolicy length_policy = LengthPolicy::kStart;
    double max_gap_s = 0.1;             // NaN runs up to this long are linearly interpolated
    bool bandpass = false;              // 0.5-40 Hz band-pass as the PTB-XL training data had (4th-order Butterworth,
                                        // zero phase; off: the reference filters nothing)
    double notch_hz = 0.0;              // powerline notch (0 = off; 50 or 60)
    double flat_std = 1e-6;             // a lead with std below this is flat -> zeros
    bool normalize = true;              // per-lead z-normalisation
    double window_start_s = -1;         // >= 0: read the record from here (s) instead of by the length policy
    double window_duration_s = 0;       // with window_start_s: seconds to read (0 = duration_s); the length
                                        // policy then fits them to duration_s
};

// The part of a record the model reads: [start_s, start_s + duration_s) of a record of record_duration_s
// (cropped by the length policy or the window; padded when shorter than the model's duration).
struct ModelWindow {
    double start_s = 0, duration_s = 0, record_duration_s = 0;
    bool cut = false;                   // the record holds signal outside the window
};
// `n_samples`: the record's length at cfg.sample_rate_hz. Throws std::invalid_argument for a window that starts
// at or beyond the end of the record, or a length mismatch under LengthPolicy::kError.
ModelWindow model_window(const PreprocessConfig& cfg, int64_t n_samples, const std::string& record_name = "");

struct PreprocessResult {
    std::vector<float> signal;          // [12, n_samples], canonical lead order
    int64_t n_samples = 0;
    std::vector<std::string> notes;     // what was done (derived leads, resampling, padding, flat leads)
    SignalQuality quality;              // of the window the model sees (signal-quality.h)
};

// Strict JSON <-> config (unknown keys and wrong types are errors naming the path); missing keys keep
// the defaults. Keys: sample_rate_hz, duration_s, length_policy, max_gap_s, bandpass, notch_hz, flat_std,
// normalize, window_start_s, window_duration_s. validate() checks the fields against each other.
PreprocessConfig preprocess_config_from_json(const nlohmann::json& j, const std::string& path);
nlohmann::json preprocess_config_to_json(const PreprocessConfig& cfg);
void validate(const PreprocessConfig& cfg);

// Throws std::invalid_argument when the record cannot be made valid (missing leads, long NaN gaps,
// length mismatch under kError).
PreprocessResult preprocess(const EcgRecord& rec, const PreprocessConfig& cfg = {});

}  // namespace diagecg
