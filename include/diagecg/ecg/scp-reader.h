// SCP-ECG (EN 1064 / ISO 11073-91064) versions 1.x and 2.x, little endian. Layout:
// 1. File: CRC-CCITT (2 bytes, over bytes 2..end), file length (4), then sections.
// 2. Section: 16-byte header: CRC-CCITT (2, over the section from its byte 2), id (2), length (4, header
//    included), version (1), protocol version (1), reserved (6, "SCPECG" in section 0); then data.
// 3. Section 0: pointers of 10 bytes: section id (2), length (4), 1-based byte index in the file (4).
// 4. Section 1: patient tags: tag (1), length (2), value; tag 255 ends. 4 = age (u16 + unit), 8 = sex
//    (1 male, 2 female), 25 = acquisition date. Malformed tags only warn: the waveform is still read.
// 5. Section 2: Huffman tables: count (2; 19999 = the default table), then per table the number of codes (2)
//    and per code: prefix bits (1), total bits (1), mode (1; 0 = switch to table <base value>), base value
//    (2, signed), base code (4, bit-reversed); a code longer than its prefix carries its value in the bits
//    that follow (two's complement). Without section 2 the data are plain int16.
// 6. Section 3: lead count (1), flags (1; bit 0 = reference beat subtracted), per lead: first and last
//    sample (4 + 4, 1-based), lead id (1; SCP lead table, see scp_lead_name).
// 7. Section 6: amplitude multiplier AVM (2, nV), sample interval (2, us), difference encoding (1: 0 none,
//    1 first, 2 second), bimodal compression (1), byte count per lead (2 each), then each lead's bit stream.
// 8. Section 8: interpretation: confirmed flag (1), date (4), time (3), statement count (1), per statement:
//    sequence number (1), length (2), Latin-1 text (NUL-terminated).
// Reference-beat subtraction (sections 4/5) and bimodal compression are refused with a clear error.
// 8-lead files get III, aVR, aVL, aVF derived by to_ecg_record; other leads (V3R, V7) keep their names.
// The sample interval stays the record's rate (1667 us -> 599.88 Hz); preprocessing resamples.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "diagecg/ecg/ecg-record.h"
#include "diagecg/ecg/stored-ecg.h"

namespace diagecg {

// True when the bytes (the whole file or its first bytes) start like an SCP-ECG file: a plausible file length,
// section 0 first and "SCPECG" in its header.
bool looks_like_scp(const uint8_t* bytes, size_t n_bytes);

// Decodes a whole SCP-ECG file held in memory (stored values after Huffman and difference decoding).
// Throws std::runtime_error "<where>: ..." on CRC mismatches, sections past the end, undecodable Huffman
// data and unsupported encodings.
StoredEcg decode_scp_ecg(const uint8_t* bytes, size_t n_bytes, const std::string& where);

// Reads an SCP-ECG file into a record (format "scp-ecg", leads in mV).
EcgRecord read_scp_ecg(const std::string& path);

}  // namespace diagecg
