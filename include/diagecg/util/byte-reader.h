// Whole-file reads with size limits, little-endian decoding and strict number parsing
// shared by the file-format readers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace diagecg {

// Reads a whole file; throws std::runtime_error naming the path when it cannot be read
// or is larger than max_bytes.
std::vector<uint8_t> read_file_bytes(const std::string& path, uint64_t max_bytes = (1ull << 32));
std::string read_file_text(const std::string& path, uint64_t max_bytes = (64ull << 20));
// The first min(file size, max_bytes) bytes of a file, never more (a huge or sparse file costs only what is
// read); `file_size` (if given) receives the whole file's size.
std::vector<uint8_t> read_file_prefix(const std::string& path, uint64_t max_bytes, uint64_t* file_size = nullptr);

// Little-endian loads; the caller guarantees p points at enough bytes.
inline uint16_t load_u16le(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t load_u32le(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
           (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
inline uint64_t load_u64le(const uint8_t* p) {
    return static_cast<uint64_t>(load_u32le(p)) | (static_cast<uint64_t>(load_u32le(p + 4)) << 32);
}

// Whole-token number parsing: an optional sign, then the number, nothing else (no spaces).
// parse_finite_double rejects nan/inf. Both return nullopt on any malformed or out-of-range input.
std::optional<int64_t> parse_int64(std::string_view s);
std::optional<double> parse_finite_double(std::string_view s);

// `s` with leading and trailing spaces, tabs, CR and LF removed.
std::string_view trim_view(std::string_view s);

}  // namespace diagecg
