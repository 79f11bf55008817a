// libFuzzer target: 2 bytes of sample count (LE, 1..4096) + XLI chunks -> xli_decode (LZW, planes, predictor).
// Build: clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude fuzz/fuzz-xli.cpp
//        src/ecg/xli.cpp
// Run:   ./fuzz-xli fuzz/corpus/xli   (seeds: python3 fuzz/corpus/make-ecg-format-seeds.py)
#include <cstddef>
#include <cstdint>
#include <exception>

#include "diagecg/ecg/xli.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const size_t n_samples = 1 + ((data[0] | (data[1] << 8)) % 4096);
    try {
        diagecg::xli_decode(data + 2, size - 2, n_samples, "fuzz.xml");
    } catch (const std::exception&) {
    }
    return 0;
}
