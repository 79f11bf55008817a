// ECG-QA single-ECG question generator; the rules are listed in include/diagecg/data/ecgqa-generator.h.
#include "diagecg/data/ecgqa-generator.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <initializer_list>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

namespace diagecg {
namespace {

constexpr int kNumLeads = 12;
const std::array<std::string, kNumLeads> kLeadNames = {"lead I",   "lead II",  "lead III", "lead aVR",
                                                       "lead aVL", "lead aVF", "lead V1",  "lead V2",
                                                       "lead V3",  "lead V4",  "lead V5",  "lead V6"};
const std::array<std::string, 4> kNoiseNames = {"baseline drift", "static noise", "burst noise", "electrodes problems"};
const std::array<std::string, 3> kExtraNames = {"extrasystoles", "ventricular extrasystoles",
                                                "supraventricular extrasystoles"};
const std::array<std::string, 4> kAxisNames = {"left axis deviation", "right axis deviation", "extreme axis deviation",
                                               "normal heart axis"};
const std::array<std::string, 3> kStageNames = {"early stage of myocardial infarction",
                                                "middle stage of myocardial infarction",
                                                "old stage of myocardial infarction"};
const std::string kStageUnknown = "unknown stage of myocardial infarction";
const std::string kStageNone = "none of myocardial infarction";

// SCP code -> ECG-QA's name for it (ECG-QA's category_to_name).
const std::map<std::string, std::string>& scp_names() {
    static const std::map<std::string, std::string> m = {
        {"NORM", "normal ecg"},
        {"LAFB", "left anterior fascicular block"},
        {"LPFB", "left posterior fascicular block"},
        {"1AVB", "first degree av block"},
        {"2AVB", "second degree av block"},
        {"3AVB", "third degree av block"},
        {"IVCD", "non-specific intraventricular conduction disturbance (block)"},
        {"WPW", "wolff-parkinson-white syndrome"},
        {"IRBBB", "incomplete right bundle branch block"},
        {"ILBBB", "incomplete left bundle branch block"},
        {"CRBBB", "complete right bundle branch block"},
        {"CLBBB", "complete left bundle branch block"},
        {"LAO/LAE", "left atrial overload/enlargement"},
        {"RAO/RAE", "right atrial overload/enlargement"},
        {"LVH", "left ventricular hypertrophy"},
        {"RVH", "right ventricular hypertrophy"},
        {"SEHYP", "septal hypertrophy"},
        {"IMI", "myocardial infarction in inferior leads"},
        {"ILMI", "myocardial infarction in inferolateral leads"},
        {"IPMI", "myocardial infarction in inferoposterior leads"},
        {"IPLMI", "myocardial infarction in inferoposterolateral leads"},
        {"INJIN", "subendocardial injury in inferior leads"},
        {"INJIL", "subendocardial injury in inferolateral leads"},
        {"AMI", "myocardial infarction in anterior leads"},
        {"ASMI", "myocardial infarction in anteroseptal leads"},
        {"ALMI", "myocardial infarction in anterolateral leads"},
        {"INJAS", "subendocardial injury in anteroseptal leads"},
        {"INJAL", "subendocardial injury in anterolateral leads"},
        {"INJLA", "subendocardial injury in lateral leads"},
        {"LMI", "myocardial infarction in lateral leads"},
        {"PMI", "myocardial infarction in posterior leads"},
        {"NDT", "non-diagnostic t abnormalities"},
        {"DIG", "digitalis effect"},
        {"LNGQT", "long qt-interval"},
        {"ANEUR", "st-t changes compatible with ventricular aneurysm"},
        {"EL", "electrolytic disturbance or drug (former EDIS)"},
        {"NST_", "non-specific st changes"},
        {"ISC_", "non-specific ischemic"},
        {"ISCAL", "ischemic in anterolateral leads"},
        {"ISCAS", "ischemic in anteroseptal leads"},
        {"ISCLA", "ischemic in lateral leads"},
        {"ISCAN", "ischemic in anterior leads"},
        {"ISCIN", "ischemic in inferior leads"},
        {"ISCIL", "ischemic in inferolateral leads"},
        {"ABQRS", "abnormal qrs"},
        {"PVC", "ventricular premature complex"},
        {"STD_", "non-specific st depression"},
        {"VCLVH", "voltage criteria (qrs) for left ventricular hypertrophy"},
        {"QWAVE", "q waves present"},
        {"LOWT", "low amplitude t-wave"},
        {"NT_", "non-specific t-wave changes"},
        {"PAC", "atrial premature complex"},
        {"LPR", "prolonged pr interval"},
        {"INVT", "inverted t-waves"},
        {"LVOLT", "low qrs voltages in the frontal and horizontal leads"},
        {"HVOLT", "high qrs voltage"},
        {"TAB_", "t-wave abnormality"},
        {"STE_", "non-specific st elevation"},
        {"PRC(S)", "premature complex(es)"},
        {"SR", "sinus rhythm"},
        {"AFIB", "atrial fibrillation"},
        {"AFLT", "atrial flutter"},
        {"STACH", "sinus tachycardia"},
        {"SVTAC", "supraventricular tachycardia"},
        {"PSVT", "paroxysmal supraventricular tachycardia"},
        {"SBRAD", "sinus bradycardia"},
        {"SARRH", "sinus arrhythmia"},
        {"SVARR", "supraventricular arrhythmia"},
        {"PACE", "normal functioning artificial pacemaker"},
        {"BIGU", "bigeminal pattern (unknown origin, supraventricular, or ventricular)"},
        {"TRIGU", "trigeminal pattern (unknown origin, supraventricular, or ventricular)"}};
    return m;
}

const std::map<std::string, std::string> kClassNames = {
    {"CD", "conduction disturbance"}, {"HYP", "hypertrophy"}, {"MI", "myocardial infarction"}, {"STTC", "st/t change"}};

enum class Kind { kVerify, kChoose, kQuery };

struct TemplateDef {
    int id;
    Kind kind;
    const char* question_type;
    const char* attribute_type;
    const char* wording;
    const char* fixed_attribute;  // verify templates without a variable: their attribute
};

const std::vector<TemplateDef>& template_defs() {
    static const std::vector<TemplateDef> defs = {
        {1, Kind::kVerify, "single-verify", "scp_code", "Does this ECG show symptoms of {a}?", nullptr},
        {2, Kind::kVerify, "single-verify", "scp_code", "Is this a normal ECG?", "normal ecg"},
        {3, Kind::kChoose, "single-choose", "scp_code", "Which symptom does this ECG show, {a} or {b}?", nullptr},
        {4, Kind::kChoose, "single-choose", "scp_code",
         "Which diagnostic symptom does this ECG show, {a} or {b}, including uncertain symptoms?", nullptr},
        {5, Kind::kChoose, "single-choose", "scp_code",
         "Which diagnostic symptom does this ECG show, {a} or {b}, excluding uncertain symptoms?", nullptr},
        {6, Kind::kChoose, "single-choose", "scp_code", "Which form-related symptom does this ECG show, {a} or {b}?",
         nullptr},
        {7, Kind::kChoose, "single-choose", "scp_code", "Which rhythm-related symptom does this ECG show, {a} or {b}?",
         nullptr},
        {8, Kind::kQuery, "single-query", "scp_code",
         "What diagnostic symptoms does this ECG show, including uncertain symptoms?", nullptr},
        {9, Kind::kQuery, "single-query", "scp_code",
         "What diagnostic symptoms does this ECG show, excluding uncertain symptoms?", nullptr},
        {10, Kind::kQuery, "single-query", "scp_code", "What rhythm-related symptoms does this ECG show?", nullptr},
        {11, Kind::kQuery, "single-query", "scp_code", "What form-related symptoms does this ECG show?", nullptr},
        {12, Kind::kVerify, "single-verify", "scp_code", "Does this ECG show any kind of abnormal symptoms?",
         "any kind of abnormal symptoms"},
        {13, Kind::kVerify, "single-verify", "scp_code",
         "Does this ECG show any diagnostic symptoms, including uncertain symptoms?", "any diagnostic symptoms"},
        {14, Kind::kVerify, "single-verify", "scp_code",
         "Does this ECG show any diagnostic symptoms, excluding uncertain symptoms?", "any diagnostic symptoms"},
        {15, Kind::kVerify, "single-verify", "scp_code", "Does this ECG show any form-related symptoms?",
         "any form symptoms"},
        {16, Kind::kVerify, "single-verify", "scp_code", "Does this ECG show any rhythm-related symptoms?",
         "any rhythm symptoms"},
        {20, Kind::kVerify, "single-verify", "heart_axis", "Does this ECG show {a}?", nullptr},
        {21, Kind::kChoose, "single-choose", "heart_axis", "Which cardiac axis does this ECG show, {a} or {b}?",
         nullptr},
        {22, Kind::kQuery, "single-query", "heart_axis", "What direction is this ECG deviated to?", nullptr},
        {23, Kind::kVerify, "single-verify", "stage_of_infarction", "Does this ECG show {a}?", nullptr},
        {24, Kind::kChoose, "single-choose", "stage_of_infarction",
         "Which stage of infarction is this ECG at, {a} or {b}?", nullptr},
        {25, Kind::kQuery, "single-query", "stage_of_infarction", "What stage of infarction is this ECG at?", nullptr},
        {26, Kind::kVerify, "single-verify", "noise", "Does this ECG show {a} in {lead}?", nullptr},
        {27, Kind::kVerify, "single-verify", "noise", "Does this ECG show {a}?", nullptr},
        {28, Kind::kVerify, "single-verify", "noise", "Does this ECG show any kind of noises in {lead}?",
         "any kind of noises"},
        {29, Kind::kVerify, "single-verify", "noise", "Does this ECG show any kind of noises?", "any kind of noises"},
        {30, Kind::kChoose, "single-choose", "noise", "Which noise does this ECG show, {a} or {b}?", nullptr},
        {31, Kind::kChoose, "single-choose", "noise", "Which noise does this ECG show in {lead}, {a} or {b}?", nullptr},
        {32, Kind::kQuery, "single-query", "noise", "What kind of noises does this ECG show?", nullptr},
        {33, Kind::kQuery, "single-query", "noise", "What kind of noises does this ECG show in {lead}?", nullptr},
        {34, Kind::kQuery, "single-query", "noise", "What leads are showing {a} in this ECG?", nullptr},
        {35, Kind::kVerify, "single-verify", "extra_systole", "Does this ECG show any kind of extra systoles?",
         "any kind of extra systoles"},
        {36, Kind::kVerify, "single-verify", "extra_systole", "Does this ECG show {a}?", nullptr},
        {37, Kind::kChoose, "single-choose", "extra_systole",
         "Which kind of extra systoles does this ECG show, {a} or {b}?", nullptr},
        {38, Kind::kQuery, "single-query", "extra_systole", "What kind of extra systole does this ECG show?", nullptr},
    };
    return defs;
}

const TemplateDef& find_def(int id) {
    for (const auto& d : template_defs())
        if (d.id == id) return d;
    throw std::invalid_argument(fmt::format("ECG-QA template {} is not a supported single-ECG template", id));
}

bool has(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
    for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
        s.replace(p, from.size(), to);
}

// Heart axis name, "" when unknown (see the header for the mapping).
std::string heart_axis_name(const PtbxlRecord& r) {
    const std::string& a = r.heart_axis;
    if (a == "ALAD") return kAxisNames[0];
    if (a == "LAD") {
        const std::string rep = lower(r.report);
        return has(rep, "linkstyp") && !has(rep, "ueberdrehter linkstyp") ? kAxisNames[3] : kAxisNames[0];
    }
    if (a == "RAD" || a == "ARAD") return kAxisNames[1];
    if (a == "MID" || a == "AXL" || a == "AXR") return kAxisNames[3];
    return "";
}

std::string infarction_stage(const PtbxlRecord& r) {
    const std::string& s = r.infarction_stadium2.empty() ? r.infarction_stadium1 : r.infarction_stadium2;
    if (s == "Stadium I" || s == "Stadium I-II") return kStageNames[0];
    if (s == "Stadium II" || s == "Stadium II-III") return kStageNames[1];
    if (s == "Stadium III") return kStageNames[2];
    if (r.infarction_stadium1 == "unknown") return kStageUnknown;
    if (r.infarction_stadium1.empty() && r.infarction_stadium2.empty()) return kStageNone;
    return kStageUnknown;
}

// What the templates need to know about one ECG.
struct Facts {
    const PtbxlRecord* rec = nullptr;
    std::set<std::string> classes;    // diagnostic class codes (CD, HYP, MI, STTC) present
    std::string axis;                 // "" = unknown
    std::string stage;                // answer of template 25
    std::array<uint16_t, 4> noise{};  // lead masks, kNoiseNames order
    std::set<std::string> extra;      // kExtraNames present
    bool any_scp = false, any_dx_inc = false, any_dx_exc = false, any_form = false, any_rhythm = false;
};

bool certain(double likelihood) {
    return likelihood == 0 || likelihood == 100;
}

Facts derive_facts(const PtbxlRecord& r, const std::map<std::string, ScpStatement>& scp) {
    Facts f;
    f.rec = &r;
    for (const auto& [code, likelihood] : r.scp_codes) {
        const auto it = scp.find(code);
        if (it == scp.end()) continue;
        const ScpStatement& st = it->second;
        if (code != "NORM" && code != "SR") f.any_scp = true;
        if (st.diagnostic && code != "NORM") {
            f.any_dx_inc = true;
            f.any_dx_exc = f.any_dx_exc || certain(likelihood);
            if (kClassNames.count(st.diagnostic_class)) f.classes.insert(st.diagnostic_class);
        }
        f.any_form = f.any_form || st.form;
        f.any_rhythm = f.any_rhythm || st.rhythm;
    }
    f.axis = heart_axis_name(r);
    f.stage = infarction_stage(r);
    const std::array<const std::string*, 4> cells = {&r.baseline_drift, &r.static_noise, &r.burst_noise,
                                                     &r.electrodes_problems};
    for (size_t k = 0; k < 4; ++k) f.noise[k] = noise_lead_mask(*cells[k]);
    const ExtraBeats eb = parse_extra_beats(r.extra_beats);
    for (const auto& [count, name] :
         {std::pair{eb.es, kExtraNames[0]}, {eb.ves, kExtraNames[1]}, {eb.sves, kExtraNames[2]}})
        if (count >= 0) f.extra.insert(name);
    return f;
}

// One instantiation of a template: the attribute(s) asked about and, for per-lead templates, the lead.
struct Instance {
    std::vector<std::string> keys;   // SCP / class codes, or the names themselves
    std::vector<std::string> names;  // what fills {a} {b}
    int lead = -1;
};

// All instantiations of template `def`, with the candidate (key, name) list the query answers come from.
struct Plan {
    const TemplateDef* def = nullptr;
    std::vector<std::pair<std::string, std::string>> candidates;
    std::vector<Instance> instances;
    std::vector<std::string> own;   // the template's answer candidates, as listed
    std::set<std::string> allowed;  // the same, for look-ups
};

bool present(int tid, const Facts& f, const std::string& key, int lead) {
    const auto& codes = f.rec->scp_codes;
    switch (tid) {
        case 3:
            return f.classes.count(key) > 0;
        case 5:
        case 9: {
            const auto it = codes.find(key);
            return it != codes.end() && certain(it->second);
        }
        case 4:
        case 6:
        case 7:
        case 8:
        case 10:
        case 11:
            return codes.count(key) > 0;
        case 20:
        case 21:
        case 22:
            return f.axis == key;
        case 23:
        case 24:
            return f.stage == key;
        case 36:
        case 37:
        case 38:
            return f.extra.count(key) > 0;
        default:
            break;
    }
    for (size_t k = 0; k < kNoiseNames.size(); ++k) {  // noise templates
        if (kNoiseNames[k] != key) continue;
        return lead >= 0 ? (f.noise[k] >> lead) & 1u : f.noise[k] != 0;
    }
    return false;
}

const std::vector<std::string> kYes = {"yes"}, kNo = {"no"};

// The answer to `inst` on this ECG; nullopt when the template cannot be asked about it (unknown axis).
std::optional<std::vector<std::string>> answer(const Plan& p, const Facts& f, const Instance& inst) {
    const int tid = p.def->id;
    if (tid >= 20 && tid <= 22 && f.axis.empty()) return std::nullopt;
    const uint16_t any_noise = f.noise[0] | f.noise[1] | f.noise[2] | f.noise[3];
    auto yn = [](bool b) { return b ? kYes : kNo; };
    switch (tid) {
        case 1: {
            const auto it = f.rec->scp_codes.find(inst.keys[0]);
            if (it == f.rec->scp_codes.end()) return kNo;
            return inst.keys[1] == "diagnostic" && !certain(it->second) ? std::vector<std::string>{"not sure"} : kYes;
        }
        case 2:
            return yn(f.rec->scp_codes.count("NORM") > 0);
        case 12:
            return yn(f.any_scp);
        case 13:
            return yn(f.any_dx_inc);
        case 14:
            return yn(f.any_dx_exc);
        case 15:
            return yn(f.any_form);
        case 16:
            return yn(f.any_rhythm);
        case 22:
            return std::vector<std::string>{f.axis};
        case 25:
            return std::vector<std::string>{f.stage};
        case 28:
            return yn((any_noise >> inst.lead) & 1u);
        case 29:
            return yn(any_noise != 0);
        case 35:
            return yn(!f.extra.empty());
        case 34: {
            std::vector<std::string> out;
            for (int l = 0; l < kNumLeads; ++l)
                if (present(tid, f, inst.keys[0], l)) out.push_back(kLeadNames[static_cast<size_t>(l)]);
            if (out.empty()) out.push_back("none");
            return out;
        }
        default:
            break;
    }
    if (p.def->kind == Kind::kVerify) return yn(present(tid, f, inst.keys[0], inst.lead));
    std::vector<std::string> out;
    if (p.def->kind == Kind::kChoose) {
        for (size_t i = 0; i < 2; ++i)
            if (present(tid, f, inst.keys[i], inst.lead)) out.push_back(inst.names[i]);
    } else {
        for (const auto& [key, name] : p.candidates)
            if (present(tid, f, key, inst.lead)) out.push_back(name);
    }
    if (out.empty()) out.push_back("none");
    return out;
}

// The answer class an instantiation's answer falls in, and its sampling weight (see the header).
std::pair<std::string, int> answer_class(const Plan& p, const Instance& inst, const std::vector<std::string>& ans) {
    if (p.def->kind == Kind::kVerify) return {ans[0], 2};
    const bool none = ans.size() == 1 && ans[0] == "none";
    if (p.def->kind == Kind::kQuery) return {none ? "none" : "some", 2};
    if (none) return {"none", 1};
    if (ans.size() == 2) return {"both", 2};
    return {ans[0] == inst.names[0] ? "a" : "b", 2};
}

std::vector<std::string> names_in(const std::map<int, std::vector<std::string>>& answers,
                                  std::initializer_list<int> ids) {
    std::vector<std::string> out;
    for (const int id : ids) {
        const auto it = answers.find(id);
        if (it != answers.end()) out.insert(out.end(), it->second.begin(), it->second.end());
    }
    return out;
}

Plan make_plan(const TemplateDef& def, const std::map<std::string, ScpStatement>& scp,
               const std::map<int, std::vector<std::string>>& answers) {
    Plan p;
    p.def = &def;
    p.own = answers.at(def.id);
    p.allowed.insert(p.own.begin(), p.own.end());
    auto in_own = [&](const std::string& name) { return p.allowed.count(name) > 0; };
    const int t = def.id;
    // candidate attributes
    if (t == 1 || (t >= 4 && t <= 11)) {
        const auto listed = names_in(answers, {4, 6, 7});
        const std::set<std::string> t1(listed.begin(), listed.end());
        for (const auto& [code, st] : scp) {
            const auto n = scp_names().find(code);
            if (code == "NORM" || n == scp_names().end()) continue;
            bool take = false;
            if (t == 1) take = t1.count(n->second) > 0;
            if (t == 4 || t == 5 || t == 8 || t == 9) take = st.diagnostic && in_own(n->second);
            if (t == 6 || t == 11) take = st.form && in_own(n->second);
            if (t == 7 || t == 10) take = st.rhythm && in_own(n->second);
            if (take) p.candidates.emplace_back(code, n->second);
        }
    } else if (t == 3) {
        for (const auto& [code, name] : kClassNames)
            if (in_own(name)) p.candidates.emplace_back(code, name);
    } else if (t >= 20 && t <= 22) {
        for (const auto& n : kAxisNames)
            if (t == 20 || in_own(n)) p.candidates.emplace_back(n, n);
    } else if (t >= 23 && t <= 25) {
        for (const auto& n : kStageNames)
            if (t == 23 || in_own(n)) p.candidates.emplace_back(n, n);
    } else if (t >= 26 && t <= 34) {
        for (const auto& n : kNoiseNames)
            if (t == 26 || t == 27 || t == 34 || in_own(n)) p.candidates.emplace_back(n, n);
    } else if (t >= 36 && t <= 38) {
        for (const auto& n : kExtraNames)
            if (t == 36 || in_own(n)) p.candidates.emplace_back(n, n);
    }
    const std::string wording = def.wording;
    const bool per_lead = has(wording, "{lead}");
    const std::vector<int> leads =
        per_lead ? std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11} : std::vector<int>{-1};
    for (const int lead : leads) {
        if (def.kind == Kind::kChoose) {
            for (size_t i = 0; i < p.candidates.size(); ++i)
                for (size_t j = i + 1; j < p.candidates.size(); ++j)
                    p.instances.push_back({{p.candidates[i].first, p.candidates[j].first},
                                           {p.candidates[i].second, p.candidates[j].second},
                                           lead});
        } else if (has(wording, "{a}")) {
            for (const auto& [key, name] : p.candidates) {
                Instance inst{{key}, {name}, lead};
                if (t == 1) inst.keys.push_back(scp.at(key).diagnostic ? "diagnostic" : "other");
                p.instances.push_back(inst);
            }
        } else {
            p.instances.push_back({{}, {}, lead});
        }
    }
    return p;
}

QaSample make_sample(const Plan& p, const EcgQaTemplate& cat, const Instance& inst, size_t index, bool swap,
                     int64_t ecg_id, std::vector<std::string> ans) {
    QaSample s;
    s.template_id = p.def->id;
    s.question_id = 10000 * static_cast<int64_t>(p.def->id) + static_cast<int64_t>(index);
    s.question_type = cat.question_type;
    s.attribute_type = cat.attribute_type;
    std::vector<std::string> names = inst.names;
    if (swap && names.size() == 2) std::swap(names[0], names[1]);
    s.question = p.def->wording;
    if (!names.empty()) replace_all(s.question, "{a}", names[0]);
    if (names.size() > 1) replace_all(s.question, "{b}", names[1]);
    if (inst.lead >= 0) replace_all(s.question, "{lead}", kLeadNames[static_cast<size_t>(inst.lead)]);
    if (p.def->fixed_attribute) {
        s.attribute = {p.def->fixed_attribute};
    } else if (p.def->kind == Kind::kQuery && p.def->id != 34) {
        for (const auto& a : p.own)
            if (a != "none") s.attribute.push_back(a);
    } else {
        s.attribute = names;
    }
    std::sort(ans.begin(), ans.end(), [](const std::string& x, const std::string& y) {
        const std::string nx = normalise_answer(x), ny = normalise_answer(y);
        return nx != ny ? nx < ny : x < y;
    });
    for (const auto& a : ans)
        if (!p.allowed.count(a))
            throw std::runtime_error(
                fmt::format("ECG-QA template {}: answer \"{}\" (ecg_id {}) is not among the "
                            "template's answer candidates (answers_for_each_template.csv)",
                            p.def->id, a, ecg_id));
    s.answer = std::move(ans);
    s.ecg_ids = {ecg_id};
    return s;
}

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

}  // namespace

