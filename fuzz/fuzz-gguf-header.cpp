// libFuzzer target: bytes -> GgufFile (header, metadata, tensor infos), then every accessor and, for small
// tensors, dequantization (so any offset or size the parser let through is exercised under ASan).
// Build: clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude fuzz/fuzz-gguf-header.cpp
//        src/util/gguf.cpp src/util/gguf-quants.cpp src/util/byte-reader.cpp
// Run:   ./fuzz-gguf-header fuzz/corpus/gguf-header
#include <cstddef>
#include <cstdint>
#include <exception>
#include <vector>

#include "diagecg/util/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const diagecg::GgufFile f(std::vector<uint8_t>(data, data + size), "fuzz.gguf");
        for (const auto& kv : f.metadata()) {
            kv.second.describe();
            try {
                if (kv.second.type == diagecg::GgufValueType::kArray) {
                    kv.second.to_ints();
                } else {
                    kv.second.to_int();
                }
            } catch (const std::exception&) {
            }
            try {
                f.get_floats(kv.first);
            } catch (const std::exception&) {
            }
        }
        for (const auto& t : f.tensors())
            if (t.numel() <= (1 << 16) && diagecg::ggml_type_info(t.type).dequantizable) f.dequantize(t);
    } catch (const std::exception&) {
    }
    return 0;
}
