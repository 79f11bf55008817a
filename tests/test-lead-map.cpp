#include <algorithm>
#include <cctype>

#include <gtest/gtest.h>

#include "diagecg/ecg/lead-map.h"

using namespace diagecg;

namespace {

// Each lead holds a constant equal to 10*(index in `names`) + 1 so we can see where it went.
EcgRecord make_record(const std::vector<std::string>& names, int64_t t = 20) {
    EcgRecord r;
    r.name = "test";
    r.sample_rate_hz = 500;
    r.n_samples = t;
    r.lead_names = names;
    r.units.assign(names.size(), "mV");
    r.signal.resize(names.size() * t);
    for (size_t l = 0; l < names.size(); ++l)
        for (int64_t k = 0; k < t; ++k) r.signal[l * t + k] = 10.0f * l + 1 + 0.01f * k;
    return r;
}

}  // namespace

TEST(LeadMap, Aliases) {
    EXPECT_EQ(canonical_lead_index("I"), 0);
    EXPECT_EQ(canonical_lead_index("MLII"), 1);
    EXPECT_EQ(canonical_lead_index("D3"), 2);
    EXPECT_EQ(canonical_lead_index("AVR"), 3);
    EXPECT_EQ(canonical_lead_index("avl"), 4);
    EXPECT_EQ(canonical_lead_index("aVF"), 5);
    EXPECT_EQ(canonical_lead_index("Lead V1"), 6);
    EXPECT_EQ(canonical_lead_index("v6"), 11);
    EXPECT_EQ(canonical_lead_index("lead i"), 0);
    EXPECT_EQ(canonical_lead_index("DI"), 0);
    EXPECT_EQ(canonical_lead_index("d1"), 0);
    EXPECT_EQ(canonical_lead_index("ECG I"), 0);    // EDF+ labels name the signal type first
    EXPECT_EQ(canonical_lead_index("EKG V2"), 7);
    EXPECT_EQ(canonical_lead_index("ECG aVF"), 5);
    EXPECT_FALSE(canonical_lead_index("ECG").has_value());
    EXPECT_EQ(canonical_lead_index("D2"), 1);
    EXPECT_EQ(canonical_lead_index("DII"), 1);
    EXPECT_EQ(canonical_lead_index("Lead-V2"), 7);
    EXPECT_EQ(canonical_lead_index("LEAD_aVF"), 5);
    EXPECT_EQ(canonical_lead_index("C3"), 8);
    EXPECT_EQ(canonical_lead_index("IV"), std::nullopt);
    EXPECT_EQ(canonical_lead_index("V7"), std::nullopt);
    EXPECT_EQ(canonical_lead_index("vy"), std::nullopt);
    EXPECT_EQ(canonical_lead_index("vz"), std::nullopt);
    EXPECT_EQ(canonical_lead_index("lead"), std::nullopt);
    EXPECT_EQ(canonical_lead_index("vx"), std::nullopt);
    EXPECT_EQ(canonical_lead_index("-aVR"), std::nullopt);  // Cabrera's inverted aVR is another signal
    EXPECT_EQ(canonical_lead_index(""), std::nullopt);
}

TEST(LeadMap, MuseOrderIsMappedByName) {
    // GE MUSE lists AVF, AVL, AVR; PTB-XL lists aVR, aVL, aVF.
    const auto rec = make_record({"I", "II", "III", "AVF", "AVL", "AVR", "V1", "V2", "V3", "V4", "V5", "V6"});
    const EcgRecord c = to_canonical_leads(rec);
    ASSERT_EQ(c.n_leads(), 12);
    EXPECT_EQ(c.lead_names[3], "aVR");
    EXPECT_FLOAT_EQ(c.lead(3)[0], 51.0f);  // was column 5
    EXPECT_FLOAT_EQ(c.lead(4)[0], 41.0f);  // aVL was column 4
    EXPECT_FLOAT_EQ(c.lead(5)[0], 31.0f);  // aVF was column 3
    EXPECT_FLOAT_EQ(c.lead(11)[19], 111.19f);
}

