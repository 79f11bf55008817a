// EDF / EDF+ reader (Kemp et al. 1992; EDF+ spec, Kemp & Olivan 2003). Layout: see edf-reader.h.
// Fixed header field widths (bytes): version 8, patient 80, recording 80, start date 8, start time 8,
// header bytes 8, reserved 44, n_records 8, record duration 8, n_signals 4 (total 256).
// Per-signal fields, each stored for all signals before the next: label 16, transducer 80,
// physical dimension 8, physical min 8, physical max 8, digital min 8, digital max 8,
// prefiltering 80, samples per record 8, reserved 32 (total 256 per signal).
// EDF+ patient field: "CODE SEX BIRTHDATE NAME" (SEX M/F/X, BIRTHDATE dd-MMM-yyyy);
// EDF+ recording field: "Startdate dd-MMM-yyyy ...".
#include "diagecg/ecg/edf-reader.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string_view>

#include "diagecg/util/byte-reader.h"

namespace diagecg {
namespace {

constexpr int64_t kMaxSignals = 1000;
constexpr int64_t kMaxTotalSamples = int64_t(1) << 31;

[[noreturn]] void fail(const std::string& where, const std::string& msg) {
    throw std::runtime_error("EDF file " + where + ": " + msg);
}

// A fixed-width ASCII field, trimmed; non-printable bytes are an error.
std::string field(const uint8_t* p, size_t width, const char* name, const std::string& where) {
    for (size_t i = 0; i < width; ++i) {
        if (p[i] < 0x20 || p[i] > 0x7e) {
            fail(where, std::string("field '") + name + "' has non-ASCII byte " + std::to_string(p[i]));
        }
    }
    return std::string(trim_view(std::string_view(reinterpret_cast<const char*>(p), width)));
}

int64_t int_field(const uint8_t* p, size_t width, const char* name, const std::string& where) {
    const std::string s = field(p, width, name, where);
    const auto v = parse_int64(s);
    if (!v) fail(where, std::string("field '") + name + "' is \"" + s + "\", not an integer");
    return *v;
}

double num_field(const uint8_t* p, size_t width, const char* name, const std::string& where) {
    const std::string s = field(p, width, name, where);
    const auto v = parse_finite_double(s);
    if (!v) fail(where, std::string("field '") + name + "' is \"" + s + "\", not a number");
    return *v;
}

// "dd-MMM-yyyy" -> days-comparable (year, month, day), or year 0 when malformed.
struct Date {
    int year = 0, month = 0, day = 0;
};

Date parse_edf_plus_date(std::string_view s) {
    static const char* kMonths[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
    Date d;
    if (s.size() != 11 || s[2] != '-' || s[6] != '-') return d;
    const auto day = parse_int64(s.substr(0, 2));
    const auto year = parse_int64(s.substr(7, 4));
    int month = 0;
    for (int m = 0; m < 12; ++m) {
        bool same = true;
        for (int k = 0; k < 3; ++k) same = same && std::toupper(static_cast<unsigned char>(s[3 + k])) == kMonths[m][k];
        if (same) month = m + 1;
    }
    if (!day || !year || month == 0) return d;
    return {static_cast<int>(*year), month, static_cast<int>(*day)};
}

std::vector<std::string_view> split_spaces(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && s[i] == ' ') ++i;
        const size_t b = i;
        while (i < s.size() && s[i] != ' ') ++i;
        if (i > b) out.push_back(s.substr(b, i - b));
    }
    return out;
}

// Sex and age from the EDF+ patient and recording fields; the patient name is not kept.
PatientInfo edf_plus_patient(const EdfHeader& h) {
    PatientInfo p;
    const auto pat = split_spaces(h.patient);
    if (pat.size() >= 2) {
        if (pat[1] == "M") p.sex = "male";
        if (pat[1] == "F") p.sex = "female";
    }
    const auto rec = split_spaces(h.recording);
    if (pat.size() >= 3 && rec.size() >= 2 && rec[0] == "Startdate") {
        const Date born = parse_edf_plus_date(pat[2]);
        const Date at = parse_edf_plus_date(rec[1]);
        if (born.year > 0 && at.year > 0) {
            int age = at.year - born.year;
            if (at.month < born.month || (at.month == born.month && at.day < born.day)) --age;
            if (age >= 0 && age <= 150) p.age_years = age;
        }
    }
    return p;
}

}  // namespace

