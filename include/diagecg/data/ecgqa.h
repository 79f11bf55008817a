// ECG-QA (Oh et al., "ECG-QA: A Comprehensive Question Answering Dataset Combined With Electrocardiogram",
// NeurIPS 2023 Datasets and Benchmarks; github.com/Jwoo5/ecg-qa), PTB-XL version. Files:
//  1. {template,paraphrased}/{train,valid,test}/NNNNN.json: a JSON array of samples, each an object with
//     template_id (int), question_id (int), sample_id (int), question_type (string), attribute_type (string),
//     question (string), answer (list of strings), ecg_id (list of 1 or 2 PTB-XL ids; or our
//     extension "record", a list of record files) and attribute (list of
//     strings, null for comparison questions). Other keys (e.g. ecg_path) are ignored on reading.
//  2. answers_for_each_template.csv: template_id, classes (a Python list of the template's answer strings).
//  3. template_catalogue.csv: template_id, question_type, attribute_type, example_question.
//  4. {train,valid,test}_ecgs.tsv: "index<TAB>ecg_id" per line, no header (the official split).
// Readers throw std::runtime_error naming the file and the line or sample index.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace diagecg {

struct QaSample {
    std::string id;  // "q<question_id>-s<sample_id>" unless the JSON gives an "id"
    int template_id = 0;
    int64_t question_id = 0, sample_id = 0;
    std::string question_type;  // single-verify | single-choose | single-query | comparison_*
    std::string
        attribute_type;  // scp_code | noise | stage_of_infarction | extra_systole | heart_axis | numeric_feature
    std::string question;
    std::vector<std::string> answer;
    std::vector<int64_t> ecg_ids;        // JSON key "ecg_id"
    std::vector<std::string> records;    // JSON key "record" (our extension, in place of ecg_id for ECGs outside
                                         // PTB-XL): record files, relative ones taken from the JSON file's folder
    std::vector<std::string> attribute;  // empty <-> JSON null
};

// One row of template_catalogue.csv.
struct EcgQaTemplate {
    int template_id = 0;
    std::string question_type, attribute_type;
    std::string example_question;  // one instantiation, e.g. "Does this ECG show left axis deviation?"
};

// "q<question_id>-s<sample_id>".
std::string default_sample_id(const QaSample& s);

std::vector<QaSample> read_ecgqa_json(const std::string& path);
// Same format (4-space indent, as published); "id" is written only when it differs from default_sample_id;
// an empty attribute is written as null. Written to a temporary name and renamed.
void write_ecgqa_json(const std::string& path, const std::vector<QaSample>& samples);

std::map<int, std::vector<std::string>> read_answers_for_each_template(const std::string& path);
std::map<int, EcgQaTemplate> read_template_catalogue(const std::string& path);
// The ecg_ids of a split file, in file order. Duplicates are an error.
std::vector<int64_t> read_ecg_split(const std::string& path);

// --- answers ---

// ASCII lower-case, leading/trailing whitespace removed, inner whitespace runs collapsed to one space.
std::string normalise_answer(const std::string& answer);
// Order-free, case-insensitive set comparison after normalise_answer; duplicates do not count.
bool answers_match(const std::vector<std::string>& pred, const std::vector<std::string>& ref);

// Fixed serialisation of an answer list for text targets: each answer with its whitespace collapsed (case kept),
// duplicates (by normalised form) dropped, sorted by normalised form, joined with "; ".
// The separator is "; " and not ", " because one ECG-QA answer contains ", " ("bigeminal pattern (unknown
// origin, supraventricular, or ventricular)"); no answer in ECG-QA's answers.csv (PTB-XL) contains ';'
// (checked by tests/test-ecgqa.cpp). An answer containing ';' is std::invalid_argument.
std::string join_answer(std::vector<std::string> answers);
// Inverse of join_answer: split on ';', trim, drop empty pieces. split_answer(join_answer(v)) keeps v's set.
std::vector<std::string> split_answer(const std::string& text);

}  // namespace diagecg
