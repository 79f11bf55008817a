// StoredEcg -> EcgRecord (mV, canonical lead order, derived limb leads), lead labels and the SCP lead table.
// Derivation: Einthoven III = II - I; Goldberger aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2.
#include "diagecg/ecg/stored-ecg.h"

#include <array>
#include <cctype>
#include <stdexcept>

#include "diagecg/ecg/lead-map.h"
#include "diagecg/util/byte-reader.h"

namespace diagecg {
namespace {

enum Lead { kI, kII, kIII, kAVR, kAVL, kAVF };

[[noreturn]] void fail(const std::string& where, const std::string& msg) {
    throw std::runtime_error(where + ": " + msg);
}

}  // namespace

std::string canonical_lead_label(std::string_view label) {
    const std::string s(trim_view(label));
    if (const auto idx = canonical_lead_index(s)) return kCanonicalLeads[*idx];
    // Other precordial positions: V7..V9, right-sided V1R..V9R.
    if (s.size() >= 2 && (s[0] == 'v' || s[0] == 'V')) {
        size_t i = 1;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
        const bool right = i + 1 == s.size() && (s[i] == 'r' || s[i] == 'R');
        if (i > 1 && (i == s.size() || right)) return "V" + s.substr(1, i - 1) + (right ? "R" : "");
    }
    return s;
}

std::optional<std::string> scp_lead_name(int code) {
    // EN 1064 lead identification table, codes 1-75 (0 = unspecified).
    static const std::array<const char*, 76> kNames = {
        nullptr, "I",    "II",   "V1",   "V2",   "V3",   "V4",   "V5",  "V6",    "V7",     "V2R",  "V3R",  "V4R",
        "V5R",   "V6R",  "V7R",  "X",    "Y",    "Z",    "CC5",  "CM5", "LA",    "RA",     "LL",   "fI",   "fE",
        "fC",    "fA",   "fM",   "fF",   "fH",   "dI",   "dII",  "dV1", "dV2",   "dV3",    "dV4",  "dV5",  "dV6",
        "dV7",   "dV2R", "dV3R", "dV4R", "dV5R", "dV6R", "dV7R", "dX",  "dY",    "dZ",     "dCC5", "dCM5", "dLA",
        "dRA",   "dLL",  "dfI",  "dfE",  "dfC",  "dfA",  "dfM",  "dfF", "dfH",   "III",    "aVR",  "aVL",  "aVF",
        "-aVR",  "V8",   "V9",   "V8R",  "V9R",  "D",    "A",    "J",   "Defib", "Extern", "A1"};
    if (code <= 0 || code >= static_cast<int>(kNames.size())) return std::nullopt;
    return std::string(kNames[static_cast<size_t>(code)]);
}

std::string latin1_to_utf8(std::string_view latin1) {
    std::string out;
    out.reserve(latin1.size());
    for (const char ch : latin1) {
        const auto c = static_cast<uint8_t>(ch);
        if (c < 0x80) {
            out += ch;
        } else {
            out += static_cast<char>(0xC0 | (c >> 6));
            out += static_cast<char>(0x80 | (c & 0x3F));
        }
    }
    return out;
}

EcgRecord to_ecg_record(const StoredEcg& stored, const std::string& record_name, const std::string& where) {
    if (stored.leads.empty()) fail(where, "no leads");
    if (!(stored.sample_rate_hz > 0))
        fail(where, "sampling rate " + std::to_string(stored.sample_rate_hz) + " Hz is not positive");
    const int64_t t = stored.n_samples();
    if (t <= 0) fail(where, "leads hold no samples");

    // Standard leads by canonical index, other leads in file order.
    std::array<int, kNumLeads> src;
    src.fill(-1);
    std::vector<int> others;
    for (size_t l = 0; l < stored.leads.size(); ++l) {
        const StoredLead& lead = stored.leads[l];
        if (static_cast<int64_t>(lead.samples.size()) != t)
            fail(where, "lead " + lead.name + " has " + std::to_string(lead.samples.size()) + " samples, lead " +
                            stored.leads[0].name + " has " + std::to_string(t));
        for (size_t k = 0; k < l; ++k)
            if (stored.leads[k].name == lead.name) fail(where, "lead " + lead.name + " appears twice");
        if (const auto idx = canonical_lead_index(lead.name)) {
            if (src[*idx] >= 0) fail(where, "lead " + lead.name + " appears twice");
            src[*idx] = static_cast<int>(l);
        } else {
            others.push_back(static_cast<int>(l));
        }
    }

    EcgRecord rec;
    rec.name = record_name;
    rec.format = stored.format;
    rec.sample_rate_hz = stored.sample_rate_hz;
    rec.n_samples = t;
    rec.patient = stored.patient;
    const bool derive = src[kI] >= 0 && src[kII] >= 0;
    std::vector<int> order;  // canonical index (>= 0) or -(file index + 1) for other leads
    for (int c = 0; c < kNumLeads; ++c)
        if (src[c] >= 0 || (derive && c >= kIII && c <= kAVF)) order.push_back(c);
    for (const int l : others) order.push_back(-(l + 1));
    rec.signal.assign(order.size() * static_cast<size_t>(t), 0.0f);

    auto scale = [&](int file_index, float* out) {
        const StoredLead& lead = stored.leads[static_cast<size_t>(file_index)];
        const double lsb_mv = lead.lsb_uv / 1000.0;
        for (int64_t i = 0; i < t; ++i)
            out[i] = static_cast<float>((lead.samples[static_cast<size_t>(i)] + lead.baseline) * lsb_mv);
    };
    for (size_t k = 0; k < order.size(); ++k) {
        const int c = order[k];
        rec.lead_names.push_back(c >= 0 ? kCanonicalLeads[c] : stored.leads[static_cast<size_t>(-c - 1)].name);
        rec.units.push_back("mV");
        if (c < 0)
            scale(-c - 1, rec.lead(static_cast<int64_t>(k)));
        else if (src[c] >= 0)
            scale(src[c], rec.lead(static_cast<int64_t>(k)));
    }
    if (derive) {
        std::vector<float> i_mv(static_cast<size_t>(t)), ii_mv(static_cast<size_t>(t));
        scale(src[kI], i_mv.data());
        scale(src[kII], ii_mv.data());
        for (int c = kIII; c <= kAVF; ++c) {
            if (src[c] >= 0) continue;
            float* out = rec.lead(c);  // I, II present, so canonical leads 0..5 sit at rows 0..5
            for (int64_t s = 0; s < t; ++s) {
                const float a = i_mv[static_cast<size_t>(s)], b = ii_mv[static_cast<size_t>(s)];
                out[s] = c == kIII ? b - a : c == kAVR ? -(a + b) / 2 : c == kAVL ? a - b / 2 : b - a / 2;
            }
        }
    }
    return rec;
}

}  // namespace diagecg
