// Lead names -> the canonical 12-lead order, by name, never by column position.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "diagecg/ecg/ecg-record.h"

namespace diagecg {

constexpr int kNumLeads = 12;
// Canonical order: I, II, III, aVR, aVL, aVF, V1..V6.
extern const std::array<const char*, kNumLeads> kCanonicalLeads;

// Index in canonical order of a lead name or alias (case-insensitive: "avr", "AVR", "MLII" -> II,
// "lead I", "D1" ...), or nullopt when the name is not a standard lead (e.g. Frank leads vx/vy/vz).
std::optional<int> canonical_lead_index(const std::string& name);

struct LeadMapping {
    std::vector<std::string> notes;   // what was done: ignored channels, derived leads
};

// Returns a record with exactly the 12 canonical leads in canonical order. Extra channels are
// dropped; when I, II and V1-V6 are present but some limb leads are missing, III, aVR, aVL, aVF
// are derived (Einthoven/Goldberger) and noted. Throws std::invalid_argument when leads are
// missing that cannot be derived, or when a lead appears twice.
EcgRecord to_canonical_leads(const EcgRecord& rec, LeadMapping* mapping = nullptr);

}  // namespace diagecg