EdfHeader parse_edf_header(const uint8_t* bytes, size_t n_bytes, const std::string& where) {
    if (n_bytes < 256)
        fail(where, "file is " + std::to_string(n_bytes) + " bytes, shorter than the 256-byte EDF header");
    if (bytes[0] == 0xFF) fail(where, "BDF (24-bit) files are not supported");
    const std::string version = field(bytes, 8, "version", where);
    if (version != "0") fail(where, "version field is \"" + version + "\", expected \"0\"");
    EdfHeader h;
    h.patient = field(bytes + 8, 80, "patient", where);
    h.recording = field(bytes + 88, 80, "recording", where);
    h.header_bytes = int_field(bytes + 184, 8, "header bytes", where);
    const std::string reserved = field(bytes + 192, 44, "reserved", where);
    h.edf_plus = reserved.compare(0, 4, "EDF+") == 0;
    h.discontinuous = reserved.compare(0, 5, "EDF+D") == 0;
    h.n_records = int_field(bytes + 236, 8, "number of data records", where);
    h.record_duration_s = num_field(bytes + 244, 8, "data record duration", where);
    const int64_t n_signals = int_field(bytes + 252, 4, "number of signals", where);
    if (n_signals < 1 || n_signals > kMaxSignals) {
        fail(where, "number of signals " + std::to_string(n_signals) + " is out of range [1, " +
                        std::to_string(kMaxSignals) + "]");
    }
    if (h.n_records < 0)
        fail(where, "number of data records is " + std::to_string(h.n_records) + " (unknown or negative)");
    if (!(h.record_duration_s > 0))
        fail(where, "data record duration " + std::to_string(h.record_duration_s) + " s is not positive");
    if (h.header_bytes != 256 * (n_signals + 1)) {
        fail(where, "header bytes field is " + std::to_string(h.header_bytes) + ", expected 256 * (1 + " +
                        std::to_string(n_signals) + " signals) = " + std::to_string(256 * (n_signals + 1)));
    }
    if (n_bytes < static_cast<size_t>(h.header_bytes)) {
        fail(where, "file is " + std::to_string(n_bytes) + " bytes, shorter than its " +
                        std::to_string(h.header_bytes) + "-byte header");
    }
    const size_t ns = static_cast<size_t>(n_signals);
    const uint8_t* base = bytes + 256;
    // Offsets of each per-signal field block, in units of ns bytes.
    const uint8_t* labels = base;
    const uint8_t* dims = base + ns * (16 + 80);
    const uint8_t* pmin = dims + ns * 8;
    const uint8_t* pmax = pmin + ns * 8;
    const uint8_t* dmin = pmax + ns * 8;
    const uint8_t* dmax = dmin + ns * 8;
    const uint8_t* spr = dmax + ns * (8 + 80);
    for (size_t s = 0; s < ns; ++s) {
        EdfSignalSpec sig;
        sig.label = field(labels + 16 * s, 16, "label", where);
        sig.physical_dimension = field(dims + 8 * s, 8, "physical dimension", where);
        sig.physical_min = num_field(pmin + 8 * s, 8, "physical minimum", where);
        sig.physical_max = num_field(pmax + 8 * s, 8, "physical maximum", where);
        sig.digital_min = int_field(dmin + 8 * s, 8, "digital minimum", where);
        sig.digital_max = int_field(dmax + 8 * s, 8, "digital maximum", where);
        sig.samples_per_record = int_field(spr + 8 * s, 8, "samples per record", where);
        const std::string which = "signal " + std::to_string(s + 1) + " (" + sig.label + "): ";
        if (sig.digital_min < -32768 || sig.digital_max > 32767 || sig.digital_min >= sig.digital_max) {
            fail(where, which + "digital range [" + std::to_string(sig.digital_min) + ", " +
                            std::to_string(sig.digital_max) + "] is not an increasing 16-bit range");
        }
        if (sig.physical_min == sig.physical_max) fail(where, which + "physical minimum equals physical maximum");
        if (sig.samples_per_record < 1 || sig.samples_per_record > 10000000) {
            fail(where,
                 which + "samples per record " + std::to_string(sig.samples_per_record) + " is out of range [1, 1e7]");
        }
        h.signals.push_back(sig);
    }
    return h;
}

