// WFDB records: header parsing, signal decoding with initial-value and checksum checks, and
// patient fields from header comments. Header layout: see wfdb-reader.h.
// Signal files (PhysioNet WFDB "signal(5)"):
//  1. The signals stored in one file are interleaved: frame t holds sample t of each of the file's
//     signals in header order; the first frame starts BYTE_OFFSET bytes into the file.
//  2. Formats: 8 = int8 first differences, the running sum starting at the initial value;
//     16 = int16 LE; 24 = int24 LE; 32 = int32 LE; 61 = int16 BE; 80 = uint8 offset by 128;
//     212 = two 12-bit samples in 3 bytes (b0 = s0 bits 0-7, b1 low nibble = s0 bits 8-11,
//     b1 high nibble = s1 bits 8-11, b2 = s1 bits 0-7).
//  3. The format's most negative code (-32768 for 16/61, -2048 for 212, ...) marks an invalid sample.
//  4. Checksum: the 16-bit wrap-around sum of all of a signal's samples (adu), as a signed int.
#include "diagecg/ecg/wfdb-reader.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string_view>

#include "diagecg/util/byte-reader.h"
#include "diagecg/util/log.h"

namespace diagecg {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxSignals = 1000;
constexpr int64_t kMaxTotalSamples = int64_t(1) << 31;  // n_samples * n_signals
constexpr const char* kSupportedFormats = "8, 16, 24, 32, 61, 80, 212";
// A header without a sample count is read up to this long (a Holter-length file; the rest is left unread with a
// warning): reading never costs more memory than the samples the header promises or this bound.
constexpr double kMaxUncountedDurationS = 3600.0;

[[noreturn]] void fail_at(const std::string& where, int line, const std::string& msg) {
    throw std::runtime_error(where + " line " + std::to_string(line) + ": " + msg);
}

std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::vector<std::string_view> split_ws(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
        const size_t b = i;
        while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
        if (i > b) out.push_back(s.substr(b, i - b));
    }
    return out;
}

bool is_supported_format(int f) { return f == 8 || f == 16 || f == 24 || f == 32 || f == 61 || f == 80 || f == 212; }

int64_t require_int(std::string_view tok, const char* what, int64_t lo, int64_t hi, const std::string& where,
                    int line) {
    const auto v = parse_int64(tok);
    if (!v) fail_at(where, line, std::string(what) + " " + in_quotes(tok) + " is not an integer");
    if (*v < lo || *v > hi) {
        fail_at(where, line,
                std::string(what) + " " + std::to_string(*v) + " is out of range [" + std::to_string(lo) + ", " +
                    std::to_string(hi) + "]");
    }
    return *v;
}

// Record and signal lines must be printable ASCII (plus tabs).
void check_ascii(std::string_view line, const std::string& where, int line_no) {
    for (size_t i = 0; i < line.size(); ++i) {
        const auto u = static_cast<unsigned char>(line[i]);
        if ((u < 0x20 && u != '\t') || u >= 0x7f) {
            static const char* hex = "0123456789ABCDEF";
            fail_at(where, line_no,
                    std::string("unexpected byte 0x") + hex[u >> 4] + hex[u & 15] + " at column " +
                        std::to_string(i + 1) + " (expected ASCII text)");
        }
    }
}

// Comment text with invalid UTF-8 sequences and control characters replaced by '?'.
std::string sanitize_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const auto u = static_cast<unsigned char>(s[i]);
        size_t len = u < 0x80 ? 1 : (u >> 5) == 6 ? 2 : (u >> 4) == 14 ? 3 : (u >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= s.size();
        for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 2;
        if (!ok || (len == 1 && u < 0x20 && u != '\t')) {
            out.push_back('?');
            ++i;
            continue;
        }
        out.append(s.substr(i, len));
        i += len;
    }
    return out;
}

