// Philips SierraECG / PhilipsECG XML reader. Layout: see philips-reader.h.
#include "diagecg/ecg/philips-reader.h"

#include <cmath>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "diagecg/ecg/lead-map.h"
#include "diagecg/ecg/xli.h"
#include "diagecg/util/base64.h"
#include "diagecg/util/byte-reader.h"
#include "xml-util.h"

namespace diagecg {
namespace {

constexpr uint64_t kMaxXmlBytes = 256ull << 20;
constexpr double kMaxSamplesPerLead = 1e7;
constexpr int kMaxLeads = 64;
// The trailing calibration segment of an 11-s Philips record: 300 ms (150 samples at 500 Hz).
constexpr double kCalibrationTailS = 0.3;
constexpr double kRecordWithTailS = 11.0;

[[noreturn]] void fail(const std::string& where, const std::string& msg) {
    throw std::runtime_error(where + ": " + msg);
}

int32_t floor_half(int32_t v) {
    return v >= 0 ? v / 2 : -((-v + 1) / 2);
}

// "YYYY-MM-DD" -> years as a fraction, or nullopt.
std::optional<double> date_years(const std::string& s) {
    if (s.size() < 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
    const auto y = parse_int64(s.substr(0, 4)), m = parse_int64(s.substr(5, 2)), d = parse_int64(s.substr(8, 2));
    if (!y || !m || !d || *m < 1 || *m > 12 || *d < 1 || *d > 31) return std::nullopt;
    return static_cast<double>(*y) + (static_cast<double>(*m) - 1) / 12.0 + (static_cast<double>(*d) - 1) / 365.25;
}

void read_patient(const pugi::xml_node& root, const std::string& where, PatientInfo& p) {
    const pugi::xml_node gen = root.child("patient").child("generalpatientdata");
    const pugi::xml_node age = gen.child("age");
    if (const auto years = xml::child_number(age, "years", where)) {
        p.age_years = *years;
    } else if (const auto dob = date_years(xml::child_text(age, "dateofbirth").value_or(""))) {
        const auto when = date_years(root.child("dataacquisition").attribute("date").value());
        if (when && *when >= *dob) p.age_years = std::floor(*when - *dob);
    }
    const std::string sex = xml::child_text(gen, "sex").value_or("");
    if (sex == "Male") p.sex = "male";
    if (sex == "Female") p.sex = "female";

    for (const pugi::xml_node interp : root.child("interpretations").children("interpretation")) {
        for (const pugi::xml_node st : interp.children("statement")) {
            std::string s = xml::child_text(st, "leftstatement").value_or("");
            const std::string right = xml::child_text(st, "rightstatement").value_or("");
            if (!right.empty()) s += (s.empty() ? "" : " (") + right + (s.empty() ? "" : ")");
            if (!s.empty()) p.diagnoses.push_back(s);
        }
        if (const auto sev = xml::child_text(interp, "severity"); sev && !sev->empty()) p.diagnoses.push_back(*sev);
    }
    const pugi::xml_node acq = root.child("dataacquisition");
    if (const std::string m = xml::text(acq.child("machine")); !m.empty()) p.comments.push_back("machine: " + m);
    if (const std::string d = acq.attribute("date").value(); !d.empty())
        p.comments.push_back(std::string("acquired: ") + d + " " + acq.attribute("time").value());
    p.comments.push_back("waveform: trailing 300 ms calibration pulse of an 11-s record cut");
}

std::vector<std::string> lead_labels(const pugi::xml_node& waves, const pugi::xml_node& sig, const std::string& where) {
    std::vector<std::string> labels;
    const std::string attr = waves.attribute("leadlabels").value();
    if (!attr.empty()) {
        std::istringstream in(attr);
        for (std::string l; in >> l;) labels.push_back(canonical_lead_label(l));
        if (const auto n = xml::attr_number(waves, "numberofleads", where)) {
            if (*n < 1 || *n > static_cast<double>(labels.size()))
                fail(where,
                     "numberofleads=" + std::to_string(*n) + " but leadlabels names " + std::to_string(labels.size()));
            labels.resize(static_cast<size_t>(*n));
        }
        return labels;
    }
    const std::string type = xml::child_text(sig, "acquisitiontype").value_or("");
    const auto n = xml::child_number(sig, "numberchannelsallocated", where);
    if (!n || *n < 1 || *n > kMaxLeads) fail(where, "no leadlabels and no valid <numberchannelsallocated>");
    if ((type != "STD-12" && type != "10-WIRE") || *n != 12)
        fail(where, "no leadlabels, and acquisition type \"" + type + "\" with " + std::to_string(*n) +
                        " channels is not a standard 12-lead set");
    return {kCanonicalLeads.begin(), kCanonicalLeads.end()};
}

}  // namespace

namespace xml {

StoredEcg philips_from_xml(const pugi::xml_document& doc, const std::string& where) {
    const pugi::xml_node root = doc.document_element();
    if (std::string(root.name()) != "restingecgdata")
        fail(where, std::string("root element is <") + root.name() + ">, not <restingecgdata> (Philips)");
    const std::string doc_type = child_text(root, "documentinfo/documenttype").value_or("");
    const std::string doc_ver = child_text(root, "documentinfo/documentversion").value_or("");
    if (doc_type != "SierraECG" && doc_type != "PhilipsECG")
        fail(where, "<documenttype> \"" + doc_type + "\" is not SierraECG or PhilipsECG");

    const pugi::xml_node sig = root.child("dataacquisition").child("signalcharacteristics");
    const pugi::xml_node waves = root.child("waveforms").child("parsedwaveforms");
    if (!waves) fail(where, "no <waveforms><parsedwaveforms>");
    StoredEcg out;
    out.format = "philips-xml";
    const auto rate = child_number(sig, "samplingrate", where);
    out.sample_rate_hz = rate ? *rate : attr_number(waves, "samplespersecond", where).value_or(0);
    if (!(out.sample_rate_hz > 0) || out.sample_rate_hz > 1e5) fail(where, "no valid <samplingrate>");
    auto resolution = child_number(sig, "signalresolution", where);
    if (!resolution) resolution = attr_number(waves, "resolution", where);
    if (!resolution || !(*resolution > 0)) fail(where, "no valid <signalresolution> (uV per unit)");
    const auto duration_ms = attr_number(waves, "durationperchannel", where);
    if (!duration_ms || !(*duration_ms > 0)) fail(where, "<parsedwaveforms> has no valid durationperchannel");
    const double n_samples_d = std::round(*duration_ms * out.sample_rate_hz / 1000.0);
    if (n_samples_d < 1 || n_samples_d > kMaxSamplesPerLead)
        fail(where, "durationperchannel=" + std::to_string(*duration_ms) + " ms gives an invalid sample count");
    const auto n_samples = static_cast<size_t>(n_samples_d);
    const std::vector<std::string> labels = lead_labels(waves, sig, where);

    const std::string encoding = waves.attribute("dataencoding").value();
    if (encoding != "Base64") fail(where, "dataencoding \"" + encoding + "\" is not Base64");
    std::string method = waves.attribute("compressmethod").value();
    if (method.empty()) method = waves.attribute("compression").value();
    if (method.empty()) method = "Uncompressed";
    const std::vector<uint8_t> data = base64_decode(waves.child_value(), where + " <parsedwaveforms>");

    std::vector<std::vector<int16_t>> raw;
    if (method == "XLI") {
        raw = xli_decode(data.data(), data.size(), n_samples, where);
    } else if (method == "Uncompressed") {
        if (data.size() < labels.size() * n_samples * 2)
            fail(where, "uncompressed waveform holds " + std::to_string(data.size()) + " bytes, expected " +
                            std::to_string(labels.size() * n_samples * 2));
        for (size_t l = 0; l < labels.size(); ++l) {
            raw.emplace_back(n_samples);
            for (size_t i = 0; i < n_samples; ++i)
                raw[l][i] = static_cast<int16_t>(load_u16le(data.data() + 2 * (l * n_samples + i)));
        }
    } else {
        fail(where, "waveform compression \"" + method + "\" is not supported (XLI or Uncompressed)");
    }
    if (raw.size() < labels.size())
        fail(where, "waveform data holds " + std::to_string(raw.size()) + " leads, leadlabels names " +
                        std::to_string(labels.size()));

    // Leads I..aVF first (by name): rebuild III, aVR, aVL, aVF from their residuals.
    std::vector<std::vector<int32_t>> leads(labels.size());
    for (size_t l = 0; l < labels.size(); ++l) leads[l].assign(raw[l].begin(), raw[l].end());
    const std::vector<std::string> limb = {"I", "II", "III", "aVR", "aVL", "aVF"};
    if (labels.size() < 6 || !std::equal(limb.begin(), limb.end(), labels.begin()))
        fail(where, "leads 1-6 are not I, II, III, aVR, aVL, aVF (" + doc_type + " " + doc_ver + ")");
    for (size_t i = 0; i < n_samples; ++i) {
        const int32_t a = leads[0][i], b = leads[1][i];
        const int32_t iii = b - a - leads[2][i];
        leads[2][i] = iii;
        leads[3][i] = -leads[3][i] - floor_half(a + b);
        leads[4][i] = floor_half(a - iii) - leads[4][i];
        leads[5][i] = floor_half(b + iii) - leads[5][i];
    }

    size_t keep = n_samples;
    const double tail = kCalibrationTailS * out.sample_rate_hz;
    if (std::fabs(*duration_ms / 1000.0 - kRecordWithTailS) < 1e-9 && tail < static_cast<double>(n_samples))
        keep = n_samples - static_cast<size_t>(std::lround(tail));
    for (size_t l = 0; l < labels.size(); ++l) {
        leads[l].resize(keep);
        out.leads.push_back({labels[l], std::move(leads[l]), *resolution, 0.0});
    }
    read_patient(root, where, out.patient);
    out.patient.comments.insert(out.patient.comments.begin(), "document: " + doc_type + " " + doc_ver);
    return out;
}

}  // namespace xml

StoredEcg decode_philips_xml(const uint8_t* bytes, size_t n_bytes, const std::string& where) {
    pugi::xml_document doc;
    xml::parse(bytes, n_bytes, where, doc);
    return xml::philips_from_xml(doc, where);
}

EcgRecord read_philips_xml(const std::string& path) {
    const std::vector<uint8_t> bytes = read_file_bytes(path, kMaxXmlBytes);
    const std::string where = "Philips XML file " + path;
    return to_ecg_record(decode_philips_xml(bytes.data(), bytes.size(), where),
                         std::filesystem::path(path).stem().string(), where);
}

}  // namespace diagecg
