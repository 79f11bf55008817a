// Instantiates ECG-QA's single-ECG question templates (Oh et al., NeurIPS 2023) from PTB-XL metadata, for a
// given list of ECGs. ECG-QA's generation pipeline (Python package ptbxl_qa_pipelines: encode_ptbxl.py,
// instantiate_template.py; read in public copies, the repository not identified) defines the rules marked
// [ECG-QA] below; the others are ours [ours].
//
// Supported templates (catalogue ids): 1-16 scp_code, 20-22 heart_axis, 23-25 stage_of_infarction,
// 26-34 noise, 35-38 extra_systole. Not supported: 17-19 (need per-lead form findings that ECG-QA parses out
// of the free-text report), 39-42 (numeric features that ECG-QA measures on the signal with NeuroKit2),
// 43-70 (comparisons of two ECGs).
//
// Answers per attribute:
//  - SCP codes [ECG-QA]: a code counts when it is in scp_codes, whatever its likelihood ("including
//    uncertain"); "excluding uncertain" (templates 5, 9, 14) counts only likelihood 0 or 100. Template 1 on a
//    diagnostic code: yes for likelihood 0 or 100, "not sure" for 15/35/50/80, no when absent; on a form or
//    rhythm code: yes/no by presence. Template 2 (normal): NORM present. 12: any code but NORM and SR;
//    13/14: any diagnostic code but NORM; 15: any form code; 16: any rhythm code (SR included). 3: the
//    diagnostic classes (CD, HYP, MI, STTC) of the diagnostic codes present. Code names are ECG-QA's
//    (e.g. IMI -> "myocardial infarction in inferior leads", DIG -> "digitalis effect").
//  - Which codes are asked about [ours]: for templates 4-11 the codes of that category (diagnostic without
//    NORM / form / rhythm) whose name is among the template's answer candidates; for template 1 the codes
//    named in the candidates of 4, 6 or 7. (ECG-QA's released candidates leave out e.g. RVH, WPW, 2AVB,
//    PRC(S), SVARR, PSVT, TRIGU; codes outside the candidates never appear in an answer.)
//  - Heart axis [ours]: ECG-QA derives it from the signal (QRS net amplitude in I and aVF; normal -30..90 deg,
//    left -90..-30, right 90..180, extreme -180..-90). We map PTB-XL's heart_axis column instead: ALAD ->
//    left axis deviation; LAD -> left axis deviation unless the report says "linkstyp" (German left type,
//    -30..+30 deg, normal by ECG-QA's ranges) -> normal heart axis; AXL (borderline left), MID, AXR (German
//    Steiltyp) -> normal heart axis; RAD, ARAD -> right axis deviation; SAG or empty -> unknown, and then no
//    heart-axis question is asked (ECG-QA also skips unknown axes for 20 and 22). "extreme axis deviation" never
//    arises.
//  - Stage of infarction [ECG-QA]: infarction_stadium2 when given, else infarction_stadium1: "Stadium I" or
//    "I-II" -> early, "II" or "II-III" -> middle, "III" -> old stage of myocardial infarction; "unknown" ->
//    unknown stage; both empty -> none of myocardial infarction. (ECG-QA misspells "Staidum III" for the
//    stadium1 case, so it never labels that case old; we do.)
//  - Noise [ECG-QA]: the leads of baseline_drift, static_noise, burst_noise, electrodes_problems, by
//    noise_lead_mask (ptbxl-meta.h); a noise is present when at least one lead parses (a cell such as
//    "mittel" alone does not count). Reproduces all 3,815 published answers of templates 26-28 we can check.
//  - Extra systoles [ECG-QA]: extra_beats by parse_extra_beats (ptbxl-meta.h): extrasystoles / ventricular /
//    supraventricular extrasystoles when mentioned. Template 35 [ours]: yes when any of
//    the three is present (ECG-QA also required a lead list in the cell).
//
// Sampling [ours, mirroring ECG-QA's balance]: ECG-QA draws, per question, equal numbers of ECGs per answer
// (verify: yes / no / not sure; choose: a only / b only / both, and half as many "none"). Here the ECGs are
// given, so per ECG and template we draw up to max_per_template distinct instantiations: pick an answer class
// by those weights among the classes this ECG can produce, then an instantiation of that class uniformly
// (query templates: "none" vs. a non-empty answer, equal weights). Choose questions swap their two options with
// probability 1/2, as ECG-QA does. One std::mt19937_64 per (seed, ecg_id, template_id), so an ECG's questions
// do not depend on which other ECGs are in the list.
// Answers are ordered as join_answer orders them (by normalised text); every answer is checked against the
// template's candidates in answers_for_each_template.csv (std::runtime_error otherwise).
// question_id = 10000 * template_id + index of the instantiation (fixed for given candidate lists);
// sample_id counts from first_sample_id in output order (ECG by ECG, templates ascending).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "diagecg/data/ecgqa.h"
#include "diagecg/data/ptbxl-meta.h"

namespace diagecg {

struct GeneratorOptions {
    uint64_t seed = 42;             // deterministic: same inputs and seed, same samples
    int max_per_template = 1;       // questions per template per ECG; <= 0: every instantiation (no sampling)
    std::vector<int> template_ids;  // templates to instantiate; empty = supported_single_ecg_templates()
    int64_t first_sample_id = 0;    // sample_id of the first sample
};

// 1-16, 20-38.
std::vector<int> supported_single_ecg_templates();

// Our wording of a supported template, "{a}" / "{b}" for the attribute(s), "{lead}" for a lead ("lead aVF").
// Filled in, it reproduces the catalogue's example question. std::invalid_argument for an unsupported id.
std::string template_wording(int template_id);

// A supported template's question_type and attribute_type (as in the catalogue), and the names that can fill
// its {a}/{b} (by attribute type: ECG-QA's SCP code names and diagnostic classes, heart axes, infarction stages,
// noises, extra systoles; empty for templates without a variable) and {lead} ("lead I" .. "lead V6").
// std::invalid_argument for an unsupported id.
std::pair<std::string, std::string> template_types(int template_id);
std::vector<std::string> template_slot_names(int template_id);
std::vector<std::string> template_lead_names();

// Questions about the ECGs in `ecg_ids` (in that order). Ids without a row in `records` are skipped; a
// repeated id, or a requested template missing from `catalogue` or `answers_per_template` or whose catalogue
// types differ from ours, is std::invalid_argument.
std::vector<QaSample> generate_single_ecg_questions(const std::map<int64_t, PtbxlRecord>& records,
                                                    const std::map<std::string, ScpStatement>& scp_statements,
                                                    const std::map<int, EcgQaTemplate>& catalogue,
                                                    const std::map<int, std::vector<std::string>>& answers_per_template,
                                                    const std::vector<int64_t>& ecg_ids,
                                                    const GeneratorOptions& options);

}  // namespace diagecg
