// PTB-XL metadata (Wagner et al., "PTB-XL, a large publicly available electrocardiography dataset",
// Scientific Data 7, 154 (2020)): the database table (ptbxl_database.csv, or a subset of its rows such as
// ptbxl_database_form.csv) and scp_statements.csv. Both files:
//  1. are RFC 4180 CSV: ',' separated; a field may be quoted with '"' and then hold commas and line breaks,
//     '""' being a quote inside it; a UTF-8 byte order mark is skipped; blank lines are skipped;
//  2. name their columns in the first row; columns are found by name in any order, unknown ones are
//     ignored; scp_statements.csv keeps the SCP code in its first column, which has no name (pandas index);
//  3. mark missing values with an empty cell or "nan";
//  4. keep scp_codes as a Python dict literal of SCP code -> likelihood in percent,
//     "{'NORM': 100.0, 'SR': 0.0}" (PTB-XL: 15/35/50/80/100 for diagnostic statements, 0 = not given,
//     which is what form and rhythm statements carry).
// Every problem is a std::runtime_error naming "file:line" (the line a row starts on) and the column.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace diagecg {

// One PTB-XL ECG's metadata row. Text cells are trimmed; "" / nullopt where the cell is empty or "nan".
struct PtbxlRecord {
    int64_t ecg_id = 0;
    int64_t patient_id = 0;
    std::optional<double> age, height_cm, weight_kg;       // years (PTB-XL writes 300 for ages over 89), cm, kg
    std::optional<int> sex;                                // 0 male, 1 female
    std::string report;                                    // free text, German, English or Swedish
    std::map<std::string, double> scp_codes;               // SCP code -> likelihood in % (0 = not given)
    std::string heart_axis;                                // MID, LAD, ALAD, RAD, ARAD, AXL, AXR, SAG
    std::string infarction_stadium1, infarction_stadium2;  // "Stadium I" .. "Stadium III", "unknown"
    std::string baseline_drift, static_noise, burst_noise, electrodes_problems;  // affected leads, e.g. " , I-AVF,  "
    std::string extra_beats;                                                     // e.g. "1ES", "VES2,alles", "SVES"
    std::string pacemaker;
    int strat_fold = 0;  // 1..10 (PTB-XL's stratified folds); 0 when empty
};

// One row of scp_statements.csv.
struct ScpStatement {
    std::string code;                                       // "NDT", "IMI", "SR", ...
    std::string description;                                // "non-diagnostic T abnormalities"
    bool diagnostic = false, form = false, rhythm = false;  // a statement may be diagnostic and form
    std::string diagnostic_class;                           // NORM, MI, STTC, CD, HYP; empty unless diagnostic
    std::string diagnostic_subclass;                        // "IMI", "STTC", ...
    std::string statement_category;                         // "Myocardial Infarction", ...
};

// ecg_id -> record. Required columns: ecg_id, patient_id, age, sex, height, weight, report, scp_codes,
// heart_axis, infarction_stadium1, infarction_stadium2, baseline_drift, static_noise, burst_noise,
// electrodes_problems, extra_beats, pacemaker, strat_fold. A duplicate ecg_id is an error.
std::map<int64_t, PtbxlRecord> read_ptbxl_database(const std::string& path);

// code -> statement. Required columns: the code column (unnamed, "Unnamed: 0" or "scp_code"), description,
// diagnostic, form, rhythm, diagnostic_class, diagnostic_subclass; "Statement Category" is optional.
std::map<std::string, ScpStatement> read_scp_statements(const std::string& path);

// The patient's known features for an LLM prompt: comma-separated, in this order, each only when known:
//   "age N" (N whole years, or one decimal; "age over 89" for PTB-XL's 300), "male" / "female",
//   "height N cm", "weight N kg".
// Example: "age 56, female, height 165 cm, weight 63 kg"; "" when nothing is known.
std::string patient_features_text(const PtbxlRecord& record);

// --- structured cells, parsed as ECG-QA's encode_ptbxl parses them (Oh et al., NeurIPS 2023) ---

// The leads a noise cell (baseline_drift, static_noise, burst_noise, electrodes_problems) names, as a mask:
// bit i = lead i of I, II, III, aVR, aVL, aVF, V1..V6. Understood: lead names, ranges ("I-AVF", "V4-V6", "v4-6"),
// bare digits (V leads), "alles" (all leads) and lead groups ("inferior", "chest", ...); words such as
// "mittel" or "noisy recording" name no lead (0).
uint16_t noise_lead_mask(const std::string& cell);

// The extra beats an extra_beats cell names ("1ES", "VES2,alles", "SVES", "1ES,SVES"): a count per kind,
// -1 when the kind is not mentioned, 0 when it is mentioned without a count.
struct ExtraBeats {
    int es = -1;    // extrasystoles of unspecified origin
    int ves = -1;   // ventricular
    int sves = -1;  // supraventricular
};
ExtraBeats parse_extra_beats(const std::string& cell);

// --- CSV helpers shared with the ECG-QA readers ---

// A whole CSV file as read by the rules above. rows[i] has header.size() cells; row_lines[i] is the line
// row i starts on (1-based), for messages.
struct CsvTable {
    std::string path;
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
    std::vector<int64_t> row_lines;
    // Index of the column named `name`, or -1.
    int column(std::string_view name) const;
    // Like column() but throws std::runtime_error "path: no column 'name'" when it is missing.
    int required_column(std::string_view name) const;
};
CsvTable read_csv_table(const std::string& path);

// Python literals as pandas writes them into CSV cells; std::invalid_argument on anything else.
//   "['no', 'not sure', \"it's\"]" -> {"no", "not sure", "it's"}
std::vector<std::string> parse_python_string_list(std::string_view text);
//   "{'NORM': 100.0, 'SR': 0.0}" -> {{"NORM", 100}, {"SR", 0}}
std::map<std::string, double> parse_python_likelihood_dict(std::string_view text);

}  // namespace diagecg
