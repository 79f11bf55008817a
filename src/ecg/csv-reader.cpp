// CSV/TXT reader. Layout:
//  1. optional header row of lead names (a row with any non-numeric cell);
//  2. one row per sample, one cell per lead, separated by tab, ';' or ',' (the first of these found
//     in the first row); cells may be quoted; blank lines and lines starting with '#' are skipped;
//  3. an optional first column named time / t / index / sample is dropped.
// Cells are decimal numbers or "nan" (missing sample); anything else is an error.
#include "diagecg/ecg/csv-reader.h"

#include <cctype>
#include <cmath>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string_view>

#include "diagecg/util/byte-reader.h"

namespace diagecg {
namespace {

constexpr int64_t kMaxValues = int64_t(1) << 31;

[[noreturn]] void fail_at(const std::string& where, int line, const std::string& msg) {
    throw std::runtime_error("CSV file " + where + " line " + std::to_string(line) + ": " + msg);
}

std::vector<std::string_view> split_cells(std::string_view line, char sep) {
    std::vector<std::string_view> out;
    size_t b = 0;
    while (true) {
        const size_t e = line.find(sep, b);
        std::string_view cell = trim_view(line.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b));
        if (cell.size() >= 2 && (cell.front() == '"' || cell.front() == '\'') && cell.back() == cell.front()) {
            cell = trim_view(cell.substr(1, cell.size() - 2));
        }
        out.push_back(cell);
        if (e == std::string_view::npos) break;
        b = e + 1;
    }
    return out;
}

// A sample value: a finite number, or nan for a missing sample.
std::optional<float> parse_cell(std::string_view c) {
    if (const auto v = parse_finite_double(c)) return static_cast<float>(*v);
    std::string l(c);
    for (char& ch : l) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (l == "nan" || l == "-nan" || l == "+nan") return std::numeric_limits<float>::quiet_NaN();
    return std::nullopt;
}

bool is_time_column(std::string_view name) {
    std::string l(name);
    for (char& ch : l) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return l == "time" || l == "t" || l == "index" || l == "sample";
}

}  // namespace

EcgRecord read_csv(const std::string& path, const ReadOptions& opts) {
    std::string text = read_file_text(path, 1ull << 30);
    if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);   // a UTF-8 byte-order mark (spreadsheet exports)
    char sep = 0;
    bool header_done = false;
    bool drop_first = false;
    size_t n_cols = 0;  // cells per row, time column included
    std::vector<std::string> names;
    std::vector<float> rows;  // [T, L]
    int line_no = 0;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        const std::string_view line = trim_view(std::string_view(text).substr(pos, end - pos));
        pos = end + 1;
        ++line_no;
        if (line.empty() || line[0] == '#') continue;
        if (sep == 0)
            sep = line.find('\t') != std::string_view::npos  ? '\t'
                  : line.find(';') != std::string_view::npos ? ';'
                                                             : ',';
        const auto cells = split_cells(line, sep);
        if (!header_done) {
            header_done = true;
            n_cols = cells.size();
            bool numeric = true;
            for (const auto& c : cells) numeric = numeric && parse_cell(c).has_value();
            if (!numeric) {
                for (const auto& c : cells) names.emplace_back(c);
                drop_first = n_cols > 1 && is_time_column(cells[0]);
                if (drop_first) names.erase(names.begin());
                continue;
            }
        }
        if (cells.size() != n_cols) {
            fail_at(
                path, line_no,
                std::to_string(cells.size()) + " cells, expected " + std::to_string(n_cols) + " (as in the first row)");
        }
        if (static_cast<int64_t>(rows.size()) + static_cast<int64_t>(n_cols) > kMaxValues) {
            fail_at(path, line_no, "more than 2^31 values");
        }
        for (size_t c = drop_first ? 1 : 0; c < cells.size(); ++c) {
            const auto v = parse_cell(cells[c]);
            if (!v) {
                fail_at(path, line_no,
                        "column " + std::to_string(c + 1) + ": \"" + std::string(cells[c].substr(0, 40)) +
                            "\" is not a number");
            }
            rows.push_back(*v);
        }
    }
    const int64_t n_leads = static_cast<int64_t>(n_cols) - (drop_first ? 1 : 0);
    if (rows.empty() || n_leads <= 0) throw std::runtime_error("CSV file " + path + " has no data rows");
    if (!opts.sample_rate_hz)
        throw std::invalid_argument("CSV file " + path + " has no sample rate: pass --sample-rate");
    if (!(*opts.sample_rate_hz > 0) || !std::isfinite(*opts.sample_rate_hz)) {
        throw std::invalid_argument("sample rate " + std::to_string(*opts.sample_rate_hz) + " Hz is not positive");
    }

    EcgRecord rec;
    rec.name = std::filesystem::path(path).stem().string();
    rec.format = "csv";
    rec.sample_rate_hz = *opts.sample_rate_hz;
    rec.n_samples = static_cast<int64_t>(rows.size()) / n_leads;
    if (!names.empty()) {
        rec.lead_names = names;
    } else if (!opts.lead_names.empty()) {
        if (static_cast<int64_t>(opts.lead_names.size()) != n_leads) {
            throw std::invalid_argument("CSV file " + path + " has " + std::to_string(n_leads) + " columns, " +
                                        std::to_string(opts.lead_names.size()) + " lead names were given");
        }
        rec.lead_names = opts.lead_names;
    } else if (n_leads == 12) {
        rec.lead_names = standard_12_lead_names();
    } else {
        throw std::invalid_argument("CSV file " + path + " has " + std::to_string(n_leads) +
                                    " columns and no header row of lead names: pass --leads");
    }
    rec.units.assign(static_cast<size_t>(n_leads), opts.units);
    rec.signal.resize(rows.size());
    for (int64_t t = 0; t < rec.n_samples; ++t) {
        for (int64_t l = 0; l < n_leads; ++l) rec.signal[l * rec.n_samples + t] = rows[t * n_leads + l];
    }
    return rec;
}

}  // namespace diagecg
