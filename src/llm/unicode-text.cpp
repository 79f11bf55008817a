#include "diagecg/llm/unicode-text.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>

namespace diagecg {

namespace {

// Length of the longest well-formed prefix (at most one code point) of s[pos..], and whether it is a
// complete code point. Ranges from Unicode 15 table 3-7.
size_t well_formed_prefix(std::string_view s, size_t pos, bool& complete) {
    const auto b0 = static_cast<uint8_t>(s[pos]);
    complete = false;
    if (b0 < 0x80) {
        complete = true;
        return 1;
    }
    size_t need = 0;
    uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return 0;  // 0x80..0xC1, 0xF5..0xFF never start a sequence
    }
    size_t n = 1;
    for (size_t k = 0; k < need; ++k) {
        if (pos + n >= s.size()) return n;
        const auto b = static_cast<uint8_t>(s[pos + n]);
        const uint8_t l = k == 0 ? lo : 0x80, h = k == 0 ? hi : 0xBF;
        if (b < l || b > h) return n;
        ++n;
    }
    complete = true;
    return n;
}

struct ByteAlphabet {
    std::array<uint32_t, 256> to_cp{};
    std::array<int16_t, 512> to_byte{};
    ByteAlphabet() {
        to_byte.fill(-1);
        uint32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            to_cp[b] = printable ? static_cast<uint32_t>(b) : next++;
            to_byte[to_cp[b]] = static_cast<int16_t>(b);
        }
    }
};

const ByteAlphabet& alphabet() {
    static const ByteAlphabet a;
    return a;
}

}  // namespace

bool utf8_is_valid(std::string_view text) {
    bool complete = false;
    for (size_t pos = 0; pos < text.size();) {
        const size_t n = well_formed_prefix(text, pos, complete);
        if (!complete) return false;
        pos += n;
    }
    return true;
}

std::string utf8_sanitize(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    bool complete = false;
    for (size_t pos = 0; pos < text.size();) {
        const size_t n = well_formed_prefix(text, pos, complete);
        if (complete) {
            out.append(text.substr(pos, n));
            pos += n;
        } else {
            out += "\xEF\xBF\xBD";
            pos += n == 0 ? 1 : n;
        }
    }
    return out;
}

uint32_t utf8_next(std::string_view s, size_t& pos) {
    const auto b0 = static_cast<uint8_t>(s[pos]);
    auto cont = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(s[pos + k]) & 0x3F); };
    uint32_t cp;
    if (b0 < 0x80) {
        cp = b0;
        pos += 1;
    } else if (b0 < 0xE0) {
        cp = ((b0 & 0x1Fu) << 6) | cont(1);
        pos += 2;
    } else if (b0 < 0xF0) {
        cp = ((b0 & 0x0Fu) << 12) | (cont(1) << 6) | cont(2);
        pos += 3;
    } else {
        cp = ((b0 & 0x07u) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
        pos += 4;
    }
    return cp;
}

bool is_unicode_whitespace(uint32_t cp) {
    // PropList.txt White_Space (Unicode 15).
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

bool is_unicode_alphanumeric(uint32_t cp) {
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
    switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
        case UTF8PROC_CATEGORY_LU:
        case UTF8PROC_CATEGORY_LL:
        case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM:
        case UTF8PROC_CATEGORY_LO:
        case UTF8PROC_CATEGORY_ND:
        case UTF8PROC_CATEGORY_NL:
        case UTF8PROC_CATEGORY_NO:
            return true;
        default:
            return false;
    }
}

std::string utf8_nfc(std::string_view text) {
    bool ascii = true;
    for (const char c : text) ascii &= static_cast<uint8_t>(c) < 0x80;
    if (ascii) return std::string(text);
    utf8proc_uint8_t* result = nullptr;
    const auto n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()), static_cast<utf8proc_ssize_t>(text.size()),
                     &result, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (n < 0) throw std::runtime_error(std::string("NFC normalisation failed: ") + utf8proc_errmsg(n));
    std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> hold(result, &std::free);
    return std::string(reinterpret_cast<const char*>(result), static_cast<size_t>(n));
}

uint32_t byte_to_codepoint(uint8_t b) {
    return alphabet().to_cp[b];
}

int codepoint_to_byte(uint32_t cp) {
    return cp < 512 ? alphabet().to_byte[cp] : -1;
}

bool byte_level_decode(std::string_view token, std::string& out) {
    out.clear();
    if (!utf8_is_valid(token)) return false;
    for (size_t pos = 0; pos < token.size();) {
        const int b = codepoint_to_byte(utf8_next(token, pos));
        if (b < 0) return false;
        out += static_cast<char>(b);
    }
    return true;
}

std::string byte_level_encode(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) utf8_append(out, byte_to_codepoint(static_cast<uint8_t>(c)));
    return out;
}

}  // namespace diagecg
