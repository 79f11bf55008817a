// Rational-ratio polyphase resampling with a Kaiser-windowed sinc anti-aliasing filter.
#pragma once

#include <cstdint>
#include <vector>

namespace diagecg {

// Resamples x (sampled at in_hz) to out_hz. The ratio is reduced to up/down integers
// (both rates are rounded to 1e-3 Hz); a ratio with terms above 10000 is replaced by the closest fraction
// with smaller terms when that is within 1e-6 (599.880024 -> 500 Hz: 1667/2000). The low-pass cut-off is at 0.5*min(in_hz, out_hz)
// with a transition band of 10% of that; stop-band attenuation ~80 dB.
// Output length = ceil(len * out_hz / in_hz).
std::vector<float> resample(const std::vector<float>& x, double in_hz, double out_hz);

}  // namespace diagecg
