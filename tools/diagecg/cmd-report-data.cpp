// diagecg report-data: report-generation samples (JSONL, one {"ecg_id", "report"} per line and split) from
// PTB-XL's metadata table, for the records a signal directory holds.
//
// Report text: PTB-XL's `report` column, lower-cased, whitespace collapsed, with annotator suffixes
// (" Edit: ...") cut. PTB-XL's reports are German, English or Swedish; by default only English ones are kept,
// by a documented heuristic (ASCII only, at least one English marker word, no German/Swedish marker word);
// --all-languages keeps every report. --all-records also writes the records left without a report, with no
// "report" field: `eval --task report` scores those on their clinical labels only (training refuses them).
// --max-per-report N keeps at most N train records of any one report text (most PTB-XL reports are a handful of
// normal phrasings: "sinus rhythm. normal ecg." is 160 of the 507 English train reports), so that stage 3 does
// not learn to write the commonest report for every ECG (the first N in the order records are written); val and
// test keep every record.
#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "diagecg/data/ptbxl-meta.h"
#include "diagecg/data/text-corpus.h"
#include "diagecg/ecg/record-set.h"
#include "diagecg/util/atomic-file.h"
#include "diagecg/util/log.h"

namespace diagecg::cli {

namespace fs = std::filesystem;

namespace {

struct ReportDataOptions {
    std::string database;
    std::string ecg_dir;
    std::string split_file;
    std::string out;
    bool all_languages = false;
    bool all_records = false;
    int64_t max_per_report = 0;   // 0 = no cap
};

void run_report_data(const ReportDataOptions& o) {
    const auto db = read_ptbxl_database(o.database);
    const auto splits = read_split_file(o.split_file);
    const auto records = index_ecg_records(o.ecg_dir);
    std::map<std::string, std::string> lines;   // split -> JSONL
    std::map<std::string, int64_t> counts;
    int64_t no_record = 0, no_report = 0, foreign = 0, unreported = 0, capped = 0;
    std::map<std::string, int64_t> train_per_report;
    for (const auto& [id_text, split] : splits) {
        const int64_t id = std::stoll(id_text);
        const auto it = db.find(id);
        if (it == db.end()) continue;
        if (!records.count(id)) { ++no_record; continue; }
        const std::string report = clean_ptbxl_report(it->second.report);
        const bool keep = !report.empty() && (o.all_languages || looks_english_report(report));
        if (!keep) {
            ++(report.empty() ? no_report : foreign);
            if (!o.all_records) continue;
            ++unreported;
            lines[split] += nlohmann::json{{"ecg_id", id}}.dump() + "\n";
            ++counts[split];
            continue;
        }
        if (split == "train" && o.max_per_report > 0 && ++train_per_report[report] > o.max_per_report) {
            ++capped;
            continue;
        }
        lines[split] += nlohmann::json{{"ecg_id", id}, {"report", report}}.dump() + "\n";
        ++counts[split];
    }
    fs::create_directories(o.out);
    nlohmann::json summary = {
        {"out", o.out},
        {"splits", counts},
        {"left_out", {{"no_record", no_record}, {"no_report", no_report}, {"not_english", foreign}, {"over_max_per_report", capped}}},
        {"written_without_report", unreported}};
    for (const auto& [split, text] : lines) write_file_atomic((fs::path(o.out) / (split + ".jsonl")).string(), text);
    print_result(summary.dump(2) + "\n");
}

}  // namespace

void add_report_data(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<ReportDataOptions>();
    auto* sub = app.add_subcommand("report-data", "Write report-generation samples (JSONL per split) from PTB-XL metadata");
    sub->add_option("--ptbxl-database", o->database, "PTB-XL's ptbxl_database.csv")->required();
    sub->add_option("--ecg-dir", o->ecg_dir, "directory holding the records (searched recursively: NNNNN.hea, NNNNN_hr.hea)")->required();
    sub->add_option("--split-file", o->split_file, "CSV of ecg_id,split rows (e.g. records.csv)")->required();
    sub->add_option("-o,--out", o->out, "output directory: <split>.jsonl")->required();
    sub->add_flag("--all-languages", o->all_languages, "keep German and Swedish reports too");
    sub->add_flag(
        "--all-records", o->all_records,
        "also write the records left without a report (no \"report\" field): eval scores them on clinical labels only");
    sub->add_option("--max-per-report", o->max_per_report,
                    "keep at most N train records of any one report text (0 = all; val and test keep every record)")
        ->check(CLI::NonNegativeNumber);
    sub->callback([&run, o] { run = [o] { run_report_data(*o); }; });
}

}  // namespace diagecg::cli
