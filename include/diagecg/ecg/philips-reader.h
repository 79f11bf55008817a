// Philips PageWriter / TraceMaster XML ("SierraECG" 1.03, "PhilipsECG" 1.04 and 1.04.01). Layout:
// 1. <restingecgdata> root; UTF-8, or UTF-16LE with a byte-order mark (1.04 exports).
// 2. <documentinfo>: <documenttype> SierraECG | PhilipsECG, <documentversion>.
// 3. <dataacquisition><signalcharacteristics>: <samplingrate> Hz, <signalresolution> uV per unit,
//    <acquisitiontype> (STD-12, 10-WIRE), <numberchannelsallocated>.
// 4. <patient><generalpatientdata>: <age><years> (or <dateofbirth>), <sex> Male | Female.
// 5. <interpretations><interpretation>: <severity>, <statement> (<leftstatement>, <rightstatement>).
// 6. <waveforms><parsedwaveforms dataencoding="Base64" compressmethod|compression="XLI"
//    durationperchannel="ms" numberofleads= leadlabels=>: base64 of one XLI chunk per lead (xli.h), or
//    uncompressed int16 LE lead after lead.
// After decoding, leads III, aVR, aVL, aVF hold residuals (s3..s6) and are rebuilt:
// III = II - I - s3, aVR = -s4 - floor((I + II)/2), aVL = floor((I - III)/2) - s5, aVF = floor((II + III)/2) - s6.
// An 11-s record ends with 300 ms that are not ECG: a 1 mV calibration pulse on every lead (samples
// 5350-5449 at 500 Hz) and zeros (5450-5499); they are cut, so the record holds the first 10.7 s.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "diagecg/ecg/ecg-record.h"
#include "diagecg/ecg/stored-ecg.h"

namespace diagecg {

// Decodes a whole Philips XML file held in memory (stored values after XLI decoding and residual
// reconstruction, calibration tail cut). Throws std::runtime_error "<where>: ..." on any format problem.
StoredEcg decode_philips_xml(const uint8_t* bytes, size_t n_bytes, const std::string& where);

// Reads a Philips XML file into a record (format "philips-xml", 12 leads in mV).
EcgRecord read_philips_xml(const std::string& path);

}  // namespace diagecg
