// EDF and EDF+ (European Data Format, 16-bit), continuous recordings ("EDF+C" or plain EDF).
// Layout: 1. 256-byte fixed header (version, patient, recording, start date/time, header bytes,
// reserved ("EDF+C"/"EDF+D"), n_records, record duration, n_signals); 2. per-signal fields of
// n_signals*256 bytes (label, transducer, phys dim, phys min/max, dig min/max, prefilter,
// samples per record, reserved); 3. data records of int16 little-endian samples, signal by signal.
// Physical = phys_min + (dig - dig_min) * (phys_max - phys_min) / (dig_max - dig_min).
// "EDF Annotations" signals are skipped; signals must share one sample rate.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "diagecg/ecg/ecg-record.h"

namespace diagecg {

struct EdfSignalSpec {
    std::string label;
    std::string physical_dimension;
    double physical_min = 0, physical_max = 0;
    int64_t digital_min = 0, digital_max = 0;
    int64_t samples_per_record = 0;
};

struct EdfHeader {
    std::string patient;            // local patient identification field
    std::string recording;
    bool edf_plus = false;
    bool discontinuous = false;     // EDF+D (refused when reading)
    int64_t header_bytes = 0;
    int64_t n_records = 0;
    double record_duration_s = 0;
    std::vector<EdfSignalSpec> signals;
};

// Parses the fixed + signal headers from the first bytes of a file.
EdfHeader parse_edf_header(const uint8_t* bytes, size_t n_bytes, const std::string& where);

EcgRecord read_edf(const std::string& path);

}  // namespace diagecg
