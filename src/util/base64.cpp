#include "diagecg/util/base64.h"

#include <array>
#include <stdexcept>

namespace diagecg {
namespace {

// Character -> 6-bit value, 64 for whitespace, 65 for '=', 255 for anything else.
std::array<uint8_t, 256> make_table() {
    std::array<uint8_t, 256> t{};
    t.fill(255);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (uint8_t i = 0; i < 64; ++i) t[static_cast<uint8_t>(alphabet[i])] = i;
    for (char c : {' ', '\t', '\r', '\n'}) t[static_cast<uint8_t>(c)] = 64;
    t[static_cast<uint8_t>('=')] = 65;
    return t;
}

}  // namespace

std::vector<uint8_t> base64_decode(std::string_view text, const std::string& where) {
    static const std::array<uint8_t, 256> table = make_table();
    std::vector<uint8_t> out;
    out.reserve(text.size() / 4 * 3 + 3);
    uint32_t acc = 0;
    int n_bits = 0;
    int n_chars = 0;  // data characters in the current 4-character group
    bool padded = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const uint8_t v = table[static_cast<uint8_t>(text[i])];
        if (v == 64) continue;
        if (v == 255)
            throw std::runtime_error(where + ": invalid base64 character (byte " +
                                     std::to_string(static_cast<uint8_t>(text[i])) + ") at offset " +
                                     std::to_string(i));
        if (v == 65) {
            padded = true;
            continue;
        }
        if (padded)
            throw std::runtime_error(where + ": base64 data continues after '=' padding at offset " +
                                     std::to_string(i));
        acc = (acc << 6) | v;
        n_bits += 6;
        n_chars = (n_chars + 1) % 4;
        if (n_bits >= 8) {
            n_bits -= 8;
            out.push_back(static_cast<uint8_t>((acc >> n_bits) & 0xFFu));
        }
    }
    if (n_chars == 1) throw std::runtime_error(where + ": base64 data ends with a single dangling character");
    return out;
}

}  // namespace diagecg
