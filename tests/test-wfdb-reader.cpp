// WFDB reader: real records checked against values decoded by hand from their bytes, header fields,
// patient comments, and every signal format on synthetic records written here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "diagecg/ecg/ecg-record.h"
#include "diagecg/ecg/read-ecg.h"
#include "diagecg/ecg/wfdb-reader.h"

namespace diagecg {
namespace {

namespace fs = std::filesystem;

const std::string kEcg = std::string(DIAGECG_TEST_DATA) + "/ecg/";

std::vector<uint8_t> slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Sample t of signal l of an interleaved int16 little-endian file, decoded here independently.
int raw16(const std::vector<uint8_t>& b, size_t offset, int n_sig, int l, int t) {
    const size_t i = offset + 2 * (static_cast<size_t>(t) * n_sig + l);
    return static_cast<int16_t>(b[i] | (b[i + 1] << 8));
}

std::string expect_throw_message(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    ADD_FAILURE() << "no std::runtime_error thrown";
    return {};
}

TEST(WfdbReader, PtbXl00009MatchesRawBytes) {
    const EcgRecord rec = read_ecg(kEcg + "00009.hea");
    EXPECT_EQ(rec.name, "00009");
    EXPECT_EQ(rec.format, "wfdb-16");
    EXPECT_EQ(rec.sample_rate_hz, 500.0);
    ASSERT_EQ(rec.n_samples, 5000);
    const std::vector<std::string> names = {"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"};
    EXPECT_EQ(rec.lead_names, names);
    ASSERT_EQ(rec.signal.size(), 12u * 5000u);
    EXPECT_EQ(rec.units[0], "z");
    const auto bytes = slurp(kEcg + "00009.dat");
    ASSERT_EQ(bytes.size(), 120000u);
    for (int l = 0; l < 12; ++l) {
        for (int t : {0, 1, 777, 2500, 4999}) {
            EXPECT_EQ(rec.lead(l)[t], static_cast<float>(raw16(bytes, 0, 12, l, t) / 200.0))
                << "lead " << l << " t " << t;
        }
    }
    // Header init values: I -99, V6 -69 (adu); gain 200.
    EXPECT_FLOAT_EQ(rec.lead(0)[0], -99 / 200.0f);
    EXPECT_FLOAT_EQ(rec.lead(11)[0], -69 / 200.0f);
    EXPECT_EQ(rec.patient.comments.size(), 1u);
    EXPECT_FALSE(rec.patient.age_years.has_value());
}

TEST(WfdbReader, BareRecordNameAndSignalFileFindTheHeader) {
    const EcgRecord a = read_ecg(kEcg + "00043");
    const EcgRecord b = read_ecg(kEcg + "00043.dat");
    const EcgRecord c = read_ecg(kEcg + "00085.hea");
    EXPECT_EQ(a.signal, b.signal);
    EXPECT_EQ(a.name, "00043");
    EXPECT_FLOAT_EQ(a.lead(0)[0], 5 / 200.0f);    // header init value of lead I
    EXPECT_FLOAT_EQ(a.lead(1)[0], -12 / 200.0f);  // lead II
    EXPECT_NE(a.signal, c.signal);
}

TEST(WfdbReader, Cinc2021MatWithByteOffset) {
    const EcgRecord rec = read_ecg(kEcg + "HR06000.mat");
    EXPECT_EQ(rec.name, "HR06000");
    ASSERT_EQ(rec.n_leads(), 12);
    ASSERT_EQ(rec.n_samples, 5000);
    EXPECT_EQ(rec.units[0], "mv");
    // Header init values (adu) / gain 1000.
    const int init[12] = {10, -20, -30, 5, 20, -25, -85, -60, 175, 15, 470, 625};
    for (int l = 0; l < 12; ++l) EXPECT_FLOAT_EQ(rec.lead(l)[0], init[l] / 1000.0f) << rec.lead_names[l];
    const auto bytes = slurp(kEcg + "HR06000.mat");
    ASSERT_EQ(bytes.size(), 120024u);
    for (int l : {0, 6, 11}) {
        for (int t : {1, 2048, 4999})
            EXPECT_EQ(rec.lead(l)[t], static_cast<float>(raw16(bytes, 24, 12, l, t) / 1000.0));
    }
    EXPECT_EQ(rec.patient.age_years, 59.0);
    EXPECT_EQ(rec.patient.sex, "female");
    EXPECT_EQ(rec.patient.diagnoses, (std::vector<std::string>{"164934002", "426783006"}));
    EXPECT_EQ(rec.patient.comments.size(), 6u);
}

TEST(WfdbReader, CincGeorgiaAndChapmanPatients) {
    const EcgRecord e = read_ecg(kEcg + "E07500.hea");
    EXPECT_EQ(e.patient.age_years, 78.0);
    EXPECT_EQ(e.patient.sex, "male");
    EXPECT_EQ(e.patient.diagnoses, (std::vector<std::string>{"67741000119109", "426177001"}));
    EXPECT_FLOAT_EQ(e.lead(8)[0], -146 / 1000.0f);  // V3
    const EcgRecord j = read_ecg(kEcg + "JS20000.hea");
    EXPECT_EQ(j.patient.age_years, 84.0);
    EXPECT_EQ(j.patient.sex, "female");
    EXPECT_EQ(j.patient.diagnoses.size(), 4u);
    EXPECT_EQ(j.patient.diagnoses[3], "55930002");
}

TEST(WfdbReader, PtbDiagnosticFifteenChannelsInTwoFiles) {
    const EcgRecord rec = read_ecg(kEcg + "s0010_re.hea");
    ASSERT_EQ(rec.n_leads(), 15);
    EXPECT_EQ(rec.sample_rate_hz, 1000.0);
    ASSERT_EQ(rec.n_samples, 38400);
    EXPECT_EQ(rec.lead_names[0], "i");
    EXPECT_EQ(rec.lead_names[3], "avr");
    EXPECT_EQ(rec.lead_names[12], "vx");
    EXPECT_EQ(rec.lead_names[14], "vz");
    const auto dat = slurp(kEcg + "s0010_re.dat");
    const auto xyz = slurp(kEcg + "s0010_re.xyz");
    for (int t : {0, 19200, 38399}) {
        EXPECT_EQ(rec.lead(4)[t], static_cast<float>(raw16(dat, 0, 12, 4, t) / 2000.0));
        EXPECT_EQ(rec.lead(13)[t], static_cast<float>(raw16(xyz, 0, 3, 1, t) / 2000.0));
    }
    EXPECT_FLOAT_EQ(rec.lead(12)[0], -3 / 2000.0f);
    EXPECT_EQ(rec.patient.age_years, 81.0);
    EXPECT_EQ(rec.patient.sex, "female");
    ASSERT_GE(rec.patient.diagnoses.size(), 2u);
    EXPECT_EQ(rec.patient.diagnoses[0], "Myocardial infarction");
    EXPECT_EQ(rec.patient.diagnoses[1], "Acute infarction (localization): infero-latera");
}

TEST(WfdbReader, LudbRenamedRecordBaselinesAndDiagnoses) {
    // The header still calls the record "1" and its signal file "1.dat"; the file is ludb-ecg.dat.
    const EcgRecord rec = read_ecg(kEcg + "ludb-ecg.hea");
    EXPECT_EQ(rec.name, "ludb-ecg");
    ASSERT_EQ(rec.n_samples, 5000);
    const auto bytes = slurp(kEcg + "ludb-ecg.dat");
    // Lead i: gain 1716, baseline 6; lead iii: gain 1229, baseline -5.
    EXPECT_FLOAT_EQ(rec.lead(0)[0], (-120 - 6) / 1716.0f);
    for (int t : {0, 100, 4999}) {
        EXPECT_EQ(rec.lead(2)[t], static_cast<float>((raw16(bytes, 0, 12, 2, t) + 5) / 1229.0));
    }
    EXPECT_EQ(rec.patient.age_years, 51.0);
    EXPECT_EQ(rec.patient.sex, "female");
    EXPECT_EQ(rec.patient.diagnoses,
              (std::vector<std::string>{"Rhythm: Sinus bradycardia", "Electric axis of the heart: left axis deviation",
                                        "Left ventricular hypertrophy", "Left ventricular overload",
                                        "Non-specific repolarization abnormalities: posterior wall"}));
}

TEST(WfdbReader, MuseLeadOrderAndPatient) {
    const EcgRecord af = read_ecg(kEcg + "muse-af.hea");
    const std::vector<std::string> names = {"I", "II", "III", "AVF", "AVL", "AVR", "V1", "V2", "V3", "V4", "V5", "V6"};
    EXPECT_EQ(af.lead_names, names);               // file order: AVF before AVL
    EXPECT_FLOAT_EQ(af.lead(3)[0], -27 / 200.0f);  // AVF init value
    EXPECT_EQ(af.patient.age_years, 71.0);
    EXPECT_EQ(af.patient.sex, "female");
    ASSERT_EQ(af.patient.diagnoses.size(), 1u);
    EXPECT_EQ(af.patient.diagnoses[0].rfind("Atrial fibrillation, with rapid ventricular response", 0), 0u);
    const EcgRecord sinus = read_ecg(kEcg + "muse-sinus.hea");
    EXPECT_FALSE(sinus.patient.age_years.has_value());
    EXPECT_FALSE(sinus.patient.sex.has_value());
    EXPECT_EQ(sinus.patient.comments.size(), 3u);
}

TEST(WfdbHeader, AllOptionalFields) {
    const WfdbHeader h = parse_wfdb_header(
        "# leading comment\n"
        "rec 3 360/720(0) 650000 12:00:00 01/01/2000\r\n"
        "rec.dat 212x1:0+128 200(1024)/mV 11 1024 995 -22131 0 MLII lead\n"
        "rec.dat 212 0/uV 11 512\n"
        "\n"
        "other.dat 16\n"
        "# Age: NaN\n",
        "mem.hea");
    EXPECT_EQ(h.record_name, "rec");
    EXPECT_EQ(h.n_signals, 3);
    EXPECT_EQ(h.sample_rate_hz, 360.0);
    EXPECT_EQ(h.n_samples, 650000);
    ASSERT_EQ(h.signals.size(), 3u);
    const WfdbSignalSpec& a = h.signals[0];
    EXPECT_EQ(a.file_name, "rec.dat");
    EXPECT_EQ(a.format, 212);
    EXPECT_EQ(a.samples_per_frame, 1);
    EXPECT_EQ(a.skew, 0);
    EXPECT_EQ(a.byte_offset, 128);
    EXPECT_EQ(a.adc_gain, 200.0);
    EXPECT_EQ(a.baseline, 1024.0);
    EXPECT_EQ(a.units, "mV");
    EXPECT_EQ(a.adc_resolution, 11);
    EXPECT_EQ(a.adc_zero, 1024);
    EXPECT_TRUE(a.has_init_value);
    EXPECT_EQ(a.init_value, 995);
    EXPECT_TRUE(a.has_checksum);
    EXPECT_EQ(a.checksum, -22131);
    EXPECT_EQ(a.description, "MLII lead");
    EXPECT_EQ(a.line, 3);
    const WfdbSignalSpec& b = h.signals[1];
    EXPECT_EQ(b.adc_gain, 200.0);  // gain 0 means 200
    EXPECT_EQ(b.baseline, 512.0);  // baseline defaults to ADC zero
    EXPECT_EQ(b.units, "uV");
    EXPECT_FALSE(b.has_init_value);
    const WfdbSignalSpec& c = h.signals[2];
    EXPECT_EQ(c.format, 16);
    EXPECT_EQ(c.units, "mV");
    EXPECT_EQ(c.baseline, 0.0);
    EXPECT_EQ(c.line, 6);
    EXPECT_EQ(h.comments, (std::vector<std::string>{"leading comment", "Age: NaN"}));
}

TEST(WfdbHeader, ErrorsSayLineAndValue) {
    auto msg = [](const std::string& text) { return expect_throw_message([&] { parse_wfdb_header(text, "x.hea"); }); };
    EXPECT_EQ(msg("x 1 500 10\nx.dat 16 1e9q/mV\n"), "x.hea line 2: gain \"1e9q\" is not a number");
    EXPECT_EQ(msg("x 1 abc\n"), "x.hea line 1: sampling frequency \"abc\" is not a number in (0, 1e6]");
    EXPECT_EQ(msg("x 1 500 10\nx.dat 16x\n"), "x.hea line 2: samples per frame \"\" is not an integer");
    EXPECT_EQ(msg("x 1 500 10\nx.dat 16 200(3/mV\n"), "x.hea line 2: gain field \"200(3\" has no closing ')'");
    EXPECT_EQ(msg("x 1 500 10\nx.dat 16 200 16 0 0 99999999999\n"),
              "x.hea line 2: checksum 99999999999 is out of range [-2147483648, 2147483647]");
    EXPECT_EQ(msg("x\n"), "x.hea line 1: record line has no signal count");
    EXPECT_EQ(msg("x 1 500 10\nx.dat\n"), "x.hea line 2: signal line has no format field");
}

TEST(PatientComments, StylesAndNormalisation) {
    const PatientInfo a = parse_patient_comments({"Age: ?", "Sex: 1", "Dx: Unknown"});
    EXPECT_FALSE(a.age_years.has_value());
    EXPECT_FALSE(a.sex.has_value());  // 0/1 codes are not guessed
    EXPECT_TRUE(a.diagnoses.empty());
    const PatientInfo b = parse_patient_comments({"age 64.5", "sex M", "<diagnoses>: Sinus rhythm."});
    EXPECT_EQ(b.age_years, 64.5);
    EXPECT_EQ(b.sex, "male");
    EXPECT_EQ(b.diagnoses, std::vector<std::string>{"Sinus rhythm"});
    const PatientInfo c = parse_patient_comments({"Age: NaN", "Sex: Male", "Height: 180", "Weight: 75.5",
                                                  "Acute infarction (localization): no", "ECG date: 01/10/1990"});
    EXPECT_FALSE(c.age_years.has_value());
    EXPECT_EQ(c.sex, "male");
    EXPECT_EQ(c.height_cm, 180.0);
    EXPECT_EQ(c.weight_kg, 75.5);
    EXPECT_TRUE(c.diagnoses.empty());
    EXPECT_EQ(c.comments.size(), 6u);
    const PatientInfo d = parse_patient_comments(
        {"<age>: 40", "<sex>: M", "<diagnoses>:", "Sinus rhythm.", "<other>: x", "not a diagnosis"});
    EXPECT_EQ(d.age_years, 40.0);
    EXPECT_EQ(d.diagnoses, std::vector<std::string>{"Sinus rhythm"});
}

// Synthetic records: values encoded here by hand, per the WFDB signal(5) formats.
class SyntheticWfdb : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::path(::testing::TempDir()) / ("diagecg-wfdb-" + std::to_string(::getpid()) + "-" +
                                                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // Format 8 differences start from each signal's initial value, here its first sample.
    static std::vector<uint8_t> encode(int format, const std::vector<std::vector<int>>& sig) {
        std::vector<uint8_t> out;
        std::vector<int> stream;
        for (size_t t = 0; t < sig[0].size(); ++t) {
            for (const auto& s : sig) stream.push_back(s[t]);
        }
        std::vector<int> prev;
        for (const auto& s : sig) prev.push_back(s[0]);
        for (size_t i = 0; i < stream.size(); ++i) {
            const int v = stream[i];
            switch (format) {
                case 8: {
                    const size_t s = i % sig.size();
                    out.push_back(static_cast<uint8_t>(static_cast<int8_t>(v - prev[s])));
                    prev[s] = v;
                    break;
                }
                case 16:
                    out.push_back(v & 0xFF);
                    out.push_back((v >> 8) & 0xFF);
                    break;
                case 61:
                    out.push_back((v >> 8) & 0xFF);
                    out.push_back(v & 0xFF);
                    break;
                case 24:
                    for (int k = 0; k < 3; ++k) out.push_back((v >> (8 * k)) & 0xFF);
                    break;
                case 32:
                    for (int k = 0; k < 4; ++k) out.push_back((v >> (8 * k)) & 0xFF);
                    break;
                case 80: out.push_back(static_cast<uint8_t>(v + 128)); break;
                case 212:
                    if (i % 2 == 0) {
                        out.push_back(v & 0xFF);
                        out.push_back((v >> 8) & 0x0F);
                    } else {
                        out.back() |= static_cast<uint8_t>(((v >> 8) & 0x0F) << 4);
                        out.push_back(v & 0xFF);
                    }
                    break;
            }
        }
        return out;
    }
    static int checksum(const std::vector<int>& v) {
        uint16_t s = 0;
        for (int x : v) s = static_cast<uint16_t>(s + static_cast<uint16_t>(x));
        return static_cast<int16_t>(s);
    }
    void write(const std::string& name, const std::vector<uint8_t>& bytes) {
        std::ofstream(dir_ / name, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
    void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }

    fs::path dir_;
};

TEST_F(SyntheticWfdb, EveryFormatDecodesExactly) {
    const std::map<int, std::vector<std::vector<int>>> cases = {
        {8, {{5, 7, 3, -100, 27, 27}, {-1, 100, 0, 1, -127, -3}}},
        {16, {{0, 1, -1, 32767, -32767, 1234}, {-32768, 5, 6, 7, 8, 9}}},
        {61, {{0, 1, -1, 32767, -32767, 1234}, {-32768, 5, 6, 7, 8, 9}}},
        {24, {{0, 8388607, -8388607, 1, -1, 65536}, {-8388608, 3, 4, 5, 6, -70000}}},
        {32, {{0, 2147483647, -2147483647, 1, -1, 65536}, {INT32_MIN, 3, 4, 5, 6, -70000}}},
        {80, {{0, 127, -127, 1, -1, 64}, {-128, 3, 4, 5, 6, -7}}},
        {212, {{0, 2047, -2047, 1, -1, 300}, {-2048, 3, 4, 5, 6, -700}}},
    };
    for (const auto& [format, sig] : cases) {
        const std::string name = "f" + std::to_string(format);
        write(name + ".dat", encode(format, sig));
        std::string hea = name + " 2 250 6\n";
        const double gain[2] = {100.0, 0.5};
        const int base[2] = {10, -3};
        for (int s = 0; s < 2; ++s) {
            const int init = sig[s][0];
            hea += name + ".dat " + std::to_string(format) + " " + std::to_string(gain[s]) + "(" +
                   std::to_string(base[s]) + ")/mV 12 0 " + std::to_string(init) + " " +
                   std::to_string(checksum(sig[s])) + " 0 S" + std::to_string(s) + "\n";
        }
        write(name + ".hea", hea);
        const EcgRecord rec = read_wfdb(path(name + ".hea"));
        EXPECT_EQ(rec.format, "wfdb-" + std::to_string(format));
        ASSERT_EQ(rec.n_samples, 6) << format;
        for (int s = 0; s < 2; ++s) {
            for (int t = 0; t < 6; ++t) {
                const int v = sig[s][t];
                const bool invalid = format != 8 && s == 1 && t == 0;  // the format's invalid-sample code
                if (invalid) {
                    EXPECT_TRUE(std::isnan(rec.lead(s)[t])) << "format " << format;
                } else {
                    EXPECT_EQ(rec.lead(s)[t], static_cast<float>((static_cast<double>(v) - base[s]) / gain[s]))
                        << "format " << format << " signal " << s << " t " << t;
                }
            }
        }
    }
}

TEST_F(SyntheticWfdb, Format212OddSampleCountAndDerivedLength) {
    // 3 signals x 5 samples = 15 values: the last one sits alone in 2 bytes. n_samples 0 = from file size.
    const std::vector<std::vector<int>> sig = {{1, 2, 3, 4, 5}, {-1, -2, -3, -4, -5}, {2000, -2000, 0, 7, -7}};
    const auto bytes = encode(212, sig);
    ASSERT_EQ(bytes.size(), 7u * 3u + 2u);
    write("odd.dat", bytes);
    write("odd.hea", "odd 3 100\nodd.dat 212 1\nodd.dat 212 1\nodd.dat 212 1 12 0 2000 " +
                         std::to_string(checksum(sig[2])) + "\n");
    const EcgRecord rec = read_wfdb(path("odd.hea"));
    ASSERT_EQ(rec.n_samples, 5);
    EXPECT_EQ(rec.lead_names[2], "signal 3");
    for (int s = 0; s < 3; ++s) {
        for (int t = 0; t < 5; ++t) EXPECT_EQ(rec.lead(s)[t], static_cast<float>(sig[s][t])) << s << " " << t;
    }
}

TEST_F(SyntheticWfdb, MultiFileRecordWithOffsets) {
    // Signals 1-2 in a.dat (format 16, 4-byte preamble), signal 3 in b.dat (format 80).
    const std::vector<std::vector<int>> ab = {{100, -200, 300, -400}, {1, 2, 3, 4}};
    const std::vector<std::vector<int>> c = {{-5, 5, -50, 50}};
    std::vector<uint8_t> a = {0xDE, 0xAD, 0xBE, 0xEF};
    const auto a_data = encode(16, ab);
    a.insert(a.end(), a_data.begin(), a_data.end());
    write("m.hea",
          "m 3 500 4\n"
          "a.dat 16+4 100/mV 16 0 100 " +
              std::to_string(checksum(ab[0])) +
              " 0 I\n"
              "a.dat 16+4 100/mV 16 0 1 " +
              std::to_string(checksum(ab[1])) +
              " 0 II\n"
              "b.dat 80 10(-5)/uV 8 0 -5 " +
              std::to_string(checksum(c[0])) + " 0 V1\n");
    write("a.dat", a);
    write("b.dat", encode(80, c));
    const EcgRecord rec = read_ecg(path("m.hea"));
    EXPECT_EQ(rec.format, "wfdb-16+80");
    EXPECT_EQ(rec.lead_names, (std::vector<std::string>{"I", "II", "V1"}));
    EXPECT_EQ(rec.units, (std::vector<std::string>{"mV", "mV", "uV"}));
    EXPECT_EQ(rec.signal,
              (std::vector<float>{1.0f, -2.0f, 3.0f, -4.0f, 0.01f, 0.02f, 0.03f, 0.04f, 0.0f, 1.0f, -4.5f, 5.5f}));
    // Header-only round trip: the parsed header lists the same files, formats and offsets.
    const WfdbHeader h =
        parse_wfdb_header("m 3 500 4\na.dat 16+4 100/mV\na.dat 16+4 100/mV\nb.dat 80 10(-5)/uV\n", "m");
    EXPECT_EQ(h.signals[1].file_name, "a.dat");
    EXPECT_EQ(h.signals[1].byte_offset, 4);
    EXPECT_EQ(h.signals[2].file_name, "b.dat");
    EXPECT_EQ(h.signals[2].format, 80);
    EXPECT_EQ(h.signals[2].baseline, -5.0);
}

TEST_F(SyntheticWfdb, ChecksumAndInitMismatchMessages) {
    const std::vector<std::vector<int>> sig = {{1, 2, 3}, {30000, 30000, 30000}};  // sum wraps past int16
    write("k.dat", encode(16, sig));
    const int good = checksum(sig[1]);
    EXPECT_EQ(good, static_cast<int16_t>(90000 % 65536));
    write("k.hea", "k 2 500 3\nk.dat 16 200 16 0 1 6 0 I\nk.dat 16 200 16 0 30000 " + std::to_string(good) + " 0 V1\n");
    EXPECT_NO_THROW(read_wfdb(path("k.hea")));
    // The same checksum written as its unsigned 16-bit value also matches.
    write("k.hea",
          "k 2 500 3\nk.dat 16 200 16 0 1 6 0 I\nk.dat 16 200 16 0 30000 " + std::to_string(good + 65536) + " 0 V1\n");
    EXPECT_NO_THROW(read_wfdb(path("k.hea")));
    write("k.hea", "k 2 500 3\nk.dat 16 200 16 0 1 6 0 I\nk.dat 16 200 16 0 30000 1234 0 V1\n");
    EXPECT_EQ(
        expect_throw_message([&] { read_wfdb(path("k.hea")); }),
        path("k.hea") + " signal 2 (V1): checksum mismatch: header says 1234, data gives " + std::to_string(good));
    write("k.hea", "k 2 500 3\nk.dat 16 200 16 0 2 6 0 I\nk.dat 16 200 16 0 30000\n");
    EXPECT_EQ(expect_throw_message([&] { read_wfdb(path("k.hea")); }),
              path("k.hea") + " signal 1 (I): initial value mismatch: header says 2, first sample is 1");
}

TEST_F(SyntheticWfdb, LongerDataIsAcceptedShorterIsNot) {
    write("l.dat", encode(16, {{1, 2, 3, 4, 5, 6}}));
    write("l.hea", "l 1 500 4\nl.dat 16 1 16 0 1 10 0 x\n");  // checksum of the first 4 samples
    EXPECT_EQ(read_wfdb(path("l.hea")).n_samples, 4);
    write("l.hea", "l 1 500 7\nl.dat 16\n");
    EXPECT_NE(expect_throw_message([&] { read_wfdb(path("l.hea")); }).find("holds 6 samples per signal"),
              std::string::npos);
}

}  // namespace
}  // namespace diagecg
