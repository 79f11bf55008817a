// SCP-ECG reader. Layout: see scp-reader.h. Section numbers and field sizes follow EN 1064:2005.
#include "diagecg/ecg/scp-reader.h"

#include <array>
#include <filesystem>
#include <stdexcept>

#include "diagecg/util/byte-reader.h"
#include "diagecg/util/checksum.h"
#include "diagecg/util/log.h"

namespace diagecg {
namespace {

constexpr uint64_t kMaxScpBytes = 64ull << 20;
constexpr size_t kHeaderBytes = 16;
constexpr int kNumSections = 12;  // sections 0-11 are defined by the standard
constexpr uint16_t kDefaultTable = 19999;
constexpr size_t kMaxTables = 256;
constexpr size_t kMaxCodesPerTable = 1024;

[[noreturn]] void fail(const std::string& where, const std::string& msg) {
    throw std::runtime_error(where + ": " + msg);
}

struct Section {
    size_t offset = 0;  // of the section header in the file
    size_t length = 0;  // header included; 0 = absent
    const uint8_t* data(const uint8_t* file) const { return file + offset + kHeaderBytes; }
    size_t data_length() const { return length - kHeaderBytes; }
};

struct HuffCode {
    int prefix_bits = 0;
    int total_bits = 0;
    int mode = 1;  // 0: switch to table base_value (1-based)
    int32_t base_value = 0;
    uint32_t base_code = 0;  // bit-reversed: the first bit of the code is bit 0
};
using HuffTable = std::vector<HuffCode>;

// The default table of EN 1064 (Annex C), codes in reading order: 0 -> "0"; +-v (v = 1..8) -> v ones, a zero,
// then the sign bit (0 +, 1 -); nine ones and a zero -> an 8-bit value follows; ten ones -> a 16-bit value.
HuffTable default_table() {
    HuffTable t;
    auto add = [&](int prefix, int total, int value, uint32_t code) { t.push_back({prefix, total, 1, value, code}); };
    add(1, 1, 0, 0);
    for (int v = 1; v <= 8; ++v) {
        const int len = v + 2;
        const uint32_t ones = (1u << v) - 1;  // bit-reversed: the first bits read are the low bits
        add(len, len, v, ones);
        add(len, len, -v, ones | (1u << (len - 1)));
    }
    add(10, 18, 0, 0x1FF);
    add(10, 26, 0, 0x3FF);
    return t;
}

uint16_t u16(const uint8_t* p) {
    return load_u16le(p);
}
uint32_t u32(const uint8_t* p) {
    return load_u32le(p);
}

void check_crc(const uint8_t* p, size_t n, const std::string& what, const std::string& where) {
    const uint16_t stored = u16(p);
    const uint16_t got = crc_ccitt(p + 2, n - 2);
    if (stored != got)
        fail(where, what + " CRC-CCITT mismatch: stored 0x" + fmt::format("{:04X}", stored) + ", computed 0x" +
                        fmt::format("{:04X}", got));
}

std::vector<HuffTable> read_tables(const uint8_t* file, const Section& s, const std::string& where) {
    const std::string w = where + " section 2";
    const uint8_t* p = s.data(file);
    const size_t n = s.data_length();
    if (n < 2) fail(w, "too short for the table count");
    const uint16_t count = u16(p);
    if (count == kDefaultTable) return {default_table()};
    if (count == 0 || count > kMaxTables) fail(w, "table count " + std::to_string(count) + " is out of range");
    std::vector<HuffTable> tables;
    size_t at = 2;
    for (uint16_t t = 0; t < count; ++t) {
        if (n - at < 2) fail(w, "table " + std::to_string(t + 1) + " runs past the end of the section");
        const uint16_t n_codes = u16(p + at);
        at += 2;
        if (n_codes == 0 || n_codes > kMaxCodesPerTable)
            fail(w, "table " + std::to_string(t + 1) + " has " + std::to_string(n_codes) + " codes");
        if ((n - at) / 9 < n_codes) fail(w, "table " + std::to_string(t + 1) + " runs past the end of the section");
        HuffTable table;
        for (uint16_t c = 0; c < n_codes; ++c, at += 9) {
            HuffCode h{p[at], p[at + 1], p[at + 2], static_cast<int16_t>(u16(p + at + 3)), u32(p + at + 5)};
            if (h.prefix_bits < 1 || h.prefix_bits > 32 || h.total_bits < h.prefix_bits ||
                h.total_bits - h.prefix_bits > 32)
                fail(w, "table " + std::to_string(t + 1) + " code " + std::to_string(c + 1) + " has " +
                            std::to_string(h.prefix_bits) + " prefix and " + std::to_string(h.total_bits) +
                            " total bits");
            if (h.prefix_bits < 32) h.base_code &= (1u << h.prefix_bits) - 1;
            table.push_back(h);
        }
        tables.push_back(std::move(table));
    }
    return tables;
}

// Huffman-decodes n_samples values from one lead's bytes (MSB-first bit order).
std::vector<int32_t> huffman_decode(const uint8_t* p, size_t n_bytes, size_t n_samples,
                                    const std::vector<HuffTable>& tables, const std::string& w) {
    std::vector<int> max_prefix(tables.size(), 0);
    for (size_t t = 0; t < tables.size(); ++t)
        for (const HuffCode& h : tables[t]) max_prefix[t] = std::max(max_prefix[t], h.prefix_bits);
    const uint64_t n_bits = static_cast<uint64_t>(n_bytes) * 8;
    uint64_t pos = 0;
    auto bit = [&]() -> uint32_t {
        const uint32_t b = (p[pos >> 3] >> (7 - (pos & 7))) & 1u;
        ++pos;
        return b;
    };
    std::vector<int32_t> out;
    out.reserve(n_samples);
    size_t table = 0;
    while (out.size() < n_samples) {
        uint32_t code = 0;
        const HuffCode* hit = nullptr;
        for (int len = 1; !hit; ++len) {
            if (len > max_prefix[table])
                fail(w, "sample " + std::to_string(out.size()) + ": bits at " + std::to_string(pos - (len - 1)) +
                            " match no code of Huffman table " + std::to_string(table + 1));
            if (pos >= n_bits)
                fail(w, "Huffman data end after " + std::to_string(out.size()) + " of " + std::to_string(n_samples) +
                            " samples");
            code |= bit() << (len - 1);
            for (const HuffCode& h : tables[table])
                if (h.prefix_bits == len && h.base_code == code) {
                    hit = &h;
                    break;
                }
        }
        if (hit->mode == 0) {
            if (hit->base_value < 1 || static_cast<size_t>(hit->base_value) > tables.size())
                fail(w, "Huffman code switches to table " + std::to_string(hit->base_value) + " of " +
                            std::to_string(tables.size()));
            table = static_cast<size_t>(hit->base_value - 1);
            continue;
        }
        const int extra = hit->total_bits - hit->prefix_bits;
        if (extra == 0) {
            out.push_back(hit->base_value);
            continue;
        }
        if (n_bits - pos < static_cast<uint64_t>(extra))
            fail(w, "Huffman data end inside the " + std::to_string(extra) + "-bit value of sample " +
                        std::to_string(out.size()));
        uint64_t v = 0;
        for (int k = 0; k < extra; ++k) v = (v << 1) | bit();
        if (v >> (extra - 1)) v -= uint64_t{1} << extra;  // two's complement
        out.push_back(static_cast<int32_t>(static_cast<int64_t>(v)));
    }
    return out;
}

void undo_differences(std::vector<int32_t>& x, int order) {
    // Wrapping arithmetic: garbage input must not overflow a signed int.
    auto wrap = [](int64_t v) { return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(v))); };
    if (order == 1)
        for (size_t i = 1; i < x.size(); ++i) x[i] = wrap(int64_t{x[i]} + x[i - 1]);
    if (order == 2)
        for (size_t i = 2; i < x.size(); ++i) x[i] = wrap(int64_t{x[i]} + 2 * int64_t{x[i - 1]} - x[i - 2]);
}

