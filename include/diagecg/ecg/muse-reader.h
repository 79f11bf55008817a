// GE MUSE "RestingECG" XML (MUSE export, MAC carts). Layout:
// 1. <RestingECG> root, usually ISO-8859-1 with a DOCTYPE naming restecg.dtd (never loaded).
// 2. <PatientDemographics>: <PatientAge> + <AgeUnits> (YEARS, MONTHS, WEEKS, DAYS, HOURS), <Gender> MALE/FEMALE.
// 3. <TestDemographics> (device, acquisition date/time), <RestingECGMeasurements> (rate, PR, QRS, QT, QTc).
// 4. <Diagnosis>: <DiagnosisStatement> (<StmtText>, <StmtFlag>: ENDSLINE ends a line of joined statements).
// 5. <Waveform> x 2: <WaveformType> Median (one averaged beat) or Rhythm (the recording), <SampleBase> Hz x
//    10^<SampleExponent>, then per lead <LeadData>: <LeadID>, <LeadSampleCountTotal>, <LeadByteCountTotal>,
//    <LeadAmplitudeUnitsPerBit> (uV), <LeadAmplitudeUnits>, <LeadDataCRC32> (zlib CRC-32 of the decoded bytes)
//    and <WaveFormData>: base64 of int16 little-endian samples, broken into lines.
// MUSE stores 8 leads (I, II, V1-V6); III, aVR, aVL, aVF are derived by to_ecg_record. The Rhythm waveform is
// read; the Median beat is ignored (a device-derived average, not the recording).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "diagecg/ecg/ecg-record.h"
#include "diagecg/ecg/stored-ecg.h"

namespace diagecg {

// Decodes a whole MUSE XML file held in memory. Throws std::runtime_error "<where>: ..." on malformed XML,
// bad base64, a LeadDataCRC32 mismatch, inconsistent counts or a missing Rhythm waveform.
StoredEcg decode_muse_xml(const uint8_t* bytes, size_t n_bytes, const std::string& where);

// Reads a MUSE XML file into a record (format "muse-xml", 12 leads in mV).
EcgRecord read_muse_xml(const std::string& path);

}  // namespace diagecg
