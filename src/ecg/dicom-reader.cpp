// DICOM waveform reader: a bounded parser of the data set tree (lengths checked against the bytes left,
// sequence nesting at most kMaxDepth) and the few waveform, channel and patient elements. Layout: see
// dicom-reader.h; element tags and VRs from DICOM PS3.6, waveform module from PS3.3 C.10.9.
#include "diagecg/ecg/dicom-reader.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "diagecg/util/byte-reader.h"

namespace diagecg {
namespace {

constexpr uint64_t kMaxDicomBytes = 256ull << 20;
constexpr int kMaxDepth = 16;
constexpr size_t kMaxElements = 1u << 20;
constexpr uint32_t kUndefined = 0xFFFFFFFFu;

constexpr uint32_t tag(uint16_t group, uint16_t element) {
    return (uint32_t{group} << 16) | element;
}
constexpr uint32_t kItem = tag(0xFFFE, 0xE000);
constexpr uint32_t kItemEnd = tag(0xFFFE, 0xE00D);
constexpr uint32_t kSequenceEnd = tag(0xFFFE, 0xE0DD);
constexpr uint32_t kTransferSyntax = tag(0x0002, 0x0010);
constexpr uint32_t kPixelData = tag(0x7FE0, 0x0010);
constexpr uint32_t kWaveformSequence = tag(0x5400, 0x0100);
constexpr uint32_t kChannelCount = tag(0x003A, 0x0005);
constexpr uint32_t kSampleCount = tag(0x003A, 0x0010);
constexpr uint32_t kSamplingFrequency = tag(0x003A, 0x001A);
constexpr uint32_t kGroupLabel = tag(0x003A, 0x0020);
constexpr uint32_t kChannelDefinitions = tag(0x003A, 0x0200);
constexpr uint32_t kChannelLabel = tag(0x003A, 0x0203);
constexpr uint32_t kChannelSource = tag(0x003A, 0x0208);
constexpr uint32_t kSensitivity = tag(0x003A, 0x0210);
constexpr uint32_t kSensitivityUnits = tag(0x003A, 0x0211);
constexpr uint32_t kCorrection = tag(0x003A, 0x0212);
constexpr uint32_t kBaseline = tag(0x003A, 0x0213);
constexpr uint32_t kBitsAllocated = tag(0x5400, 0x1004);
constexpr uint32_t kInterpretation = tag(0x5400, 0x1006);
constexpr uint32_t kWaveformData = tag(0x5400, 0x1010);
constexpr uint32_t kCodeValue = tag(0x0008, 0x0100);
constexpr uint32_t kCodingScheme = tag(0x0008, 0x0102);
constexpr uint32_t kCodeMeaning = tag(0x0008, 0x0104);
constexpr uint32_t kAnnotations = tag(0x0040, 0xB020);
constexpr uint32_t kConceptName = tag(0x0040, 0xA043);
constexpr uint32_t kNumericValue = tag(0x0040, 0xA30A);
constexpr uint32_t kUnitsCode = tag(0x0040, 0x08EA);
constexpr uint32_t kUnformattedText = tag(0x0070, 0x0006);
constexpr uint32_t kPatientSex = tag(0x0010, 0x0040);
constexpr uint32_t kPatientAge = tag(0x0010, 0x1010);
constexpr uint32_t kManufacturer = tag(0x0008, 0x0070);
constexpr uint32_t kModel = tag(0x0008, 0x1090);
constexpr uint32_t kStudyDate = tag(0x0008, 0x0020);

[[noreturn]] void fail(const std::string& where, const std::string& msg) {
    throw std::runtime_error(where + ": " + msg);
}

std::string tag_str(uint32_t t) {
    return fmt::format("({:04X},{:04X})", t >> 16, t & 0xFFFFu);
}

// VRs of the elements read here, for Implicit VR files (PS3.6).
const char* implicit_vr(uint32_t t) {
    switch (t) {
        case kWaveformSequence:
        case kChannelDefinitions:
        case kChannelSource:
        case kSensitivityUnits:
        case kAnnotations:
        case kConceptName:
        case kUnitsCode:
        case tag(0x003A, 0x0209):
            return "SQ";
        case kChannelCount:
        case kBitsAllocated:
        case tag(0x003A, 0x021A):
            return "US";
        case kSampleCount:
            return "UL";
        case kWaveformData:
            return "OW";
        default:
            return "";
    }
}

bool long_length_vr(const std::string& vr) {
    for (const char* v : {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
        if (vr == v) return true;
    return false;
}

struct DataSet;
struct Element {
    uint32_t tag = 0;
    std::string vr;
    const uint8_t* value = nullptr;
    size_t length = 0;
    std::vector<DataSet> items;  // for sequences
};
struct DataSet {
    std::vector<Element> elements;
    const Element* find(uint32_t t) const {
        for (const Element& e : elements)
            if (e.tag == t) return &e;
        return nullptr;
    }
};

class Parser {
public:
    Parser(const uint8_t* bytes, std::string where) : p_(bytes), where_(std::move(where)) {}

    // Elements from pos to end; with until_item_end, up to and including an item delimiter. Returns the position after.
    // With meta_only, stops before the first element outside group 0002.
    size_t dataset(size_t pos, size_t end, bool explicit_vr, bool until_item_end, int depth, DataSet& out,
                   bool meta_only = false) {
        while (pos < end) {
            if (meta_only && (end - pos < 2 || load_u16le(p_ + pos) != 0x0002)) return pos;
            if (end - pos < 8) fail(where_, "element header at byte " + std::to_string(pos) + " runs past the end");
            const uint32_t t = tag(load_u16le(p_ + pos), load_u16le(p_ + pos + 2));
            if (t == kItemEnd) {
                if (!until_item_end) fail(where_, "unexpected item delimiter at byte " + std::to_string(pos));
                return pos + 8;
            }
            if ((t >> 16) == 0xFFFE) fail(where_, "unexpected " + tag_str(t) + " at byte " + std::to_string(pos));
            if (++n_elements_ > kMaxElements) fail(where_, "more than " + std::to_string(kMaxElements) + " elements");
            const bool ex = explicit_vr || (t >> 16) == 0x0002;
            Element el;
            el.tag = t;
            uint32_t len = 0;
            if (ex) {
                el.vr.assign(reinterpret_cast<const char*>(p_ + pos + 4), 2);
                if (!std::isupper(static_cast<unsigned char>(el.vr[0])) ||
                    !std::isupper(static_cast<unsigned char>(el.vr[1])))
                    fail(where_, "element " + tag_str(t) + " at byte " + std::to_string(pos) +
                                     " has no valid VR (not Explicit VR Little Endian?)");
                if (long_length_vr(el.vr)) {
                    if (end - pos < 12)
                        fail(where_, "element header at byte " + std::to_string(pos) + " runs past the end");
                    len = load_u32le(p_ + pos + 8);
                    pos += 12;
                } else {
                    len = load_u16le(p_ + pos + 6);
                    pos += 8;
                }
            } else {
                el.vr = implicit_vr(t);
                len = load_u32le(p_ + pos + 4);
                pos += 8;
            }
            if (el.vr == "SQ" || len == kUndefined) {
                if (t == kPixelData) return end;  // encapsulated pixel data: nothing after it is needed
                pos = sequence(pos, end, ex && el.vr != "UN", len, depth + 1, el);
            } else {
                if (len > end - pos)
                    fail(where_, "element " + tag_str(t) + " length " + std::to_string(len) + " at byte " +
                                     std::to_string(pos) + " runs past the end (" + std::to_string(end - pos) +
                                     " bytes left)");
                el.value = p_ + pos;
                el.length = len;
                pos += len;
            }
            out.elements.push_back(std::move(el));
        }
        if (until_item_end)
            fail(where_, "item of undefined length has no delimiter before byte " + std::to_string(end));
        return pos;
    }

private:
    size_t sequence(size_t pos, size_t end, bool explicit_vr, uint32_t len, int depth, Element& el) {
        if (depth > kMaxDepth)
            fail(where_, "sequence " + tag_str(el.tag) + " at byte " + std::to_string(pos) + " nests deeper than " +
                             std::to_string(kMaxDepth) + " levels");
        const bool undefined = len == kUndefined;
        if (!undefined && len > end - pos)
            fail(where_, "sequence " + tag_str(el.tag) + " length " + std::to_string(len) + " at byte " +
                             std::to_string(pos) + " runs past the end (" + std::to_string(end - pos) + " bytes left)");
        const size_t seq_end = undefined ? end : pos + len;
        while (pos < seq_end) {
            if (seq_end - pos < 8) fail(where_, "item header at byte " + std::to_string(pos) + " runs past the end");
            const uint32_t t = tag(load_u16le(p_ + pos), load_u16le(p_ + pos + 2));
            const uint32_t item_len = load_u32le(p_ + pos + 4);
            pos += 8;
            if (t == kSequenceEnd) return pos;
            if (t != kItem)
                fail(where_, "sequence " + tag_str(el.tag) + ": expected an item at byte " + std::to_string(pos - 8) +
                                 ", found " + tag_str(t));
            DataSet item;
            if (item_len == kUndefined) {
                pos = dataset(pos, seq_end, explicit_vr, true, depth, item);
            } else {
                if (item_len > seq_end - pos)
                    fail(where_, "item length " + std::to_string(item_len) + " at byte " + std::to_string(pos) +
                                     " runs past the end of its sequence");
                dataset(pos, pos + item_len, explicit_vr, false, depth, item);
                pos += item_len;
            }
            el.items.push_back(std::move(item));
        }
        if (undefined) fail(where_, "sequence " + tag_str(el.tag) + " of undefined length has no delimiter");
        return pos;
    }

    const uint8_t* p_;
    std::string where_;
    size_t n_elements_ = 0;
};

std::string str(const DataSet& ds, uint32_t t) {
    const Element* e = ds.find(t);
    if (!e || !e->value) return "";
    std::string s(reinterpret_cast<const char*>(e->value), e->length);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
    return std::string(trim_view(s));
}

// A numeric element: binary for US/UL/SS/SL/FL/FD, else the first value of a DS/IS string.
std::optional<double> number(const DataSet& ds, uint32_t t, const std::string& where) {
    const Element* e = ds.find(t);
    if (!e || !e->value) return std::nullopt;
    const uint8_t* v = e->value;
    if (e->vr == "US" && e->length >= 2) return load_u16le(v);
    if (e->vr == "UL" && e->length >= 4) return load_u32le(v);
    if (e->vr == "SS" && e->length >= 2) return static_cast<int16_t>(load_u16le(v));
    if (e->vr == "SL" && e->length >= 4) return static_cast<int32_t>(load_u32le(v));
    if (e->vr == "US" || e->vr == "UL" || e->vr == "SS" || e->vr == "SL")
        fail(where, "element " + tag_str(t) + " (" + e->vr + ") has " + std::to_string(e->length) + " bytes");
    std::string s = str(ds, t);
    s = s.substr(0, s.find('\\'));
    const auto d = parse_finite_double(trim_view(s));
    if (!d) fail(where, "element " + tag_str(t) + " is \"" + s + "\", not a number");
    return d;
}

// Lead name of a channel: SCPECG code "5.6.3-9-<n>", else a code meaning or label naming a lead.
std::string channel_name(const DataSet& ch, size_t index) {
    const std::string label = str(ch, kChannelLabel);
    if (const Element* src = ch.find(kChannelSource); src && !src->items.empty()) {
        const DataSet& code = src->items[0];
        const std::string value = str(code, kCodeValue);
        const std::string prefix = "5.6.3-9-";
        if (str(code, kCodingScheme) == "SCPECG" && value.rfind(prefix, 0) == 0)
            if (const auto id = parse_int64(value.substr(prefix.size())))
                if (const auto name = scp_lead_name(static_cast<int>(*id))) return *name;
        const std::string meaning = str(code, kCodeMeaning);
        if (!meaning.empty() && canonical_lead_label(meaning) != meaning) return canonical_lead_label(meaning);
        if (!meaning.empty() && label.empty()) return meaning;
    }
    if (!label.empty()) return canonical_lead_label(label);
    return "channel-" + std::to_string(index + 1);
}

double unit_to_uv(const DataSet& ch, const std::string& where) {
    const Element* u = ch.find(kSensitivityUnits);
    if (!u || u->items.empty()) return 1.0;  // PS3.3: the units are required; uV when absent
    const std::string code = str(u->items[0], kCodeValue);
    if (code == "uV") return 1.0;
    if (code == "mV") return 1000.0;
    if (code == "V") return 1e6;
    if (code == "nV") return 1e-3;
    fail(where, "channel sensitivity unit \"" + code + "\" is not a voltage (uV, mV, V, nV)");
}

void read_patient(const DataSet& root, const std::string& where, PatientInfo& p) {
    const std::string sex = str(root, kPatientSex);
    if (sex == "M") p.sex = "male";
    if (sex == "F") p.sex = "female";
    const std::string age = str(root, kPatientAge);  // AS: nnnD, nnnW, nnnM or nnnY
    if (age.size() == 4) {
        if (const auto v = parse_int64(age.substr(0, 3))) {
            const char u = age[3];
            const double d = static_cast<double>(*v);
            if (u == 'Y') p.age_years = d;
            if (u == 'M') p.age_years = d / 12.0;
            if (u == 'W') p.age_years = d * 7.0 / 365.25;
            if (u == 'D') p.age_years = d / 365.25;
        }
    }
    if (const Element* ann = root.find(kAnnotations)) {
        for (const DataSet& a : ann->items) {
            if (const std::string text = str(a, kUnformattedText); !text.empty()) {
                p.diagnoses.push_back(text);
                continue;
            }
            const Element* concept_name = a.find(kConceptName);
            const auto value = a.find(kNumericValue) ? number(a, kNumericValue, where) : std::nullopt;
            if (!concept_name || concept_name->items.empty() || !value) continue;
            std::string unit;
            if (const Element* u = a.find(kUnitsCode); u && !u->items.empty())
                unit = " " + str(u->items[0], kCodeValue);
            p.comments.push_back(str(concept_name->items[0], kCodeMeaning) + ": " + fmt::format("{:g}", *value) + unit);
        }
    }
    const std::string device = str(root, kManufacturer) + " " + str(root, kModel);
    if (trim_view(device).size() > 0) p.comments.push_back("device: " + std::string(trim_view(device)));
    if (const std::string d = str(root, kStudyDate); !d.empty()) p.comments.push_back("study date: " + d);
}

}  // namespace

bool looks_like_dicom(const uint8_t* bytes, size_t n_bytes) {
    if (n_bytes >= 132 && std::string(reinterpret_cast<const char*>(bytes + 128), 4) == "DICM") return true;
    if (n_bytes < 8) return false;
    const uint16_t group = load_u16le(bytes);
    return (group == 0x0002 || group == 0x0008) && load_u16le(bytes + 2) < 0x0100;
}

StoredEcg decode_dicom_ecg(const uint8_t* bytes, size_t n_bytes, const std::string& where) {
    size_t pos = 0;
    if (n_bytes >= 132 && std::string(reinterpret_cast<const char*>(bytes + 128), 4) == "DICM")
        pos = 132;
    else if (!looks_like_dicom(bytes, n_bytes))
        fail(where, "no \"DICM\" at byte 128 and no DICOM element at byte 0");
    Parser parser(bytes, where);

    // File meta group (always Explicit VR LE), then the data set in its transfer syntax.
    DataSet meta;
    const size_t meta_end = parser.dataset(pos, n_bytes, true, false, 0, meta, /*meta_only=*/true);
    std::string syntax = str(meta, kTransferSyntax);
    bool explicit_vr = false;
    if (syntax.empty()) {
        // No meta group: Implicit VR LE unless the first element carries a VR.
        explicit_vr = n_bytes - meta_end >= 6 && std::isupper(bytes[meta_end + 4]) && std::isupper(bytes[meta_end + 5]);
    } else if (syntax == "1.2.840.10008.1.2.1") {
        explicit_vr = true;
    } else if (syntax != "1.2.840.10008.1.2") {
        fail(where, "transfer syntax " + syntax + " is not supported (only Implicit or Explicit VR Little Endian)");
    }
    DataSet root;
    parser.dataset(meta_end, n_bytes, explicit_vr, false, 0, root);

    // The rhythm multiplex group: labelled RHYTHM, else the one with most samples.
    const Element* waves = root.find(kWaveformSequence);
    if (!waves || waves->items.empty()) fail(where, "no Waveform Sequence (5400,0100): not a waveform object");
    const DataSet* group = nullptr;
    double best_samples = -1;
    for (const DataSet& g : waves->items) {
        std::string label = str(g, kGroupLabel);
        for (char& c : label) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        const double n = number(g, kSampleCount, where).value_or(0);
        if (label.find("RHYTHM") != std::string::npos) {
            group = &g;
            break;
        }
        if (n > best_samples) group = &g, best_samples = n;
    }
    const std::string w = where + " multiplex group \"" + str(*group, kGroupLabel) + "\"";
    const auto n_channels = number(*group, kChannelCount, w);
    const auto n_samples = number(*group, kSampleCount, w);
    const auto rate = number(*group, kSamplingFrequency, w);
    if (!n_channels || *n_channels < 1 || !n_samples || *n_samples < 1 || !rate || !(*rate > 0))
        fail(
            w,
            "number of channels (003A,0005), samples (003A,0010) or sampling frequency (003A,001A) missing or invalid");
    const auto bits = number(*group, kBitsAllocated, w).value_or(16);
    const std::string interp = str(*group, kInterpretation);
    if (bits != 16 || (interp != "SS" && interp != "US"))
        fail(w, "samples of " + std::to_string(static_cast<int>(bits)) + " bits, interpretation \"" + interp +
                    "\": only 16-bit SS/US are supported");
    const Element* defs = group->find(kChannelDefinitions);
    const auto nc = static_cast<size_t>(*n_channels);
    if (!defs || defs->items.size() != nc)
        fail(w, std::to_string(nc) + " channels but " + std::to_string(defs ? defs->items.size() : 0) +
                    " channel definitions (003A,0200)");
    const Element* data = group->find(kWaveformData);
    if (!data || !data->value) fail(w, "no Waveform Data (5400,1010)");
    if (*n_samples > static_cast<double>(data->length) / 2.0 / static_cast<double>(nc))
        fail(w, "Waveform Data of " + std::to_string(data->length) + " bytes is too short for " + std::to_string(nc) +
                    " channels x " + std::to_string(static_cast<int64_t>(*n_samples)) + " samples");
    const auto ns = static_cast<size_t>(*n_samples);

    StoredEcg out;
    out.format = "dicom";
    out.sample_rate_hz = *rate;
    for (size_t c = 0; c < nc; ++c) {
        const DataSet& ch = defs->items[c];
        StoredLead lead;
        lead.name = channel_name(ch, c);
        const std::string wc = w + " channel " + lead.name;
        const double sensitivity = number(ch, kSensitivity, wc).value_or(1.0);
        const double correction = number(ch, kCorrection, wc).value_or(1.0);
        lead.lsb_uv = sensitivity * correction * unit_to_uv(ch, wc);
        lead.baseline = number(ch, kBaseline, wc).value_or(0.0);
        if (!(lead.lsb_uv > 0) && !(lead.lsb_uv < 0)) fail(wc, "channel sensitivity x correction is 0");
        lead.samples.resize(ns);
        for (size_t i = 0; i < ns; ++i) {
            const uint16_t v = load_u16le(data->value + 2 * (i * nc + c));
            lead.samples[i] = interp == "SS" ? int32_t{static_cast<int16_t>(v)} : int32_t{v};
        }
        out.leads.push_back(std::move(lead));
    }
    read_patient(root, where, out.patient);
    for (const DataSet& g : waves->items)
        if (&g != group) out.patient.comments.push_back("multiplex group \"" + str(g, kGroupLabel) + "\" not read");
    return out;
}

EcgRecord read_dicom_ecg(const std::string& path) {
    const std::vector<uint8_t> bytes = read_file_bytes(path, kMaxDicomBytes);
    const std::string where = "DICOM file " + path;
    return to_ecg_record(decode_dicom_ecg(bytes.data(), bytes.size(), where),
                         std::filesystem::path(path).stem().string(), where);
}

}  // namespace diagecg
