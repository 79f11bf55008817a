// XML ECG dispatch by root element; see xml-ecg.h.
#include "diagecg/ecg/xml-ecg.h"

#include <filesystem>
#include <stdexcept>

#include "diagecg/util/byte-reader.h"
#include "xml-util.h"

namespace diagecg {

bool looks_like_xml(const uint8_t* bytes, size_t n_bytes) {
    if (n_bytes >= 2 && ((bytes[0] == 0xFF && bytes[1] == 0xFE) || (bytes[0] == 0xFE && bytes[1] == 0xFF))) return true;
    size_t i = n_bytes >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
    while (i < n_bytes && (bytes[i] == ' ' || bytes[i] == '\t' || bytes[i] == '\r' || bytes[i] == '\n')) ++i;
    return i < n_bytes && bytes[i] == '<';
}

StoredEcg decode_xml_ecg(const uint8_t* bytes, size_t n_bytes, const std::string& where) {
    pugi::xml_document doc;
    xml::parse(bytes, n_bytes, where, doc);
    const std::string root = doc.document_element().name();
    if (root == "RestingECG") return xml::muse_from_xml(doc, where);
    if (root == "restingecgdata") return xml::philips_from_xml(doc, where);
    if (root == "AnnotatedECG") return xml::aecg_from_xml(doc, where);
    throw std::runtime_error(where + ": root element <" + root +
                             "> is not a supported XML ECG (RestingECG: GE MUSE, restingecgdata: Philips, "
                             "AnnotatedECG: HL7 aECG)");
}

EcgRecord read_xml_ecg(const std::string& path) {
    const std::vector<uint8_t> bytes = read_file_bytes(path, 256ull << 20);
    const std::string where = "XML ECG file " + path;
    return to_ecg_record(decode_xml_ecg(bytes.data(), bytes.size(), where), std::filesystem::path(path).stem().string(),
                         where);
}

}  // namespace diagecg
