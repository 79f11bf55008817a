// libFuzzer target: bytes -> parse_npy_header.
// Build: clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude fuzz/fuzz-npy-header.cpp
//        src/npy-reader.cpp src/ecg-record.cpp src/wfdb-reader.cpp src/csv-reader.cpp src/edf-reader.cpp
//        src/byte-reader.cpp src/log.cpp -lspdlog -lfmt
// Run:   ./fuzz-npy-header fuzz/corpus/npy-header
#include <cstddef>
#include <cstdint>
#include <exception>

#include "diagecg/npy-reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        diagecg::parse_npy_header(data, size, "fuzz.npy");
    } catch (const std::exception&) {}
    return 0;
}
