// HL7 v3 annotated ECG (aECG, the FDA's format; <AnnotatedECG xmlns="urn:hl7-org:v3">). Layout:
// 1. Subject: .../subjectDemographicPerson/administrativeGenderCode@code (M, F); age from
//    controlVariable/relatedObservation with LOINC code 21612-7 ("Reported Age", unit a/mo/wk/d).
// 2. component/series with code RHYTHM (the recording; a derivation/derivedSeries holds the median beat,
//    which is not read), then component/sequenceSet/component/sequence, one per signal:
//    a. code TIME_ABSOLUTE or TIME_RELATIVE, value GLIST_TS/GLIST_PQ: <increment value= unit="s"|"ms">.
//    b. code MDC_ECG_LEAD_<name>, value SLIST_PQ: <origin value= unit=>, <scale value= unit=> (uV or mV),
//       <digits> integers separated by spaces; physical = origin + scale * digit.
// 3. series/subjectOf/annotationSet/component/annotation: rhythm (MDC_ECG_RHY*) and interpretation
//    statements (MDC_ECG_INTERPRETATION*), taken as diagnoses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "diagecg/ecg/ecg-record.h"
#include "diagecg/ecg/stored-ecg.h"

namespace diagecg {

// Decodes a whole aECG file held in memory. Throws std::runtime_error "<where>: ..." on any format problem.
StoredEcg decode_aecg_xml(const uint8_t* bytes, size_t n_bytes, const std::string& where);

// Reads an aECG file into a record (format "hl7-aecg", leads in mV).
EcgRecord read_aecg_xml(const std::string& path);

}  // namespace diagecg
