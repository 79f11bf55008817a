// XML ECG files, the reader chosen by the root element: <RestingECG> GE MUSE (muse-reader.h),
// <restingecgdata> Philips (philips-reader.h), <AnnotatedECG> HL7 aECG (aecg-reader.h). The file is parsed
// once (pugixml; no DTD loading, no entity expansion, so XXE and billion-laughs inputs stay inert).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "diagecg/ecg/ecg-record.h"
#include "diagecg/ecg/stored-ecg.h"

namespace diagecg {

// True when the bytes look like XML: a UTF-16 byte-order mark, or '<' as the first non-space character
// (after an optional UTF-8 byte-order mark).
bool looks_like_xml(const uint8_t* bytes, size_t n_bytes);

// Decodes an XML ECG held in memory; throws std::runtime_error "<where>: ..." for malformed XML, an
// unsupported root element, or any format error of the chosen reader.
StoredEcg decode_xml_ecg(const uint8_t* bytes, size_t n_bytes, const std::string& where);

// Reads an XML ECG file into a record (format "muse-xml", "philips-xml" or "hl7-aecg").
EcgRecord read_xml_ecg(const std::string& path);

}  // namespace diagecg