TEST(LeadMap, ExtraChannelsDroppedWithNote) {
    // PTB Diagnostic style: lower-case names plus Frank leads, here in a shuffled order.
    const std::vector<std::string> names = {"v1", "v2",  "v3", "vx",  "v4",  "v5",  "v6", "i",
                                            "ii", "iii", "vy", "avr", "avl", "avf", "vz"};
    auto rec = make_record(names);
    for (size_t l = 0; l < names.size(); ++l) rec.units[l] = "u" + names[l];
    LeadMapping m;
    const EcgRecord c = to_canonical_leads(rec, &m);
    ASSERT_EQ(c.n_leads(), 12);
    ASSERT_EQ(c.signal.size(), 12u * 20);
    for (int l = 0; l < 12; ++l) {
        EXPECT_EQ(c.lead_names[l], kCanonicalLeads[l]);
        // the source column of canonical lead l, found by lower-cased name
        std::string want = kCanonicalLeads[l];
        for (auto& ch : want) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        const size_t col = std::find(names.begin(), names.end(), want) - names.begin();
        ASSERT_LT(col, names.size());
        EXPECT_FLOAT_EQ(c.lead(l)[5], 10.0f * col + 1 + 0.05f) << kCanonicalLeads[l];
        EXPECT_EQ(c.units[l], "u" + want);  // units travel with their lead
    }
    ASSERT_EQ(m.notes.size(), 1u);
    EXPECT_NE(m.notes[0].find("vx vy vz"), std::string::npos) << m.notes[0];
}

TEST(LeadMap, DerivesLimbLeadsFromIAndII) {
    const auto rec = make_record({"V1", "V2", "V3", "V4", "V5", "V6", "I", "II"});
    LeadMapping m;
    const EcgRecord c = to_canonical_leads(rec, &m);
    const float i = c.lead(0)[7], ii = c.lead(1)[7];
    EXPECT_FLOAT_EQ(i, 61.07f);
    EXPECT_FLOAT_EQ(ii, 71.07f);
    EXPECT_FLOAT_EQ(c.lead(2)[7], ii - i);         // III
    EXPECT_FLOAT_EQ(c.lead(3)[7], -(i + ii) / 2);  // aVR
    EXPECT_FLOAT_EQ(c.lead(4)[7], i - ii / 2);     // aVL
    EXPECT_FLOAT_EQ(c.lead(5)[7], ii - i / 2);     // aVF
    ASSERT_EQ(m.notes.size(), 1u);
    EXPECT_EQ(m.notes[0], "derived III, aVR, aVL, aVF from I and II (Einthoven/Goldberger)");
}

TEST(LeadMap, DerivesOnlyTheMissingLimbLeads) {
    const auto rec = make_record({"I", "II", "III", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"});
    LeadMapping m;
    const EcgRecord c = to_canonical_leads(rec, &m);
    EXPECT_FLOAT_EQ(c.lead(2)[0], 21.0f);  // III as recorded (not II - I = 10)
    EXPECT_FLOAT_EQ(c.lead(5)[0], 31.0f);  // aVF as recorded
    EXPECT_FLOAT_EQ(c.lead(3)[0], -(1.0f + 11.0f) / 2);
    EXPECT_FLOAT_EQ(c.lead(4)[0], 1.0f - 11.0f / 2);
    ASSERT_EQ(m.notes.size(), 1u);
    EXPECT_EQ(m.notes[0].rfind("derived aVR, aVL from I and II", 0), 0u) << m.notes[0];

    auto mixed = make_record({"I", "II", "V1", "V2", "V3", "V4", "V5", "V6"});
    mixed.units[1] = "uV";
    EXPECT_THROW(to_canonical_leads(mixed), std::invalid_argument);
}

TEST(LeadMap, MissingAndDuplicateLeadsAreErrors) {
    try {
        to_canonical_leads(make_record({"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V4", "V5", "V6"}));
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("missing lead(s) V3;"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("the file has: I II III aVR aVL aVF V1 V2 V4 V5 V6"), std::string::npos)
            << e.what();
    }
    try {
        to_canonical_leads(make_record({"I", "II", "MLII", "V1", "V2", "V3", "V4", "V5", "V6"}));
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("lead II appears twice"), std::string::npos) << e.what();
    }
    try {  // without I nothing can be derived: every absent limb lead is named
        to_canonical_leads(make_record({"II", "V1", "V2", "V3", "V4", "V5", "V6"}));
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("missing lead(s) I III aVR aVL aVF;"), std::string::npos) << e.what();
    }
    auto bad = make_record({"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"});
    bad.units.pop_back();
    EXPECT_THROW(to_canonical_leads(bad), std::invalid_argument);
    bad = make_record({"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"});
    bad.signal.pop_back();
    EXPECT_THROW(to_canonical_leads(bad), std::invalid_argument);
}
