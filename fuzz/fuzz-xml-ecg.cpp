// libFuzzer target: bytes -> decode_xml_ecg (encoding detection, pugixml, the MUSE, Philips and aECG readers).
// Build: clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc/ecg fuzz/fuzz-xml-ecg.cpp
//        src/ecg/{xml-ecg,xml-util,muse-reader,philips-reader,aecg-reader,xli,stored-ecg,lead-map}.cpp
//        src/util/{base64,checksum,byte-reader}.cpp -lpugixml
// Run:   ./fuzz-xml-ecg fuzz/corpus/xml-ecg   (seeds: python3 fuzz/corpus/make-ecg-format-seeds.py)
#include <cstddef>
#include <cstdint>
#include <exception>

#include "diagecg/ecg/xml-ecg.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        diagecg::decode_xml_ecg(data, size, "fuzz.xml");
    } catch (const std::exception&) {
    }
    return 0;
}
