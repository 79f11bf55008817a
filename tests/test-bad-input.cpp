// Malformed files in tests/data/bad/ (listed in its README.md): each must be refused with a clear
// message, never crash and never read as a record.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "diagecg/ecg/ecg-preprocess.h"
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
    {"csv-nul-bytes.csv", "line 3: column 2:"},
    {"csv-lead-count.csv", "has 3 columns, 2 lead names were given"},
    {"csv-semicolon-ragged.csv", "line 3: 1 cells, expected 2"},
    {"csv-hex-cell.csv", "line 2: column 2: \"0x1F\" is not a number"},
    {"csv-comment-only.csv", "has no data rows"},
    // EDF, more
    {"edf-absurd-duration.edf", "sample rate 1e-299 Hz (10 samples per 1e+300 s record) is out of range"},
    {"edf-tiny-duration.edf", "sample rate 1e+301 Hz (10 samples per 1e-300 s record) is out of range"},
    {"edf-zero-duration.edf", "data record duration 0.000000 s is not positive"},
    {"edf-nan-duration.edf", "field 'data record duration' is \"nan\", not a number"},
    {"edf-plus-annotations-only.edf", "has no signals other than annotations"},
    {"edf-bad-version.edf", "version field is \"1\", expected \"0\""},
    {"edf-bdf.edf", "BDF (24-bit) files are not supported"},
    {"edf-header-bytes.edf", "header bytes field is 512, expected 256 * (1 + 2 signals) = 768"},
    {"edf-unknown-records.edf", "number of data records is -1 (unknown or negative)"},
    // GE MUSE XML (muse_ecg1.xml, Median waveform dropped, Rhythm leads cut to 400 samples)
    {"muse-truncated.xml", "XML Start-end tags mismatch"},
    {"muse-bad-base64.xml", "lead I <WaveFormData>: invalid base64 character (byte 42) at offset 4"},
    {"muse-crc-mismatch.xml", "lead I: CRC-32 of the waveform data is 759126945, <LeadDataCRC32> says 12345"},
    {"muse-byte-count.xml", "<LeadByteCountTotal> is 9000 but <WaveFormData> holds 800 bytes"},
    {"muse-no-rhythm.xml", "no <Waveform> with <WaveformType>Rhythm</WaveformType>"},
    // entities are never expanded: "&lol9;" reaches the base64 decoder as text and its '&' (38) is refused
    {"muse-billion-laughs.xml", "lead I <WaveFormData>: invalid base64 character (byte 38) at offset 0"},
    // Philips XML (129DYPRG.XML)
    {"philips-truncated.xml", "XML Start-end tags mismatch"},
    {"philips-bad-base64.xml", "<parsedwaveforms>: invalid base64 character (byte 37) at offset 100"},
    {"philips-xli-overrun.xml", "XLI chunk 0: decodes to more than 2064 bytes (stream overruns)"},
    {"philips-xli-chunk-size.xml", "XLI chunk 0: payload of 2147483632 bytes runs past the end (24132 left)"},
    {"philips-xli-cut.xml", "XLI chunk 5: payload of 1403 bytes runs past the end (702 left)"},
    {"philips-bad-encoding.xml", "dataencoding \"Hex\" is not Base64"},
    // HL7 aECG (Example_aECG.xml, annotations dropped, digits cut to 300 values)
    {"aecg-truncated.xml", "XML Error parsing element attribute at line 360"},
    {"aecg-non-numeric.xml", "lead I: <digits> value 2 \"12x4\" is not an integer"},
    {"aecg-zero-scale.xml", "lead I: <scale> is not positive"},
    {"not-xml.xml", "XML Start-end tags mismatch at line 1, column 25"},
    // DICOM waveform (Example.dcm)
    {"dicom-truncated.dcm", "sequence (5400,0100) length 139576 at byte 3816 runs past the end (36184 bytes left)"},
    {"dicom-length-past-end.dcm", "element (0010,0010) length 2147483632 at byte 358 runs past the end (5 bytes left)"},
    {"dicom-deep-sequence.dcm", "sequence (5400,0100) at byte 576 nests deeper than 16 levels"},
    {"dicom-no-delimiter.dcm", "item of undefined length has no delimiter before byte 338"},
    {"dicom-no-waveform.dcm", "no Waveform Sequence (5400,0100): not a waveform object"},
    {"dicom-bad-magic.dcm", "no \"DICM\" at byte 128 and no DICOM element at byte 0"},
    // SCP-ECG (Example.scp)
    {"scp-truncated.scp", "file length field says 34144 bytes, the file has 8000 (truncated?)"},
    {"scp-length-field.scp", "file length field says 34644 bytes, the file has 34144 (truncated?)"},
    {"scp-file-crc.scp", "file CRC-CCITT mismatch: stored 0x066B, computed 0xBF0A"},
    {"scp-section-crc.scp", "section 6 CRC-CCITT mismatch: stored 0xF032, computed 0xB9DB"},
    {"scp-section-length.scp", "section 6 length 1048576 at byte 3818 runs past the end of the file (34144 bytes)"},
    {"scp-section-id.scp", "section at byte 3818 has id 9, section 0 says 6"},
    {"scp-huffman-never-ends.scp", "lead I: Huffman data end after 5010 of 20080 samples"},
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

void expect_refused(const std::string& path, const std::string& fragment) {
    try {
        read_ecg(path);
        FAIL() << path << " was read as a record";
    } catch (const std::runtime_error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
    }
}

TEST(BadInput, DirectoryIsNamedAsOne) { expect_refused(kBad, "is a directory"); }

// A FIFO made here (never committed): refused before it is opened, so the read cannot block.
TEST(BadInput, FifoIsNotARegularFile) {
    const std::string fifo =
        (std::filesystem::temp_directory_path() / ("diagecg-bad-input-" + std::to_string(::getpid()) + ".csv")).string();
    std::filesystem::remove(fifo);
    if (::mkfifo(fifo.c_str(), 0600) != 0) GTEST_SKIP() << "mkfifo failed";
    expect_refused(fifo, "is not a regular file");
    std::filesystem::remove(fifo);
}

// Well-formed records the signal-quality gate must call poor (listed in README.md, "Quality gate").
TEST(BadInput, QualityGateCallsPoor) {
    ReadOptions opts;
    opts.sample_rate_hz = 500.0;
    for (const char* file : {"poor-all-zeros.csv", "poor-white-noise.csv", "poor-flat-leads.csv", "poor-three-rows.csv"}) {
        const PreprocessResult pre = preprocess(read_ecg(kBad + file, opts));
        EXPECT_EQ(pre.quality.verdict, QualityVerdict::kPoor) << file << " is " << quality_verdict_name(pre.quality.verdict);
    }
}

}  // namespace
}  // namespace diagecg