// FORMAT[xSAMPLES_PER_FRAME][:SKEW][+BYTE_OFFSET]
void parse_format_field(std::string_view f, WfdbSignalSpec& sig, const std::string& where, int line) {
    size_t i = 0;
    while (i < f.size() && std::isdigit(static_cast<unsigned char>(f[i]))) ++i;
    sig.format = static_cast<int>(require_int(f.substr(0, i), "signal format", 0, 9999, where, line));
    if (!is_supported_format(sig.format)) {
        fail_at(
            where, line,
            "signal format " + std::to_string(sig.format) + " is not supported (supported: " + kSupportedFormats + ")");
    }
    while (i < f.size()) {
        const char tag = f[i++];
        size_t j = i;
        while (j < f.size() && f[j] != 'x' && f[j] != ':' && f[j] != '+') ++j;
        const std::string_view num = f.substr(i, j - i);
        if (tag == 'x') {
            sig.samples_per_frame = static_cast<int>(require_int(num, "samples per frame", 1, 1000000, where, line));
        } else if (tag == ':') {
            sig.skew = static_cast<int>(require_int(num, "skew", 0, 1000000000, where, line));
        } else if (tag == '+') {
            sig.byte_offset = require_int(num, "byte offset", 0, int64_t(1) << 40, where, line);
        } else {
            fail_at(where, line,
                    "format field " + in_quotes(f) + " is malformed (expected FORMAT[xN][:SKEW][+OFFSET])");
        }
        i = j;
    }
}

// ADC_GAIN[(BASELINE)][/UNITS]; returns whether a baseline was given.
bool parse_gain_field(std::string_view g, WfdbSignalSpec& sig, const std::string& where, int line) {
    const size_t slash = g.find('/');
    if (slash != std::string_view::npos) {
        sig.units = std::string(g.substr(slash + 1));
        g = g.substr(0, slash);
    }
    bool has_baseline = false;
    const size_t paren = g.find('(');
    if (paren != std::string_view::npos) {
        if (g.back() != ')') fail_at(where, line, "gain field " + in_quotes(g) + " has no closing ')'");
        const std::string_view b = g.substr(paren + 1, g.size() - paren - 2);
        sig.baseline = static_cast<double>(require_int(b, "baseline", INT32_MIN, INT32_MAX, where, line));
        has_baseline = true;
        g = g.substr(0, paren);
    }
    const auto gain = parse_finite_double(g);
    if (!gain) fail_at(where, line, "gain " + in_quotes(g) + " is not a number");
    sig.adc_gain = *gain == 0.0 ? 200.0 : *gain;
    return has_baseline;
}

WfdbSignalSpec parse_signal_line(std::string_view text, const std::string& where, int line) {
    const auto tok = split_ws(text);
    WfdbSignalSpec sig;
    sig.line = line;
    sig.file_name = std::string(tok[0]);
    if (sig.file_name.find_first_of("/\\") != std::string::npos || sig.file_name == "..") {
        fail_at(where, line, "signal file name " + in_quotes(sig.file_name) + " must be a plain file name");
    }
    if (tok.size() < 2) fail_at(where, line, "signal line has no format field");
    parse_format_field(tok[1], sig, where, line);
    bool has_baseline = false;
    if (tok.size() > 2) has_baseline = parse_gain_field(tok[2], sig, where, line);
    if (tok.size() > 3)
        sig.adc_resolution = static_cast<int>(require_int(tok[3], "ADC resolution", 0, 64, where, line));
    if (tok.size() > 4)
        sig.adc_zero = static_cast<int>(require_int(tok[4], "ADC zero", INT32_MIN, INT32_MAX, where, line));
    if (!has_baseline) sig.baseline = sig.adc_zero;
    if (tok.size() > 5) {
        sig.init_value = require_int(tok[5], "initial value", INT32_MIN, INT32_MAX, where, line);
        sig.has_init_value = true;
    }
    if (tok.size() > 6) {
        sig.checksum = static_cast<int>(require_int(tok[6], "checksum", INT32_MIN, INT32_MAX, where, line));
        sig.has_checksum = true;
    }
    if (tok.size() > 7) sig.block_size = static_cast<int>(require_int(tok[7], "block size", 0, INT32_MAX, where, line));
    for (size_t k = 8; k < tok.size(); ++k) {
        if (!sig.description.empty()) sig.description += ' ';
        sig.description += std::string(tok[k]);
    }
    return sig;
}

// Number of whole samples held by n_bytes of a format's stream.
int64_t bytes_to_samples(int format, int64_t n_bytes) {
    switch (format) {
        case 8:
        case 80: return n_bytes;
        case 16:
        case 61: return n_bytes / 2;
        case 24: return n_bytes / 3;
        case 32: return n_bytes / 4;
        case 212: return (n_bytes / 3) * 2 + (n_bytes % 3 == 2 ? 1 : 0);
    }
    return 0;
}

