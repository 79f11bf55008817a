// libFuzzer target: bytes -> decode_dicom_ecg (element tree, sequences, waveform and channel elements).
// Build: clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude fuzz/fuzz-dicom.cpp
//        src/ecg/dicom-reader.cpp src/ecg/stored-ecg.cpp src/ecg/lead-map.cpp src/util/byte-reader.cpp -lfmt
// Run:   ./fuzz-dicom fuzz/corpus/dicom   (seeds: python3 fuzz/corpus/make-ecg-format-seeds.py)
#include <cstddef>
#include <cstdint>
#include <exception>

#include "diagecg/ecg/dicom-reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        diagecg::decode_dicom_ecg(data, size, "fuzz.dcm");
    } catch (const std::exception&) {
    }
    return 0;
}
