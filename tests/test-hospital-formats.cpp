// Hospital ECG formats: GE MUSE XML, Philips XML (XLI), HL7 aECG, DICOM waveform and SCP-ECG.
// 1. Every sample in ../shared/data/raw/formats equals its <name>.expected.csv (stored integers from
//    independent decoders) exactly; the aECG/SCP/DICOM triplet gives identical 12 x 5000 mV arrays;
//    muse-sinus.xml equals its WFDB twin. These skip when the shared data are absent.
// 2. Synthetic files built here (small encoders for SCP, DICOM, XLI, XML) always run: decoding paths the
//    samples do not cover (custom Huffman tables, first differences, units) and one clear error per bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "diagecg/ecg/aecg-reader.h"
#include "diagecg/ecg/dicom-reader.h"
#include "diagecg/ecg/ecg-preprocess.h"
#include "diagecg/ecg/lead-map.h"
#include "diagecg/ecg/muse-reader.h"
#include "diagecg/ecg/philips-reader.h"
#include "diagecg/ecg/read-ecg.h"
#include "diagecg/ecg/resample.h"
#include "diagecg/ecg/scp-reader.h"
#include "diagecg/ecg/wfdb-reader.h"
#include "diagecg/ecg/xli.h"
#include "diagecg/ecg/xml-ecg.h"
#include "diagecg/util/base64.h"
#include "diagecg/util/byte-reader.h"
#include "diagecg/util/checksum.h"
#include "test-util.h"

using namespace diagecg;
namespace fs = std::filesystem;

namespace {

std::string shared_data() {
#ifdef DIAGECG_SHARED_DATA
    return DIAGECG_SHARED_DATA;
#else
    return "";
#endif
}

std::string formats_dir() {
    return shared_data() + "/raw/formats";
}

#define REQUIRE_FORMATS()                                                                                           \
    if (shared_data().empty() || !fs::exists(formats_dir() + "/manifest.csv")) {                                    \
        GTEST_SKIP() << "shared data not available: define DIAGECG_SHARED_DATA as the folder holding raw/formats/"; \
    }

template <typename Fn>
void expect_error(Fn fn, const std::vector<std::string>& fragments) {
    try {
        fn();
        ADD_FAILURE() << "no exception; expected one mentioning \"" << fragments[0] << "\"";
    } catch (const std::runtime_error& e) {
        const std::string msg = e.what();
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
        for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "\"" << f << "\" not in: " << msg;
    }
}

std::vector<uint8_t> bytes_of(const std::string& s) {
    return {s.begin(), s.end()};
}

// ---- expected.csv comparison -------------------------------------------------------------------------

// Compares the stored integers with <name>.expected.csv: header "sample,<labels in file order>", rows of
// 0-based sample index and values. Returns the number of values compared.
size_t expect_matches_csv(const StoredEcg& s, const std::string& data_path) {
    const std::string csv = data_path.substr(0, data_path.rfind('.')) + ".expected.csv";
    std::ifstream in(csv);
    EXPECT_TRUE(in.good()) << csv;
    std::string line;
    std::getline(in, line);
    std::vector<std::string> labels;
    {
        std::stringstream ss(line);
        std::string x;
        std::getline(ss, x, ',');
        while (std::getline(ss, x, ',')) labels.push_back(x);
    }
    EXPECT_EQ(labels.size(), s.leads.size());
    if (labels.size() != s.leads.size()) return 0;
    for (size_t l = 0; l < labels.size(); ++l) EXPECT_EQ(s.leads[l].name, labels[l]) << "lead " << l;
    size_t compared = 0;
    while (std::getline(in, line)) {
        std::stringstream ss(line);
        std::string x;
        std::getline(ss, x, ',');
        const auto t = static_cast<size_t>(std::stol(x));
        for (size_t l = 0; std::getline(ss, x, ','); ++l) {
            EXPECT_LT(t, s.leads[l].samples.size());
            if (t >= s.leads[l].samples.size()) continue;
            EXPECT_EQ(s.leads[l].samples[t], std::stol(x)) << csv << " sample " << t << " lead " << labels[l];
            ++compared;
        }
    }
    return compared;
}

StoredEcg decode_file(const std::string& path) {
    const std::vector<uint8_t> b = read_file_bytes(path);
    const std::string ext = fs::path(path).extension().string();
    if (ext == ".dcm") return decode_dicom_ecg(b.data(), b.size(), path);
    if (ext == ".scp" || ext == ".SCP") return decode_scp_ecg(b.data(), b.size(), path);
    return decode_xml_ecg(b.data(), b.size(), path);
}

struct Sample {
    const char* file;
    const char* format;
    double rate_hz;
    size_t n_leads;
    int64_t n_samples;
    double lsb_uv;
    size_t n_compared;
};

void check_sample(const Sample& want) {
    const std::string path = formats_dir() + "/" + want.file;
    const StoredEcg s = decode_file(path);
    EXPECT_EQ(s.format, want.format);
    EXPECT_NEAR(s.sample_rate_hz, want.rate_hz, 0.01);
    EXPECT_EQ(s.leads.size(), want.n_leads);
    EXPECT_EQ(s.n_samples(), want.n_samples);
    for (const StoredLead& l : s.leads) EXPECT_DOUBLE_EQ(l.lsb_uv, want.lsb_uv) << l.name;
    EXPECT_EQ(expect_matches_csv(s, path), want.n_compared);
    // The record: 12 standard leads in canonical order (plus any others), mV.
    const EcgRecord rec = read_ecg(path);
    EXPECT_EQ(rec.format, want.format);
    ASSERT_GE(rec.n_leads(), 12);
    for (int c = 0; c < 6; ++c) EXPECT_EQ(rec.lead_names[static_cast<size_t>(c)], kCanonicalLeads[c]);
    EXPECT_EQ(rec.units[0], "mV");
    EXPECT_EQ(rec.n_samples, want.n_samples);
}

}  // namespace

// ---- the samples in ../shared/data/raw/formats -----------------------------------------------------------

TEST(HospitalFormats, MuseTutorialExample) {
    REQUIRE_FORMATS();
    check_sample({"muse-xml/MUSE_20200923_093504_79000_example.xml", "muse-xml", 500, 8, 5000, 4.88, 80});
    const StoredEcg s = decode_file(formats_dir() + "/muse-xml/MUSE_20200923_093504_79000_example.xml");
    EXPECT_EQ(s.patient.sex, "male");
    EXPECT_EQ(s.patient.age_years, 40.0);
    ASSERT_FALSE(s.patient.diagnoses.empty());
    EXPECT_EQ(s.patient.diagnoses[0], "Sinus bradycardia with sinus arrhythmia with 1st degree A-V block");
}

TEST(HospitalFormats, MuseEasyRecg) {
    REQUIRE_FORMATS();
    check_sample({"muse-xml/muse_ecg1.xml", "muse-xml", 500, 8, 5000, 4.88, 80});
    // easyRecg's README prints trunc(raw x 4.88) of its derived 12-lead matrix; row 0:
    // I II III aVR aVL aVF V1..V6 = 156 214 58 -185 48 136 68 204 390 312 165 126.
    const EcgRecord rec = read_ecg(formats_dir() + "/muse-xml/muse_ecg1.xml");
    const std::vector<int> row0 = {156, 214, 58, -185, 48, 136, 68, 204, 390, 312, 165, 126};
    for (int c = 0; c < 12; ++c)
        EXPECT_EQ(static_cast<int>(std::trunc(rec.lead(c)[0] * 1000.0)), row0[static_cast<size_t>(c)])
            << kCanonicalLeads[c];
}