// Bytes that hold n samples (the inverse of bytes_to_samples, rounded up).
int64_t samples_to_bytes(int format, int64_t n) {
    switch (format) {
        case 8:
        case 80: return n;
        case 16:
        case 61: return 2 * n;
        case 24: return 3 * n;
        case 32: return 4 * n;
        case 212: return (3 * n + 1) / 2;
    }
    return 0;
}

int64_t invalid_code(int format) {
    switch (format) {
        case 16:
        case 61: return -32768;
        case 24: return -(int64_t(1) << 23);
        case 32: return INT32_MIN;
        case 80: return -128;
        case 212: return -2048;
    }
    return std::numeric_limits<int64_t>::min();  // format 8 (differences) has none
}

// Value i of the stream (format 8: the difference, not the sample). The caller checked the bounds.
int64_t decode_at(int format, const uint8_t* p, int64_t i) {
    switch (format) {
        case 8: return static_cast<int8_t>(p[i]);
        case 16: return static_cast<int16_t>(load_u16le(p + 2 * i));
        case 61: return static_cast<int16_t>(static_cast<uint16_t>((p[2 * i] << 8) | p[2 * i + 1]));
        case 24: {
            const uint8_t* q = p + 3 * i;
            int32_t v = q[0] | (q[1] << 8) | (q[2] << 16);
            return v >= (1 << 23) ? v - (1 << 24) : v;
        }
        case 32: return static_cast<int32_t>(load_u32le(p + 4 * i));
        case 80: return static_cast<int64_t>(p[i]) - 128;
        case 212: {
            const uint8_t* q = p + 3 * (i / 2);
            const int v = (i % 2 == 0) ? (q[0] | ((q[1] & 0x0F) << 8)) : (q[2] | ((q[1] & 0xF0) << 4));
            return v >= 2048 ? v - 4096 : v;
        }
    }
    return 0;
}

// Signals sharing one signal file, in header order.
struct SignalFile {
    std::string file_name;
    std::vector<int> signals;
    std::vector<uint8_t> bytes;
};

std::string resolve_signal_file(const fs::path& dir, const WfdbHeader& h, const WfdbSignalSpec& sig,
                                const std::string& stem, const std::string& where) {
    const fs::path p = dir / sig.file_name;
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p.string();
    // A record renamed on disk (LUDB's "1.hea" stored as "ludb-ecg.hea") still names "1.dat" inside.
    const std::string& rn = h.record_name;
    if (rn != stem && sig.file_name.compare(0, rn.size() + 1, rn + ".") == 0) {
        const fs::path alt = dir / (stem + sig.file_name.substr(rn.size()));
        if (fs::is_regular_file(alt, ec)) {
            log::debug("{}: signal file {} not found, using {}", where, sig.file_name, alt.string());
            return alt.string();
        }
    }
    fail_at(where, sig.line, "signal file \"" + p.string() + "\" does not exist");
}

std::string signal_label(const std::string& where, int s, const WfdbSignalSpec& sig) {
    return where + " signal " + std::to_string(s + 1) + " (" + sig.description + ")";
}

}  // namespace

