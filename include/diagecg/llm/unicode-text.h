// UTF-8 helpers for the text tokenizers: well-formedness with U+FFFD replacement, code point iteration,
// the GPT-2 byte-level alphabet, Unicode White_Space and NFC (through utf8proc).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "diagecg/util/utf8.h"  // utf8_append

namespace diagecg {

// True when `text` is well-formed UTF-8 (Unicode 15, table 3-7: no overlongs, surrogates or > U+10FFFF).
bool utf8_is_valid(std::string_view text);

// `text` with every ill-formed subsequence replaced by one U+FFFD per maximal subpart (Unicode chapter 3
// "U+FFFD substitution of maximal subparts"; what Python's bytes.decode("utf-8", "replace") does).
std::string utf8_sanitize(std::string_view text);

// Decodes the code point at `pos` of well-formed UTF-8 and advances `pos` past it.
uint32_t utf8_next(std::string_view text, size_t& pos);

// Unicode White_Space property (Rust's char::is_whitespace, which HF tokenizers' lstrip/rstrip use).
bool is_unicode_whitespace(uint32_t cp);

// General category L* or N* (Rust's char::is_alphanumeric, less Other_Alphabetic marks).
bool is_unicode_alphanumeric(uint32_t cp);

// NFC of well-formed UTF-8 (returns `text` unchanged when it is ASCII).
std::string utf8_nfc(std::string_view text);

// GPT-2 byte-level alphabet: byte b <-> one printable code point (b itself for '!'..'~', 0xA1..0xAC and
// 0xAE..0xFF; 256 + n for the n-th remaining byte in increasing order).
uint32_t byte_to_codepoint(uint8_t b);
// Inverse of byte_to_codepoint; -1 for a code point outside the alphabet.
int codepoint_to_byte(uint32_t cp);

// Byte-level token text (GPT-2 alphabet) -> the bytes it stands for; false when a character lies outside
// the alphabet (then `out` is unspecified).
bool byte_level_decode(std::string_view token, std::string& out);
// Bytes -> their GPT-2 alphabet spelling.
std::string byte_level_encode(std::string_view bytes);

}  // namespace diagecg
