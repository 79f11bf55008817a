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

// The record file of a PTB-XL ecg_id under `dir`: DIR/NNNNN.hea, DIR/NNNNN_hr.hea or PTB-XL's own layout
// DIR/records500/NN000/NNNNN_hr.hea; "" when none exists.
std::string find_ecg_record(const std::string& dir, int64_t ecg_id);

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