WfdbHeader parse_wfdb_header(const std::string& text, const std::string& where) {
    WfdbHeader h;
    bool have_record_line = false;
    int record_line = 0;
    int line_no = 0;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        const std::string_view raw(text.data() + pos, end - pos);
        pos = end + 1;
        ++line_no;
        const std::string_view line = trim_view(raw);
        if (line.empty()) continue;
        if (line[0] == '#') {
            h.comments.push_back(sanitize_utf8(trim_view(line.substr(1))));
            continue;
        }
        check_ascii(line, where, line_no);
        if (!have_record_line) {
            have_record_line = true;
            record_line = line_no;
            const auto tok = split_ws(line);
            if (tok[0].find('/') != std::string_view::npos) {
                fail_at(where, line_no, "multi-segment records (" + std::string(tok[0]) + ") are not supported");
            }
            h.record_name = std::string(tok[0]);
            if (tok.size() < 2) fail_at(where, line_no, "record line has no signal count");
            h.n_signals = static_cast<int>(require_int(tok[1], "signal count", 1, kMaxSignals, where, line_no));
            if (tok.size() > 2) {
                const std::string_view f = tok[2].substr(0, tok[2].find('/'));
                const auto fs_hz = parse_finite_double(f);
                if (!fs_hz || *fs_hz <= 0 || *fs_hz > 1e6) {
                    fail_at(where, line_no, "sampling frequency " + in_quotes(tok[2]) + " is not a number in (0, 1e6]");
                }
                h.sample_rate_hz = *fs_hz;
            }
            if (tok.size() > 3) {
                h.n_samples =
                    require_int(tok[3], "sample count", 0, std::numeric_limits<int64_t>::max(), where, line_no);
                if (h.n_samples > kMaxTotalSamples / h.n_signals) {
                    fail_at(where, line_no,
                            std::to_string(h.n_samples) + " samples x " + std::to_string(h.n_signals) +
                                " signals is over the limit of 2^31 values");
                }
            }
            continue;
        }
        if (static_cast<int>(h.signals.size()) == h.n_signals) {
            fail_at(where, line_no,
                    "more signal lines than the " + std::to_string(h.n_signals) + " signals the record line (line " +
                        std::to_string(record_line) + ") declares");
        }
        h.signals.push_back(parse_signal_line(line, where, line_no));
    }
    if (!have_record_line) throw std::runtime_error(where + ": no record line (empty or comment-only header)");
    if (static_cast<int>(h.signals.size()) != h.n_signals) {
        fail_at(where, record_line,
                "record line declares " + std::to_string(h.n_signals) + " signals, header has " +
                    std::to_string(h.signals.size()) + " signal lines");
    }
    return h;
}