TEST(HospitalFormats, PhilipsSierra103) {
    REQUIRE_FORMATS();
    check_sample({"philips-sierra-xml/129DYPRG.XML", "philips-xml", 500, 12, 5350, 5, 132});
    const StoredEcg s = decode_file(formats_dir() + "/philips-sierra-xml/129DYPRG.XML");
    ASSERT_FALSE(s.patient.diagnoses.empty());
    EXPECT_EQ(s.patient.diagnoses[0], "Sinus bradycardia (rate< 50)");
    EXPECT_EQ(s.patient.age_years, 50.0);
}

TEST(HospitalFormats, PhilipsUtf16Demo104) {
    REQUIRE_FORMATS();
    check_sample({"philips-sierra-xml/3191723_ZZDEMOPTONLY_1-04_orig.xml", "philips-xml", 500, 12, 5350, 5, 132});
}

TEST(HospitalFormats, PhilipsUtf16SaturatedV3) {
    REQUIRE_FORMATS();
    check_sample({"philips-sierra-xml/ad4d3d80-d165_1-04_orig.xml", "philips-xml", 500, 12, 5350, 5, 132});
}

TEST(HospitalFormats, PhilipsUtf16Version10401) {
    REQUIRE_FORMATS();
    check_sample({"philips-sierra-xml/2020-5-18_15-48-11.xml", "philips-xml", 500, 12, 5350, 5, 132});
}

TEST(HospitalFormats, HL7aEcgExample) {
    REQUIRE_FORMATS();
    check_sample({"hl7-aecg/Example_aECG.xml", "hl7-aecg", 500, 12, 5000, 2.5, 120});
    const StoredEcg s = decode_file(formats_dir() + "/hl7-aecg/Example_aECG.xml");
    EXPECT_EQ(s.patient.sex, "male");
    EXPECT_EQ(s.patient.age_years, 46.0);
    EXPECT_EQ(s.patient.diagnoses, std::vector<std::string>{"Sinus Rhythm"});
}

TEST(HospitalFormats, DicomPydicomWaveform) {
    REQUIRE_FORMATS();
    check_sample({"dicom-ecg/waveform_ecg.dcm", "dicom", 1000, 12, 10000, 1.25, 120});
    const StoredEcg s = decode_file(formats_dir() + "/dicom-ecg/waveform_ecg.dcm");
    // pydicom's test_waveform.py: multiplex 0, lead I scaled to uV = [100, 81.25, 62.5, 43.75, 46.25].
    const std::vector<double> scaled = {100, 81.25, 62.5, 43.75, 46.25};
    for (size_t i = 0; i < scaled.size(); ++i)
        EXPECT_DOUBLE_EQ((s.leads[0].samples[i] + s.leads[0].baseline) * s.leads[0].lsb_uv, scaled[i]);
    EXPECT_EQ(s.patient.sex, "female");
    EXPECT_EQ(s.patient.age_years, 42.0);
    EXPECT_EQ(s.patient.diagnoses, (std::vector<std::string>{"RITMO SINUSALE", "ECG NORMALE"}));
}

TEST(HospitalFormats, DicomImplicitVrExample) {
    REQUIRE_FORMATS();
    check_sample({"dicom-ecg/Example.dcm", "dicom", 500, 12, 5000, 2.5, 120});
}

TEST(HospitalFormats, ScpExample) {
    REQUIRE_FORMATS();
    check_sample({"scp-ecg/Example.scp", "scp-ecg", 500, 12, 5000, 2.5, 120});
}

TEST(HospitalFormats, ScpWelchAllynAdult) {
    REQUIRE_FORMATS();
    check_sample({"scp-ecg/ECG_20070321_110542_ANON000004.SCP", "scp-ecg", 1e6 / 1667, 8, 6000, 3.75, 80});
    const StoredEcg s = decode_file(formats_dir() + "/scp-ecg/ECG_20070321_110542_ANON000004.SCP");
    const std::vector<std::string> want = {"sinusrytm", "VK-hypertrofi"};
    ASSERT_GE(s.patient.diagnoses.size(), 2u);
    EXPECT_EQ(std::vector<std::string>(s.patient.diagnoses.begin(), s.patient.diagnoses.begin() + 2), want);
    EXPECT_NE(std::find(s.patient.diagnoses.begin(), s.patient.diagnoses.end(), "septal infarkt"),
              s.patient.diagnoses.end());
    EXPECT_FALSE(s.patient.sex);  // the anonymiser wrote 'R' for sex: ignored with a warning
}

TEST(HospitalFormats, ScpWelchAllynPaediatricLeads) {
    REQUIRE_FORMATS();
    check_sample({"scp-ecg/ECG_20060620_112352_ANON000002.SCP", "scp-ecg", 1e6 / 1667, 8, 6000, 3.75, 80});
    // I II V3R V1 V2 V4 V6 V7: the standard ones first (III, aVR, aVL, aVF derived), then V3R, V7 by name.
    const EcgRecord rec = read_ecg(formats_dir() + "/scp-ecg/ECG_20060620_112352_ANON000002.SCP");
    EXPECT_EQ(rec.lead_names,
              (std::vector<std::string>{"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V4", "V6", "V3R", "V7"}));
    // Latin-1 statements arrive as UTF-8.
    const StoredEcg s = decode_file(formats_dir() + "/scp-ecg/ECG_20060620_112352_ANON000002.SCP");
    EXPECT_NE(std::find(s.patient.diagnoses.begin(), s.patient.diagnoses.end(),
                        "varning: pediatriska kriterier m\xC3\xA5ste anv\xC3\xA4ndas med f\xC3\xB6rsiktighet i vuxna "
                        "\xC3\xA5ldersgrupper"),
              s.patient.diagnoses.end());
}

// 1667 us = 599.880024 Hz: the preprocessing chain resamples it to 12 x 5000 at 500 Hz (ratio 1667/2000).
TEST(HospitalFormats, ScpWelchAllyn600HzPreprocessesTo500Hz) {
    REQUIRE_FORMATS();
    const EcgRecord rec = read_ecg(formats_dir() + "/scp-ecg/ECG_20070321_110542_ANON000004.SCP");
    EXPECT_EQ(rec.n_leads(), 12);
    const PreprocessResult out = preprocess(rec);
    EXPECT_EQ(out.n_samples, 5000);
    EXPECT_EQ(out.signal.size(), 12u * 5000u);
}

TEST(HospitalFormats, ResampleScpIntervalRate) {
    const double in_hz = 1e6 / 1667, f_hz = 7.0;
    std::vector<float> x(6000);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(std::sin(2 * M_PI * f_hz * i / in_hz));
    const std::vector<float> y = resample(x, in_hz, 500.0);
    ASSERT_EQ(y.size(), 5001u);  // 6000 x 1667 / 2000
    for (size_t m = 100; m < 4900; m += 37) EXPECT_NEAR(y[m], std::sin(2 * M_PI * f_hz * m / 500.0), 2e-3) << m;
}

