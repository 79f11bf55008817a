// libFuzzer target: bytes -> parse_edf_header.
// Build: clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude fuzz/fuzz-edf-header.cpp
//        src/ecg/edf-reader.cpp src/util/byte-reader.cpp src/util/log.cpp -lspdlog -lfmt
// Run:   ./fuzz-edf-header fuzz/corpus/edf-header
#include <cstddef>
#include <cstdint>
#include <exception>

#include "diagecg/ecg/edf-reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        diagecg::parse_edf_header(data, size, "fuzz.edf");
    } catch (const std::exception&) {}
    return 0;
}
