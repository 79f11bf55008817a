#include "diagecg/util/byte-reader.h"

#include <sys/stat.h>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

namespace diagecg {
namespace {

// Size of a regular file; throws naming the path when it is missing, not a regular file or over max_bytes.
uint64_t checked_file_size(const std::string& path, uint64_t max_bytes) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        throw std::runtime_error("cannot open \"" + path + "\": " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        throw std::runtime_error("cannot read \"" + path + "\": not a regular file");
    }
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size > max_bytes) {
        throw std::runtime_error("file \"" + path + "\" is " + std::to_string(size) +
                                 " bytes, more than the limit of " + std::to_string(max_bytes));
    }
    return size;
}

template <typename Buffer>
Buffer read_all(const std::string& path, uint64_t max_bytes) {
    const uint64_t size = checked_file_size(path, max_bytes);
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open \"" + path + "\": " + std::strerror(errno));
    Buffer buf(static_cast<size_t>(size), 0);
    if (size > 0) {
        in.read(reinterpret_cast<char*>(&buf[0]), static_cast<std::streamsize>(size));
        if (static_cast<uint64_t>(in.gcount()) != size) {
            throw std::runtime_error("cannot read \"" + path + "\": expected " + std::to_string(size) + " bytes, got " +
                                     std::to_string(in.gcount()));
        }
    }
    return buf;
}

}  // namespace

std::vector<uint8_t> read_file_bytes(const std::string& path, uint64_t max_bytes) {
    return read_all<std::vector<uint8_t>>(path, max_bytes);
}

std::vector<uint8_t> read_file_prefix(const std::string& path, uint64_t max_bytes, uint64_t* file_size) {
    const uint64_t size = checked_file_size(path, ~uint64_t(0));
    if (file_size) *file_size = size;
    const uint64_t n = std::min(size, max_bytes);
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open \"" + path + "\": " + std::strerror(errno));
    std::vector<uint8_t> buf(static_cast<size_t>(n), 0);
    if (n > 0) {
        in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(n));
        if (static_cast<uint64_t>(in.gcount()) != n) {
            throw std::runtime_error("cannot read \"" + path + "\": expected " + std::to_string(n) + " bytes, got " +
                                     std::to_string(in.gcount()));
        }
    }
    return buf;
}

std::string read_file_text(const std::string& path, uint64_t max_bytes) {
    return read_all<std::string>(path, max_bytes);
}

std::optional<int64_t> parse_int64(std::string_view s) {
    if (!s.empty() && s[0] == '+') s.remove_prefix(1);
    if (s.empty() || s[0] == '+') return std::nullopt;
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

std::optional<double> parse_finite_double(std::string_view s) {
    if (!s.empty() && s[0] == '+') s.remove_prefix(1);
    if (s.empty() || s[0] == '+') return std::nullopt;
    double v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
    return v;
}

std::string_view trim_view(std::string_view s) {
    const char* ws = " \t\r\n";
    const size_t b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) return {};
    const size_t e = s.find_last_not_of(ws);
    return s.substr(b, e - b + 1);
}

}  // namespace diagecg