TEST(HospitalFormats, ScpWelchAllynSlowSinus) {
    REQUIRE_FORMATS();
    check_sample({"scp-ecg/ECG_20170504_163507_ANON000009.SCP", "scp-ecg", 1e6 / 1667, 8, 6000, 3.75, 80});
}

// aECG digits = SCP decoded = DICOM raw for all 12 x 5000 samples, hence identical mV arrays.
TEST(HospitalFormats, TripletAecgScpDicomIdentical) {
    REQUIRE_FORMATS();
    const EcgRecord a = read_ecg(formats_dir() + "/hl7-aecg/Example_aECG.xml");
    const EcgRecord s = read_ecg(formats_dir() + "/scp-ecg/Example.scp");
    const EcgRecord d = read_ecg(formats_dir() + "/dicom-ecg/Example.dcm");
    for (const EcgRecord* r : {&a, &s, &d}) {
        ASSERT_EQ(r->n_leads(), 12);
        ASSERT_EQ(r->n_samples, 5000);
        EXPECT_EQ(r->sample_rate_hz, 500.0);
        EXPECT_EQ(r->lead_names, standard_12_lead_names());
    }
    EXPECT_EQ(a.signal, s.signal);
    EXPECT_EQ(a.signal, d.signal);
    // III = II - I exactly in the stored integers.
    const StoredEcg st = decode_file(formats_dir() + "/scp-ecg/Example.scp");
    for (size_t t = 0; t < 5000; ++t)
        ASSERT_EQ(st.leads[8].samples[t], st.leads[1].samples[t] - st.leads[0].samples[t]);
}

// muse-sinus.xml against its WFDB twin (raw/muse/muse-sinus.hea/.dat, made by the R package EGM). The twin
// stores round(raw x 4.88), i.e. microvolts, but its header says 200 adu/mV (it should say 1000), so the twin's
// physical values are 5x too large: compare its stored integers (physical x 200) with ours in uV.
TEST(HospitalFormats, MuseSinusEqualsWfdbTwin) {
    REQUIRE_FORMATS();
    const std::string dir = shared_data() + "/raw/muse/";
    const EcgRecord muse = read_ecg(dir + "muse-sinus.xml");
    const EcgRecord twin = read_wfdb(dir + "muse-sinus.hea");
    ASSERT_EQ(muse.n_samples, twin.n_samples);
    ASSERT_EQ(muse.n_leads(), 12);
    for (int64_t l = 0; l < twin.n_leads(); ++l) {
        const auto c = canonical_lead_index(twin.lead_names[static_cast<size_t>(l)]);
        ASSERT_TRUE(c) << twin.lead_names[static_cast<size_t>(l)];
        double max_diff_uv = 0;
        for (int64_t t = 0; t < twin.n_samples; ++t)
            max_diff_uv = std::max(max_diff_uv, std::fabs(muse.lead(*c)[t] * 1000.0 - twin.lead(l)[t] * 200.0));
        EXPECT_LE(max_diff_uv, 1.0) << kCanonicalLeads[*c];  // one LSB of the twin (1 uV); MUSE's LSB is 4.88 uV
    }
}

// ---- small encoders for synthetic files ----------------------------------------------------------------

namespace {

void put16(std::vector<uint8_t>& b, uint32_t v) {
    b.push_back(static_cast<uint8_t>(v));
    b.push_back(static_cast<uint8_t>(v >> 8));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
    put16(b, v & 0xFFFFu);
    put16(b, v >> 16);
}

// MSB-first bit packing (SCP Huffman streams, XLI LZW codes).
struct BitWriter {
    std::vector<uint8_t> bytes;
    int n_bits = 0;
    void put(uint64_t value, int bits) {
        for (int k = bits - 1; k >= 0; --k) {
            if (n_bits % 8 == 0) bytes.push_back(0);
            if ((value >> k) & 1u) bytes.back() |= static_cast<uint8_t>(0x80u >> (n_bits % 8));
            ++n_bits;
        }
    }
};

// SCP-ECG default Huffman table: 0 -> "0"; |v| <= 8 -> |v| ones, 0, sign; else 8- or 16-bit literals.
void huffman_default(BitWriter& w, int v) {
    const int a = std::abs(v);
    if (v == 0)
        w.put(0, 1);
    else if (a <= 8)
        w.put((((1u << a) - 1) << 2) | (v < 0 ? 1u : 0u), a + 2);
    else if (v >= -128 && v <= 127)
        w.put((0x3FEu << 8) | (static_cast<uint32_t>(v) & 0xFFu), 18);
    else
        w.put((0x3FFull << 16) | (static_cast<uint32_t>(v) & 0xFFFFu), 26);
}

std::vector<int> differences(const std::vector<int>& x, int order) {
    std::vector<int> d = x;
    for (size_t i = 0; i < x.size(); ++i) {
        if (order == 1 && i >= 1) d[i] = x[i] - x[i - 1];
        if (order == 2 && i >= 2) d[i] = x[i] - 2 * x[i - 1] + x[i - 2];
    }
    return d;
}

// An SCP-ECG file from section payloads (without headers); CRCs filled in.
struct ScpFile {
    std::map<int, std::vector<uint8_t>> sections;

