#include "diagecg/tokenizer/ecg-token-cache.h"

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "diagecg/util/atomic-file.h"
#include "diagecg/util/byte-reader.h"
#include "diagecg/util/log.h"

namespace diagecg {

namespace fs = std::filesystem;

namespace {

constexpr uint32_t kVersion = 3;

// FNV-1a 64 over the files, streamed.
uint64_t fnv1a_files(const std::vector<std::string>& paths) {
    uint64_t h = 1469598103934665603ULL;
    std::vector<char> buf(1 << 16);
    for (const auto& p : paths) {
        std::ifstream in(p, std::ios::binary);
        if (!in) throw std::runtime_error("cannot read " + p);
        while (in) {
            in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
            for (std::streamsize i = 0; i < in.gcount(); ++i) {
                h ^= static_cast<uint8_t>(buf[static_cast<size_t>(i)]);
                h *= 1099511628211ULL;
            }
        }
    }
    return h;
}

std::pair<uint64_t, int64_t> file_stamp(const std::string& path) {
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec) return {0, 0};
    const auto t = fs::last_write_time(path, ec);
    const int64_t ns = ec ? 0 : std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
    return {static_cast<uint64_t>(size), ns};
}

template <typename T>
void put(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

}  // namespace

EcgTokenCache::EcgTokenCache(const std::string& tokenizer_dir, const std::string& cache_dir)
    : model_(load_ecg_tokenizer(tokenizer_dir)) {
    model_.net->eval();
    n_steps_ = model_.net->config().n_steps();
    codebook_size_ = model_.net->config().codebook_size();
    if (codebook_size_ > 65536) throw std::invalid_argument("token cache: codebook larger than 65536 codes");
    key_ = fmt::format("{:016x}", fnv1a_files({(fs::path(tokenizer_dir) / "config.json").string(),
                                              (fs::path(tokenizer_dir) / "model.safetensors").string()}));
    if (!cache_dir.empty()) {
        fs::create_directories(cache_dir);
        file_ = (fs::path(cache_dir) / ("codes-" + key_ + ".bin")).string();
        if (fs::exists(file_)) load();
    }
}

void EcgTokenCache::load() {
    const auto bytes = read_file_bytes(file_);
    size_t off = 0;
    auto need = [&](size_t n) {
        if (off + n > bytes.size()) throw std::runtime_error(file_ + ": truncated token cache (delete it to rebuild)");
    };
    auto get = [&](auto& v) {
        need(sizeof(v));
        std::memcpy(&v, bytes.data() + off, sizeof(v));
        off += sizeof(v);
    };
    need(4);
    if (std::memcmp(bytes.data(), "DGTC", 4) != 0) throw std::runtime_error(file_ + ": not a diagecg token cache");
    off = 4;
    uint32_t version = 0, p = 0;
    uint64_t n = 0;
    get(version);
    get(p);
    get(n);
    if (version != kVersion || p != n_steps_) {
        log::warn("{}: token cache of another version or size: rebuilding it", file_);
        return;
    }
    for (uint64_t i = 0; i < n; ++i) {
        uint32_t len = 0;
        get(len);
        need(len);
        std::string path(reinterpret_cast<const char*>(bytes.data() + off), len);
        off += len;
        Entry e;
        get(e.size);
        get(e.mtime_ns);
        e.codes.resize(p);
        need(sizeof(uint16_t) * p);
        std::memcpy(e.codes.data(), bytes.data() + off, sizeof(uint16_t) * p);
        off += sizeof(uint16_t) * p;
        uint8_t verdict = 0;
        get(verdict);
        if (verdict > static_cast<uint8_t>(QualityVerdict::kPoor)) throw std::runtime_error(file_ + ": corrupt token cache (delete it to rebuild)");
        e.quality.verdict = static_cast<QualityVerdict>(verdict);
        uint32_t n_reasons = 0;
        get(n_reasons);
        for (uint32_t r = 0; r < n_reasons; ++r) {
            uint32_t rl = 0;
            get(rl);
            need(rl);
            e.quality.reasons.emplace_back(reinterpret_cast<const char*>(bytes.data() + off), rl);
            off += rl;
        }
        get(e.rhythm.n_beats);
        get(e.rhythm.rate_bpm);
        get(e.rhythm.rr_variation);
        get(e.rhythm.shortest_rr);
        entries_[path] = std::move(e);
    }
    log::info("token cache {}: {} ECGs", file_, entries_.size());
}

void EcgTokenCache::save() const {
    if (file_.empty()) return;
    std::string out = "DGTC";
    put(out, kVersion);
    put(out, static_cast<uint32_t>(n_steps_));
    put(out, static_cast<uint64_t>(entries_.size()));
    for (const auto& [path, e] : entries_) {
        put(out, static_cast<uint32_t>(path.size()));
        out += path;
        put(out, e.size);
        put(out, e.mtime_ns);
        out.append(reinterpret_cast<const char*>(e.codes.data()), sizeof(uint16_t) * e.codes.size());
        put(out, static_cast<uint8_t>(e.quality.verdict));
        put(out, static_cast<uint32_t>(e.quality.reasons.size()));
        for (const auto& r : e.quality.reasons) {
            put(out, static_cast<uint32_t>(r.size()));
            out += r;
        }
        put(out, e.rhythm.n_beats);
        put(out, e.rhythm.rate_bpm);
        put(out, e.rhythm.rr_variation);
        put(out, e.rhythm.shortest_rr);
    }
    write_file_atomic(file_, out);
}

std::vector<std::vector<int64_t>> EcgTokenCache::codes(const std::vector<std::string>& paths,
                                                       std::vector<std::pair<std::string, std::string>>* failed,
                                                       int64_t batch, const RecordInput& input,
                                                       std::vector<SignalQuality>* quality,
                                                       const PreprocessConfig* preprocess,
                                                       std::vector<RhythmMeasure>* rhythm) {
    if (batch <= 0) throw std::invalid_argument("token cache: batch must be > 0");
    // Entries are keyed by absolute path, plus the reader options when a record needed them (CSV/NPY).
    const ReadOptions& ro = input.read;
    std::string tag;
    if (ro.sample_rate_hz || !ro.lead_names.empty() || ro.units != "mV" || ro.layout != "auto") {
        tag = fmt::format("\t{}|{}|{}", ro.sample_rate_hz ? fmt::format("{}", *ro.sample_rate_hz) : "", ro.units, ro.layout);
        for (const auto& l : ro.lead_names) tag += "|" + l;
    }
    // ... and the preprocessing, when it is not the tokenizer's own.
    const PreprocessConfig& prep = preprocess ? *preprocess : model_.preprocess;
    if (preprocess_config_to_json(prep) != preprocess_config_to_json(model_.preprocess))
        tag += "\tpreprocess " + preprocess_config_to_json(prep).dump();
    std::vector<std::string> keys(paths.size());
    std::map<std::string, std::string> todo;   // key -> absolute path
    for (size_t i = 0; i < paths.size(); ++i) {
        const std::string abs = fs::absolute(paths[i]).lexically_normal().string();
        keys[i] = abs + tag;
        const auto stamp = file_stamp(paths[i]);
        const auto it = entries_.find(keys[i]);
        const bool fresh = it != entries_.end() && it->second.size == stamp.first && it->second.mtime_ns == stamp.second &&
                           (it->second.quality.verdict != QualityVerdict::kPoor || input.allow_poor_signal);
        if (!fresh) todo.emplace(keys[i], abs);
    }
    std::map<std::string, std::string> bad;
    if (!todo.empty()) {
        log::info("tokenizing {} ECGs not in the token cache", todo.size());
        torch::NoGradGuard ng;
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<std::pair<std::string, std::string>> work(todo.begin(), todo.end());
        for (size_t b0 = 0; b0 < work.size(); b0 += static_cast<size_t>(batch)) {
            const size_t b1 = std::min(work.size(), b0 + static_cast<size_t>(batch));
            std::vector<std::string> chunk;
            std::map<std::string, std::string> key_of;
            for (size_t i = b0; i < b1; ++i) {
                chunk.push_back(work[i].second);
                key_of[work[i].second] = work[i].first;
            }
            const EcgTensor t = load_ecg_tensor(chunk, prep, input, model_.net->config().n_samples);
            for (const auto& [p, why] : t.failed) bad[key_of[p]] = why;
            if (t.paths.empty()) continue;
            const auto c = model_.net->encode(t.x).codes.to(torch::kCPU, torch::kLong).contiguous();
            const auto xs = t.x.to(torch::kCPU, torch::kFloat).contiguous();
            for (size_t i = 0; i < t.paths.size(); ++i) {
                Entry e;
                std::tie(e.size, e.mtime_ns) = file_stamp(t.paths[i]);
                const int64_t* row = c[static_cast<int64_t>(i)].data_ptr<int64_t>();
                e.codes.assign(row, row + n_steps_);
                e.quality.verdict = t.quality[i].verdict;
                e.quality.reasons = t.quality[i].reasons;
                e.rhythm = measure_rhythm(xs[static_cast<int64_t>(i)].data_ptr<float>(), xs.size(1), xs.size(2), prep.sample_rate_hz);
                entries_[key_of[t.paths[i]]] = std::move(e);
            }
            log::info("tokenized {}/{} ECGs ({:.1f} ECG/s)", b1, work.size(),
                      static_cast<double>(b1) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
        save();
    }
    std::vector<std::vector<int64_t>> out(paths.size());
    if (quality) quality->assign(paths.size(), SignalQuality{});
    if (rhythm) rhythm->assign(paths.size(), RhythmMeasure{});
    for (size_t i = 0; i < paths.size(); ++i) {
        const auto it = entries_.find(keys[i]);
        if (it == entries_.end() || bad.count(keys[i])) {
            if (failed) failed->emplace_back(paths[i], bad.count(keys[i]) ? bad[keys[i]] : "not tokenized");
            continue;
        }
        out[i].assign(it->second.codes.begin(), it->second.codes.end());
        if (quality) (*quality)[i] = it->second.quality;
        if (rhythm) (*rhythm)[i] = it->second.rhythm;
    }
    return out;
}

}  // namespace diagecg
