// StoredEcg: a record's samples as a hospital ECG file stores them (integers, file order) with the scale
// to physical units, before conversion to an EcgRecord. Tests compare these integers with values from
// independent decoders; to_ecg_record scales them to mV and adds derivable limb leads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "diagecg/ecg/ecg-record.h"

namespace diagecg {

struct StoredLead {
    std::string name;              // canonical where known ("I", "aVR", "V3R", "V7"), else the file's label
    std::vector<int32_t> samples;  // T stored integers
    double lsb_uv = 1.0;           // microvolts per stored unit
    double baseline = 0.0;         // offset in stored units: physical_uV = (sample + baseline) * lsb_uv
};

struct StoredEcg {
    std::string format;  // "muse-xml" | "philips-xml" | "hl7-aecg" | "dicom" | "scp-ecg"
    double sample_rate_hz = 0.0;
    std::vector<StoredLead> leads;  // in file order, all of length T
    PatientInfo patient;            // age, sex, the device's interpretation statements (diagnoses), notes (comments)

    int64_t n_samples() const { return leads.empty() ? 0 : static_cast<int64_t>(leads[0].samples.size()); }
};

// Scales to mV and orders the leads: the standard 12 present (canonical order), then any other leads in file
// order. When I and II are stored and some of III, aVR, aVL, aVF are not, those are derived in mV
// (III = II - I, aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2). Throws std::runtime_error naming
// `where` when leads differ in length, a name repeats, there are no samples or the rate is not positive.
EcgRecord to_ecg_record(const StoredEcg& stored, const std::string& record_name, const std::string& where);

// The canonical spelling of a lead label ("AVR", "avr", "Lead II" -> "aVR", "II"; "v3r" -> "V3R"), or the
// label trimmed when it is not a known lead.
std::string canonical_lead_label(std::string_view label);

// SCP-ECG lead identification code (EN 1064 / ISO 11073-91064 lead table; also the code values
// "5.6.3-9-<n>" of DICOM's SCPECG coding scheme) -> name, or nullopt for codes outside the table.
std::optional<std::string> scp_lead_name(int code);

// Latin-1 (ISO-8859-1) bytes -> UTF-8.
std::string latin1_to_utf8(std::string_view latin1);

}  // namespace diagecg
