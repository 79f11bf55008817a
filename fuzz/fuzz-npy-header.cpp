// libFuzzer target: bytes -> parse_npy_header.
// Build: clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude fuzz/fuzz-npy-header.cpp
//        src/ecg/npy-reader.cpp src/ecg/ecg-record.cpp src/ecg/wfdb-reader.cpp src/ecg/csv-reader.cpp src/ecg/edf-reader.cpp
//        src/util/byte-reader.cpp src/util/log.cpp -lspdlog -lfmt
// Run:   ./fuzz-npy-header fuzz/corpus/npy-header
#include <cstddef>
#include <cstdint>
#include <exception>

#include "diagecg/ecg/npy-reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        diagecg::parse_npy_header(data, size, "fuzz.npy");
    } catch (const std::exception&) {}
    return 0;
}
