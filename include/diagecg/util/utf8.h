// UTF-8 encoding of one code point: shared by the text tokenizers and the XML/SCP readers' text conversion.
#pragma once

#include <cstdint>
#include <string>

namespace diagecg {

// Appends the UTF-8 bytes of code point `cp` (<= 0x10FFFF; the caller checks) to `out`.
void utf8_append(std::string& out, uint32_t cp);

}  // namespace diagecg
