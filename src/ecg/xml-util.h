// Internal to the XML ECG readers (muse, philips, aecg): safe parsing of an XML file's bytes with pugixml and
// small element helpers. Not a public header: pugixml stays out of include/.
// Safety: pugixml never loads external DTDs or entities and does not expand entities declared in a DOCTYPE
// (only the five predefined ones and character references), so XXE and billion-laughs inputs stay inert text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <pugixml.hpp>

namespace diagecg::xml {

// Parses bytes into `doc`: a UTF-16LE/BE byte-order mark, or a declaration encoding of ISO-8859-1/latin1/
// windows-1252, is converted to UTF-8 first; other input is taken as UTF-8. Throws std::runtime_error
// "<where>: XML ... at line L, column C" when the text is malformed or has no root element.
void parse(const uint8_t* bytes, size_t n_bytes, const std::string& where, pugi::xml_document& doc);

// The element's text (its first PCDATA/CDATA child), trimmed of spaces, tabs, CR and LF.
std::string text(const pugi::xml_node& node);

// Text of the child element path "a/b/c" below `node`, or nullopt when an element on the path is missing.
std::optional<std::string> child_text(const pugi::xml_node& node, const char* path);

// Number in a child path / attribute: nullopt when missing; throws "<where>: <what> is "x", not a number".
std::optional<double> child_number(const pugi::xml_node& node, const char* path, const std::string& where);
std::optional<double> attr_number(const pugi::xml_node& node, const char* name, const std::string& where);

}  // namespace diagecg::xml

namespace diagecg {
struct StoredEcg;
}

namespace diagecg::xml {

// Per-format decoders of a parsed document, defined in muse-reader.cpp, philips-reader.cpp and
// aecg-reader.cpp; xml-ecg.cpp picks one by the root element.
StoredEcg muse_from_xml(const pugi::xml_document& doc, const std::string& where);
StoredEcg philips_from_xml(const pugi::xml_document& doc, const std::string& where);
StoredEcg aecg_from_xml(const pugi::xml_document& doc, const std::string& where);

}  // namespace diagecg::xml
