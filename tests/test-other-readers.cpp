// NPY, CSV and EDF readers and the read_ecg dispatcher. The committed NPY/CSV/EDF files were made from
// real WFDB records by tests/data/make-format-samples.py; each must read back to the WFDB values.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "diagecg/ecg/csv-reader.h"
#include "diagecg/ecg/ecg-record.h"
#include "diagecg/ecg/edf-reader.h"
#include "diagecg/ecg/npy-reader.h"
#include "diagecg/ecg/read-ecg.h"
#include "diagecg/ecg/record-set.h"

namespace diagecg {
namespace {

namespace fs = std::filesystem;

const std::string kEcg = std::string(DIAGECG_TEST_DATA) + "/ecg/";

ReadOptions at_500_hz() {
    ReadOptions o;
    o.sample_rate_hz = 500.0;
    return o;
}

// Compares rec's first n samples of every lead with ref (same lead order).
void expect_same_values(const EcgRecord& rec, const EcgRecord& ref, int64_t n, double tol) {
    ASSERT_EQ(rec.n_leads(), ref.n_leads());
    ASSERT_LE(n, ref.n_samples);
    for (int64_t l = 0; l < rec.n_leads(); ++l) {
        for (int64_t t = 0; t < n; ++t) {
            ASSERT_NEAR(rec.lead(l)[t], ref.lead(l)[t], tol) << "lead " << l << " t " << t;
        }
    }
}

TEST(NpyReader, FloatTlMatchesWfdb) {
    const EcgRecord ref = read_ecg(kEcg + "00009.hea");
    const EcgRecord rec = read_ecg(kEcg + "00009.npy", at_500_hz());
    EXPECT_EQ(rec.format, "npy");
    EXPECT_EQ(rec.name, "00009");
    EXPECT_EQ(rec.n_samples, 5000);
    EXPECT_EQ(rec.sample_rate_hz, 500.0);
    EXPECT_EQ(rec.lead_names, standard_12_lead_names());
    EXPECT_EQ(rec.units[0], "mV");
    EXPECT_EQ(rec.signal, ref.signal);  // both are float32 of adu / 200
}

TEST(NpyReader, DoubleLtVersion2AndInt16Fortran) {
    const EcgRecord ref = read_ecg(kEcg + "00009.hea");
    const EcgRecord lt = read_ecg(kEcg + "00009-lt-f8.npy", at_500_hz());  // shape (12, 1000): auto -> [L, T]
    ASSERT_EQ(lt.n_samples, 1000);
    expect_same_values(lt, ref, 1000, 0.0);
    ReadOptions o = at_500_hz();
    o.layout = "TL";
    o.units = "adu";
    const EcgRecord i2 = read_ecg(kEcg + "00009-i2-fortran.npy", o);  // shape (1000, 12), Fortran order, raw adu
    ASSERT_EQ(i2.n_leads(), 12);
    ASSERT_EQ(i2.n_samples, 1000);
    EXPECT_EQ(i2.units[0], "adu");
    for (int64_t l = 0; l < 12; ++l) {
        for (int64_t t = 0; t < 1000; t += 37) EXPECT_EQ(i2.lead(l)[t] / 200.0f, ref.lead(l)[t]) << l << " " << t;
    }
}

TEST(NpyReader, OptionsAreChecked) {
    try {
        read_ecg(kEcg + "00009.npy");
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_EQ(std::string(e.what()), "NPY file " + kEcg + "00009.npy has no sample rate: pass --sample-rate");
    }
    ReadOptions o = at_500_hz();
    o.lead_names = {"I", "II"};
    EXPECT_THROW(read_ecg(kEcg + "00009.npy", o), std::invalid_argument);  // 12 leads, 2 names
    o.lead_names.clear();
    o.layout = "LT";  // 5000 "leads" without names
    EXPECT_THROW(read_ecg(kEcg + "00009.npy", o), std::invalid_argument);
    o.layout = "sideways";
    EXPECT_THROW(read_ecg(kEcg + "00009.npy", o), std::invalid_argument);
}

std::vector<uint8_t> npy_header_bytes(int major, const std::string& dict) {
    std::vector<uint8_t> b = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
    const uint32_t n = static_cast<uint32_t>(dict.size());
    b.push_back(n & 0xFF);
    b.push_back((n >> 8) & 0xFF);
    if (major > 1) {
        b.push_back((n >> 16) & 0xFF);
        b.push_back((n >> 24) & 0xFF);
    }
    b.insert(b.end(), dict.begin(), dict.end());
    return b;
}

TEST(NpyHeader, VersionsAndDictForms) {
    for (int major : {1, 2, 3}) {
        const auto b = npy_header_bytes(major, "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 4), }   \n");
        const NpyHeader h = parse_npy_header(b.data(), b.size(), "mem");
        EXPECT_EQ(h.descr, "<f8");
        EXPECT_TRUE(h.fortran_order);
        EXPECT_EQ(h.shape, (std::vector<int64_t>{3, 4}));
        EXPECT_EQ(h.data_offset, static_cast<int64_t>(b.size()));
    }
    const auto one = npy_header_bytes(1, "{\"shape\": (7,), \"fortran_order\": False, \"descr\": \"<i2\"}\n");
    EXPECT_EQ(parse_npy_header(one.data(), one.size(), "mem").shape, std::vector<int64_t>{7});
    const auto scalar = npy_header_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': ()}");
    EXPECT_TRUE(parse_npy_header(scalar.data(), scalar.size(), "mem").shape.empty());
    const auto extra = npy_header_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), 'x': 1}");
    EXPECT_THROW(parse_npy_header(extra.data(), extra.size(), "mem"), std::runtime_error);
    const auto missing = npy_header_bytes(1, "{'descr': '<f4', 'shape': (1, 2)}");
    EXPECT_THROW(parse_npy_header(missing.data(), missing.size(), "mem"), std::runtime_error);
}