    std::vector<uint8_t> build() const {
        std::map<int, std::vector<uint8_t>> all = sections;
        const size_t s0_len = 16 + 10 * 12;
        std::vector<uint8_t> s0;
        size_t index = 6 + s0_len + 1;  // 1-based
        for (int id = 0; id < 12; ++id) {
            put16(s0, static_cast<uint32_t>(id));
            const auto it = all.find(id);
            const size_t len = id == 0 ? s0_len : it == all.end() ? 0 : 16 + it->second.size();
            put32(s0, static_cast<uint32_t>(len));
            put32(s0, id == 0 ? 7u : len == 0 ? 0u : static_cast<uint32_t>(index));
            if (id != 0) index += len;
        }
        all[0] = s0;
        std::vector<uint8_t> file(6, 0);
        for (const auto& [id, payload] : all) {
            std::vector<uint8_t> sec(2, 0);
            put16(sec, static_cast<uint32_t>(id));
            put32(sec, static_cast<uint32_t>(16 + payload.size()));
            sec.push_back(20);
            sec.push_back(20);
            const char* reserved = id == 0 ? "SCPECG" : "\0\0\0\0\0\0";
            sec.insert(sec.end(), reserved, reserved + 6);
            sec.insert(sec.end(), payload.begin(), payload.end());
            const uint16_t crc = crc_ccitt(sec.data() + 2, sec.size() - 2);
            sec[0] = static_cast<uint8_t>(crc);
            sec[1] = static_cast<uint8_t>(crc >> 8);
            file.insert(file.end(), sec.begin(), sec.end());
        }
        std::vector<uint8_t> len;
        put32(len, static_cast<uint32_t>(file.size()));
        std::copy(len.begin(), len.end(), file.begin() + 2);
        const uint16_t crc = crc_ccitt(file.data() + 2, file.size() - 2);
        file[0] = static_cast<uint8_t>(crc);
        file[1] = static_cast<uint8_t>(crc >> 8);
        return file;
    }
};

// Section 3 + 6 (+ 2 = default table) for leads of equal length with the default Huffman code.
ScpFile scp_with_leads(const std::vector<std::pair<int, std::vector<int>>>& leads, int diff, uint16_t avm_nv,
                       uint16_t interval_us) {
    ScpFile f;
    std::vector<uint8_t> s2;
    put16(s2, 19999);
    f.sections[2] = s2;
    std::vector<uint8_t> s3 = {static_cast<uint8_t>(leads.size()), 0x04};
    std::vector<uint8_t> s6;
    put16(s6, avm_nv);
    put16(s6, interval_us);
    s6.push_back(static_cast<uint8_t>(diff));
    s6.push_back(0);
    std::vector<uint8_t> data;
    for (const auto& [id, x] : leads) {
        put32(s3, 1);
        put32(s3, static_cast<uint32_t>(x.size()));
        s3.push_back(static_cast<uint8_t>(id));
        BitWriter w;
        for (int d : differences(x, diff)) huffman_default(w, d);
        put16(s6, static_cast<uint32_t>(w.bytes.size()));
        data.insert(data.end(), w.bytes.begin(), w.bytes.end());
    }
    s6.insert(s6.end(), data.begin(), data.end());
    f.sections[3] = s3;
    f.sections[6] = s6;
    return f;
}

// One XLI chunk holding int16 samples y (LZW with literal codes only, then the predictor inverted).
std::vector<uint8_t> xli_chunk(const std::vector<int16_t>& y) {
    const size_t n = y.size();
    auto r = [&](size_t k) { return 2 * y[k - 1] - y[k - 2] - y[k]; };  // residual of sample k >= 2
    std::vector<int> v(n, 0);
    v[0] = y[0];
    v[1] = y[1];
    for (size_t j = 2; j + 1 < n; ++j) v[j] = r(j + 1) + 64;
    std::vector<uint8_t> planes(2 * n);
    for (size_t i = 0; i < n; ++i) {
        planes[i] = static_cast<uint8_t>(static_cast<uint16_t>(v[i]) >> 8);
        planes[n + i] = static_cast<uint8_t>(v[i] & 0xFF);
    }
    BitWriter w;
    for (uint8_t b : planes) w.put(b, 10);
    w.put(1023, 10);
    std::vector<uint8_t> chunk;
    put32(chunk, static_cast<uint32_t>(w.bytes.size()));
    put16(chunk, 0);
    put16(chunk, static_cast<uint16_t>(static_cast<int16_t>(r(2))));
    chunk.insert(chunk.end(), w.bytes.begin(), w.bytes.end());
    return chunk;
}

std::string base64_encode(const std::vector<uint8_t>& b) {
    const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (size_t i = 0; i < b.size(); i += 3) {
        const uint32_t v = (uint32_t{b[i]} << 16) | (i + 1 < b.size() ? uint32_t{b[i + 1]} << 8 : 0) |
                           (i + 2 < b.size() ? b[i + 2] : 0);
        out += a[(v >> 18) & 63];
        out += a[(v >> 12) & 63];
        out += i + 1 < b.size() ? a[(v >> 6) & 63] : '=';
        out += i + 2 < b.size() ? a[v & 63] : '=';
        if (out.size() % 77 == 76) out += "\n";
    }
    return out;
}

std::vector<uint8_t> int16_bytes(const std::vector<int16_t>& v) {
    std::vector<uint8_t> b;
    for (int16_t x : v) put16(b, static_cast<uint16_t>(x));
    return b;
}

// A MUSE XML file with a Median and a Rhythm waveform of leads I and II.
std::string muse_xml(const std::vector<int16_t>& lead_i, const std::vector<int16_t>& lead_ii,
                     const std::string& crc_override = "", const std::string& doctype = "",
                     const std::string& statement = "Normal sinus rhythm") {
    auto lead = [&](const char* id, const std::vector<int16_t>& v) {
        const auto b = int16_bytes(v);
        return "<LeadData><LeadByteCountTotal>" + std::to_string(b.size()) + "</LeadByteCountTotal>" +
               "<LeadSampleCountTotal>" + std::to_string(v.size()) + "</LeadSampleCountTotal>" +
               "<LeadAmplitudeUnitsPerBit>4.88</LeadAmplitudeUnitsPerBit><LeadAmplitudeUnits>MICROVOLTS" +
               "</LeadAmplitudeUnits><LeadID>" + id + "</LeadID><LeadDataCRC32>" +
               (crc_override.empty() ? std::to_string(crc32(b.data(), b.size())) : crc_override) +
               "</LeadDataCRC32><WaveFormData>" + base64_encode(b) + "</WaveFormData></LeadData>";
    };
    const std::string median = "<Waveform><WaveformType>Median</WaveformType><SampleBase>500</SampleBase>" +
                               lead("I", {1, 2}) + lead("II", {3, 4}) + "</Waveform>";
    return "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n" + doctype +
           "<RestingECG><PatientDemographics><PatientAge>7</PatientAge><AgeUnits>MONTHS</AgeUnits>"
           "<Gender>FEMALE</Gender></PatientDemographics><Diagnosis><DiagnosisStatement><StmtText>" +
           statement + "</StmtText><StmtFlag>ENDSLINE</StmtFlag></DiagnosisStatement></Diagnosis>" + median +
           "<Waveform><WaveformType>Rhythm</WaveformType><SampleBase>500</SampleBase><SampleExponent>0"
           "</SampleExponent>" +
           lead("I", lead_i) + lead("II", lead_ii) + "</Waveform></RestingECG>";
}

// A Philips 1.04 XML file with 12 leads of XLI chunks (stored values, residuals for III..aVF).
std::string philips_xml(const std::vector<std::vector<int16_t>>& stored, int duration_ms, const std::string& b64 = "") {
    std::vector<uint8_t> data;
    for (const auto& lead : stored) {
        const auto c = xli_chunk(lead);
        data.insert(data.end(), c.begin(), c.end());
    }
    return "<?xml version=\"1.0\" encoding=\"utf-16\"?><restingecgdata><documentinfo><documenttype>PhilipsECG"
           "</documenttype><documentversion>1.04</documentversion></documentinfo><dataacquisition date=\"2020-01-02\">"
           "<signalcharacteristics><samplingrate>500</samplingrate><signalresolution>5</signalresolution>"
           "</signalcharacteristics></dataacquisition><patient><generalpatientdata><age><years>63</years></age>"
           "<sex>Male</sex></generalpatientdata></patient><interpretations><interpretation><statement>"
           "<leftstatement>Sinus rhythm</leftstatement><rightstatement></rightstatement></statement></interpretation>"
           "</interpretations><waveforms><parsedwaveforms dataencoding=\"Base64\" compression=\"XLI\" "
           "numberofleads=\"12\" leadlabels=\"I II III aVR aVL aVF V1 V2 V3 V4 V5 V6\" durationperchannel=\"" +
           std::to_string(duration_ms) + "\">" + (b64.empty() ? base64_encode(data) : b64) +
           "</parsedwaveforms></waveforms></restingecgdata>";
}

std::string utf16le_with_bom(const std::string& ascii) {
    std::string out = "\xFF\xFE";
    for (char c : ascii) out += std::string{c, '\0'};
    return out;
}

std::string aecg_xml(const std::string& digits_i,
                     const std::string& increment = "<increment value=\"0.004\" unit=\"s\"/>") {
    auto seq = [](const char* code, const std::string& digits) {
        return std::string("<component><sequence><code code=\"") + code +
               "\"/><value xsi:type=\"SLIST_PQ\"><origin value=\"10\" unit=\"uV\"/><scale value=\"0.005\" unit=\"mV\"/>"
               "<digits>" +
               digits + "</digits></value></sequence></component>";
    };
    return "<AnnotatedECG xmlns=\"urn:hl7-org:v3\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
           "<component><series><code code=\"RHYTHM\"/><component><sequenceSet><component><sequence>"
           "<code code=\"TIME_ABSOLUTE\"/><value xsi:type=\"GLIST_TS\">" +
           increment + "</value></sequence></component>" + seq("MDC_ECG_LEAD_I", digits_i) +
           seq("MDC_ECG_LEAD_V3R", "4 5 6") + "</sequenceSet></component></series></component></AnnotatedECG>";
}

// Explicit VR little endian DICOM writer (enough for a waveform object).
struct DicomWriter {
    std::vector<uint8_t> b = std::vector<uint8_t>(128, 0);
    DicomWriter() { b.insert(b.end(), {'D', 'I', 'C', 'M'}); }
    void header(uint16_t g, uint16_t e, const char* vr, uint32_t len) {
        put16(b, g);
        put16(b, e);
        b.push_back(static_cast<uint8_t>(vr[0]));
        b.push_back(static_cast<uint8_t>(vr[1]));
        const std::string v = vr;
        if (v == "OB" || v == "OW" || v == "SQ" || v == "UN" || v == "UT") {
            put16(b, 0);
            put32(b, len);
        } else {
            put16(b, len);
        }
    }
    void str(uint16_t g, uint16_t e, const char* vr, std::string s) {
        if (s.size() % 2) s += std::string(vr) == "UI" ? '\0' : ' ';
        header(g, e, vr, static_cast<uint32_t>(s.size()));
        b.insert(b.end(), s.begin(), s.end());
    }
    void us(uint16_t g, uint16_t e, uint16_t v) { header(g, e, "US", 2), put16(b, v); }
    void ul(uint16_t g, uint16_t e, uint32_t v) { header(g, e, "UL", 4), put32(b, v); }
    void seq(uint16_t g, uint16_t e) { header(g, e, "SQ", 0xFFFFFFFFu); }
    void item() { put16(b, 0xFFFE), put16(b, 0xE000), put32(b, 0xFFFFFFFFu); }
    void item_end() { put16(b, 0xFFFE), put16(b, 0xE00D), put32(b, 0); }
    void seq_end() { put16(b, 0xFFFE), put16(b, 0xE0DD), put32(b, 0); }
    void ow(uint16_t g, uint16_t e, const std::vector<uint8_t>& v) {
        header(g, e, "OW", static_cast<uint32_t>(v.size()));
        b.insert(b.end(), v.begin(), v.end());
    }
};

// Two channels (SCPECG lead 1 = I, lead 11 = V3R), 4 samples at 250 Hz, sensitivity 0.5 mV x correction 2, baseline 1.
std::vector<uint8_t> dicom_waveform(const std::string& syntax = "1.2.840.10008.1.2.1") {
    DicomWriter w;
    w.str(0x0002, 0x0010, "UI", syntax);
    w.str(0x0010, 0x0040, "CS", "F");
    w.str(0x0010, 0x1010, "AS", "030Y");
    w.seq(0x5400, 0x0100);
    w.item();
    w.us(0x003A, 0x0005, 2);
    w.ul(0x003A, 0x0010, 4);
    w.str(0x003A, 0x001A, "DS", "250");
    w.str(0x003A, 0x0020, "SH", "RHYTHM");
    w.seq(0x003A, 0x0200);
    for (const char* lead : {"5.6.3-9-1", "5.6.3-9-11"}) {
        w.item();
        w.seq(0x003A, 0x0208);
        w.item();
        w.str(0x0008, 0x0100, "SH", lead);
        w.str(0x0008, 0x0102, "SH", "SCPECG");
        w.item_end();
        w.seq_end();
        w.str(0x003A, 0x0210, "DS", "0.5");
        w.seq(0x003A, 0x0211);
        w.item();
        w.str(0x0008, 0x0100, "SH", "mV");
        w.item_end();
        w.seq_end();
        w.str(0x003A, 0x0212, "DS", "2");
        w.str(0x003A, 0x0213, "DS", "1");
        w.item_end();
    }
    w.seq_end();
    w.us(0x5400, 0x1004, 16);
    w.str(0x5400, 0x1006, "CS", "SS");
    w.ow(0x5400, 0x1010, int16_bytes({10, -10, 11, -11, 12, -12, 13, -13}));
    w.item_end();
    w.seq_end();
    return w.b;
}

}  // namespace