std::vector<int> supported_single_ecg_templates() {
    std::vector<int> out;
    for (const auto& d : template_defs()) out.push_back(d.id);
    return out;
}

std::string template_wording(int template_id) {
    return find_def(template_id).wording;
}

std::pair<std::string, std::string> template_types(int template_id) {
    const TemplateDef& d = find_def(template_id);
    return {d.question_type, d.attribute_type};
}

std::vector<std::string> template_slot_names(int template_id) {
    const TemplateDef& d = find_def(template_id);
    if (!has(d.wording, "{a}")) return {};
    const std::string type = d.attribute_type;
    std::vector<std::string> out;
    if (type == "scp_code") {
        for (const auto& [code, name] : scp_names()) out.push_back(name);
        for (const auto& [code, name] : kClassNames) out.push_back(name);
    } else if (type == "heart_axis") {
        out.assign(kAxisNames.begin(), kAxisNames.end());
    } else if (type == "stage_of_infarction") {
        out.assign(kStageNames.begin(), kStageNames.end());
    } else if (type == "noise") {
        out.assign(kNoiseNames.begin(), kNoiseNames.end());
    } else if (type == "extra_systole") {
        out.assign(kExtraNames.begin(), kExtraNames.end());
    }
    return out;
}

std::vector<std::string> template_lead_names() {
    return {kLeadNames.begin(), kLeadNames.end()};
}

