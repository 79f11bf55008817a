// Signal-quality gate: is a 12-lead record fit to be read by a model? Computed by preprocess() on what the model
// will see (the canonical leads, the model's window), before any normalisation, with scale-free indicators so it
// works in mV, uV or z units alike.
//
// Per lead (thresholds in SignalQualityThresholds, defaults below):
//   flat      fraction of the window inside runs of unchanged value >= 0.1 s long (an all-zero or disconnected
//             lead is 1.0). Samples are "unchanged" when they differ by <= 1e-6 of the lead's peak amplitude.
//   clipped   fraction of samples within 0.1% (of the peak-to-peak range) of the lead's own minimum or maximum
//             (a real lead touches each extreme a few times; an amplifier at its rail sits there for runs).
//   noise     std(first difference) / (sqrt(2) std): 1.0 for white noise, 0.05-0.35 for ECG at 500 Hz
//             (a 60 Hz hum alone gives 0.37).
//   wander    std(1-s moving average) / std: share of the lead's amplitude below ~1 Hz (baseline wander).
// Per record: padding = share of the model window that is not signal (zeros added for a short record, plus
// constant runs common to every lead at either end).
//
// Verdict: kPoor (refuse unless the user overrides) when every lead is flat, >= poor_flat_leads leads are flat,
// padding > poor_padding, or the median lead's noise > poor_noise; kBorderline (go on, with a warning) when any
// lead is flat or clipped, padding > borderline_padding, any lead's noise > borderline_noise or >= 3 leads wander
// > borderline_wander; else kGood.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace diagecg {

enum class QualityVerdict { kGood, kBorderline, kPoor };
const char* quality_verdict_name(QualityVerdict v);   // "good" | "borderline" | "poor"

struct SignalQualityThresholds {
    double flat_run_s = 0.1;            // a run of unchanged samples this long counts as flat
    double flat_lead = 0.5;             // a lead with this share of flat samples is a flat lead
    double clipped_lead = 0.02;         // a lead with this share of samples at its extremes is clipped
    int poor_flat_leads = 6;            // this many flat leads make the record poor
    double poor_padding = 0.6;          // less than 40% of the window is signal
    double borderline_padding = 0.1;
    double poor_noise = 0.75;           // median over leads of the noise ratio
    double borderline_noise = 0.55;     // any lead
    double borderline_wander = 0.8;     // in >= 3 leads
};

struct LeadQuality {
    std::string lead;
    double flat = 0, clipped = 0, noise = 0, wander = 0;
};

struct SignalQuality {
    QualityVerdict verdict = QualityVerdict::kGood;
    double padding = 0;                 // share of the model window that is not signal
    std::vector<LeadQuality> leads;
    std::vector<std::string> reasons;   // why not good, one short phrase each ("leads I, II flat", ...)

    std::string summary() const;        // "good", or "<verdict>: reason; reason"
};

// leads: L pointers to n_signal samples each (the record's part of the model window, canonical leads, before
// filtering and normalisation), at sample_rate_hz; n_window: the model window's length in samples (>= n_signal;
// the difference is padding).
SignalQuality assess_signal_quality(const std::vector<const float*>& leads, const std::vector<std::string>& names,
                                    int64_t n_signal, int64_t n_window, double sample_rate_hz,
                                    const SignalQualityThresholds& th = {});

nlohmann::json signal_quality_to_json(const SignalQuality& q);

}  // namespace diagecg