TEST(CsvReader, HeaderAndTimeColumnMatchWfdb) {
    const EcgRecord ref = read_ecg(kEcg + "00009.hea");
    const EcgRecord rec = read_ecg(kEcg + "00009.csv", at_500_hz());
    EXPECT_EQ(rec.format, "csv");
    EXPECT_EQ(rec.lead_names, ref.lead_names);  // "time" column dropped
    ASSERT_EQ(rec.n_samples, 1000);
    expect_same_values(rec, ref, 1000, 0.0);  // repr() of the double, then rounded to float like the WFDB path
    EXPECT_THROW(read_ecg(kEcg + "00009.csv"), std::invalid_argument);  // no sample rate
}

class CsvTemp : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::path(::testing::TempDir()) / ("diagecg-csv-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string write(const std::string& name, const std::string& text) {
        std::ofstream(dir_ / name, std::ios::binary) << text;
        return (dir_ / name).string();
    }
    fs::path dir_;
};

TEST_F(CsvTemp, SeparatorsNamesAndMissingValues) {
    ReadOptions o = at_500_hz();
    o.lead_names = {"V1", "V2"};
    const EcgRecord semi = read_csv(write("a.csv", "1.5;-2\r\n\r\n# comment\n3e-1;NaN\n"), o);
    EXPECT_EQ(semi.lead_names, o.lead_names);
    EXPECT_EQ(semi.n_samples, 2);
    EXPECT_FLOAT_EQ(semi.lead(0)[0], 1.5f);
    EXPECT_FLOAT_EQ(semi.lead(0)[1], 0.3f);
    EXPECT_FLOAT_EQ(semi.lead(1)[0], -2.0f);
    EXPECT_TRUE(std::isnan(semi.lead(1)[1]));
    const EcgRecord tab = read_csv(write("b.txt", "sample\t\"I\"\tII\n0\t1\t2\n1\t3\t4\n2\t5\t6\n"), at_500_hz());
    EXPECT_EQ(tab.lead_names, (std::vector<std::string>{"I", "II"}));
    EXPECT_EQ(tab.signal, (std::vector<float>{1, 3, 5, 2, 4, 6}));
    const EcgRecord via_ecg = read_ecg((dir_ / "b.txt").string(), at_500_hz());
    EXPECT_EQ(via_ecg.signal, tab.signal);
    // Two unnamed columns and no names given: refused.
    EXPECT_THROW(read_csv(write("c.csv", "1,2\n3,4\n"), at_500_hz()), std::invalid_argument);
    EXPECT_THROW(read_csv(write("d.csv", "I,II\n1,inf\n"), at_500_hz()), std::runtime_error);
}