// ---- SCP-ECG: synthetic files ------------------------------------------------------------------------------

TEST(HospitalFormats, ScpFirstDifferenceDefaultTable) {
    const std::vector<int> i = {0, 5, -3, 200, -3000, 40, 40}, ii = {7, 7, 8, 9, 10, 11, 12};
    ScpFile f = scp_with_leads({{1, i}, {2, ii}}, 1, 5000, 4000);
    std::vector<uint8_t> s8 = {0, 0xD0, 0x07, 1, 2, 3, 4, 5, 1, 1};
    const std::string text = "f\xF6rmaksflimmer";  // Latin-1
    put16(s8, static_cast<uint32_t>(text.size() + 1));
    s8.insert(s8.end(), text.begin(), text.end());
    s8.push_back(0);
    f.sections[8] = s8;
    const auto b = f.build();
    ASSERT_TRUE(looks_like_scp(b.data(), b.size()));
    const StoredEcg s = decode_scp_ecg(b.data(), b.size(), "x.scp");
    ASSERT_EQ(s.leads.size(), 2u);
    EXPECT_EQ(s.leads[0].samples, std::vector<int32_t>(i.begin(), i.end()));
    EXPECT_EQ(s.leads[1].samples, std::vector<int32_t>(ii.begin(), ii.end()));
    EXPECT_EQ(s.sample_rate_hz, 250.0);
    EXPECT_EQ(s.leads[0].lsb_uv, 5.0);
    EXPECT_EQ(s.patient.diagnoses, std::vector<std::string>{"f\xC3\xB6rmaksflimmer"});
    const EcgRecord rec = to_ecg_record(s, "x", "x.scp");
    ASSERT_EQ(rec.n_leads(), 6);  // I, II, derived III, aVR, aVL, aVF
    EXPECT_FLOAT_EQ(rec.lead(2)[3], (9 - 200) * 0.005f);
}

TEST(HospitalFormats, ScpSecondDifferenceAndPlainInt16) {
    const std::vector<int> x = {3, -4, 100, 90, 80, -500, 12};
    ScpFile f = scp_with_leads({{61, x}}, 2, 2500, 2000);
    auto b = f.build();
    EXPECT_EQ(decode_scp_ecg(b.data(), b.size(), "x").leads[0].samples, std::vector<int32_t>(x.begin(), x.end()));
    EXPECT_EQ(decode_scp_ecg(b.data(), b.size(), "x").leads[0].name, "III");
    // Without section 2 the data are plain int16.
    f.sections.erase(2);
    std::vector<uint8_t>& s6 = f.sections[6];
    s6.resize(6);
    s6[4] = 0;
    put16(s6, static_cast<uint32_t>(2 * x.size()));
    for (int v : x) put16(s6, static_cast<uint16_t>(v));
    b = f.build();
    EXPECT_EQ(decode_scp_ecg(b.data(), b.size(), "x").leads[0].samples, std::vector<int32_t>(x.begin(), x.end()));
}

