// XLI decoder: LZW (10-bit codes) + byte-plane split + second-difference prediction. Layout: see xli.h.
#include "diagecg/ecg/xli.h"

#include <stdexcept>

#include "diagecg/util/byte-reader.h"

namespace diagecg {
namespace {

constexpr int kCodeBits = 10;
constexpr uint32_t kEndCode = (1u << kCodeBits) - 1;  // 1023
constexpr uint32_t kMaxCode = kEndCode - 1;           // last dictionary entry

[[noreturn]] void fail(const std::string& where, size_t chunk, const std::string& msg) {
    throw std::runtime_error(where + ": XLI chunk " + std::to_string(chunk) + ": " + msg);
}

// LZW-decodes one payload into `out` (at most max_out bytes).
void lzw_decode(const uint8_t* p, size_t n, size_t max_out, const std::string& where, size_t chunk,
                std::vector<uint8_t>& out) {
    // Dictionary entry k >= 256: prefix entry + last byte; strings are rebuilt backwards into `tmp`.
    std::vector<uint16_t> prefix(kMaxCode + 1, 0);
    std::vector<uint8_t> last(kMaxCode + 1, 0), first(kMaxCode + 1, 0);
    std::vector<uint16_t> length(kMaxCode + 1, 1);
    for (uint32_t c = 0; c < 256; ++c) last[c] = first[c] = static_cast<uint8_t>(c);
    uint32_t next_code = 256;
    int64_t previous = -1;
    std::vector<uint8_t> tmp;

    const uint64_t n_bits = static_cast<uint64_t>(n) * 8;
    for (uint64_t bit = 0; bit + kCodeBits <= n_bits; bit += kCodeBits) {
        uint32_t code = 0;
        for (int k = 0; k < kCodeBits; ++k) {
            const uint64_t b = bit + static_cast<uint64_t>(k);
            code = (code << 1) | ((p[b >> 3] >> (7 - (b & 7))) & 1u);
        }
        if (code == kEndCode) return;
        uint32_t emit = code;  // entry whose string is output
        bool kwkwk = false;
        if (code >= next_code) {
            if (code != next_code || previous < 0)
                fail(where, chunk,
                     "LZW code " + std::to_string(code) + " at bit " + std::to_string(bit) +
                         " is not defined yet (next is " + std::to_string(next_code) + ")");
            emit = static_cast<uint32_t>(previous);
            kwkwk = true;  // string = previous + previous[0]
        }
        const size_t len = length[emit] + (kwkwk ? 1u : 0u);
        if (out.size() + len > max_out)
            fail(where, chunk, "decodes to more than " + std::to_string(max_out) + " bytes (stream overruns)");
        tmp.resize(length[emit]);
        for (uint32_t e = emit, i = length[emit]; i-- > 0; e = prefix[e]) tmp[i] = last[e];
        out.insert(out.end(), tmp.begin(), tmp.end());
        if (kwkwk) out.push_back(first[emit]);
        if (previous >= 0 && next_code <= kMaxCode) {
            const uint32_t pv = static_cast<uint32_t>(previous);
            prefix[next_code] = static_cast<uint16_t>(pv);
            last[next_code] = kwkwk ? first[pv] : first[code];
            first[next_code] = first[pv];
            length[next_code] = static_cast<uint16_t>(length[pv] + 1);
            ++next_code;
        }
        previous = code;
    }
}

}  // namespace

std::vector<std::vector<int16_t>> xli_decode(const uint8_t* data, size_t n_bytes, size_t n_samples,
                                             const std::string& where) {
    std::vector<std::vector<int16_t>> leads;
    const size_t max_out = 4 * n_samples + 64;
    size_t offset = 0;
    std::vector<uint8_t> bytes;
    while (offset < n_bytes) {
        const size_t chunk = leads.size();
        if (n_bytes - offset < 8)
            fail(where, chunk, "header needs 8 bytes, " + std::to_string(n_bytes - offset) + " left");
        const uint32_t size = load_u32le(data + offset);
        const auto seed = static_cast<int16_t>(load_u16le(data + offset + 6));
        offset += 8;
        if (size > n_bytes - offset)
            fail(where, chunk,
                 "payload of " + std::to_string(size) + " bytes runs past the end (" +
                     std::to_string(n_bytes - offset) + " left)");
        bytes.clear();
        lzw_decode(data + offset, size, max_out, where, chunk, bytes);
        offset += size;
        if (bytes.size() % 2 != 0) bytes.push_back(0);
        const size_t n = bytes.size() / 2;
        if (n < n_samples)
            fail(where, chunk, "decodes to " + std::to_string(n) + " values, expected " + std::to_string(n_samples));

        std::vector<int16_t> y(n);
        for (size_t i = 0; i < n; ++i) y[i] = static_cast<int16_t>((bytes[i] << 8) | bytes[n + i]);
        int32_t r = seed;
        for (size_t i = 2; i < n; ++i) {
            const int32_t v = y[i];
            y[i] = static_cast<int16_t>(static_cast<uint16_t>(2 * int32_t{y[i - 1]} - y[i - 2] - r));
            r = v - 64;
        }
        y.resize(n_samples);
        leads.push_back(std::move(y));
    }
    return leads;
}

}  // namespace diagecg
