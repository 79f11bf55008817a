// libFuzzer target: bytes -> decode_scp_ecg (sections, CRCs, Huffman tables and streams, differences).
// Build: clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude fuzz/fuzz-scp.cpp
//        src/ecg/scp-reader.cpp src/ecg/stored-ecg.cpp src/ecg/lead-map.cpp src/util/checksum.cpp
//        src/util/byte-reader.cpp src/util/log.cpp -lspdlog -lfmt
// Run:   ./fuzz-scp fuzz/corpus/scp   (seeds: python3 fuzz/corpus/make-ecg-format-seeds.py)
#include <cstddef>
#include <cstdint>
#include <exception>

#include "diagecg/ecg/scp-reader.h"
#include "diagecg/util/log.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const bool quiet = (diagecg::log::set_level(diagecg::log::Level::kError), true);
    (void)quiet;
    try {
        diagecg::decode_scp_ecg(data, size, "fuzz.scp");
    } catch (const std::exception&) {
    }
    return 0;
}
