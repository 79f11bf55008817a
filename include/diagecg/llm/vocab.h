// The extended vocabulary's id layout, defined here and nowhere else (REFERENCE.md section 3):
//   [0, base)                      text ids (the SentencePiece model's pieces)
//   [base, base + n_ecg)           ECG code tokens <ecg_0000> .. <ecg_{n_ecg-1}>
//   base + n_ecg                   <|start_ecg|>
//   base + n_ecg + 1               <|end_ecg|>
//   base + n_ecg + 2               <|pad|>
// A model that is not extended has n_ecg == 0 and no special ids.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace diagecg {

class Vocab {
public:
    static constexpr int64_t kNumSpecials = 3;

    Vocab() = default;
    Vocab(int64_t base_size, int64_t n_ecg_codes);

    int64_t base_size() const { return base_; }
    int64_t n_ecg_codes() const { return n_ecg_; }
    bool extended() const { return n_ecg_ > 0; }
    int64_t size() const { return extended() ? base_ + n_ecg_ + kNumSpecials : base_; }

    int64_t ecg_id(int64_t code) const;            // code in [0, n_ecg) -> token id
    bool is_ecg(int64_t id) const { return extended() && id >= base_ && id < base_ + n_ecg_; }
    int64_t ecg_code(int64_t id) const;            // inverse of ecg_id
    bool is_text(int64_t id) const { return id >= 0 && id < base_; }
    int64_t start_ecg() const;
    int64_t end_ecg() const;
    int64_t pad() const;

    // "<ecg_0042>", "<|start_ecg|>", ... for non-text ids; throws for text ids.
    std::string special_string(int64_t id) const;
    // Inverse: the id of a special/ECG token string, or nullopt.
    std::optional<int64_t> parse_special(const std::string& s) const;

private:
    int64_t base_ = 0;
    int64_t n_ecg_ = 0;
};

}  // namespace diagecg
