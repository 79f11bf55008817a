// SVG rendering of a 12-lead ECG in the standard clinical layout: 3 rows x 4 columns of 2.5 s
// (I,aVR,V1,V4 / II,aVL,V2,V5 / III,aVF,V3,V6) plus a full-length lead II rhythm strip, on grid
// paper (1 mm minor, 5 mm major) at 25 mm/s and 10 mm/mV.
#pragma once

#include <string>
#include <vector>

#include "diagecg/ecg-record.h"

namespace diagecg {

struct PlotOptions {
    double speed_mm_per_s = 25.0;
    double gain_mm_per_mv = 10.0;
    std::string title;                       // drawn above the grid
    std::vector<std::string> footer_lines;   // e.g. a generated report, drawn under the grid
};

// rec must hold the 12 canonical leads (see to_canonical_leads); units are converted to mV
// when they are uV; other units (e.g. "z") are drawn at gain mm per unit and the units are named in the title.
std::string render_ecg_svg(const EcgRecord& rec, const PlotOptions& opts);

}  // namespace diagecg
