// Clinical label accuracy of reports: which of a fixed set of ECG findings a report asserts, scored against the
// record's own labels (PTB-XL scp_codes, or SNOMED-CT "Dx" codes such as CinC-2021's headers).
//
// A report asserts a class when one of the class's phrases occurs in one of its clauses (text split at '.', ';'
// and ','; "st-t"/"st.t" kept whole) and no negation word ("no", "not", "without", "kein...") comes before
// the phrase in that clause ("an infarct cannot be excluded" asserts it: PTB-XL codes such findings). A phrase
// is a list of terms that must all occur in the clause, each a run of whole words; a word ending in '*'
// matches as a prefix ("infarct*" matches "infarction"). The phrases are the statements' descriptions in
// scp_statements.csv and the wordings PTB-XL's English reports use for them (report-labels.cpp lists them).
// A record's label for a class is positive when any of the class's codes is among its labels (PTB-XL: any
// likelihood, as PTB-XL's own benchmarks read scp_codes).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace diagecg {

struct ReportLabelClass {
    std::string name;                               // "AFIB", "RBBB", ...
    std::string description;                        // "atrial fibrillation"
    std::vector<std::string> scp_codes;             // PTB-XL statements that make it positive
    std::vector<std::string> snomed_codes;          // SNOMED-CT codes that make it positive (empty: not mapped)
    std::vector<std::vector<std::string>> phrases;  // each: terms that must all occur in one clause
    std::vector<std::string> not_after;             // words that, right before a phrase's first term, cancel it
};

// The classes scored, in report order: AFIB, SR, SBRAD, STACH, LBBB, RBBB, LVH, IMI, AMI, STTC.
const std::vector<ReportLabelClass>& report_label_classes();

// The classes a report asserts.
std::set<std::string> report_asserted_labels(const std::string& report);

// A record's classes from PTB-XL scp_codes (code -> likelihood).
std::set<std::string> labels_from_scp_codes(const std::map<std::string, double>& scp_codes);
// A record's classes from SNOMED-CT codes; `known` is set to the classes that have a SNOMED mapping (a class
// without one cannot be scored on such records).
std::set<std::string> labels_from_snomed(const std::vector<std::string>& codes, std::set<std::string>* known = nullptr);

// One labelled record: its true classes, the classes scorable on it, and what a report asserted.
struct LabelledReport {
    std::set<std::string> truth, scorable, asserted;
};
// Per class: n (records scorable), positives, tp/fp/fn/tn, sensitivity, specificity, precision, f1 (null where
// undefined: no positives / no negatives / nothing asserted), and macro_f1 over classes with positives.
nlohmann::json label_accuracy(const std::vector<LabelledReport>& reports);

}  // namespace diagecg
