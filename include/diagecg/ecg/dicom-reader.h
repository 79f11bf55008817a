// DICOM waveform objects: 12-Lead ECG (1.2.840.10008.5.1.4.1.1.9.1.1), General ECG (...9.1.2) and other
// waveform storage classes, Implicit or Explicit VR Little Endian. Only the elements below are read (a small
// reader, not a DICOM toolkit). Layout:
// 1. Optional 128-byte preamble + "DICM", then the file meta group (0002,xxxx) in Explicit VR LE with the
//    Transfer Syntax UID (0002,0010): 1.2.840.10008.1.2 (implicit) or 1.2.840.10008.1.2.1 (explicit).
// 2. Data elements: tag (group, element: 2 + 2), VR (2, explicit only) and length (2, or 2 reserved + 4 for
//    OB/OW/SQ/UN/UT/...; 4 in implicit VR); undefined length 0xFFFFFFFF for sequences and items, closed by
//    delimiters (FFFE,E00D) item and (FFFE,E0DD) sequence.
// 3. Waveform Sequence (5400,0100), one item per multiplex group: channels (003A,0005), samples (003A,0010),
//    sampling frequency (003A,001A), group label (003A,0020), Channel Definition Sequence (003A,0200),
//    bits allocated (5400,1004), sample interpretation (5400,1006: SS), Waveform Data (5400,1010), the
//    samples interleaved by channel.
// 4. Channel definition: label (003A,0203), source (003A,0208: code value "5.6.3-9-<SCP lead id>" in the
//    SCPECG scheme, or a code meaning such as "Lead II"), sensitivity (003A,0210) in the units of
//    (003A,0211: uV, mV), correction factor (003A,0212), baseline (003A,0213);
//    physical = (sample + baseline) * sensitivity * correction.
// 5. Patient's sex (0010,0040), age (0010,1010: "042Y"); Waveform Annotation Sequence (0040,B020): text
//    (0070,0006) as diagnoses, measurements (concept (0040,A043) + value (0040,A30A)) as comments.
// The multiplex group labelled RHYTHM is read (else the one with most samples); median beats are not read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "diagecg/ecg/ecg-record.h"
#include "diagecg/ecg/stored-ecg.h"

namespace diagecg {

// True when the bytes carry "DICM" at offset 128, or start with a group 0002/0008 element.
bool looks_like_dicom(const uint8_t* bytes, size_t n_bytes);

// Decodes a whole DICOM waveform file held in memory (stored int16 samples, per-channel scale).
// Throws std::runtime_error "<where>: ..." when a length runs past the end, sequences nest deeper than 16,
// the transfer syntax is not little endian, or the waveform elements are missing or inconsistent.
StoredEcg decode_dicom_ecg(const uint8_t* bytes, size_t n_bytes, const std::string& where);

// Reads a DICOM ECG waveform file into a record (format "dicom", leads in mV).
EcgRecord read_dicom_ecg(const std::string& path);

}  // namespace diagecg
