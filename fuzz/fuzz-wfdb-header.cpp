// libFuzzer target: WFDB header text -> parse_wfdb_header (and the comment parser on its comments).
// Build: clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude fuzz/fuzz-wfdb-header.cpp
//        src/ecg/wfdb-reader.cpp src/util/byte-reader.cpp src/util/log.cpp -lspdlog -lfmt
// Run:   ./fuzz-wfdb-header fuzz/corpus/wfdb-header
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "diagecg/ecg/wfdb-reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const diagecg::WfdbHeader h = diagecg::parse_wfdb_header(text, "fuzz.hea");
        diagecg::parse_patient_comments(h.comments);
    } catch (const std::exception&) {}
    return 0;
}
