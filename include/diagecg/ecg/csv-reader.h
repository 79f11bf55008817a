// CSV/TXT signal files: one row per sample, one column per lead, ',' ';' or tab separated.
// An optional first row of lead names (any non-numeric cell makes it a header); an optional
// leading time/index column named "time", "t", "index" or "sample" is dropped.
#pragma once

#include <string>

#include "diagecg/ecg/ecg-record.h"

namespace diagecg {

EcgRecord read_csv(const std::string& path, const ReadOptions& opts);

}  // namespace diagecg