TEST(HospitalFormats, ScpCustomHuffmanTablesWithSwitch) {
    // Table 1: "0" -> 0, "10" -> +1, "11" -> switch to table 2. Table 2: "0" + 8 bits -> value, "1" -> back to 1.
    // Base codes are bit-reversed: "10" (1 then 0) is stored as 0b01.
    ScpFile f = scp_with_leads({{1, {0}}}, 0, 1000, 2000);
    std::vector<uint8_t> s2;
    put16(s2, 2);
    auto code = [&](int prefix, int total, int mode, int value, uint32_t base) {
        s2.insert(s2.end(), {static_cast<uint8_t>(prefix), static_cast<uint8_t>(total), static_cast<uint8_t>(mode)});
        put16(s2, static_cast<uint16_t>(value));
        put32(s2, base);
    };
    put16(s2, 3);
    code(1, 1, 1, 0, 0);
    code(2, 2, 1, 1, 1);
    code(2, 2, 0, 2, 3);
    put16(s2, 2);
    code(1, 9, 1, 0, 0);
    code(1, 1, 0, 1, 1);
    f.sections[2] = s2;
    BitWriter w;
    w.put(0b0, 1), w.put(0b10, 2), w.put(0b10, 2), w.put(0b11, 2), w.put(0, 1), w.put(0xFB, 8), w.put(1, 1),
        w.put(0, 1);
    std::vector<uint8_t> s3 = {1, 0};
    put32(s3, 1), put32(s3, 5), s3.push_back(1);
    std::vector<uint8_t> s6;
    put16(s6, 1000), put16(s6, 2000), s6.push_back(0), s6.push_back(0),
        put16(s6, static_cast<uint32_t>(w.bytes.size()));
    s6.insert(s6.end(), w.bytes.begin(), w.bytes.end());
    f.sections[3] = s3;
    f.sections[6] = s6;
    auto b = f.build();
    EXPECT_EQ(decode_scp_ecg(b.data(), b.size(), "x").leads[0].samples, (std::vector<int32_t>{0, 1, 1, -5, 0}));

    // An incomplete table: bits that match no code end with a clear error, not a loop.
    s2.clear();
    put16(s2, 1), put16(s2, 1);
    code(2, 2, 1, 7, 3);
    f.sections[2] = s2;
    b = f.build();
    expect_error([&] { decode_scp_ecg(b.data(), b.size(), "x.scp"); }, {"x.scp", "match no code of Huffman table 1"});
}

TEST(HospitalFormats, ScpBadInput) {
    const auto good = scp_with_leads({{1, {1, 2, 3, 4}}, {2, {5, 6, 7, 8}}}, 1, 5000, 2000).build();
    ASSERT_NO_THROW(decode_scp_ecg(good.data(), good.size(), "x"));
    auto b = good;
    b[b.size() - 1] ^= 0x40;  // a data byte of section 6
    expect_error([&] { decode_scp_ecg(b.data(), b.size(), "x.scp"); }, {"x.scp", "file CRC-CCITT mismatch"});
    b = good;
    b[6 + 16 + 1] ^= 1;  // inside section 0, file CRC refreshed: the section CRC must catch it
    {
        const uint16_t crc = crc_ccitt(b.data() + 2, b.size() - 2);
        b[0] = static_cast<uint8_t>(crc), b[1] = static_cast<uint8_t>(crc >> 8);
    }
    expect_error([&] { decode_scp_ecg(b.data(), b.size(), "x.scp"); }, {"section 0 CRC-CCITT mismatch"});
    b.assign(good.begin(), good.begin() + static_cast<long>(good.size() / 2));
    expect_error([&] { decode_scp_ecg(b.data(), b.size(), "x.scp"); }, {"file length field says", "truncated"});

    ScpFile f = scp_with_leads({{1, {1, 2, 3, 4}}}, 0, 5000, 2000);
    f.sections[3][1] = 0x05;  // reference beat subtraction
    b = f.build();
    expect_error([&] { decode_scp_ecg(b.data(), b.size(), "x.scp"); }, {"reference beat subtraction", "not supported"});
    f = scp_with_leads({{1, {1, 2, 3, 4}}}, 0, 5000, 2000);
    f.sections[6][5] = 1;  // bimodal compression
    b = f.build();
    expect_error([&] { decode_scp_ecg(b.data(), b.size(), "x.scp"); }, {"bimodal compression", "not supported"});
    f = scp_with_leads({{1, {1, 2, 3, 4}}}, 0, 5000, 2000);
    f.sections[6][6] = 200;  // lead byte count past the end of section 6
    b = f.build();
    expect_error([&] { decode_scp_ecg(b.data(), b.size(), "x.scp"); }, {"lead I", "run past the end of section 6"});
    f = scp_with_leads({{1, {1, 2, 3, 4}}}, 0, 5000, 2000);
    f.sections[3][6] = 20;  // last sample 20, but 18 bits code 4 samples and the 6 padding bits 6 zeros
    b = f.build();
    expect_error([&] { decode_scp_ecg(b.data(), b.size(), "x.scp"); }, {"Huffman data end after 10 of 20 samples"});
    // A pointer past the end of the file (CRCs refreshed so that the pointer is what fails).
    b = scp_with_leads({{1, {1, 2, 3, 4}}}, 0, 5000, 2000).build();
    const size_t ptr6 = 6 + 16 + 6 * 10 + 6;  // index field of the section-6 pointer
    b[ptr6 + 1] = 0x7F;
    for (size_t off : {size_t{6}, size_t{0}}) {
        const size_t end = off == 0 ? b.size() : 6 + 16 + 120;
        const uint16_t crc = crc_ccitt(b.data() + off + 2, end - off - 2);
        b[off] = static_cast<uint8_t>(crc), b[off + 1] = static_cast<uint8_t>(crc >> 8);
    }
    expect_error([&] { decode_scp_ecg(b.data(), b.size(), "x.scp"); }, {"section 6 at byte", "runs past the end"});
}

TEST(HospitalFormats, ScpMalformedSection1OnlyWarns) {
    ScpFile f = scp_with_leads({{1, {1, 2, 3}}}, 0, 5000, 2000);
    // Tag 8 (sex) = 'R', tag 4 (age) of 999 years, then tag 30 claiming 500 bytes: all ignored with warnings.
    f.sections[1] = {8, 1, 0, 'R', 4, 3, 0, 0xE7, 0x03, 1, 30, 0xF4, 0x01, 'x'};
    const auto b = f.build();
    const StoredEcg s = decode_scp_ecg(b.data(), b.size(), "x.scp");
    EXPECT_EQ(s.leads[0].samples, (std::vector<int32_t>{1, 2, 3}));
    EXPECT_FALSE(s.patient.sex);
    EXPECT_FALSE(s.patient.age_years);
}

// ---- DICOM: synthetic files --------------------------------------------------------------------------------

