// Beat detection and rhythm measurements of a 12-lead window: heart rate and RR-interval regularity, the
// figures an ECG machine prints beside its trace. The ECG codes carry rhythm poorly (a bag-of-codes probe
// separates sinus rhythm from the rest at AUC 0.57); a model may read these figures as a text line of its
// prompt instead (data/prompt.h, PromptOptions::rhythm).
//
// Detector (derivative energy, scale-free, so mV, uV and z-scored input give the same beats):
//   1. per lead, the symmetric difference d[n] = x[n+k] - x[n-k], k = 8 ms (gain peaks near 31 Hz: QRS slopes,
//      not T waves or baseline wander), scaled by the lead's 90th percentile of |d| (flat leads skipped);
//   2. energy e[n] = sum over leads of the scaled d^2, averaged over a 100 ms moving window;
//   3. beats: local maxima of e above 0.3 x its 98th percentile, at least 200 ms apart (the larger wins), not
//      within 100 ms of either end.
// Measurements from the RR intervals (seconds between beats): rate = 60 / median RR; variation = std / mean of
// the RR intervals; shortest = shortest RR / median RR (a premature beat shows as a short one).
// On the evaluated records (as logged in eval's predictions, 2026-12-04): PTB-XL test sinus tachycardia 7/7 above
// 100/min, bradycardia 3/3 below 60/min, atrial fibrillation 16/16 with variation >= 10% (sinus rhythm 12/148);
// CinC-2021 tachycardia 21/23 above 100/min, bradycardia 7/7 below 60/min (configs/bundled-v2/README.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace diagecg {

struct RhythmMeasure {
    int64_t n_beats = 0;
    double rate_bpm = 0;        // 60 / median RR; 0 when fewer than 3 beats were found
    double rr_variation = 0;    // std / mean of the RR intervals
    double shortest_rr = 0;     // shortest RR / median RR
    bool measured() const { return n_beats >= 3; }
};

// Beat positions (sample indices, ascending) in x: n_leads rows of n_samples each, row-major. Non-finite samples
// count as 0. Throws std::invalid_argument for a sample rate <= 0 or an empty window.
std::vector<int64_t> detect_beats(const float* x, int64_t n_leads, int64_t n_samples, double sample_rate_hz);

RhythmMeasure measure_rhythm(const float* x, int64_t n_leads, int64_t n_samples, double sample_rate_hz);

// The prompt's text for it: "rate 72/min (normal), RR variation 3% (regular), shortest RR 95%", or "not
// measurable". The words name where the figures fall: rate above 100/min "fast", below 60 "slow" (the usual
// bounds of sinus tachycardia and bradycardia); RR variation of 10% or more "irregular". A small backbone does
// not learn thresholds on numbers from a few hundred examples (attempt 4's first rhythm pass, numbers only,
// answered "sinus rhythm" to every rhythm question, its training records included); the words are its handle.
std::string rhythm_text(const RhythmMeasure& m);

}  // namespace diagecg
