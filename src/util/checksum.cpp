// Table-driven CRC-32 and CRC-CCITT; the tables are built once from the polynomials.
#include "diagecg/util/checksum.h"

#include <array>

namespace diagecg {
namespace {

std::array<uint32_t, 256> make_crc32_table() {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1u) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
        t[i] = c;
    }
    return t;
}

std::array<uint16_t, 256> make_ccitt_table() {
    std::array<uint16_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i << 8;
        for (int k = 0; k < 8; ++k) c = (c & 0x8000u) ? ((c << 1) ^ 0x1021u) : (c << 1);
        t[i] = static_cast<uint16_t>(c);
    }
    return t;
}

}  // namespace

uint32_t crc32(const uint8_t* data, size_t n) {
    static const std::array<uint32_t, 256> table = make_crc32_table();
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; ++i) c = table[(c ^ data[i]) & 0xFFu] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint16_t crc_ccitt(const uint8_t* data, size_t n) {
    static const std::array<uint16_t, 256> table = make_ccitt_table();
    uint16_t c = 0xFFFFu;
    for (size_t i = 0; i < n; ++i) c = static_cast<uint16_t>((c << 8) ^ table[((c >> 8) ^ data[i]) & 0xFFu]);
    return c;
}

}  // namespace diagecg
