// NumPy .npy reader. Layout (NumPy NEP 1 / numpy.lib.format):
//  1. bytes 0-5: magic "\x93NUMPY"; bytes 6-7: major, minor version;
//  2. header length: u16 LE at byte 8 (v1) or u32 LE at byte 8 (v2, v3); the header starts right after;
//  3. header: an ASCII (v3: UTF-8) Python dict literal with keys 'descr', 'fortran_order', 'shape',
//     padded with spaces and ending in '\n';
//  4. the array data, C (row-major) or Fortran (column-major) order.
#include "diagecg/ecg/npy-reader.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string_view>

#include "diagecg/util/byte-reader.h"

namespace diagecg {
namespace {

constexpr int64_t kMaxElements = int64_t(1) << 31;

[[noreturn]] void fail(const std::string& where, const std::string& msg) {
    throw std::runtime_error("NPY file " + where + ": " + msg);
}

// Minimal parser for the dict literal numpy writes.
struct DictParser {
    std::string_view s;
    size_t i = 0;
    const std::string& where;

    void skip_ws() {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    }
    bool accept(char c) {
        skip_ws();
        if (i < s.size() && s[i] == c) {
            ++i;
            return true;
        }
        return false;
    }
    void expect(char c) {
        if (!accept(c)) {
            fail(where, std::string("header dict: expected '") + c + "' at offset " + std::to_string(i) + ", got " +
                            (i < s.size() ? "'" + std::string(1, s[i]) + "'" : "end of header"));
        }
    }
    std::string string_literal() {
        skip_ws();
        if (i >= s.size() || (s[i] != '\'' && s[i] != '"'))
            fail(where, "header dict: expected a quoted string at offset " + std::to_string(i));
        const char q = s[i++];
        const size_t end = s.find(q, i);
        if (end == std::string_view::npos) fail(where, "header dict: unterminated string");
        std::string out(s.substr(i, end - i));
        i = end + 1;
        return out;
    }
    bool boolean() {
        skip_ws();
        if (s.compare(i, 4, "True") == 0) {
            i += 4;
            return true;
        }
        if (s.compare(i, 5, "False") == 0) {
            i += 5;
            return false;
        }
        fail(where, "header dict: 'fortran_order' is not True or False");
    }
    int64_t integer() {
        skip_ws();
        const size_t b = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
        const auto v = parse_int64(s.substr(b, i - b));
        if (!v) fail(where, "header dict: shape entry at offset " + std::to_string(b) + " is not a size");
        if (i < s.size() && s[i] == 'L') ++i;  // Python 2 long suffix
        return *v;
    }
    std::vector<int64_t> shape() {
        std::vector<int64_t> out;
        expect('(');
        while (!accept(')')) {
            if (out.size() >= 32) fail(where, "header dict: shape has more than 32 dimensions");
            out.push_back(integer());
            if (!accept(',')) {
                expect(')');
                break;
            }
        }
        return out;
    }
};

std::string shape_string(const std::vector<int64_t>& shape) {
    std::string out = "(";
    for (size_t k = 0; k < shape.size(); ++k) out += (k ? ", " : "") + std::to_string(shape[k]);
    return out + ")";
}

}  // namespace

NpyHeader parse_npy_header(const uint8_t* bytes, size_t n_bytes, const std::string& where) {
    static const uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (n_bytes < 10 || std::memcmp(bytes, kMagic, 6) != 0) fail(where, "bad magic (not a .npy file)");
    const int major = bytes[6];
    size_t start = 0;
    uint64_t header_len = 0;
    if (major == 1) {
        header_len = load_u16le(bytes + 8);
        start = 10;
    } else if (major == 2 || major == 3) {
        if (n_bytes < 12) fail(where, "file ends inside the header length field");
        header_len = load_u32le(bytes + 8);
        start = 12;
    } else {
        fail(where, "format version " + std::to_string(major) + "." + std::to_string(bytes[7]) +
                        " is not supported (1.0, 2.0, 3.0)");
    }
    if (header_len > n_bytes - start) {
        fail(where, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                        std::to_string(n_bytes) + " bytes)");
    }
    DictParser p{std::string_view(reinterpret_cast<const char*>(bytes) + start, header_len), 0, where};
    NpyHeader h;
    bool has_descr = false, has_order = false, has_shape = false;
    p.expect('{');
    while (!p.accept('}')) {
        const std::string key = p.string_literal();
        p.expect(':');
        if (key == "descr") {
            h.descr = p.string_literal();
            has_descr = true;
        } else if (key == "fortran_order") {
            h.fortran_order = p.boolean();
            has_order = true;
        } else if (key == "shape") {
            h.shape = p.shape();
            has_shape = true;
        } else {
            fail(where, "header dict: unexpected key '" + key + "'");
        }
        if (!p.accept(',')) {
            p.expect('}');
            break;
        }
    }
    if (!has_descr || !has_order || !has_shape)
        fail(where, "header dict lacks one of 'descr', 'fortran_order', 'shape'");
    h.data_offset = static_cast<int64_t>(start + header_len);
    return h;
}

EcgRecord read_npy(const std::string& path, const ReadOptions& opts) {
    const std::vector<uint8_t> bytes = read_file_bytes(path);
    const NpyHeader h = parse_npy_header(bytes.data(), bytes.size(), path);
    std::string dtype = h.descr;
    if (dtype.size() == 3 && (dtype[0] == '=' || dtype[0] == '|')) dtype[0] = '<';  // native = little-endian here
    size_t item = 0;
    if (dtype == "<f4")
        item = 4;
    else if (dtype == "<f8")
        item = 8;
    else if (dtype == "<i2")
        item = 2;
    else
        fail(path, "dtype '" + h.descr + "' is not supported (supported: <f4, <f8, <i2)");
    if (h.shape.size() != 2) fail(path, "shape " + shape_string(h.shape) + " is not 2-D (expected [T, L] or [L, T])");
    const int64_t a = h.shape[0], b = h.shape[1];
    if (a == 0 || b == 0) fail(path, "shape " + shape_string(h.shape) + " is empty");
    if (a > kMaxElements / b) fail(path, "shape " + shape_string(h.shape) + " is over the limit of 2^31 values");
    const uint64_t need = static_cast<uint64_t>(a * b) * item;
    const uint64_t have = bytes.size() - static_cast<uint64_t>(h.data_offset);
    if (have < need) {
        fail(path, "data is " + std::to_string(have) + " bytes, shape " + shape_string(h.shape) + " of " + h.descr +
                       " needs " + std::to_string(need));
    }
    if (!opts.sample_rate_hz)
        throw std::invalid_argument("NPY file " + path + " has no sample rate: pass --sample-rate");
    if (!(*opts.sample_rate_hz > 0) || !std::isfinite(*opts.sample_rate_hz)) {
        throw std::invalid_argument("sample rate " + std::to_string(*opts.sample_rate_hz) + " Hz is not positive");
    }

    bool leads_first = false;  // true: [L, T]
    if (opts.layout == "LT") {
        leads_first = true;
    } else if (opts.layout == "auto") {
        const int64_t n_names = static_cast<int64_t>(opts.lead_names.size());
        if (a <= 16 && b > 16)
            leads_first = true;
        else if (b <= 16 && a > 16)
            leads_first = false;
        else if (n_names > 0 && (n_names == a) != (n_names == b))
            leads_first = n_names == a;
        else
            throw std::invalid_argument("NPY file " + path + " has shape " + shape_string(h.shape) +
                                        ": cannot tell leads from samples; pass --layout TL or LT");
    } else if (opts.layout != "TL") {
        throw std::invalid_argument("layout \"" + opts.layout + "\" is not one of auto, TL, LT");
    }
    const int64_t n_leads = leads_first ? a : b;
    const int64_t n_samples = leads_first ? b : a;

    EcgRecord rec;
    rec.name = std::filesystem::path(path).stem().string();
    rec.format = "npy";
    rec.sample_rate_hz = *opts.sample_rate_hz;
    rec.n_samples = n_samples;
    if (!opts.lead_names.empty()) {
        if (static_cast<int64_t>(opts.lead_names.size()) != n_leads) {
            throw std::invalid_argument("NPY file " + path + " has " + std::to_string(n_leads) + " leads, " +
                                        std::to_string(opts.lead_names.size()) + " lead names were given");
        }
        rec.lead_names = opts.lead_names;
    } else if (n_leads == 12) {
        rec.lead_names = standard_12_lead_names();
    } else {
        throw std::invalid_argument("NPY file " + path + " has " + std::to_string(n_leads) +
                                    " leads and no lead names: pass --leads");
    }
    rec.units.assign(static_cast<size_t>(n_leads), opts.units);
    rec.signal.resize(static_cast<size_t>(n_leads * n_samples));
    const uint8_t* data = bytes.data() + h.data_offset;
    for (int64_t l = 0; l < n_leads; ++l) {
        float* out = rec.lead(l);
        for (int64_t t = 0; t < n_samples; ++t) {
            const int64_t i = leads_first ? l : t;  // index along axis 0
            const int64_t j = leads_first ? t : l;  // index along axis 1
            const int64_t k = h.fortran_order ? i + j * a : i * b + j;
            const uint8_t* p = data + k * static_cast<int64_t>(item);
            if (item == 4) {
                const uint32_t u = load_u32le(p);
                std::memcpy(&out[t], &u, 4);
            } else if (item == 8) {
                const uint64_t u = load_u64le(p);
                double d;
                std::memcpy(&d, &u, 8);
                out[t] = static_cast<float>(d);
            } else {
                out[t] = static_cast<float>(static_cast<int16_t>(load_u16le(p)));
            }
        }
    }
    return rec;
}

}  // namespace diagecg
