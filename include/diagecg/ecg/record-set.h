// Lists of ECG records for training and batch commands: from a directory (searched recursively), a list
// file (one record path per line, relative paths taken from the list file's folder, '#' comments), or one
// record. A split file (CSV "id,split", e.g. PTB-XL's records.csv) assigns records to train/val/test by id.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace diagecg {

// Record files a directory holds: .hea (WFDB, incl. CinC .mat), .edf, .npy, .csv (a .csv or .npy beside a
// .hea of the same name is not listed twice). Sorted. Throws when the path does not exist or has none.
std::vector<std::string> list_records(const std::string& path);

// A record's id: its file name without extension ("data/train/00043.hea" -> "00043").
std::string record_id(const std::string& path);

// PTB-XL ecg_id -> record file, for every record under `dir` (searched recursively) whose id is a number,
// optionally with PTB-XL's "_hr"/"_lr" suffix: "train/00043.hea", "records500/00000/00043_hr.hea" -> 43.
// When both a 500 Hz (_hr) and a 100 Hz (_lr) file exist, the 500 Hz one is kept.
std::map<int64_t, std::string> index_ecg_records(const std::string& dir);

// Reads "id,split" rows (a header line naming the columns is skipped; extra columns are ignored).
// Throws on a malformed row or a duplicate id.
std::map<std::string, std::string> read_split_file(const std::string& path);

// The records whose id has split `split` in `splits`. Ids compare as written or, when both are all
// digits, as numbers ("43" matches "00043"). Records missing from the split file are left out.
std::vector<std::string> select_split(const std::vector<std::string>& records,
                                      const std::map<std::string, std::string>& splits, const std::string& split);

// Deterministic shuffle by `seed`, then the first round(fraction * n) records go to `second`.
void split_by_fraction(const std::vector<std::string>& records, double fraction, uint64_t seed,
                       std::vector<std::string>& first, std::vector<std::string>& second);

}  // namespace diagecg
