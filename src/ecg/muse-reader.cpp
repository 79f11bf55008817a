// GE MUSE RestingECG XML reader. Layout: see muse-reader.h.
#include "diagecg/ecg/muse-reader.h"

#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "diagecg/util/base64.h"
#include "diagecg/util/byte-reader.h"
#include "diagecg/util/checksum.h"
#include "xml-util.h"

namespace diagecg {
namespace {

constexpr uint64_t kMaxXmlBytes = 256ull << 20;
constexpr double kMaxSamplesPerLead = 1e8;

[[noreturn]] void fail(const std::string& where, const std::string& msg) {
    throw std::runtime_error(where + ": " + msg);
}

std::optional<double> age_years(double value, const std::string& units) {
    if (units.empty() || units == "YEARS") return value;
    if (units == "MONTHS") return value / 12.0;
    if (units == "WEEKS") return value * 7.0 / 365.25;
    if (units == "DAYS") return value / 365.25;
    if (units == "HOURS") return value / (24.0 * 365.25);
    return std::nullopt;
}

void read_patient(const pugi::xml_node& root, const std::string& where, PatientInfo& p) {
    const pugi::xml_node demo = root.child("PatientDemographics");
    if (const auto age = xml::child_number(demo, "PatientAge", where))
        p.age_years = age_years(*age, xml::child_text(demo, "AgeUnits").value_or(""));
    const std::string sex = xml::child_text(demo, "Gender").value_or("");
    if (sex == "MALE") p.sex = "male";
    if (sex == "FEMALE") p.sex = "female";

    // Statements joined into lines; ENDSLINE closes a line. "Confirmed by ..." names the overreader: a comment.
    std::string line;
    auto flush = [&] {
        if (line.empty()) return;
        if (line.rfind("Confirmed by", 0) == 0)
            p.comments.push_back(line);
        else
            p.diagnoses.push_back(line);
        line.clear();
    };
    for (const pugi::xml_node s : root.child("Diagnosis").children("DiagnosisStatement")) {
        const std::string t = xml::child_text(s, "StmtText").value_or("");
        if (!t.empty()) line += (line.empty() ? "" : " ") + t;
        if (xml::child_text(s, "StmtFlag").value_or("") == "ENDSLINE") flush();
    }
    flush();

    const pugi::xml_node test = root.child("TestDemographics");
    for (const char* key : {"AcquisitionDevice", "AcquisitionDate", "AcquisitionTime", "SiteName"})
        if (const auto v = xml::child_text(test, key); v && !v->empty())
            p.comments.push_back(std::string(key) + ": " + *v);
    const pugi::xml_node m = root.child("RestingECGMeasurements");
    for (const char* key : {"VentricularRate", "PRInterval", "QRSDuration", "QTInterval", "QTCorrected"})
        if (const auto v = xml::child_text(m, key); v && !v->empty())
            p.comments.push_back(std::string(key) + ": " + *v);
    p.comments.push_back("waveform: Rhythm read; the Median beat is not read");
}

StoredLead read_lead(const pugi::xml_node& ld, const std::string& where) {
    StoredLead lead;
    const auto id = xml::child_text(ld, "LeadID");
    if (!id || id->empty()) fail(where, "Rhythm <LeadData> without <LeadID>");
    lead.name = canonical_lead_label(*id);
    const std::string w = where + " lead " + lead.name;

    const auto lsb = xml::child_number(ld, "LeadAmplitudeUnitsPerBit", w);
    if (!lsb || !(*lsb > 0)) fail(w, "<LeadAmplitudeUnitsPerBit> is missing or not positive");
    const std::string units = xml::child_text(ld, "LeadAmplitudeUnits").value_or("MICROVOLTS");
    if (units == "MICROVOLTS")
        lead.lsb_uv = *lsb;
    else if (units == "MILLIVOLTS")
        lead.lsb_uv = *lsb * 1000.0;
    else
        fail(w, "<LeadAmplitudeUnits> \"" + units + "\" is not MICROVOLTS or MILLIVOLTS");
    const double sample_size = xml::child_number(ld, "LeadSampleSize", w).value_or(2);
    if (sample_size != 2)
        fail(w, "<LeadSampleSize> is " + std::to_string(sample_size) + ", only 2 (int16) is supported");

    const pugi::xml_node data = ld.child("WaveFormData");
    if (!data) fail(w, "no <WaveFormData>");
    const std::vector<uint8_t> bytes = base64_decode(data.child_value(), w + " <WaveFormData>");
    if (bytes.size() % 2 != 0)
        fail(w, "<WaveFormData> decodes to an odd number of bytes (" + std::to_string(bytes.size()) + ")");
    if (const auto n = xml::child_number(ld, "LeadByteCountTotal", w); n && *n != static_cast<double>(bytes.size()))
        fail(w, "<LeadByteCountTotal> is " + std::to_string(static_cast<int64_t>(*n)) + " but <WaveFormData> holds " +
                    std::to_string(bytes.size()) + " bytes");
    if (const auto n = xml::child_number(ld, "LeadSampleCountTotal", w);
        n && *n != static_cast<double>(bytes.size() / 2))
        fail(w, "<LeadSampleCountTotal> is " + std::to_string(static_cast<int64_t>(*n)) + " but <WaveFormData> holds " +
                    std::to_string(bytes.size() / 2) + " samples");
    if (const auto crc_text = xml::child_text(ld, "LeadDataCRC32")) {
        const auto expected = parse_int64(*crc_text);
        if (!expected || *expected < 0 || *expected > 0xFFFFFFFFll)
            fail(w, "<LeadDataCRC32> \"" + *crc_text + "\" is not a 32-bit number");
        const uint32_t got = crc32(bytes.data(), bytes.size());
        if (got != static_cast<uint32_t>(*expected))
            fail(w, "CRC-32 of the waveform data is " + std::to_string(got) + ", <LeadDataCRC32> says " + *crc_text);
    }
    lead.samples.resize(bytes.size() / 2);
    for (size_t i = 0; i < lead.samples.size(); ++i)
        lead.samples[i] = static_cast<int16_t>(load_u16le(bytes.data() + 2 * i));
    return lead;
}

}  // namespace

namespace xml {

StoredEcg muse_from_xml(const pugi::xml_document& doc, const std::string& where) {
    const pugi::xml_node root = doc.document_element();
    if (std::string(root.name()) != "RestingECG")
        fail(where, std::string("root element is <") + root.name() + ">, not <RestingECG> (GE MUSE)");
    StoredEcg out;
    out.format = "muse-xml";
    pugi::xml_node rhythm;
    for (const pugi::xml_node wf : root.children("Waveform"))
        if (child_text(wf, "WaveformType").value_or("") == "Rhythm") rhythm = wf;
    if (!rhythm) fail(where, "no <Waveform> with <WaveformType>Rhythm</WaveformType>");
    const auto base = child_number(rhythm, "SampleBase", where);
    const double exponent = child_number(rhythm, "SampleExponent", where).value_or(0);
    if (!base || !(*base > 0) || std::fabs(exponent) > 6)
        fail(where, "Rhythm <SampleBase>/<SampleExponent> missing or invalid");
    out.sample_rate_hz = *base * std::pow(10.0, exponent);
    for (const pugi::xml_node ld : rhythm.children("LeadData")) out.leads.push_back(read_lead(ld, where));
    if (out.leads.empty()) fail(where, "Rhythm waveform has no <LeadData>");
    for (const StoredLead& l : out.leads)
        if (l.samples.size() != out.leads[0].samples.size() || l.samples.empty() ||
            static_cast<double>(l.samples.size()) > kMaxSamplesPerLead)
            fail(where, "Rhythm lead " + l.name + " has " + std::to_string(l.samples.size()) + " samples, lead " +
                            out.leads[0].name + " has " + std::to_string(out.leads[0].samples.size()));
    read_patient(root, where, out.patient);
    return out;
}

}  // namespace xml

StoredEcg decode_muse_xml(const uint8_t* bytes, size_t n_bytes, const std::string& where) {
    pugi::xml_document doc;
    xml::parse(bytes, n_bytes, where, doc);
    return xml::muse_from_xml(doc, where);
}

EcgRecord read_muse_xml(const std::string& path) {
    const std::vector<uint8_t> bytes = read_file_bytes(path, kMaxXmlBytes);
    const std::string where = "MUSE XML file " + path;
    return to_ecg_record(decode_muse_xml(bytes.data(), bytes.size(), where),
                         std::filesystem::path(path).stem().string(), where);
}

}  // namespace diagecg
