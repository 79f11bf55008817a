// HL7 aECG reader. Layout: see aecg-reader.h.
#include "diagecg/ecg/aecg-reader.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "diagecg/util/byte-reader.h"
#include "xml-util.h"

namespace diagecg {
namespace {

constexpr uint64_t kMaxXmlBytes = 256ull << 20;
constexpr size_t kMaxLeads = 64;

[[noreturn]] void fail(const std::string& where, const std::string& msg) {
    throw std::runtime_error(where + ": " + msg);
}

std::string code_of(const pugi::xml_node& n) {
    return n.child("code").attribute("code").value();
}

// A physical quantity <x value= unit=> in uV.
double microvolts(const pugi::xml_node& pq, const std::string& where) {
    const auto v = xml::attr_number(pq, "value", where);
    if (!v) fail(where, std::string("<") + pq.name() + "> has no value");
    const std::string unit = pq.attribute("unit").value();
    if (unit == "uV" || unit.empty()) return *v;
    if (unit == "mV") return *v * 1000.0;
    if (unit == "nV") return *v / 1000.0;
    if (unit == "V") return *v * 1e6;
    fail(where, std::string("<") + pq.name() + " unit=\"" + unit + "\"> is not a voltage unit (uV, mV, nV, V)");
}

std::vector<int32_t> parse_digits(const char* text, const std::string& where) {
    std::vector<int32_t> out;
    const char* p = text;
    const char* end = text + std::char_traits<char>::length(text);
    while (true) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) ++p;
        if (p == end) break;
        int32_t v = 0;
        const auto [q, ec] = std::from_chars(p, end, v);
        if (ec != std::errc() || (q < end && *q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')) {
            const char* tok_end = p;
            while (tok_end < end && tok_end - p < 20 && *tok_end != ' ' && *tok_end != '\n') ++tok_end;
            fail(where, "<digits> value " + std::to_string(out.size()) + " \"" + std::string(p, tok_end) +
                            "\" is not an integer");
        }
        out.push_back(v);
        p = q;
    }
    return out;
}

void read_patient(const pugi::xml_node& root, const pugi::xml_node& series, const std::string& where, PatientInfo& p) {
    const pugi::xml_node person = root.first_element_by_path(
        "componentOf/timepointEvent/componentOf/subjectAssignment/subject/trialSubject/subjectDemographicPerson");
    const std::string sex = person.child("administrativeGenderCode").attribute("code").value();
    if (sex == "M") p.sex = "male";
    if (sex == "F") p.sex = "female";
    for (const pugi::xml_node cv : root.children("controlVariable")) {
        const pugi::xml_node obs = cv.child("relatedObservation");
        if (code_of(obs) != "21612-7") continue;
        const pugi::xml_node value = obs.child("value");
        const auto age = xml::attr_number(value, "value", where);
        const std::string unit = value.attribute("unit").value();
        if (!age) continue;
        if (unit == "a" || unit.empty())
            p.age_years = *age;
        else if (unit == "mo")
            p.age_years = *age / 12.0;
        else if (unit == "wk")
            p.age_years = *age * 7.0 / 365.25;
        else if (unit == "d")
            p.age_years = *age / 365.25;
    }
    for (const pugi::xml_node set : series.children("subjectOf")) {
        for (const pugi::xml_node comp : set.child("annotationSet").children("component")) {
            const pugi::xml_node ann = comp.child("annotation");
            const std::string code = code_of(ann);
            if (code.rfind("MDC_ECG_RHY", 0) != 0 && code.rfind("MDC_ECG_INTERPRETATION", 0) != 0) continue;
            const pugi::xml_node value = ann.child("value");
            std::string s = value.attribute("displayName").value();
            if (s.empty()) s = xml::text(value);
            if (s.empty()) s = value.attribute("code").value();
            if (!s.empty()) p.diagnoses.push_back(s);
        }
    }
    for (const pugi::xml_node pt : root.children("pertainsTo"))
        if (const std::string t = xml::text(pt.child("subjectFindingComment").child("text")); !t.empty())
            p.comments.push_back("comment: " + t);
    const pugi::xml_node device = series.first_element_by_path("author/seriesAuthor/manufacturedSeriesDevice");
    if (const std::string m = xml::text(device.child("manufacturerModelName")); !m.empty())
        p.comments.push_back("device: " + m);
    p.comments.push_back("waveform: RHYTHM series read; derived median-beat series not read");
}

}  // namespace