TEST(HospitalFormats, DicomSyntheticChannelsUnitsBaseline) {
    const auto b = dicom_waveform();
    ASSERT_TRUE(looks_like_dicom(b.data(), b.size()));
    const StoredEcg s = decode_dicom_ecg(b.data(), b.size(), "x.dcm");
    ASSERT_EQ(s.leads.size(), 2u);
    EXPECT_EQ(s.leads[0].name, "I");
    EXPECT_EQ(s.leads[1].name, "V3R");
    EXPECT_EQ(s.leads[0].samples, (std::vector<int32_t>{10, 11, 12, 13}));
    EXPECT_EQ(s.leads[1].samples, (std::vector<int32_t>{-10, -11, -12, -13}));
    EXPECT_EQ(s.leads[0].lsb_uv, 1000.0);  // 0.5 mV x 2
    EXPECT_EQ(s.leads[0].baseline, 1.0);
    EXPECT_EQ(s.sample_rate_hz, 250.0);
    EXPECT_EQ(s.patient.sex, "female");
    EXPECT_EQ(s.patient.age_years, 30.0);
    const EcgRecord rec = to_ecg_record(s, "x", "x.dcm");
    EXPECT_EQ(rec.lead_names, (std::vector<std::string>{"I", "V3R"}));
    EXPECT_FLOAT_EQ(rec.lead(0)[0], 11.0f);  // (10 + 1) x 1 mV
}

TEST(HospitalFormats, DicomBadInput) {
    const auto good = dicom_waveform();
    auto b = good;
    b.resize(b.size() - 16 - 5);  // no delimiters, and Waveform Data 5 bytes shorter than its length says
    expect_error([&] { decode_dicom_ecg(b.data(), b.size(), "x.dcm"); }, {"x.dcm", "(5400,1010)", "runs past the end"});
    b.assign(good.begin(), good.begin() + 300);
    expect_error([&] { decode_dicom_ecg(b.data(), b.size(), "x.dcm"); }, {"x.dcm"});
    b = dicom_waveform("1.2.840.10008.1.2.2");
    expect_error([&] { decode_dicom_ecg(b.data(), b.size(), "x.dcm"); }, {"1.2.840.10008.1.2.2", "not supported"});
    const std::vector<uint8_t> junk(500, 0x41);
    expect_error([&] { decode_dicom_ecg(junk.data(), junk.size(), "x.dcm"); }, {"no \"DICM\""});

    // Undefined-length sequences and items nested 1000 deep: refused at depth 17, no stack overflow.
    DicomWriter w;
    w.str(0x0002, 0x0010, "UI", "1.2.840.10008.1.2.1");
    for (int d = 0; d < 1000; ++d) w.seq(0x0009, 0x1010), w.item();
    expect_error([&] { decode_dicom_ecg(w.b.data(), w.b.size(), "deep.dcm"); }, {"deep.dcm", "nests deeper than 16"});
    // A valid tree without a waveform.
    DicomWriter empty;
    empty.str(0x0002, 0x0010, "UI", "1.2.840.10008.1.2.1");
    empty.str(0x0010, 0x0040, "CS", "M");
    expect_error([&] { decode_dicom_ecg(empty.b.data(), empty.b.size(), "x.dcm"); }, {"no Waveform Sequence"});
}

// ---- XLI and Philips: synthetic files ----------------------------------------------------------------------

TEST(HospitalFormats, XliRoundTripAndBadStreams) {
    const std::vector<int16_t> y = {5, -7, 300, 299, -1200, 0, 42, 42, 43, -32768, 32767, 9};
    auto chunk = xli_chunk(y);
    auto two = chunk;
    two.insert(two.end(), chunk.begin(), chunk.end());
    const auto leads = xli_decode(two.data(), two.size(), y.size(), "x");
    ASSERT_EQ(leads.size(), 2u);
    EXPECT_EQ(leads[0], y);
    EXPECT_EQ(leads[1], y);

    expect_error([&] { xli_decode(chunk.data(), 5, y.size(), "x.xml"); },
                 {"x.xml", "XLI chunk 0", "header needs 8 bytes"});
    auto b = chunk;
    b[0] = 0xFF;  // payload size past the end
    expect_error([&] { xli_decode(b.data(), b.size(), y.size(), "x"); }, {"XLI chunk 0", "runs past the end"});
    expect_error([&] { xli_decode(chunk.data(), chunk.size(), y.size() + 5, "x"); },
                 {"decodes to 12 values, expected 17"});
    const auto long_chunk = xli_chunk(std::vector<int16_t>(40, 3));  // 80 bytes > 4 x 2 + 64
    expect_error([&] { xli_decode(long_chunk.data(), long_chunk.size(), 2, "x"); }, {"stream overruns"});
    b = chunk;
    b[8] = 0xBF;  // first code 0b1011111100 = 764: not defined yet
    expect_error([&] { xli_decode(b.data(), b.size(), y.size(), "x"); }, {"LZW code 764", "not defined yet"});
}

TEST(HospitalFormats, PhilipsSyntheticResidualsAndUtf16) {
    // 10 samples (20 ms at 500 Hz; not an 11-s record, so nothing is cut); I = 10, II = 30, residuals s3..s6.
    std::vector<std::vector<int16_t>> stored(12, std::vector<int16_t>(10, 0));
    for (int t = 0; t < 10; ++t) {
        stored[0][t] = static_cast<int16_t>(10 + t);
        stored[1][t] = 30;
        stored[2][t] = 1;   // III = II - I - 1
        stored[3][t] = -1;  // aVR = 1 - floor((I + II)/2)
        stored[6][t] = static_cast<int16_t>(-t);
    }
    const std::string xml = philips_xml(stored, 20);
    for (const std::string& text : {xml, utf16le_with_bom(xml)}) {
        const auto b = bytes_of(text);
        const StoredEcg s = decode_xml_ecg(b.data(), b.size(), "p.xml");
        EXPECT_EQ(s.format, "philips-xml");
        ASSERT_EQ(s.leads.size(), 12u);
        EXPECT_EQ(s.n_samples(), 10);
        for (int t = 0; t < 10; ++t) {
            const int i = 10 + t, iii = 30 - i - 1;
            EXPECT_EQ(s.leads[2].samples[t], iii);
            EXPECT_EQ(s.leads[3].samples[t], 1 - static_cast<int>(std::floor((i + 30) / 2.0)));
            EXPECT_EQ(s.leads[4].samples[t], static_cast<int>(std::floor((i - iii) / 2.0)));
            EXPECT_EQ(s.leads[5].samples[t], static_cast<int>(std::floor((30 + iii) / 2.0)));
            EXPECT_EQ(s.leads[6].samples[t], -t);
        }
        EXPECT_EQ(s.patient.age_years, 63.0);
        EXPECT_EQ(s.patient.diagnoses, std::vector<std::string>{"Sinus rhythm"});
    }
    auto b = bytes_of(philips_xml(stored, 20, "AAAA*AAA"));
    expect_error([&] { decode_xml_ecg(b.data(), b.size(), "p.xml"); }, {"p.xml", "invalid base64 character"});
    b = bytes_of(philips_xml(stored, 40));  // 20 samples wanted, 10 stored
    expect_error([&] { decode_xml_ecg(b.data(), b.size(), "p.xml"); },
                 {"XLI chunk 0", "decodes to 10 values, expected 20"});
    b = bytes_of(utf16le_with_bom(xml));
    b.pop_back();
    expect_error([&] { decode_xml_ecg(b.data(), b.size(), "p.xml"); }, {"p.xml", "odd number of bytes"});
}

// ---- MUSE, aECG and XML safety: synthetic files ------------------------------------------------------------