EcgRecord read_wfdb(const std::string& hea_path) {
    const std::string& where = hea_path;
    const WfdbHeader h = parse_wfdb_header(read_file_text(hea_path, 1u << 20), where);
    const fs::path hp(hea_path);
    const fs::path dir = hp.parent_path();
    const std::string stem = hp.stem().string();

    std::vector<SignalFile> files;
    for (int s = 0; s < h.n_signals; ++s) {
        const WfdbSignalSpec& sig = h.signals[s];
        if (sig.samples_per_frame != 1) {
            fail_at(where, sig.line,
                    "signal " + std::to_string(s + 1) + " has " + std::to_string(sig.samples_per_frame) +
                        " samples per frame; only 1 is supported");
        }
        if (sig.skew != 0) fail_at(where, sig.line, "skew " + std::to_string(sig.skew) + " is not supported (only 0)");
        auto it =
            std::find_if(files.begin(), files.end(), [&](const SignalFile& f) { return f.file_name == sig.file_name; });
        if (it == files.end()) {
            files.push_back({sig.file_name, {s}, {}});
            continue;
        }
        const WfdbSignalSpec& first = h.signals[it->signals.front()];
        if (sig.format != first.format || sig.byte_offset != first.byte_offset) {
            fail_at(where, sig.line,
                    "signal file " + sig.file_name + " holds signals of format " + std::to_string(first.format) + "+" +
                        std::to_string(first.byte_offset) + " and " + std::to_string(sig.format) + "+" +
                        std::to_string(sig.byte_offset) + "; one file must have one format and byte offset");
        }
        it->signals.push_back(s);
    }

    // Load the files and settle the sample count before allocating the signal.
    int64_t n_samples = h.n_samples;
    for (size_t g = 0; g < files.size(); ++g) {
        SignalFile& f = files[g];
        const WfdbSignalSpec& first = h.signals[f.signals.front()];
        const std::string path = resolve_signal_file(dir, h, first, stem, where);
        const int64_t k = static_cast<int64_t>(f.signals.size());
        // Read only what the header promises (or the uncounted bound), never the whole of a larger file.
        const int64_t want_samples = h.n_samples > 0 ? h.n_samples
                                                      : std::max<int64_t>(1, std::llround(kMaxUncountedDurationS * h.sample_rate_hz));
        const uint64_t want_bytes = static_cast<uint64_t>(first.byte_offset) +
                                    static_cast<uint64_t>(samples_to_bytes(first.format, std::min(want_samples, kMaxTotalSamples) * k));
        uint64_t file_size = 0;
        f.bytes = read_file_prefix(path, want_bytes, &file_size);
        const int64_t size = static_cast<int64_t>(f.bytes.size());
        if (h.n_samples == 0 && file_size > want_bytes)
            log::warn("{}: no sample count in the header and {} is {} bytes: reading the first {:g} s only", where, path,
                      file_size, kMaxUncountedDurationS);
        if (first.byte_offset > size) {
            fail_at(where, first.line,
                    "byte offset " + std::to_string(first.byte_offset) + " is past the end of " + path + " (" +
                        std::to_string(size) + " bytes)");
        }
        const int64_t held = bytes_to_samples(first.format, size - first.byte_offset) / k;
        if (h.n_samples == 0 && g == 0) n_samples = held;
        if (held < n_samples) {
            fail_at(where, first.line,
                    "signal file " + path + " holds " + std::to_string(held) + " samples per signal (" +
                        std::to_string(size - first.byte_offset) + " data bytes, " + std::to_string(k) +
                        " signals of format " + std::to_string(first.format) + "), header says " +
                        std::to_string(n_samples));
        }
    }
    if (n_samples == 0) throw std::runtime_error(where + ": the record has no samples");
    if (n_samples > kMaxTotalSamples / h.n_signals) {
        throw std::runtime_error(where + ": " + std::to_string(n_samples) + " samples x " +
                                 std::to_string(h.n_signals) + " signals is over the limit of 2^31 values");
    }

    EcgRecord rec;
    rec.name = stem;
    rec.sample_rate_hz = h.sample_rate_hz;
    rec.n_samples = n_samples;
    rec.signal.assign(static_cast<size_t>(n_samples) * h.n_signals, 0.0f);
    for (int s = 0; s < h.n_signals; ++s) {
        const WfdbSignalSpec& sig = h.signals[s];
        rec.lead_names.push_back(sig.description.empty() ? "signal " + std::to_string(s + 1) : sig.description);
        rec.units.push_back(sig.units);
    }
    std::string formats;
    for (const SignalFile& f : files) {
        const int k = static_cast<int>(f.signals.size());
        const int format = h.signals[f.signals.front()].format;
        const uint8_t* data = f.bytes.data() + h.signals[f.signals.front()].byte_offset;
        const std::string tag = std::to_string(format);
        if (formats.find(tag) == std::string::npos) formats += (formats.empty() ? "" : "+") + tag;
        const int64_t invalid = invalid_code(format);
        for (int j = 0; j < k; ++j) {
            const int s = f.signals[j];
            const WfdbSignalSpec& sig = h.signals[s];
            float* out = rec.lead(s);
            uint16_t sum = 0;
            int64_t running = sig.init_value;  // format 8 only
            for (int64_t t = 0; t < n_samples; ++t) {
                int64_t v = decode_at(format, data, t * k + j);
                if (format == 8) v = running += v;
                sum = static_cast<uint16_t>(sum + static_cast<uint16_t>(v));
                out[t] = v == invalid ? std::numeric_limits<float>::quiet_NaN()
                                      : static_cast<float>((static_cast<double>(v) - sig.baseline) / sig.adc_gain);
                if (t == 0 && sig.has_init_value && format != 8 && v != sig.init_value) {
                    throw std::runtime_error(signal_label(where, s, sig) + ": initial value mismatch: header says " +
                                             std::to_string(sig.init_value) + ", first sample is " + std::to_string(v));
                }
            }
            if (sig.has_checksum && static_cast<int16_t>(sum) != static_cast<int16_t>(sig.checksum)) {
                throw std::runtime_error(signal_label(where, s, sig) + ": checksum mismatch: header says " +
                                         std::to_string(sig.checksum) + ", data gives " +
                                         std::to_string(static_cast<int16_t>(sum)));
            }
        }
    }
    rec.format = "wfdb-" + formats;
    rec.patient = parse_patient_comments(h.comments);
    log::debug("read {}: {} signals x {} samples at {} Hz ({})", where, h.n_signals, n_samples, h.sample_rate_hz,
               rec.format);
    return rec;
}

