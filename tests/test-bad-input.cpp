// Malformed files in tests/data/bad/ (listed in its README.md): each must be refused with a clear
// message, never crash and never read as a record.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "diagecg/ecg/ecg-record.h"
#include "diagecg/ecg/read-ecg.h"

namespace diagecg {
namespace {

const std::string kBad = std::string(DIAGECG_TEST_DATA) + "/bad/";

struct BadCase {
    const char* file;
    const char* expected;  // fragment of the error message
};
// ctest shows the file, not the struct's bytes
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.file; }

const BadCase kCases[] = {
    // WFDB
    {"truncated-dat.hea", "holds 9 samples per signal"},
    {"length-mismatch.hea", "holds 10 samples per signal (40 data bytes, 2 signals of format 16), header says 20"},
    {"bad-checksum.hea", "signal 2 (II): checksum mismatch: header says 1234, data gives 130"},
    {"bad-init.hea", "signal 1 (I): initial value mismatch: header says 11, first sample is 10"},
    {"unknown-format.hea", "line 2: signal format 311 is not supported (supported: 8, 16, 24, 32, 61, 80, 212)"},
    {"garbage-header.hea", "line 1: unexpected byte 0x7F at column 1"},
    {"empty.hea", "no record line"},
    {"comments-only.hea", "no record line"},
    {"empty-dat.hea", "holds 0 samples per signal"},
    {"no-samples.hea", "the record has no samples"},
    {"bad-sample-count.hea", "line 1: sample count \"10x\" is not an integer"},
    {"non-utf8.hea", "line 1: unexpected byte 0xE9"},
    {"huge-samples.hea", "1000000000000 samples x 2 signals is over the limit of 2^31 values"},
    {"negative-signals.hea", "signal count -3 is out of range [1, 1000]"},
    {"huge-signals.hea", "signal count 5000 is out of range [1, 1000]"},
    {"extra-signal-line.hea", "line 4: more signal lines than the 2 signals"},
    {"missing-signal-line.hea", "line 1: record line declares 3 signals, header has 2 signal lines"},
    {"missing-dat.hea", "missing-dat.dat\" does not exist"},
    {"multi-segment.hea", "multi-segment records (multi-segment/2) are not supported"},
    {"two-samples-per-frame.hea", "has 2 samples per frame; only 1 is supported"},
    {"bad-gain.hea", "line 2: gain \"abc\" is not a number"},
    {"path-traversal.hea", "signal file name \"../ecg/00009.dat\" must be a plain file name"},
    {"offset-past-eof.hea", "byte offset 1000 is past the end"},
    // NPY
    {"bad-magic.npy", "bad magic"},
    {"empty.npy", "bad magic"},
    {"dtype-complex.npy", "dtype '<c8' is not supported"},
    {"dtype-big-endian.npy", "dtype '>f4' is not supported"},
    {"shape-3d.npy", "shape (5, 2, 2) is not 2-D"},
    {"header-past-eof.npy", "header length 5000 runs past the end of the file"},
    {"data-short.npy", "data is 80 bytes, shape (100, 2) of <f4 needs 800"},
    {"bad-version.npy", "format version 9.0 is not supported"},
    {"bad-dict.npy", "'fortran_order' is not True or False"},
    // EDF
    {"edf-truncated.edf", "header says 848 (2 data records of 40 bytes)"},
    {"edf-bad-number.edf", "'number of data records' is \"abc\", not an integer"},
    {"edf-plus-d.edf", "EDF+D (discontinuous) recordings are not supported"},
    {"edf-huge-signals.edf", "number of signals 9999 is out of range"},
    {"edf-short-header.edf", "file is 100 bytes, shorter than the 256-byte EDF header"},
    {"empty.edf", "file is 0 bytes"},
    {"edf-mixed-rates.edf", "mixed sample rates are not supported"},
    {"edf-bad-digital-range.edf", "is not an increasing 16-bit range"},
    // CSV
    {"ragged.csv", "line 3: 1 cells, expected 2"},
    {"non-numeric.csv", "line 3: column 2: \"abc\" is not a number"},
    {"empty.csv", "has no data rows"},
    {"header-only.csv", "has no data rows"},
    // Dispatch
    {"unknown.xyzzy", "unknown file extension \".xyzzy\""},
};

class BadInput : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadInput, RefusedWithClearMessage) {
    const BadCase& c = GetParam();
    ReadOptions opts;
    opts.sample_rate_hz = 500.0;
    opts.lead_names = {"I", "II"};
    try {
        const EcgRecord rec = read_ecg(kBad + c.file, opts);
        FAIL() << c.file << " was read as a record of " << rec.n_leads() << " leads x " << rec.n_samples;
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(c.expected), std::string::npos)
            << c.file << ": message \"" << e.what() << "\" lacks \"" << c.expected << "\"";
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find(c.expected), std::string::npos)
            << c.file << ": message \"" << e.what() << "\" lacks \"" << c.expected << "\"";
    }
}

INSTANTIATE_TEST_SUITE_P(Files, BadInput, ::testing::ValuesIn(kCases), [](const auto& info) {
    std::string name = info.param.file;
    for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    }
    return name;
});

TEST(BadInput, ErrorsNameTheFile) {
    try {
        read_ecg(kBad + "bad-checksum.hea");
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("bad-checksum.hea"), std::string::npos) << e.what();
    }
}

// A lead of NaN only is well-formed input for the readers; refusing it is preprocessing's job.
TEST(BadInput, NanOnlyLeadIsReadAsNan) {
    ReadOptions opts;
    opts.sample_rate_hz = 500.0;
    opts.lead_names = {"I", "II"};
    for (const char* file : {"nan-lead.csv", "nan-lead.npy"}) {
        const EcgRecord rec = read_ecg(kBad + file, opts);
        ASSERT_EQ(rec.n_leads(), 2) << file;
        ASSERT_EQ(rec.n_samples, 10) << file;
        EXPECT_FLOAT_EQ(rec.lead(0)[0], 10 / 200.0f) << file;
        EXPECT_FLOAT_EQ(rec.lead(0)[9], 7 / 200.0f) << file;
        for (int64_t t = 0; t < rec.n_samples; ++t) EXPECT_TRUE(std::isnan(rec.lead(1)[t])) << file << " t=" << t;
    }
}

TEST(BadInput, MissingFile) {
    EXPECT_THROW(read_ecg(kBad + "no-such-record.hea"), std::runtime_error);
    EXPECT_THROW(read_ecg(kBad + "no-such-record"), std::runtime_error);
    EXPECT_THROW(read_ecg(kBad), std::runtime_error);  // a directory
}

}  // namespace
}  // namespace diagecg