namespace xml {

StoredEcg aecg_from_xml(const pugi::xml_document& doc, const std::string& where) {
    const pugi::xml_node root = doc.document_element();
    if (std::string(root.name()) != "AnnotatedECG")
        fail(where, std::string("root element is <") + root.name() + ">, not <AnnotatedECG> (HL7 aECG)");
    pugi::xml_node series;
    for (const pugi::xml_node comp : root.children("component")) {
        const pugi::xml_node s = comp.child("series");
        if (s && (code_of(s) == "RHYTHM" || !series)) series = s;
        if (series && code_of(series) == "RHYTHM") break;
    }
    if (!series) fail(where, "no <component><series> (rhythm waveforms)");
    const pugi::xml_node set = series.child("component").child("sequenceSet");
    if (!set) fail(where, "the rhythm series has no <sequenceSet>");

    StoredEcg out;
    out.format = "hl7-aecg";
    for (const pugi::xml_node comp : set.children("component")) {
        const pugi::xml_node seq = comp.child("sequence");
        const std::string code = code_of(seq);
        const pugi::xml_node value = seq.child("value");
        if (code == "TIME_ABSOLUTE" || code == "TIME_RELATIVE") {
            const pugi::xml_node inc = value.child("increment");
            const auto v = attr_number(inc, "value", where);
            const std::string unit = inc.attribute("unit").value();
            const double scale = unit == "s" || unit.empty() ? 1.0 : unit == "ms" ? 1e-3 : unit == "us" ? 1e-6 : 0.0;
            if (!v || !(*v > 0) || scale == 0.0)
                fail(where, "time sequence has no valid <increment value= unit=\"s\">");
            double rate = 1.0 / (*v * scale);
            if (std::fabs(rate - std::round(rate)) < 1e-9 * rate) rate = std::round(rate);
            out.sample_rate_hz = rate;
            continue;
        }
        if (code.rfind("MDC_ECG_LEAD_", 0) != 0) continue;
        std::string type;  // xsi:type, whatever the namespace prefix
        for (const pugi::xml_attribute a : value.attributes()) {
            const std::string n = a.name();
            if (n == "type" || (n.size() > 5 && n.compare(n.size() - 5, 5, ":type") == 0)) type = a.value();
        }
        if (!type.empty() && type != "SLIST_PQ") fail(where, code + " value type \"" + type + "\" is not SLIST_PQ");
        if (out.leads.size() >= kMaxLeads) fail(where, "more than " + std::to_string(kMaxLeads) + " leads");
        StoredLead lead;
        lead.name = canonical_lead_label(code.substr(13));
        const std::string w = where + " lead " + lead.name;
        lead.lsb_uv = microvolts(value.child("scale"), w);
        if (!(lead.lsb_uv > 0)) fail(w, "<scale> is not positive");
        lead.baseline = value.child("origin") ? microvolts(value.child("origin"), w) / lead.lsb_uv : 0.0;
        lead.samples = parse_digits(value.child("digits").child_value(), w);
        if (lead.samples.empty()) fail(w, "<digits> is empty");
        out.leads.push_back(std::move(lead));
    }
    if (!(out.sample_rate_hz > 0)) fail(where, "the sequence set has no TIME_ABSOLUTE/TIME_RELATIVE increment");
    if (out.leads.empty()) fail(where, "the sequence set has no MDC_ECG_LEAD_* sequences");
    for (const StoredLead& l : out.leads)
        if (l.samples.size() != out.leads[0].samples.size())
            fail(where, "lead " + l.name + " has " + std::to_string(l.samples.size()) + " digits, lead " +
                            out.leads[0].name + " has " + std::to_string(out.leads[0].samples.size()));
    read_patient(root, series, where, out.patient);
    return out;
}

}  // namespace xml

StoredEcg decode_aecg_xml(const uint8_t* bytes, size_t n_bytes, const std::string& where) {
    pugi::xml_document doc;
    xml::parse(bytes, n_bytes, where, doc);
    return xml::aecg_from_xml(doc, where);
}

EcgRecord read_aecg_xml(const std::string& path) {
    const std::vector<uint8_t> bytes = read_file_bytes(path, kMaxXmlBytes);
    const std::string where = "HL7 aECG file " + path;
    return to_ecg_record(decode_aecg_xml(bytes.data(), bytes.size(), where),
                         std::filesystem::path(path).stem().string(), where);
}

}  // namespace diagecg