namespace {

bool is_empty_value(const std::string& v) {
    const std::string l = lower(v);
    return l.empty() || l == "n/a" || l == "no" || l == "none" || l == "unknown" || l == "nan" || l == "?";
}

std::optional<double> parse_age(std::string_view v) {
    const auto tok = split_ws(v);
    if (tok.empty()) return std::nullopt;
    const auto a = parse_finite_double(tok[0]);
    if (!a || *a < 0 || *a > 150) return std::nullopt;
    return a;
}

std::optional<std::string> parse_sex(std::string_view v) {
    const std::string l = lower(trim_view(v));
    if (l == "m" || l == "male") return std::string("male");
    if (l == "f" || l == "female") return std::string("female");
    return std::nullopt;
}

std::string strip_final_period(std::string_view s) {
    s = trim_view(s);
    while (!s.empty() && s.back() == '.') s = trim_view(s.substr(0, s.size() - 1));
    return std::string(s);
}

}  // namespace

PatientInfo parse_patient_comments(const std::vector<std::string>& comments) {
    PatientInfo p;
    p.comments = comments;
    bool in_diagnosis_list = false;  // LUDB: lines after "<diagnoses>:" are diagnoses
    for (const std::string& c : comments) {
        const std::string_view s = trim_view(c);
        if (s.empty()) continue;
        std::string key;
        std::string value;
        bool angle = false;
        const size_t close = s.find('>');
        if (s[0] == '<' && close != std::string_view::npos && close + 1 < s.size() && s[close + 1] == ':') {
            key = lower(s.substr(1, close - 1));
            value = std::string(trim_view(s.substr(close + 2)));
            angle = true;
            in_diagnosis_list = false;
        } else if (in_diagnosis_list) {
            const std::string d = strip_final_period(s);
            if (!d.empty()) p.diagnoses.push_back(d);
            continue;
        } else if (const size_t colon = s.find(':'); colon != std::string_view::npos) {
            key = lower(trim_view(s.substr(0, colon)));
            value = std::string(trim_view(s.substr(colon + 1)));
        }
        static const char* kSpaceKeys[] = {"age", "sex", "diagnosis"};  // MUSE: "age 71", "sex FEMALE"
        static const char* kKnownKeys[] = {"age",
                                           "sex",
                                           "gender",
                                           "dx",
                                           "diagnosis",
                                           "diagnoses",
                                           "height",
                                           "weight",
                                           "reason for admission",
                                           "acute infarction (localization)",
                                           "additional diagnoses"};
        const bool known =
            std::any_of(std::begin(kKnownKeys), std::end(kKnownKeys), [&](const char* k) { return key == k; });
        if (!known && !angle) {
            const size_t sp = s.find_first_of(" \t");
            const std::string first = lower(s.substr(0, sp));
            if (sp != std::string_view::npos &&
                std::any_of(std::begin(kSpaceKeys), std::end(kSpaceKeys), [&](const char* k) { return first == k; })) {
                key = first;
                value = std::string(trim_view(s.substr(sp)));
            }
        }
        if (key == "age") {
            p.age_years = parse_age(value);
        } else if (key == "sex" || key == "gender") {
            p.sex = parse_sex(value);
        } else if (key == "height") {
            if (const auto v = parse_finite_double(trim_view(value)); v && *v > 0) p.height_cm = v;
        } else if (key == "weight") {
            if (const auto v = parse_finite_double(trim_view(value)); v && *v > 0) p.weight_kg = v;
        } else if (key == "dx") {
            size_t b = 0;
            while (b <= value.size()) {
                size_t e = value.find(',', b);
                if (e == std::string::npos) e = value.size();
                const std::string code(trim_view(std::string_view(value).substr(b, e - b)));
                if (!is_empty_value(code)) p.diagnoses.push_back(code);
                b = e + 1;
            }
        } else if (key == "diagnosis" || key == "diagnoses") {
            if (angle && value.empty()) {
                in_diagnosis_list = true;
            } else if (!is_empty_value(value)) {
                p.diagnoses.push_back(strip_final_period(value));
            }
        } else if (key == "reason for admission" || key == "additional diagnoses") {
            if (!is_empty_value(value)) p.diagnoses.push_back(value);
        } else if (key == "acute infarction (localization)") {
            if (!is_empty_value(value))
                p.diagnoses.push_back(std::string(s));  // the value alone ("infero-latera") says little
        }
    }
    return p;
}

}  // namespace diagecg
