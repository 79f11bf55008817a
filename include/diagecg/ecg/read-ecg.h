// read_ecg: the one entry point that reads any supported ECG file into an EcgRecord, choosing the
// format reader (one file per format in this folder) by extension and content.
#pragma once

#include <string>

#include "diagecg/ecg/ecg-record.h"

namespace diagecg {

// Reads a record, choosing the reader by extension and content:
// .hea -> WFDB, .npy -> NPY, .csv/.txt -> CSV, .edf -> EDF/EDF+, .xml -> GE MUSE, Philips or HL7 aECG
// (by root element), .dcm -> DICOM waveform, .scp -> SCP-ECG. A path without extension is tried as a WFDB
// record name (PATH.hea); any other file with a .hea beside it (a WFDB signal file such as CinC's .mat) is
// read through that header; otherwise SCP-ECG, DICOM and XML files are recognised by their first bytes.
// Throws std::runtime_error (I/O, format) or std::invalid_argument (bad options).
EcgRecord read_ecg(const std::string& path, const ReadOptions& opts = {});

}  // namespace diagecg
