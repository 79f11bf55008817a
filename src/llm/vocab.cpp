#include "diagecg/llm/vocab.h"

#include <cstdio>
#include <stdexcept>

namespace diagecg {

namespace {
constexpr const char* kStartEcg = "<|start_ecg|>";
constexpr const char* kEndEcg = "<|end_ecg|>";
constexpr const char* kPad = "<|pad|>";
}  // namespace

Vocab::Vocab(int64_t base_size, int64_t n_ecg_codes) : base_(base_size), n_ecg_(n_ecg_codes) {
    if (base_size <= 0) throw std::invalid_argument("vocab: base size must be positive, got " + std::to_string(base_size));
    if (n_ecg_codes < 0 || n_ecg_codes > 1000000)
        throw std::invalid_argument("vocab: number of ECG codes must be in [0, 1e6], got " + std::to_string(n_ecg_codes));
}

int64_t Vocab::ecg_id(int64_t code) const {
    if (code < 0 || code >= n_ecg_)
        throw std::out_of_range("vocab: ECG code " + std::to_string(code) + " outside [0, " + std::to_string(n_ecg_) + ")");
    return base_ + code;
}

int64_t Vocab::ecg_code(int64_t id) const {
    if (!is_ecg(id)) throw std::out_of_range("vocab: id " + std::to_string(id) + " is not an ECG token");
    return id - base_;
}

int64_t Vocab::start_ecg() const {
    if (!extended()) throw std::logic_error("vocab: model has no ECG tokens (not extended)");
    return base_ + n_ecg_;
}
int64_t Vocab::end_ecg() const { return start_ecg() + 1; }
int64_t Vocab::pad() const { return start_ecg() + 2; }

std::string Vocab::special_string(int64_t id) const {
    if (is_ecg(id)) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "<ecg_%04lld>", static_cast<long long>(id - base_));
        return buf;
    }
    if (extended() && id == start_ecg()) return kStartEcg;
    if (extended() && id == end_ecg()) return kEndEcg;
    if (extended() && id == pad()) return kPad;
    throw std::out_of_range("vocab: id " + std::to_string(id) + " is not a special token");
}

std::optional<int64_t> Vocab::parse_special(const std::string& s) const {
    if (!extended()) return std::nullopt;
    if (s == kStartEcg) return start_ecg();
    if (s == kEndEcg) return end_ecg();
    if (s == kPad) return pad();
    if (s.size() > 6 && s.compare(0, 5, "<ecg_") == 0 && s.back() == '>') {
        int64_t code = 0;
        for (size_t i = 5; i + 1 < s.size(); ++i) {
            if (s[i] < '0' || s[i] > '9' || i > 12) return std::nullopt;
            code = code * 10 + (s[i] - '0');
        }
        if (code < n_ecg_) return base_ + code;
    }
    return std::nullopt;
}

}  // namespace diagecg