// Section 1 tags; anything malformed is a warning (the Welch Allyn files rewrite this section badly).
void read_patient_tags(const uint8_t* p, size_t n, const std::string& where, PatientInfo& patient) {
    size_t at = 0;
    while (at < n) {
        if (n - at < 3) {
            log::warn("{} section 1: tag header at byte {} runs past the end; patient fields after it ignored", where,
                      at);
            return;
        }
        const uint8_t tag = p[at];
        const uint16_t len = u16(p + at + 1);
        at += 3;
        if (tag == 255) return;
        if (len > n - at) {
            log::warn("{} section 1: tag {} of {} bytes runs past the end; patient fields after it ignored", where, tag,
                      len);
            return;
        }
        const uint8_t* v = p + at;
        at += len;
        if (tag == 4 && len >= 3) {
            const double age = u16(v);
            const uint8_t unit = v[2];
            const double years = unit == 1   ? age
                                 : unit == 2 ? age / 12
                                 : unit == 3 ? age * 7 / 365.25
                                 : unit == 4 ? age / 365.25
                                 : unit == 5 ? age / (24 * 365.25)
                                             : -1;
            if (years >= 0 && years < 150)
                patient.age_years = years;
            else if (age != 0)
                log::warn("{} section 1: age {} (unit code {}) is implausible; ignored", where, age, unit);
        } else if (tag == 8 && len >= 1) {
            if (v[0] == 1)
                patient.sex = "male";
            else if (v[0] == 2)
                patient.sex = "female";
            else if (v[0] != 0 && v[0] != 9)
                log::warn("{} section 1: sex code {} is not defined; ignored", where, v[0]);
        } else if (tag == 25 && len >= 4) {
            const uint16_t year = u16(v);
            if (year >= 1900 && year <= 2200 && v[2] >= 1 && v[2] <= 12 && v[3] >= 1 && v[3] <= 31)
                patient.comments.push_back(fmt::format("acquired: {:04d}-{:02d}-{:02d}", year, v[2], v[3]));
            else
                log::warn("{} section 1: acquisition date {}-{}-{} is not valid; ignored", where, year, v[2], v[3]);
        }
    }
}

