// Philips XLI waveform compression (PageWriter/TraceMaster "SierraECG" XML, <parsedwaveforms
// compressmethod="XLI">), one chunk per lead, back to back. Layout of a chunk:
// 1. 8-byte header: int32 LE size of the compressed payload, 2 bytes unused, int16 LE seed of the predictor.
// 2. payload: LZW codes of 10 bits, most significant bit first; codes 0-255 are bytes, 256-1022 grow the
//    dictionary (no reset when full), 1023 ends the stream.
// 3. the decoded bytes are 16-bit values split in two planes: the first half holds the high bytes, the
//    second half the low bytes (an odd count gets a zero byte appended).
// 4. the values are second-difference residuals: y[0], y[1] are stored as is, then
//    y[i] = 2 y[i-1] - y[i-2] - r[i] with r[2] = seed and r[i] = v[i-1] - 64 (v = the 16-bit values).
// Values are int16 (wrapping). Reference: the sierra-ecg-tools wiki (format description).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace diagecg {

// Decodes all chunks in `data`; each lead keeps its first `n_samples` values (a chunk that decodes to fewer
// is an error). Throws std::runtime_error "<where>: XLI chunk K: ..." when a header or payload runs past the
// end of the data, an LZW code is undefined, or a chunk would decode to more than 4 * n_samples + 64 bytes.
std::vector<std::vector<int16_t>> xli_decode(const uint8_t* data, size_t n_bytes, size_t n_samples,
                                             const std::string& where);

}  // namespace diagecg
