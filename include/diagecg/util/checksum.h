// Checksums used by file formats: CRC-32 (ISO-HDLC, the zlib/PNG/ZIP one) and CRC-CCITT (CRC-16/CCITT-FALSE).
#pragma once

#include <cstddef>
#include <cstdint>

namespace diagecg {

// CRC-32, reflected polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF (zlib's crc32()).
// crc32("123456789") == 0xCBF43926.
uint32_t crc32(const uint8_t* data, size_t n);

// CRC-CCITT: polynomial 0x1021, initial value 0xFFFF, MSB first, no final XOR (as used by SCP-ECG, EN 1064).
// crc_ccitt("123456789") == 0x29B1.
uint16_t crc_ccitt(const uint8_t* data, size_t n);

}  // namespace diagecg