TEST_F(CsvTemp, Utf8ByteOrderMarkIsSkipped) {
    // Spreadsheet exports start with EF BB BF: the header row must still name the leads.
    const EcgRecord r = read_csv(write("bom.csv", "\xEF\xBB\xBFI,II\n1,2\n3,4\n"), at_500_hz());
    EXPECT_EQ(r.lead_names, (std::vector<std::string>{"I", "II"}));
    EXPECT_EQ(r.signal, (std::vector<float>{1, 3, 2, 4}));
}

TEST_F(CsvTemp, TxtIsACsvRecordUnlessItListsRecords) {
    // tokenize/eval take list files; a .txt of values is a record for them too, as it is for read_ecg.
    const std::string values = write("values.txt", "I,II\n1,2\n3,4\n");
    EXPECT_EQ(list_records(values), (std::vector<std::string>{values}));
    const std::string list = write("list.txt", "# records\nvalues.txt\n");
    EXPECT_EQ(list_records(list), (std::vector<std::string>{(dir_ / "values.txt").string()}));
}

TEST_F(CsvTemp, DirectoryAndFifoAreNamedForWhatTheyAre) {
    try {
        read_ecg(dir_.string());
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("is a directory, not an ECG record"), std::string::npos) << e.what();
    }
    const std::string fifo = (dir_ / "pipe.csv").string();
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    try {
        read_ecg(fifo, at_500_hz());
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("is not a regular file"), std::string::npos) << e.what();
    }
}

TEST(EdfReader, EdfPlusMatchesWfdb) {
    const EcgRecord ref = read_ecg(kEcg + "HR06000.hea");
    const EcgRecord rec = read_ecg(kEcg + "HR06000.edf");
    EXPECT_EQ(rec.format, "edf+");
    EXPECT_EQ(rec.sample_rate_hz, 500.0);
    EXPECT_EQ(rec.n_samples, 5000);
    EXPECT_EQ(rec.lead_names, ref.lead_names);  // the "EDF Annotations" signal is skipped
    EXPECT_EQ(rec.units[0], "mV");
    expect_same_values(rec, ref, 5000, 1e-6);
    EXPECT_EQ(rec.patient.sex, "female");
    EXPECT_EQ(rec.patient.age_years, 59.0);
}

TEST(EdfReader, HeaderFields) {
    std::ifstream in(kEcg + "HR06000.edf", std::ios::binary);
    std::vector<uint8_t> b(256 * 14);
    in.read(reinterpret_cast<char*>(b.data()), static_cast<std::streamsize>(b.size()));
    const EdfHeader h = parse_edf_header(b.data(), b.size(), "HR06000.edf");
    EXPECT_TRUE(h.edf_plus);
    EXPECT_FALSE(h.discontinuous);
    EXPECT_EQ(h.n_records, 10);
    EXPECT_EQ(h.record_duration_s, 1.0);
    EXPECT_EQ(h.header_bytes, 256 * 14);
    ASSERT_EQ(h.signals.size(), 13u);
    EXPECT_EQ(h.signals[12].label, "EDF Annotations");
    EXPECT_EQ(h.signals[0].digital_min, -32768);
    EXPECT_EQ(h.signals[0].physical_max, 32.767);
    EXPECT_EQ(h.signals[0].samples_per_record, 500);
    EXPECT_EQ(h.patient, "HR06000 F 01-JAN-1941 X");
    EXPECT_THROW(parse_edf_header(b.data(), 256 * 13, "short"), std::runtime_error);
}

TEST(ReadEcg, Dispatch) {
    EXPECT_EQ(read_ecg(kEcg + "s0010_re.xyz").n_leads(), 15);  // a signal file with its .hea beside it
    try {
        read_ecg(kEcg + "nothing.bin");  // no nothing.hea beside it
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("nothing.bin"), std::string::npos) << m;
        EXPECT_NE(m.find("unknown file extension \".bin\""), std::string::npos) << m;
        EXPECT_NE(m.find("EDF/EDF+ (.edf)"), std::string::npos) << m;
    }
    EXPECT_THROW(read_ecg(kEcg + "no-such-record"), std::runtime_error);
}

}  // namespace
}  // namespace diagecg
