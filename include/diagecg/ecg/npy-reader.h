// NumPy .npy files (format versions 1.0, 2.0, 3.0).
// Layout: 1. magic "\x93NUMPY"; 2. major, minor version bytes; 3. header length (u16 for v1, u32 for v2/3);
// 4. a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (a, b), } padded with spaces;
// 5. raw array data. Supported dtypes: <f4, <f8, <i2 (and their '|'/'=' forms on little-endian).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "diagecg/ecg/ecg-record.h"

namespace diagecg {

struct NpyHeader {
    std::string descr;              // e.g. "<f4"
    bool fortran_order = false;
    std::vector<int64_t> shape;
    int64_t data_offset = 0;        // byte offset of the data
};

// Parses the header at the start of `bytes` (the file, or its first part).
NpyHeader parse_npy_header(const uint8_t* bytes, size_t n_bytes, const std::string& where);

// Reads a 2-D array as a record. Layout from opts.layout; "auto" takes the axis of size <= 16 as leads.
EcgRecord read_npy(const std::string& path, const ReadOptions& opts);

}  // namespace diagecg