EcgRecord read_edf(const std::string& path) {
    const std::vector<uint8_t> bytes = read_file_bytes(path);
    const EdfHeader h = parse_edf_header(bytes.data(), bytes.size(), path);
    if (h.discontinuous) fail(path, "EDF+D (discontinuous) recordings are not supported");

    int64_t record_samples = 0;  // all signals, annotations included
    std::vector<size_t> data_signals;
    for (size_t s = 0; s < h.signals.size(); ++s) {
        record_samples += h.signals[s].samples_per_record;
        if (h.edf_plus && h.signals[s].label == "EDF Annotations") continue;
        data_signals.push_back(s);
    }
    if (data_signals.empty()) fail(path, "has no signals other than annotations");
    const EdfSignalSpec& first = h.signals[data_signals.front()];
    for (size_t s : data_signals) {
        if (h.signals[s].samples_per_record != first.samples_per_record) {
            fail(path, "signal " + std::to_string(s + 1) + " (" + h.signals[s].label + ") has " +
                           std::to_string(h.signals[s].samples_per_record) + " samples per record, signal " +
                           std::to_string(data_signals.front() + 1) + " (" + first.label + ") has " +
                           std::to_string(first.samples_per_record) + ": mixed sample rates are not supported");
        }
    }
    const double rate_hz = static_cast<double>(first.samples_per_record) / h.record_duration_s;
    if (!(rate_hz >= 1e-3 && rate_hz <= 1e6)) {  // %g: an absurd duration must not print 300 digits
        char msg[160];
        std::snprintf(msg, sizeof msg, "sample rate %.3g Hz (%lld samples per %.3g s record) is out of range [0.001, 1e6]",
                      rate_hz, static_cast<long long>(first.samples_per_record), h.record_duration_s);
        fail(path, msg);
    }
    const int64_t n_leads = static_cast<int64_t>(data_signals.size());
    if (h.n_records > kMaxTotalSamples / record_samples ||
        h.n_records * first.samples_per_record > kMaxTotalSamples / n_leads) {
        fail(path, std::to_string(h.n_records) + " data records of " + std::to_string(record_samples) +
                       " samples is over the limit of 2^31 values");
    }
    const int64_t record_bytes = 2 * record_samples;
    const int64_t need = h.header_bytes + h.n_records * record_bytes;
    if (static_cast<int64_t>(bytes.size()) < need) {
        fail(path, "file is " + std::to_string(bytes.size()) + " bytes, header says " + std::to_string(need) + " (" +
                       std::to_string(h.n_records) + " data records of " + std::to_string(record_bytes) + " bytes)");
    }

    EcgRecord rec;
    rec.name = std::filesystem::path(path).stem().string();
    rec.format = h.edf_plus ? "edf+" : "edf";
    rec.sample_rate_hz = static_cast<double>(first.samples_per_record) / h.record_duration_s;
    rec.n_samples = h.n_records * first.samples_per_record;
    rec.signal.resize(static_cast<size_t>(n_leads * rec.n_samples));
    for (size_t s : data_signals) {
        rec.lead_names.push_back(h.signals[s].label);
        rec.units.push_back(h.signals[s].physical_dimension);
    }
    std::vector<int64_t> offset_in_record(h.signals.size(), 0);
    for (size_t s = 1; s < h.signals.size(); ++s) {
        offset_in_record[s] = offset_in_record[s - 1] + 2 * h.signals[s - 1].samples_per_record;
    }
    const int64_t spr = first.samples_per_record;
    for (int64_t l = 0; l < n_leads; ++l) {
        const EdfSignalSpec& sig = h.signals[data_signals[l]];
        const double scale =
            (sig.physical_max - sig.physical_min) / static_cast<double>(sig.digital_max - sig.digital_min);
        float* out = rec.lead(l);
        for (int64_t r = 0; r < h.n_records; ++r) {
            const uint8_t* p = bytes.data() + h.header_bytes + r * record_bytes + offset_in_record[data_signals[l]];
            for (int64_t k = 0; k < spr; ++k) {
                const int64_t dig = static_cast<int16_t>(load_u16le(p + 2 * k));
                out[r * spr + k] =
                    static_cast<float>(sig.physical_min + static_cast<double>(dig - sig.digital_min) * scale);
            }
        }
    }
    if (h.edf_plus) rec.patient = edf_plus_patient(h);
    rec.patient.comments.push_back(h.recording);
    return rec;
}

}  // namespace diagecg
