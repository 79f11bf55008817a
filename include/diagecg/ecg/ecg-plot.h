// SVG rendering of a 12-lead ECG in the standard clinical layout: 3 rows x 4 columns of 2.5 s
// (I,aVR,V1,V4 / II,aVL,V2,V5 / III,aVF,V3,V6) plus a lead II rhythm strip, on grid paper (1 mm minor,
// 5 mm major) at 25 mm/s and 10 mm/mV, over a window of at most 10 s of the record.
#pragma once

#include <string>
#include <vector>

#include "diagecg/ecg/ecg-record.h"

namespace diagecg {

struct PlotOptions {
    double speed_mm_per_s = 25.0;
    double gain_mm_per_mv = 10.0;
    double start_s = 0.0;                    // window drawn: [start_s, start_s + duration_s) of the record
    double duration_s = 10.0;                // (0, 10]: the page holds 10 s; a shorter window leaves the rest blank
    std::string title;                       // drawn above the grid
    std::vector<std::string> footer_lines;   // e.g. a generated report, drawn under the grid
};

// Samples drawn beyond their row band, which the row's clip path hides. A row band is 35 mm with the baseline
// 21 mm below its top: at 10 mm/mV it holds -1.4 to +2.1 mV.
struct PlotClipping {
    std::vector<std::string> leads;         // leads with a clipped sample, canonical order
    double min_mv = 0, max_mv = 0;          // extremes of the drawn samples of all leads (mV, or the record's unit)
    double fitting_gain_mm_per_mv = 0;      // largest gain at which no drawn sample is clipped (0: all were 0)
    double row_min_mv = 0, row_max_mv = 0;  // what a row holds around its baseline at the gain drawn
    bool clipped() const { return !leads.empty(); }
};

// rec must hold the 12 canonical leads (see to_canonical_leads); units are converted to mV
// when they are uV; other units (e.g. "z") are drawn at gain mm per unit and the units are named in the title.
// The window must start inside the record. `clipping`, when given, receives what the rows could not hold.
std::string render_ecg_svg(const EcgRecord& rec, const PlotOptions& opts, PlotClipping* clipping = nullptr);

// Two versions of one 12-lead signal (e.g. a model input and its reconstruction) drawn over each other:
// one full-length strip per lead in canonical order, `a` in black, `b` in red, a label per lead.
struct OverlayOptions {
    double speed_mm_per_s = 25.0;
    double gain_mm_per_unit = 2.5;           // z-scored signals: QRS of 5-8 units stay inside a 30 mm strip
    std::string title;
    std::string legend_a = "original";
    std::string legend_b = "reconstruction";
    std::vector<std::string> lead_labels;    // 12 texts drawn after the lead names (e.g. "r = 0.95"), optional
};
// a, b: [12, n_samples] row-major at fs Hz.
std::string render_overlay_svg(const float* a, const float* b, int64_t n_samples, double fs, const OverlayOptions& opts);

}  // namespace diagecg
