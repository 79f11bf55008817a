#include "diagecg/ecg/record-set.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <stdexcept>

namespace diagecg {
namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

bool all_digits(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "00043" -> "43"; non-numeric ids unchanged.
std::string canonical_id(const std::string& id) {
    if (!all_digits(id)) return id;
    const auto nz = id.find_first_not_of('0');
    return nz == std::string::npos ? "0" : id.substr(nz);
}

}  // namespace

std::string record_id(const std::string& path) { return fs::path(path).stem().string(); }

// A .txt is a record list when its first line that is not blank or a comment names an existing file or
// directory (relative to the list); otherwise it is a record itself (CSV values), as read_ecg reads it.
static bool is_record_list(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        line = trim(line);
        if (line.empty() || line[0] == '#') continue;
        fs::path p(line);
        if (p.is_relative()) p = fs::path(path).parent_path() / p;
        std::error_code ec;
        return fs::exists(p, ec);
    }
    return false;
}

std::vector<std::string> list_records(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw std::runtime_error(path + ": no such file or directory");
    std::vector<std::string> out;
    if (fs::is_directory(path)) {
        std::set<std::string> with_header;   // stems that have a .hea
        std::vector<fs::path> others;
        for (const auto& e : fs::recursive_directory_iterator(path, fs::directory_options::follow_directory_symlink)) {
            if (!e.is_regular_file()) continue;
            const std::string ext = lower(e.path().extension().string());
            if (ext == ".hea") {
                out.push_back(e.path().string());
                with_header.insert((e.path().parent_path() / e.path().stem()).string());
            } else if (ext == ".edf" || ext == ".npy" || ext == ".csv") {
                others.push_back(e.path());
            }
        }
        for (const auto& p : others)
            if (!with_header.count((p.parent_path() / p.stem()).string())) out.push_back(p.string());
        std::sort(out.begin(), out.end());
        if (out.empty()) throw std::runtime_error(path + ": no ECG records (.hea, .edf, .npy, .csv) in this directory");
        return out;
    }
    const std::string ext = lower(fs::path(path).extension().string());
    if (ext == ".list" || (ext == ".txt" && is_record_list(path))) {
        std::ifstream in(path);
        if (!in) throw std::runtime_error(path + ": cannot open record list");
        const fs::path base = fs::path(path).parent_path();
        std::string line;
        int64_t n = 0;
        while (std::getline(in, line)) {
            ++n;
            line = trim(line);
            if (line.empty() || line[0] == '#') continue;
            fs::path p(line);
            if (p.is_relative()) p = base / p;
            if (!fs::exists(p, ec))
                throw std::runtime_error(path + ":" + std::to_string(n) + ": record " + p.string() + " does not exist");
            out.push_back(p.string());
        }
        if (out.empty()) throw std::runtime_error(path + ": the record list is empty");
        return out;
    }
    return {path};
}

std::map<std::string, std::string> read_split_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(path + ": cannot open split file");
    std::map<std::string, std::string> out;
    std::string line;
    int64_t n = 0;
    while (std::getline(in, line)) {
        ++n;
        line = trim(line);
        if (line.empty() || line[0] == '#') continue;
        const auto c1 = line.find(',');
        if (c1 == std::string::npos)
            throw std::runtime_error(path + ":" + std::to_string(n) + ": expected \"id,split\", got \"" + line + "\"");
        const std::string id = trim(line.substr(0, c1));
        const auto c2 = line.find(',', c1 + 1);
        const std::string split = trim(line.substr(c1 + 1, c2 == std::string::npos ? std::string::npos : c2 - c1 - 1));
        if (n == 1 && !all_digits(id) && (lower(split) == "split" || lower(id).find("id") != std::string::npos))
            continue;   // header
        if (id.empty() || split.empty())
            throw std::runtime_error(path + ":" + std::to_string(n) + ": empty id or split in \"" + line + "\"");
        if (!out.emplace(canonical_id(id), split).second)
            throw std::runtime_error(path + ":" + std::to_string(n) + ": id " + id + " is listed twice");
    }
    if (out.empty()) throw std::runtime_error(path + ": the split file lists no records");
    return out;
}

std::vector<std::string> select_split(const std::vector<std::string>& records,
                                      const std::map<std::string, std::string>& splits, const std::string& split) {
    std::vector<std::string> out;
    for (const auto& r : records) {
        const auto it = splits.find(canonical_id(record_id(r)));
        if (it != splits.end() && it->second == split) out.push_back(r);
    }
    return out;
}

void split_by_fraction(const std::vector<std::string>& records, double fraction, uint64_t seed,
                       std::vector<std::string>& first, std::vector<std::string>& second) {
    if (!(fraction >= 0 && fraction < 1)) throw std::invalid_argument("split fraction must be in [0, 1)");
    std::vector<std::string> shuffled = records;
    std::mt19937_64 rng(seed);
    for (size_t i = shuffled.size(); i > 1; --i) std::swap(shuffled[i - 1], shuffled[rng() % i]);
    const auto n_second = static_cast<size_t>(fraction * static_cast<double>(shuffled.size()) + 0.5);
    second.assign(shuffled.begin(), shuffled.begin() + static_cast<std::ptrdiff_t>(n_second));
    first.assign(shuffled.begin() + static_cast<std::ptrdiff_t>(n_second), shuffled.end());
    std::sort(first.begin(), first.end());
    std::sort(second.begin(), second.end());
}

std::map<int64_t, std::string> index_ecg_records(const std::string& dir) {
    std::map<int64_t, std::string> out;
    for (const auto& path : list_records(dir)) {
        std::string id = record_id(path);
        bool low_rate = false;
        if (id.size() > 3 && (id.compare(id.size() - 3, 3, "_hr") == 0 || id.compare(id.size() - 3, 3, "_lr") == 0)) {
            low_rate = id.back() == 'r' && id[id.size() - 2] == 'l';
            id.resize(id.size() - 3);
        }
        if (id.empty() || id.size() > 12 || !std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; }))
            continue;
        const int64_t n = std::stoll(id);
        if (low_rate && out.count(n)) continue;
        out[n] = path;
    }
    return out;
}

}  // namespace diagecg
