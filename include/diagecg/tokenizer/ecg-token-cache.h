// ECG records -> ECG codes, computed once per tokenizer and kept on disk (stage 2 and 3 read the same
// corpus every epoch and every run). One file per tokenizer: CACHE_DIR/codes-<key>.bin, where <key> hashes
// the tokenizer's config.json and weights, so a retrained tokenizer never reads stale codes. An entry is
// also redone when its record file's size or modification time changed.
//
// File layout (little-endian):
//   1. magic "DGTC", u32 version (3), u32 P (codes per ECG), u64 number of entries
//   2. per entry: u32 key length, key bytes (absolute path, then a tab and the reader options when the record
//      needed them), u64 file size, i64 mtime (ns), P x u16 codes, u8 quality verdict, u32 number of quality
//      reasons, each u32 length + bytes, then the rhythm measurements (ecg/rhythm.h) of the window the codes
//      came from: i64 beats, f64 rate, f64 RR variation, f64 shortest RR
// A cache of another version is rebuilt.
// The file is rewritten whole (temp + rename) after new records were tokenized.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "diagecg/ecg/rhythm.h"
#include "diagecg/tokenizer/ecg-tokenizer-io.h"

namespace diagecg {

class EcgTokenCache {
public:
    // Loads the tokenizer from `tokenizer_dir` and the cache file for it from `cache_dir` (created if needed;
    // an empty cache_dir keeps codes in memory only).
    EcgTokenCache(const std::string& tokenizer_dir, const std::string& cache_dir);

    // Codes [P] for each path, tokenizing (in batches of `batch`) and saving those not cached yet. Records that
    // cannot be read, or whose signal quality is poor (unless input.allow_poor_signal), get an empty vector and an
    // entry in `failed` (path, why). `quality` (if given) receives each record's verdict and reasons (per-lead
    // figures are not cached). `preprocess` (if given) replaces the tokenizer's recorded preprocessing (inference-
    // time flags, a time window); such entries are keyed by it too. `rhythm` (if given) receives each record's
    // rhythm measurements, taken on the same preprocessed window the codes come from.
    std::vector<std::vector<int64_t>> codes(const std::vector<std::string>& paths,
                                            std::vector<std::pair<std::string, std::string>>* failed = nullptr,
                                            int64_t batch = 16, const RecordInput& input = {},
                                            std::vector<SignalQuality>* quality = nullptr,
                                            const PreprocessConfig* preprocess = nullptr,
                                            std::vector<RhythmMeasure>* rhythm = nullptr);
    const PreprocessConfig& preprocess() const { return model_.preprocess; }   // the tokenizer's recorded one

    int64_t n_steps() const { return n_steps_; }          // P
    int64_t codebook_size() const { return codebook_size_; }
    const std::string& file() const { return file_; }
    const std::string& key() const { return key_; }

private:
    struct Entry {
        uint64_t size = 0;
        int64_t mtime_ns = 0;
        std::vector<uint16_t> codes;
        SignalQuality quality;      // verdict and reasons
        RhythmMeasure rhythm;
    };
    void load();
    void save() const;

    EcgTokenizerModel model_;
    std::string file_, key_;
    int64_t n_steps_ = 0, codebook_size_ = 0;
    std::map<std::string, Entry> entries_;
};

}  // namespace diagecg