std::vector<QaSample> generate_single_ecg_questions(const std::map<int64_t, PtbxlRecord>& records,
                                                    const std::map<std::string, ScpStatement>& scp_statements,
                                                    const std::map<int, EcgQaTemplate>& catalogue,
                                                    const std::map<int, std::vector<std::string>>& answers_per_template,
                                                    const std::vector<int64_t>& ecg_ids,
                                                    const GeneratorOptions& options) {
    std::vector<int> ids = options.template_ids.empty() ? supported_single_ecg_templates() : options.template_ids;
    std::sort(ids.begin(), ids.end());
    if (std::adjacent_find(ids.begin(), ids.end()) != ids.end())
        throw std::invalid_argument("ECG-QA generator: a template id is listed twice");
    std::vector<Plan> plans;
    std::vector<const EcgQaTemplate*> cats;
    for (const int id : ids) {
        const TemplateDef& def = find_def(id);
        const auto cat = catalogue.find(id);
        if (cat == catalogue.end())
            throw std::invalid_argument(fmt::format("ECG-QA template {} is not in the catalogue", id));
        if (cat->second.question_type != def.question_type || cat->second.attribute_type != def.attribute_type)
            throw std::invalid_argument(fmt::format("ECG-QA template {}: the catalogue says {} / {}, expected {} / {}",
                                                    id, cat->second.question_type, cat->second.attribute_type,
                                                    def.question_type, def.attribute_type));
        if (!answers_per_template.count(id))
            throw std::invalid_argument(fmt::format("ECG-QA template {} has no answer candidates", id));
        plans.push_back(make_plan(def, scp_statements, answers_per_template));
        cats.push_back(&cat->second);
    }
    std::set<int64_t> seen;
    std::vector<QaSample> out;
    for (const int64_t ecg_id : ecg_ids) {
        if (!seen.insert(ecg_id).second)
            throw std::invalid_argument(fmt::format("ECG-QA generator: ecg_id {} is listed twice", ecg_id));
        const auto rec = records.find(ecg_id);
        if (rec == records.end()) continue;
        const Facts facts = derive_facts(rec->second, scp_statements);
        for (size_t pi = 0; pi < plans.size(); ++pi) {
            const Plan& p = plans[pi];
            std::mt19937_64 rng(splitmix64(options.seed ^ splitmix64(static_cast<uint64_t>(ecg_id) * 1000003u +
                                                                     static_cast<uint64_t>(p.def->id))));
            // answer classes -> (instance index, answer)
            std::map<std::string, std::vector<std::pair<size_t, std::vector<std::string>>>> by_class;
            std::map<std::string, int> weight;
            std::vector<std::pair<size_t, std::vector<std::string>>> picked;
            for (size_t i = 0; i < p.instances.size(); ++i) {
                auto ans = answer(p, facts, p.instances[i]);
                if (!ans) continue;
                const auto [cls, w] = answer_class(p, p.instances[i], *ans);
                if (options.max_per_template <= 0) {
                    picked.emplace_back(i, std::move(*ans));
                    continue;
                }
                by_class[cls].emplace_back(i, std::move(*ans));
                weight[cls] = w;
            }
            for (int k = 0; options.max_per_template > 0 && k < options.max_per_template && !by_class.empty(); ++k) {
                int total = 0;
                for (const auto& [cls, v] : by_class) total += weight[cls];
                int r = static_cast<int>(rng() % static_cast<uint64_t>(total));
                auto it = by_class.begin();
                while (r >= weight[it->first]) r -= weight[(it++)->first];
                auto& v = it->second;
                const size_t j = static_cast<size_t>(rng() % v.size());
                picked.push_back(std::move(v[j]));
                v.erase(v.begin() + static_cast<std::ptrdiff_t>(j));
                if (v.empty()) by_class.erase(it);
            }
            for (auto& [i, ans] : picked) {
                const bool swap = p.def->kind == Kind::kChoose && (rng() & 1u);
                QaSample s = make_sample(p, *cats[pi], p.instances[i], i, swap, ecg_id, std::move(ans));
                s.sample_id = options.first_sample_id + static_cast<int64_t>(out.size());
                s.id = default_sample_id(s);
                out.push_back(std::move(s));
            }
        }
    }
    return out;
}

}  // namespace diagecg