// Section 8 statements (Latin-1) into diagnoses.
void read_statements(const uint8_t* p, size_t n, const std::string& where, PatientInfo& patient) {
    if (n < 9) {
        log::warn("{} section 8: {} bytes, too short for its header; statements ignored", where, n);
        return;
    }
    const uint8_t count = p[8];
    size_t at = 9;
    for (uint8_t s = 0; s < count; ++s) {
        if (n - at < 3) {
            log::warn("{} section 8: statement {} runs past the end; the rest ignored", where, s + 1);
            return;
        }
        const uint16_t len = u16(p + at + 1);
        at += 3;
        if (len > n - at) {
            log::warn("{} section 8: statement {} of {} bytes runs past the end; the rest ignored", where, s + 1, len);
            return;
        }
        std::string text(reinterpret_cast<const char*>(p + at), len);
        at += len;
        text = text.substr(0, text.find('\0'));
        const std::string_view t = trim_view(text);
        if (!t.empty()) patient.diagnoses.push_back(latin1_to_utf8(t));
    }
}

}  // namespace

bool looks_like_scp(const uint8_t* bytes, size_t n_bytes) {
    if (n_bytes < 6 + kHeaderBytes) return false;
    const uint32_t length = u32(bytes + 2);
    return length >= 6 + kHeaderBytes && u16(bytes + 8) == 0 &&
           std::string(reinterpret_cast<const char*>(bytes + 16), 6) == "SCPECG";
}