TEST(HospitalFormats, MuseSyntheticAndBadInput) {
    const std::vector<int16_t> i = {100, -200, 300}, ii = {50, 60, -32768};
    auto b = bytes_of(muse_xml(i, ii));
    const StoredEcg s = decode_muse_xml(b.data(), b.size(), "m.xml");
    ASSERT_EQ(s.leads.size(), 2u);
    EXPECT_EQ(s.leads[1].samples, (std::vector<int32_t>{50, 60, -32768}));  // Rhythm, not Median
    EXPECT_NEAR(*s.patient.age_years, 7.0 / 12.0, 1e-12);
    EXPECT_EQ(s.patient.sex, "female");
    EXPECT_EQ(s.patient.diagnoses, std::vector<std::string>{"Normal sinus rhythm"});
    const EcgRecord rec = to_ecg_record(s, "m", "m.xml");
    EXPECT_EQ(rec.lead_names, (std::vector<std::string>{"I", "II", "III", "aVR", "aVL", "aVF"}));
    EXPECT_NEAR(rec.lead(2)[0], (50 - 100) * 0.00488, 1e-6);

    b = bytes_of(muse_xml(i, ii, "12345"));
    expect_error([&] { decode_muse_xml(b.data(), b.size(), "m.xml"); }, {"m.xml lead I", "CRC-32", "12345"});
    std::string text = muse_xml(i, ii);
    text.replace(text.rfind("<WaveFormData>") + 15, 1, "!");
    b = bytes_of(text);
    expect_error([&] { decode_muse_xml(b.data(), b.size(), "m.xml"); }, {"lead II", "invalid base64 character"});
    text = muse_xml(i, ii);
    b = bytes_of(text.substr(0, text.size() / 2));
    expect_error([&] { decode_muse_xml(b.data(), b.size(), "m.xml"); }, {"m.xml: XML", "line"});
    text = muse_xml(i, ii);
    text.replace(text.find("Rhythm"), 6, "Other!");
    b = bytes_of(text);
    expect_error([&] { decode_muse_xml(b.data(), b.size(), "m.xml"); }, {"no <Waveform> with <WaveformType>Rhythm"});
    text = muse_xml(i, ii);
    const size_t at = text.rfind("<LeadSampleCountTotal>3<");
    text.replace(at, 24, "<LeadSampleCountTotal>4<");
    b = bytes_of(text);
    expect_error([&] { decode_muse_xml(b.data(), b.size(), "m.xml"); },
                 {"<LeadSampleCountTotal> is 4", "holds 3 samples"});
}

TEST(HospitalFormats, AecgSyntheticAndBadInput) {
    auto b = bytes_of(aecg_xml("1 -2\n 3"));
    const StoredEcg s = decode_xml_ecg(b.data(), b.size(), "a.xml");
    EXPECT_EQ(s.format, "hl7-aecg");
    EXPECT_EQ(s.sample_rate_hz, 250.0);
    ASSERT_EQ(s.leads.size(), 2u);
    EXPECT_EQ(s.leads[1].name, "V3R");
    EXPECT_EQ(s.leads[0].samples, (std::vector<int32_t>{1, -2, 3}));
    EXPECT_DOUBLE_EQ(s.leads[0].lsb_uv, 5.0);
    EXPECT_DOUBLE_EQ((s.leads[0].samples[1] + s.leads[0].baseline) * s.leads[0].lsb_uv, 0.0);  // 10 uV + 5 x -2
    b = bytes_of(aecg_xml("1 2x 3"));
    expect_error([&] { decode_xml_ecg(b.data(), b.size(), "a.xml"); },
                 {"a.xml lead I", "value 1 \"2x\" is not an integer"});
    b = bytes_of(aecg_xml("1 2 3 4"));
    expect_error([&] { decode_xml_ecg(b.data(), b.size(), "a.xml"); }, {"lead V3R has 3 digits, lead I has 4"});
    b = bytes_of(aecg_xml("1 2 3", ""));
    expect_error([&] { decode_xml_ecg(b.data(), b.size(), "a.xml"); }, {"no valid <increment"});
    b = bytes_of("<ecg><lead/></ecg>");
    expect_error([&] { decode_xml_ecg(b.data(), b.size(), "u.xml"); },
                 {"root element <ecg> is not a supported XML ECG"});
}

TEST(HospitalFormats, XmlEntitiesAreNeverExpanded) {
    // Billion laughs: ten levels of ten references would expand to 10^9 "lol"s.
    std::string dtd = "<!DOCTYPE RestingECG [\n<!ENTITY lol0 \"lol\">\n";
    for (int k = 1; k <= 9; ++k) {
        dtd += "<!ENTITY lol" + std::to_string(k) + " \"";
        for (int r = 0; r < 10; ++r) dtd += "&lol" + std::to_string(k - 1) + ";";
        dtd += "\">\n";
    }
    dtd += "<!ENTITY xxe SYSTEM \"file:///etc/passwd\">\n]>\n";
    const auto start = std::chrono::steady_clock::now();
    auto b = bytes_of(muse_xml({1, 2}, {3, 4}, "", dtd, "&lol9;"));
    StoredEcg s = decode_muse_xml(b.data(), b.size(), "lol.xml");
    EXPECT_EQ(s.patient.diagnoses, std::vector<std::string>{"&lol9;"});  // left as text, not expanded
    b = bytes_of(muse_xml({1, 2}, {3, 4}, "", dtd, "&xxe;"));
    s = decode_muse_xml(b.data(), b.size(), "xxe.xml");
    EXPECT_EQ(s.patient.diagnoses, std::vector<std::string>{"&xxe;"});  // no file was read
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2.0);
}

// ---- read_ecg: extension and content sniffing --------------------------------------------------------------

TEST(HospitalFormats, ReadEcgSniffsContent) {
    const fs::path dir = test::temp_dir("hospital-sniff");
    auto write = [&](const std::string& name, const std::vector<uint8_t>& b) {
        std::ofstream(dir / name, std::ios::binary)
            .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
        return (dir / name).string();
    };
    const auto scp = scp_with_leads({{1, {1, 2, 3}}, {2, {4, 5, 6}}}, 1, 5000, 2000).build();
    EXPECT_EQ(read_ecg(write("a.scp", scp)).format, "scp-ecg");
    EXPECT_EQ(read_ecg(write("a.bin", scp)).format, "scp-ecg");
    EXPECT_EQ(read_ecg(write("noext", scp)).format, "scp-ecg");
    EXPECT_EQ(read_ecg(write("b.dcm", dicom_waveform())).format, "dicom");
    EXPECT_EQ(read_ecg(write("b.ecg", dicom_waveform())).format, "dicom");
    EXPECT_EQ(read_ecg(write("c.xml", bytes_of(muse_xml({1, 2}, {3, 4})))).format, "muse-xml");
    EXPECT_EQ(read_ecg(write("c.XML", bytes_of(aecg_xml("1 2 3")))).format, "hl7-aecg");
    EXPECT_EQ(read_ecg(write("d.txt2", bytes_of(muse_xml({1, 2}, {3, 4})))).format, "muse-xml");
    const EcgRecord rec = read_ecg(dir / "c.xml");
    EXPECT_EQ(rec.name, "c");
    EXPECT_EQ(rec.n_leads(), 6);
    expect_error([&] { read_ecg(write("e.unknown", std::vector<uint8_t>(200, 7))); },
                 {"e.unknown", "supported formats"});
    fs::remove_all(dir);
}
