// Lead names -> canonical order. Aliases: Roman (I, II, III), German/Latin "D" (D1, DI, DII, D3),
// MIT-BIH "MLII", precordial "C1".."C6"; case, spaces, underscores and a "lead" prefix are ignored.
// Derivation (Einthoven: III = II - I; Goldberger: aVR = -(I+II)/2, aVL = I - II/2, aVF = II - I/2).
#include "diagecg/ecg/lead-map.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <stdexcept>
#include <string>

namespace diagecg {

const std::array<const char*, kNumLeads> kCanonicalLeads = {"I",  "II", "III", "aVR", "aVL", "aVF",
                                                            "V1", "V2", "V3",  "V4",  "V5",  "V6"};

namespace {

enum Lead { kI, kII, kIII, kAVR, kAVL, kAVF, kV1 };

// Lower-case, without spaces and underscores, and without a leading "lead" ("Lead V1", "lead_ii",
// "LEAD-aVR" -> "v1", "ii", "avr"). A leading '-' on its own stays: "-aVR" (Cabrera) is another signal.
std::string normalise(const std::string& name) {
    std::string s;
    for (const char c : name)
        if (!std::isspace(static_cast<unsigned char>(c)) && c != '_')
            s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // EDF+ signal labels name the signal type first ("ECG I", "EKG V1"; EDF+ spec section 2.2.2).
    for (const char* type : {"ecg", "ekg"})
        if (s.rfind(type, 0) == 0 && s.size() > 3) s = s.substr(3);
    if (s.rfind("lead", 0) == 0 && s.size() > 4) {
        s = s.substr(4);
        if (s.size() > 1 && (s[0] == '-' || s[0] == ':' || s[0] == '.')) s = s.substr(1);
    }
    return s;
}

}  // namespace

std::optional<int> canonical_lead_index(const std::string& name) {
    static const std::map<std::string, int> kAliases = {
        {"i", kI},       {"di", kI},      {"d1", kI},      {"ii", kII},     {"dii", kII},
        {"d2", kII},     {"mlii", kII},   {"iii", kIII},   {"diii", kIII},  {"d3", kIII},
        {"avr", kAVR},   {"avl", kAVL},   {"avf", kAVF},   {"v1", kV1},     {"v2", kV1 + 1},
        {"v3", kV1 + 2}, {"v4", kV1 + 3}, {"v5", kV1 + 4}, {"v6", kV1 + 5}, {"c1", kV1},
        {"c2", kV1 + 1}, {"c3", kV1 + 2}, {"c4", kV1 + 3}, {"c5", kV1 + 4}, {"c6", kV1 + 5},
    };
    const auto it = kAliases.find(normalise(name));
    if (it == kAliases.end()) return std::nullopt;
    return it->second;
}

EcgRecord to_canonical_leads(const EcgRecord& rec, LeadMapping* mapping) {
    const int64_t t = rec.n_samples;
    if (t < 0 || rec.signal.size() != static_cast<size_t>(rec.n_leads() * t) ||
        rec.units.size() != rec.lead_names.size())
        throw std::invalid_argument("record " + rec.name + ": " + std::to_string(rec.n_leads()) + " lead names, " +
                                    std::to_string(rec.units.size()) + " units and " +
                                    std::to_string(rec.signal.size()) + " values do not describe " + std::to_string(t) +
                                    " samples per lead");
    std::array<int64_t, kNumLeads> src;
    src.fill(-1);
    std::vector<std::string> ignored;
    for (int64_t l = 0; l < rec.n_leads(); ++l) {
        const auto idx = canonical_lead_index(rec.lead_names[l]);
        if (!idx) {
            ignored.push_back(rec.lead_names[l]);
            continue;
        }
        if (src[*idx] >= 0)
            throw std::invalid_argument("record " + rec.name + ": lead " + kCanonicalLeads[*idx] +
                                        " appears twice (\"" + rec.lead_names[src[*idx]] + "\" and \"" +
                                        rec.lead_names[l] + "\")");
        src[*idx] = l;
    }
    std::vector<std::string> notes;
    if (!ignored.empty()) {
        std::string s = "ignored channel(s) that are not standard leads:";
        for (const auto& n : ignored) s += " " + n;
        notes.push_back(s);
    }

    // Limb leads that can be derived from I and II (Einthoven, Goldberger).
    std::vector<int> derived;
    const bool have_base =
        src[kI] >= 0 && src[kII] >= 0 && std::all_of(src.begin() + kV1, src.end(), [](int64_t s) { return s >= 0; });
    if (have_base)
        for (int l : {kIII, kAVR, kAVL, kAVF})
            if (src[l] < 0) derived.push_back(l);

    std::vector<std::string> missing;
    for (int l = 0; l < kNumLeads; ++l)
        if (src[l] < 0 && std::find(derived.begin(), derived.end(), l) == derived.end())
            missing.push_back(kCanonicalLeads[l]);
    if (!missing.empty()) {
        std::string msg = "record " + rec.name + ": missing lead(s)";
        for (const auto& m : missing) msg += " " + m;
        msg += "; the file has:";
        for (const auto& n : rec.lead_names) msg += " " + n;
        msg += " (a 12-lead ECG needs I, II, V1-V6 at least; III, aVR, aVL, aVF can be derived)";
        throw std::invalid_argument(msg);
    }

    EcgRecord out;
    out.name = rec.name;
    out.format = rec.format;
    out.sample_rate_hz = rec.sample_rate_hz;
    out.n_samples = t;
    out.patient = rec.patient;
    out.signal.assign(static_cast<size_t>(kNumLeads * t), 0.0f);
    for (int l = 0; l < kNumLeads; ++l) {
        out.lead_names.push_back(kCanonicalLeads[l]);
        out.units.push_back(src[l] >= 0 ? rec.units[src[l]] : rec.units[src[kI]]);
        if (src[l] >= 0) std::copy(rec.lead(src[l]), rec.lead(src[l]) + t, out.lead(l));
    }
    if (!derived.empty()) {
        if (out.units[kI] != out.units[kII])
            throw std::invalid_argument("record " + rec.name + ": cannot derive limb leads from I (" + out.units[kI] +
                                        ") and II (" + out.units[kII] + ") in different units");
        const float* i = out.lead(kI);
        const float* ii = out.lead(kII);
        std::string s = "derived ";
        for (int l : derived) {
            float* y = out.lead(l);
            for (int64_t k = 0; k < t; ++k) {
                switch (l) {
                    case kIII:
                        y[k] = ii[k] - i[k];
                        break;
                    case kAVR:
                        y[k] = -0.5f * (i[k] + ii[k]);
                        break;
                    case kAVL:
                        y[k] = i[k] - 0.5f * ii[k];
                        break;
                    default:
                        y[k] = ii[k] - 0.5f * i[k];
                        break;  // aVF
                }
            }
            s += std::string(l == derived.front() ? "" : ", ") + kCanonicalLeads[l];
        }
        notes.push_back(s + " from I and II (Einthoven/Goldberger)");
    }
    if (mapping) mapping->notes = notes;
    return out;
}

}  // namespace diagecg