StoredEcg decode_scp_ecg(const uint8_t* bytes, size_t n_bytes, const std::string& where) {
    if (n_bytes < 6 + kHeaderBytes)
        fail(where, "file of " + std::to_string(n_bytes) + " bytes is too short for SCP-ECG");
    const uint32_t file_length = u32(bytes + 2);
    if (file_length > n_bytes)
        fail(where, "file length field says " + std::to_string(file_length) + " bytes, the file has " +
                        std::to_string(n_bytes) + " (truncated?)");
    if (file_length < 6 + kHeaderBytes)
        fail(where, "file length field " + std::to_string(file_length) + " is too small");
    check_crc(bytes, file_length, "file", where);
    const size_t n = file_length;

    // Section 0 and its pointers.
    std::array<Section, kNumSections> sec{};
    auto section_at = [&](size_t offset, int id) {
        if (offset > n || n - offset < kHeaderBytes)
            fail(where, "section " + std::to_string(id) + " at byte " + std::to_string(offset) + " runs past the end");
        const uint16_t hid = u16(bytes + offset + 2);
        const uint32_t len = u32(bytes + offset + 4);
        if (hid != id)
            fail(where, "section at byte " + std::to_string(offset) + " has id " + std::to_string(hid) +
                            ", section 0 says " + std::to_string(id));
        if (len < kHeaderBytes || len > n - offset)
            fail(where, "section " + std::to_string(id) + " length " + std::to_string(len) + " at byte " +
                            std::to_string(offset) + " runs past the end of the file (" + std::to_string(n) +
                            " bytes)");
        check_crc(bytes + offset, len, "section " + std::to_string(id), where);
        return Section{offset, len};
    };
    sec[0] = section_at(6, 0);
    const uint8_t* s0 = sec[0].data(bytes);
    for (size_t at = 0; at + 10 <= sec[0].data_length(); at += 10) {
        const uint16_t id = u16(s0 + at);
        const uint32_t len = u32(s0 + at + 2);
        const uint32_t index = u32(s0 + at + 6);
        if (id == 0 || id >= kNumSections || len == 0) continue;  // sections above 11 are manufacturer-specific
        if (index == 0) fail(where, "section 0 points to section " + std::to_string(id) + " at index 0");
        sec[id] = section_at(index - 1, id);
    }
    if (sec[3].length == 0 || sec[6].length == 0) fail(where, "section 3 (leads) or 6 (rhythm data) is missing");

    StoredEcg out;
    out.format = "scp-ecg";
    try {
        if (sec[1].length) read_patient_tags(sec[1].data(bytes), sec[1].data_length(), where, out.patient);
    } catch (const std::exception& e) {
        log::warn("{} section 1: {}; patient fields ignored", where, e.what());
    }

    // Section 3: leads.
    const uint8_t* s3 = sec[3].data(bytes);
    const size_t n3 = sec[3].data_length();
    if (n3 < 2) fail(where, "section 3 is too short");
    const size_t n_leads = s3[0];
    const uint8_t flags = s3[1];
    if (n_leads == 0) fail(where, "section 3 lists no leads");
    if (n3 < 2 + 9 * n_leads)
        fail(where, "section 3 lists " + std::to_string(n_leads) + " leads but holds " + std::to_string(n3) + " bytes");
    if (flags & 1u)
        fail(where, "reference beat subtraction is used (section 3 flag); decoding it (sections 4/5) is not supported");

    // Section 6: rhythm data.
    const uint8_t* s6 = sec[6].data(bytes);
    const size_t n6 = sec[6].data_length();
    if (n6 < 6 + 2 * n_leads) fail(where, "section 6 is too short for " + std::to_string(n_leads) + " leads");
    const uint16_t avm_nv = u16(s6);
    const uint16_t interval_us = u16(s6 + 2);
    const uint8_t diff = s6[4];
    if (s6[5] != 0) fail(where, "bimodal compression is used (section 6); it is not supported");
    if (diff > 2) fail(where, "section 6 difference encoding " + std::to_string(diff) + " is not 0, 1 or 2");
    if (avm_nv == 0 || interval_us == 0) fail(where, "section 6 amplitude multiplier or sample interval is 0");
    out.sample_rate_hz = 1e6 / interval_us;

    const std::vector<HuffTable> tables = sec[2].length ? read_tables(bytes, sec[2], where) : std::vector<HuffTable>{};
    size_t data_at = 6 + 2 * n_leads;
    for (size_t l = 0; l < n_leads; ++l) {
        const uint8_t* d = s3 + 2 + 9 * l;
        const uint32_t first = u32(d), last = u32(d + 4);
        const uint8_t id = d[8];
        StoredLead lead;
        lead.name = scp_lead_name(id).value_or("lead-id-" + std::to_string(id));
        const std::string w = where + " lead " + lead.name;
        if (first == 0 || last < first)
            fail(w, "samples " + std::to_string(first) + ".." + std::to_string(last) + " in section 3 are not a range");
        const size_t n_samples = last - first + 1;
        const size_t n_lead_bytes = u16(s6 + 6 + 2 * l);
        if (n_lead_bytes > n6 - data_at)
            fail(w, std::to_string(n_lead_bytes) + " bytes of data run past the end of section 6");
        const uint8_t* ld = s6 + data_at;
        data_at += n_lead_bytes;
        if (tables.empty()) {
            if (n_samples > n_lead_bytes / 2)
                fail(w, std::to_string(n_samples) + " int16 samples need more than " + std::to_string(n_lead_bytes) +
                            " bytes");
            lead.samples.resize(n_samples);
            for (size_t i = 0; i < n_samples; ++i) lead.samples[i] = static_cast<int16_t>(u16(ld + 2 * i));
        } else {
            if (n_samples > 8 * n_lead_bytes)
                fail(w,
                     std::to_string(n_samples) + " samples cannot fit in " + std::to_string(n_lead_bytes) + " bytes");
            lead.samples = huffman_decode(ld, n_lead_bytes, n_samples, tables, w);
        }
        undo_differences(lead.samples, diff);
        lead.lsb_uv = avm_nv / 1000.0;
        out.leads.push_back(std::move(lead));
    }
    for (const StoredLead& l : out.leads)
        if (l.samples.size() != out.leads[0].samples.size())
            fail(where, "lead " + l.name + " has " + std::to_string(l.samples.size()) + " samples, lead " +
                            out.leads[0].name + " has " + std::to_string(out.leads[0].samples.size()));
    if (sec[8].length) read_statements(sec[8].data(bytes), sec[8].data_length(), where, out.patient);
    return out;
}

EcgRecord read_scp_ecg(const std::string& path) {
    const std::vector<uint8_t> bytes = read_file_bytes(path, kMaxScpBytes);
    const std::string where = "SCP-ECG file " + path;
    return to_ecg_record(decode_scp_ecg(bytes.data(), bytes.size(), where), std::filesystem::path(path).stem().string(),
                         where);
}

}  // namespace diagecg
