// Which question family (ECG-QA template) a free question belongs to, among the families the bundled QA model
// was trained on: the single-ECG templates the generator instantiates (ecgqa-generator.h: 1-16, 20-38) and
// the published comparison templates 68-70 (configs/bundled/finetune-qa.json's data). A question matches a
// family when, lower-cased with whitespace collapsed and the final '?' dropped, it equals the template's
// wording with {a}/{b} filled by one of the template's attribute names and {lead} by a lead ("lead V2").
// Anything else ("What is the heart rate?", "Translate this to French") is out of domain: the model answers it
// with some template's answer, which means nothing.
#pragma once

#include <string>
#include <vector>

namespace diagecg {

struct QuestionFamily {
    int template_id = 0;
    std::string question_type;          // single-verify | single-choose | single-query | comparison_irrelevant-query
    std::string attribute_type;         // scp_code | heart_axis | stage_of_infarction | noise | extra_systole | numeric_feature
    std::string wording;                // "Does this ECG show symptoms of {a}?"
    std::string example;                // the wording filled in
    int n_ecgs = 1;                     // ECGs the question is about
};

// The families, by template id.
const std::vector<QuestionFamily>& trained_question_families();

// The matching family, or nullptr.
const QuestionFamily* match_question_family(const std::string& question);

}  // namespace diagecg
