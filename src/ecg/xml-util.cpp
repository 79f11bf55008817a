#include "xml-util.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>

#include "diagecg/ecg/stored-ecg.h"
#include "diagecg/util/byte-reader.h"
#include "diagecg/util/utf8.h"

namespace diagecg::xml {
namespace {

[[noreturn]] void fail(const std::string& where, const std::string& msg) {
    throw std::runtime_error(where + ": " + msg);
}

// UTF-16 (after the BOM) -> UTF-8; unpaired surrogates and an odd byte count are errors.
std::string utf16_to_utf8(const uint8_t* p, size_t n, bool little_endian, const std::string& where) {
    if (n % 2 != 0) fail(where, "UTF-16 text has an odd number of bytes (" + std::to_string(n) + ")");
    std::string out;
    out.reserve(n / 2);
    auto unit = [&](size_t i) -> uint32_t {
        return little_endian ? (p[i] | (p[i + 1] << 8)) : ((p[i] << 8) | p[i + 1]);
    };
    for (size_t i = 0; i < n; i += 2) {
        uint32_t cp = unit(i);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            const uint32_t lo = i + 3 < n ? unit(i + 2) : 0;
            if (lo < 0xDC00 || lo > 0xDFFF)
                fail(where, "UTF-16 text has an unpaired surrogate at byte " + std::to_string(i));
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 2;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail(where, "UTF-16 text has an unpaired surrogate at byte " + std::to_string(i));
        }
        utf8_append(out, cp);
    }
    return out;
}

// The encoding="..." value of an XML declaration at the start of 8-bit text, lower-cased, or "".
std::string declared_encoding(std::string_view s) {
    if (s.substr(0, 5) != "<?xml") return "";
    const size_t end = s.find("?>");
    const std::string_view decl = s.substr(0, end == std::string_view::npos ? std::min<size_t>(s.size(), 200) : end);
    const size_t k = decl.find("encoding");
    if (k == std::string_view::npos) return "";
    size_t q = decl.find_first_of("\"'", k);
    if (q == std::string_view::npos) return "";
    const size_t q2 = decl.find(decl[q], q + 1);
    if (q2 == std::string_view::npos) return "";
    std::string enc(decl.substr(q + 1, q2 - q - 1));
    for (char& c : enc) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return enc;
}

}  // namespace

void parse(const uint8_t* bytes, size_t n_bytes, const std::string& where, pugi::xml_document& doc) {
    std::string utf8;
    if (n_bytes >= 2 && bytes[0] == 0xFF && bytes[1] == 0xFE) {
        utf8 = utf16_to_utf8(bytes + 2, n_bytes - 2, true, where);
    } else if (n_bytes >= 2 && bytes[0] == 0xFE && bytes[1] == 0xFF) {
        utf8 = utf16_to_utf8(bytes + 2, n_bytes - 2, false, where);
    } else {
        size_t skip = n_bytes >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
        const std::string_view raw(reinterpret_cast<const char*>(bytes) + skip, n_bytes - skip);
        const std::string enc = declared_encoding(raw);
        if (enc == "iso-8859-1" || enc == "latin1" || enc == "latin-1" || enc == "windows-1252")
            utf8 = latin1_to_utf8(raw);
        else
            utf8.assign(raw);
    }
    const pugi::xml_parse_result r =
        doc.load_buffer(utf8.data(), utf8.size(), pugi::parse_default, pugi::encoding_utf8);
    if (!r) {
        const auto off = static_cast<size_t>(std::max<ptrdiff_t>(0, r.offset));
        const size_t upto = std::min(off, utf8.size());
        const size_t line =
            1 + static_cast<size_t>(std::count(utf8.begin(), utf8.begin() + static_cast<ptrdiff_t>(upto), '\n'));
        const size_t nl = utf8.rfind('\n', upto == 0 ? 0 : upto - 1);
        const size_t col = nl == std::string::npos || upto == 0 ? upto + 1 : upto - nl;
        fail(where, std::string("XML ") + r.description() + " at line " + std::to_string(line) + ", column " +
                        std::to_string(col));
    }
    if (!doc.document_element()) fail(where, "XML has no root element");
}

std::string text(const pugi::xml_node& node) {
    return std::string(trim_view(node.child_value()));
}

std::optional<std::string> child_text(const pugi::xml_node& node, const char* path) {
    const pugi::xml_node n = node.first_element_by_path(path);
    if (!n) return std::nullopt;
    return text(n);
}

std::optional<double> child_number(const pugi::xml_node& node, const char* path, const std::string& where) {
    const auto s = child_text(node, path);
    if (!s) return std::nullopt;
    const auto v = parse_finite_double(*s);
    if (!v) fail(where, std::string("<") + path + "> is \"" + *s + "\", not a number");
    return v;
}

std::optional<double> attr_number(const pugi::xml_node& node, const char* name, const std::string& where) {
    const pugi::xml_attribute a = node.attribute(name);
    if (!a) return std::nullopt;
    const std::string s(trim_view(a.value()));
    const auto v = parse_finite_double(s);
    if (!v) fail(where, std::string("<") + node.name() + " " + name + "=\"" + s + "\"> is not a number");
    return v;
}

}  // namespace diagecg::xml
