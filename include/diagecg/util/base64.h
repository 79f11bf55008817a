// Base64 (RFC 4648, standard alphabet) decoding of text that may be broken into lines.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace diagecg {

// Decodes `text`, skipping ASCII whitespace (space, tab, CR, LF). '=' padding is accepted only at the end
// and a missing final padding is tolerated; any other character, or a length that leaves a single dangling
// character, throws std::runtime_error "<where>: ..." naming the offset.
std::vector<uint8_t> base64_decode(std::string_view text, const std::string& where);

}  // namespace diagecg
