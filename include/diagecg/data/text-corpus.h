// The plain-text corpus our own language model learns English (and the reports' style) from, when no
// pretrained LLM is at hand (the bundled model, models/diagecg): PTB-XL's free-text reports, ECG-QA's
// questions with their answers, and PTB-XL's SCP statement descriptions. One document per line in the
// written files (train.txt, val.txt); stage 2 reads them back with read_text_documents().
//
// Held-out data stays out: database rows whose ecg_id is excluded (e.g. the val/test records of records.csv)
// or whose strat_fold is excluded (PTB-XL's recommended val/test folds 9 and 10) give no report; ECG-QA
// questions come only from the files given (pass training files only).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace diagecg {

// PTB-XL report cell -> report text: lower-cased, whitespace collapsed, annotator suffix (" Edit: ...") cut.
std::string clean_ptbxl_report(std::string report);
// Heuristic English test for a cleaned report: ASCII only, at least one English marker word, no German or
// Swedish marker word. (PTB-XL's reports are German, English or Swedish.)
bool looks_english_report(const std::string& report);

struct TextCorpusOptions {
    std::string ptbxl_database;             // "" = no reports
    std::set<int64_t> exclude_ecg_ids;      // reports of these records are left out
    std::set<int> exclude_folds;            // and of these strat_folds
    bool all_languages = false;             // keep German/Swedish reports too
    std::vector<std::string> ecgqa_files;   // ECG-QA JSON files: "question: Q answer: A" documents
    int64_t max_qa = 0;                     // cap on distinct QA documents (0 = all)
    std::string scp_statements;             // "" = none; else "CODE: description" documents
    double val_fraction = 0.05;             // documents held out for validation (by a hash of the text)
};

struct TextCorpus {
    std::vector<std::string> train, val;    // documents, deduplicated, in a stable order
    nlohmann::json summary;                 // counts per source
};

TextCorpus build_text_corpus(const TextCorpusOptions& o);

// Documents of plain-text files: one per non-blank line (trimmed).
std::vector<std::string> read_text_documents(const std::vector<std::string>& files);

}  // namespace diagecg
