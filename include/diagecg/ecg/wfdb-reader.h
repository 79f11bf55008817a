// WFDB records: a text header (.hea) plus one or more signal files.
// Layout (PhysioNet WFDB header spec, "header(5)"):
//  1. Record line: NAME[/SEGMENTS] N_SIG [FS[/COUNTER_FREQ[(BASE_COUNTER)]] [N_SAMPLES [BASE_TIME [BASE_DATE]]]]
//  2. One signal line per signal: FILE FORMAT[xSAMPLES_PER_FRAME][:SKEW][+BYTE_OFFSET]
//     [ADC_GAIN[(BASELINE)][/UNITS] [ADC_RES [ADC_ZERO [INIT_VALUE [CHECKSUM [BLOCK_SIZE [DESCRIPTION]]]]]]]
//  3. Comment lines start with '#'; patient fields (age, sex, Dx) are parsed from them.
// Physical value = (adu - baseline) / gain. Supported formats: 8, 16, 24, 32, 61, 80, 212.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "diagecg/ecg/ecg-record.h"

namespace diagecg {

struct WfdbSignalSpec {
    std::string file_name;
    int format = 16;
    int samples_per_frame = 1;
    int skew = 0;                   // samples; only 0 is supported when reading
    int64_t byte_offset = 0;
    double adc_gain = 200.0;        // adu per physical unit (0 in the file means 200)
    double baseline = 0.0;          // adu
    std::string units = "mV";
    int adc_resolution = 0;         // bits
    int adc_zero = 0;
    bool has_init_value = false;
    int64_t init_value = 0;         // first sample (adu)
    bool has_checksum = false;
    int checksum = 0;               // 16-bit sum of all samples, as a signed int
    int block_size = 0;
    int line = 0;                   // 1-based line of the header it was read from
    std::string description;        // lead name
};

struct WfdbHeader {
    std::string record_name;
    int n_signals = 0;
    double sample_rate_hz = 250.0;
    int64_t n_samples = 0;          // per signal; 0 = unknown (derived from file size)
    std::vector<WfdbSignalSpec> signals;
    std::vector<std::string> comments;
};

// Parses header text. `where` names the source in error messages.
// Throws std::runtime_error "WHERE line N: ..." on malformed input.
WfdbHeader parse_wfdb_header(const std::string& text, const std::string& where);

// Reads the record whose header is `hea_path` (signal files are looked up beside it).
// Verifies each signal's initial value and checksum when the header gives them.
EcgRecord read_wfdb(const std::string& hea_path);

// Parses age/sex/diagnoses from WFDB header comments (CinC "# Age: 59", PTB "age: 81",
// LUDB "<age>: 51", MUSE "age 71", ...). Unknown lines only go to `comments`.
PatientInfo parse_patient_comments(const std::vector<std::string>& comments);

}  // namespace diagecg
