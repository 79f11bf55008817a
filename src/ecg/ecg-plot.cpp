// SVG 12-lead ECG printout. All SVG user units are millimetres (viewBox and width/height in mm),
// so the paper speed (mm/s) and gain (mm/mV) are physical when printed at 100 %.
//
// Page layout, top to bottom:
//   1. header: title, then a line with speed, gain, units (and patient age/sex when known)
//   2. grid: 4 rows of kRowH mm; rows 1-3 hold 4 columns of 2.5 s (I,aVR,V1,V4 / II,aVL,V2,V5 /
//      III,aVF,V3,V6), row 4 the lead II rhythm strip over the window (opts.start_s, at most 10 s);
//      every row starts with a 1 mV x 0.2 s calibration pulse in a 0.4 s wide zone
//   3. footer: opts.footer_lines, word-wrapped to the grid width
#include "diagecg/ecg/ecg-plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace diagecg {
namespace {

constexpr int kNLeads = 12;
constexpr double kStripS = 10.0;       // full page time span, s
constexpr double kColS = 2.5;          // one column of the 3x4 block, s
constexpr double kCalZoneS = 0.4;      // calibration zone at the left of each row, s
constexpr double kCalPulseS = 0.2;     // calibration pulse width, s
constexpr double kMarginMm = 8.0;      // page margin left/right/bottom
constexpr double kHeaderMm = 17.0;     // title block height above the grid
constexpr double kRowH = 35.0;         // row band height, mm
constexpr double kBaselineFrac = 0.6;  // baseline position inside a row band, from its top
constexpr double kBucketMm = 0.2;      // decimation bucket width, mm
constexpr double kFooterFont = 3.2;    // footer font size, mm
constexpr double kFooterLineH = 4.6;   // footer line pitch, mm

const char* const kLeadNames[kNLeads] = {"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"};
// Lead index (canonical order) shown in row r, column c of the 3x4 block.
const int kBlock[3][4] = {{0, 3, 6, 9}, {1, 4, 7, 10}, {2, 5, 8, 11}};
constexpr int kRhythmLead = 1;  // II

std::string xml_escape(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (char ch : s) {
        switch (ch) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            default:
                out += ch;
        }
    }
    return out;
}

std::string lower(std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
}

// Scale from the lead's units to mV; sets *drawn_as_mv when the units are not a voltage we know.
double unit_scale_to_mv(const std::string& unit, bool* drawn_as_mv) {
    const std::string u = lower(unit);
    if (u == "mv" || u.empty()) return 1.0;
    if (u == "uv" || u == "\xc2\xb5v" || u == "\xce\xbcv") return 1e-3;  // uV, µV (micro), μV (mu)
    *drawn_as_mv = true;
    return 1.0;
}

// Greedy word wrap to at most max_chars per line; words longer than a line are split.
std::vector<std::string> wrap_words(const std::string& text, size_t max_chars) {
    std::vector<std::string> lines;
    std::string cur;
    size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && text[i] == ' ') ++i;
        size_t j = i;
        while (j < text.size() && text[j] != ' ') ++j;
        std::string word = text.substr(i, j - i);
        i = j;
        while (!word.empty()) {
            const size_t need = cur.empty() ? word.size() : cur.size() + 1 + word.size();
            if (need <= max_chars) {
                cur += (cur.empty() ? "" : " ") + word;
                word.clear();
            } else if (cur.empty()) {
                lines.push_back(word.substr(0, max_chars));
                word = word.substr(max_chars);
            } else {
                lines.push_back(cur);
                cur.clear();
            }
        }
    }
    if (!cur.empty() || lines.empty()) lines.push_back(cur);
    return lines;
}

// Builds one trace path: samples [t0, t1) of x (mV after scale) from x position x0_mm, baseline
// y0_mm. Buckets of kBucketMm keep their min and max in time order, so narrow QRS peaks survive.
// Non-finite samples lift the pen; y is clamped to [y_lo, y_hi] (the clip path hides the rest).
class TracePath {
public:
    TracePath(double y_lo, double y_hi) : y_lo_(y_lo), y_hi_(y_hi) {}

    void add_segment(const float* x, int64_t t0, int64_t t1, double fs, double scale, double x0_mm, double y0_mm,
                     const PlotOptions& opts) {
        const double mm_per_sample = opts.speed_mm_per_s / fs;
        const int64_t per_bucket = std::max<int64_t>(1, static_cast<int64_t>(std::floor(kBucketMm / mm_per_sample)));
        auto point = [&](int64_t t) {
            const double v = static_cast<double>(x[t]) * scale;
            min_v_ = std::min(min_v_, v);
            max_v_ = std::max(max_v_, v);
            emit(x0_mm + (t - t0) * mm_per_sample, std::clamp(y0_mm - v * opts.gain_mm_per_mv, y_lo_, y_hi_));
        };
        for (int64_t b = t0; b < t1; b += per_bucket) {
            const int64_t e = std::min(t1, b + per_bucket);
            if (per_bucket <= 2) {
                for (int64_t t = b; t < e; ++t) {
                    if (std::isfinite(x[t]))
                        point(t);
                    else
                        pen_up();
                }
                continue;
            }
            int64_t i_min = -1, i_max = -1;
            auto flush = [&]() {
                if (i_min < 0) return;
                if (i_min == i_max) {
                    point(i_min);
                } else {
                    point(std::min(i_min, i_max));
                    point(std::max(i_min, i_max));
                }
                i_min = i_max = -1;
            };
            for (int64_t t = b; t < e; ++t) {
                if (!std::isfinite(x[t])) {
                    flush();
                    pen_up();
                    continue;
                }
                if (i_min < 0 || x[t] < x[i_min]) i_min = t;
                if (i_max < 0 || x[t] > x[i_max]) i_max = t;
            }
            flush();
        }
        pen_up();
    }

    void pen_up() { n_in_sub_ = 0; }
    const std::string& d() const { return d_; }
    // Extremes of the drawn samples (after scale), 0 when none was drawn; the bucket min and max are always drawn.
    double min_v() const { return min_v_; }
    double max_v() const { return max_v_; }

private:
    void emit(double x, double y) {
        if (n_in_sub_ == 0)
            fmt::format_to(std::back_inserter(d_), "M{:.2f} {:.2f}", x, y);
        else if (n_in_sub_ == 1)
            fmt::format_to(std::back_inserter(d_), "L{:.2f} {:.2f}", x, y);
        else
            fmt::format_to(std::back_inserter(d_), " {:.2f} {:.2f}", x, y);
        ++n_in_sub_;
    }
    double y_lo_, y_hi_;
    double min_v_ = 0, max_v_ = 0;
    int n_in_sub_ = 0;
    std::string d_;
};

// put("...{}...", args...): appends to `out`, the format string checked at compile time (C++20, fmt 9).
struct SvgOut {
    std::string& out;
    template <typename... Args>
    void operator()(fmt::format_string<Args...> f, Args&&... args) {
        fmt::format_to(std::back_inserter(out), f, std::forward<Args>(args)...);
    }
};

}  // namespace

std::string render_ecg_svg(const EcgRecord& rec, const PlotOptions& opts, PlotClipping* clipping) {
    if (rec.n_leads() != kNLeads)
        throw std::invalid_argument(fmt::format(
            "render_ecg_svg: record '{}' has {} leads, expected the 12 canonical leads", rec.name, rec.n_leads()));
    if (!(rec.sample_rate_hz > 0) || rec.n_samples < 0 ||
        rec.signal.size() != static_cast<size_t>(kNLeads * rec.n_samples))
        throw std::invalid_argument(
            fmt::format("render_ecg_svg: record '{}': sample rate {} Hz, {} samples, signal size {} "
                        "(expected rate > 0 and size 12 x n_samples)",
                        rec.name, rec.sample_rate_hz, rec.n_samples, rec.signal.size()));
    if (!(opts.speed_mm_per_s > 0) || !(opts.gain_mm_per_mv > 0) || !std::isfinite(opts.speed_mm_per_s) ||
        !std::isfinite(opts.gain_mm_per_mv))
        throw std::invalid_argument(
            fmt::format("render_ecg_svg: speed {} mm/s and gain {} mm/mV must be positive and finite",
                        opts.speed_mm_per_s, opts.gain_mm_per_mv));
    if (!(opts.start_s >= 0) || !std::isfinite(opts.start_s) || !(opts.duration_s > 0) || !(opts.duration_s <= kStripS))
        throw std::invalid_argument(fmt::format(
            "render_ecg_svg: window {}:{} s: the start must be >= 0 and the duration in (0, {:g}] s (one page)",
            opts.start_s, opts.duration_s, kStripS));
    const int64_t t_start = static_cast<int64_t>(std::llround(opts.start_s * rec.sample_rate_hz));
    if (rec.n_samples > 0 && t_start >= rec.n_samples)
        throw std::invalid_argument(
            fmt::format("render_ecg_svg: window starts at {:g} s but record '{}' is {:.2f} s long", opts.start_s,
                        rec.name, rec.duration_s()));

    // Units: per-lead scale to mV, and the names of units drawn as if mV.
    std::vector<double> scale(kNLeads);
    std::vector<std::string> odd_units;
    for (int l = 0; l < kNLeads; ++l) {
        bool as_mv = false;
        const std::string unit = l < static_cast<int>(rec.units.size()) ? rec.units[l] : "mV";
        scale[l] = unit_scale_to_mv(unit, &as_mv);
        if (as_mv && std::find(odd_units.begin(), odd_units.end(), unit) == odd_units.end()) odd_units.push_back(unit);
    }

    const double fs = rec.sample_rate_hz;
    const double speed = opts.speed_mm_per_s;
    const double cal_w = kCalZoneS * speed;
    const double grid_w = std::ceil((cal_w + kStripS * speed) / 5.0 - 1e-9) * 5.0;
    const double grid_h = 4 * kRowH;
    const double gx = kMarginMm, gy = kHeaderMm;
    const double trace_x0 = gx + cal_w;

    const size_t wrap_chars = std::max<size_t>(20, static_cast<size_t>(grid_w / (0.56 * kFooterFont)));
    std::vector<std::string> footer;
    for (const auto& line : opts.footer_lines)
        for (auto& w : wrap_words(line, wrap_chars)) footer.push_back(std::move(w));
    const double footer_h = footer.empty() ? 0.0 : 4.0 + footer.size() * kFooterLineH;
    const double page_w = grid_w + 2 * kMarginMm;
    const double page_h = gy + grid_h + footer_h + kMarginMm;

    std::string out;
    SvgOut put{out};
    put("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    put("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.2f}mm\" height=\"{1:.2f}mm\" "
        "viewBox=\"0 0 {0:.2f} {1:.2f}\" font-family=\"Helvetica, Arial, sans-serif\">\n",
        page_w, page_h);
    put("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");

    // Header.
    std::string title = opts.title;
    if (title.empty()) title = fmt::format("{}  |  {:g} Hz", rec.name, fs);
    put("<text x=\"{:.2f}\" y=\"7.5\" font-size=\"5\" font-weight=\"bold\" fill=\"#111\" "
        "xml:space=\"preserve\">{}</text>\n",
        gx, xml_escape(title));
    std::string info = fmt::format("{:g} mm/s    ", speed);
    if (odd_units.empty()) {
        info += fmt::format("{:g} mm/mV    units: mV", opts.gain_mm_per_mv);
    } else {
        std::string names;
        for (const auto& u : odd_units) names += (names.empty() ? "" : "/") + u;
        info += fmt::format("{:g} mm per unit    amplitude in {} units (not mV)", opts.gain_mm_per_mv, names);
    }
    const int64_t T = std::min<int64_t>(std::max<int64_t>(rec.n_samples - t_start, 0),
                                        static_cast<int64_t>(std::llround(opts.duration_s * fs)));  // window samples
    if (t_start == 0 && T == rec.n_samples)
        info += fmt::format("    {:g} Hz    {:.1f} s", fs, rec.duration_s());
    else
        info += fmt::format("    {:g} Hz    {:.1f}-{:.1f} s of {:.1f} s", fs, t_start / fs, (t_start + T) / fs,
                            rec.duration_s());
    put("<text x=\"{:.2f}\" y=\"13\" font-size=\"3.2\" fill=\"#333\" xml:space=\"preserve\">{}"
        "</text>\n",
        gx, xml_escape(info));
    std::string who;
    if (rec.patient.age_years) who += fmt::format("Age {:g}", *rec.patient.age_years);
    if (rec.patient.sex) who += (who.empty() ? "" : "    ") + *rec.patient.sex;
    if (!who.empty())
        put("<text x=\"{:.2f}\" y=\"13\" font-size=\"3.2\" fill=\"#333\" text-anchor=\"end\" "
            "xml:space=\"preserve\">{}</text>\n",
            gx + grid_w, xml_escape(who));

    // Grid paper: 1 mm minor lines, 5 mm major lines, border.
    std::string minor, major;
    const int n_x = static_cast<int>(std::lround(grid_w)), n_y = static_cast<int>(grid_h);
    for (int i = 0; i <= n_x; ++i)
        fmt::format_to(std::back_inserter(i % 5 ? minor : major), "M{:.2f} {:.2f}v{:.2f}", gx + i, gy, grid_h);
    for (int j = 0; j <= n_y; ++j)
        fmt::format_to(std::back_inserter(j % 5 ? minor : major), "M{:.2f} {:.2f}h{:.2f}", gx, gy + j, grid_w);
    put("<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" fill=\"#fff7f7\"/>\n", gx, gy, grid_w,
        grid_h);
    put("<path d=\"{}\" stroke=\"#f7c4c4\" stroke-width=\"0.1\" fill=\"none\"/>\n", minor);
    put("<path d=\"{}\" stroke=\"#e58a8a\" stroke-width=\"0.25\" fill=\"none\"/>\n", major);
    put("<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" fill=\"none\" "
        "stroke=\"#d86a6a\" stroke-width=\"0.4\"/>\n",
        gx, gy, grid_w, grid_h);

    put("<defs>\n");
    for (int r = 0; r < 4; ++r)
        put("<clipPath id=\"ecg-row-{}\"><rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" "
            "height=\"{:.2f}\"/></clipPath>\n",
            r, gx, gy + r * kRowH, grid_w, kRowH);
    put("</defs>\n");

    const int64_t col_n = static_cast<int64_t>(std::llround(kColS * fs));
    const int64_t strip_n = std::min<int64_t>(T, static_cast<int64_t>(std::llround(kStripS * fs)));
    const double gain = opts.gain_mm_per_mv;
    const char* label_style =
        "font-size=\"3.6\" font-weight=\"bold\" fill=\"#000\" stroke=\"#fff7f7\" "
        "stroke-width=\"0.8\" paint-order=\"stroke\" stroke-linejoin=\"round\"";
    // Per lead: extremes of what was drawn, for the clipping report.
    std::vector<double> lo_v(kNLeads, 0.0), hi_v(kNLeads, 0.0);
    auto note_extremes = [&](int lead, const TracePath& path) {
        lo_v[lead] = std::min(lo_v[lead], path.min_v());
        hi_v[lead] = std::max(hi_v[lead], path.max_v());
    };

    for (int r = 0; r < 4; ++r) {
        const double top = gy + r * kRowH;
        const double base = top + kBaselineFrac * kRowH;
        put("<g clip-path=\"url(#ecg-row-{})\" fill=\"none\" stroke=\"#000\" "
            "stroke-width=\"0.3\" stroke-linejoin=\"round\" stroke-linecap=\"round\">\n",
            r);
        // Calibration pulse: 1 mV tall, kCalPulseS wide, centred in the calibration zone.
        const double p0 = gx + 0.5 * (cal_w - kCalPulseS * speed);
        put("<path class=\"cal\" d=\"M{:.2f} {:.2f}H{:.2f}V{:.2f}H{:.2f}V{:.2f}H{:.2f}\"/>\n", gx + 1.0, base, p0,
            base - gain, p0 + kCalPulseS * speed, base, trace_x0);
        if (r < 3) {
            for (int c = 0; c < 4; ++c) {
                const int lead = kBlock[r][c];
                const int64_t t0 = std::min<int64_t>(T, c * col_n);
                const int64_t t1 = std::min<int64_t>(T, (c + 1) * col_n);
                const double x0 = trace_x0 + c * kColS * speed;
                TracePath path(top - 1.0, top + kRowH + 1.0);
                path.add_segment(rec.lead(lead) + t_start, t0, t1, fs, scale[lead], x0, base, opts);
                note_extremes(lead, path);
                put("<path class=\"trace\" data-lead=\"{}\" d=\"{}\"/>\n", kLeadNames[lead], path.d());
                if (c > 0)
                    put("<path class=\"sep\" d=\"M{:.2f} {:.2f}v{:.2f}\" stroke-width=\"0.4\"/>\n", x0, base - 4.0,
                        8.0);
            }
        } else {
            TracePath path(top - 1.0, top + kRowH + 1.0);
            path.add_segment(rec.lead(kRhythmLead) + t_start, 0, strip_n, fs, scale[kRhythmLead], trace_x0, base, opts);
            note_extremes(kRhythmLead, path);
            put("<path class=\"trace\" data-lead=\"II\" data-rhythm=\"1\" d=\"{}\"/>\n", path.d());
        }
        put("</g>\n");
        for (int c = 0; c < (r < 3 ? 4 : 1); ++c) {
            const int lead = r < 3 ? kBlock[r][c] : kRhythmLead;
            put("<text class=\"lead-label\" x=\"{:.2f}\" y=\"{:.2f}\" {}>{}</text>\n",
                trace_x0 + c * kColS * speed + 1.5, top + 5.0, label_style, kLeadNames[lead]);
        }
    }

    if (clipping) {
        // a row holds up_mm above the baseline and down_mm below it
        const double up_mm = kBaselineFrac * kRowH, down_mm = (1.0 - kBaselineFrac) * kRowH;
        *clipping = PlotClipping{};
        double fit = std::numeric_limits<double>::infinity();
        for (int l = 0; l < kNLeads; ++l) {
            if (hi_v[l] * gain > up_mm || -lo_v[l] * gain > down_mm) clipping->leads.push_back(kLeadNames[l]);
            clipping->min_mv = std::min(clipping->min_mv, lo_v[l]);
            clipping->max_mv = std::max(clipping->max_mv, hi_v[l]);
            if (hi_v[l] > 0) fit = std::min(fit, up_mm / hi_v[l]);
            if (lo_v[l] < 0) fit = std::min(fit, down_mm / -lo_v[l]);
        }
        clipping->fitting_gain_mm_per_mv = std::isfinite(fit) ? fit : 0.0;
        clipping->row_min_mv = -down_mm / gain;
        clipping->row_max_mv = up_mm / gain;
    }

    // Footer.
    for (size_t i = 0; i < footer.size(); ++i)
        put("<text x=\"{:.2f}\" y=\"{:.2f}\" font-size=\"{:g}\" fill=\"#111\" "
            "xml:space=\"preserve\">{}</text>\n",
            gx, gy + grid_h + 4.0 + (i + 1) * kFooterLineH - 1.0, kFooterFont, xml_escape(footer[i]));
    put("</svg>\n");
    return out;
}

std::string render_overlay_svg(const float* a, const float* b, int64_t n_samples, double fs,
                               const OverlayOptions& opts) {
    if (!(fs > 0) || n_samples <= 0 || !(opts.speed_mm_per_s > 0) || !(opts.gain_mm_per_unit > 0))
        throw std::invalid_argument("render_overlay_svg: sample rate, length, speed and gain must be positive");
    if (!opts.lead_labels.empty() && opts.lead_labels.size() != kNLeads)
        throw std::invalid_argument("render_overlay_svg: lead_labels must hold 12 texts");
    constexpr double kStripH = 30.0, kLabelW = 24.0, kTop = 16.0;
    const double duration = static_cast<double>(n_samples) / fs;
    const double trace_w = duration * opts.speed_mm_per_s;
    const double gx = kMarginMm + kLabelW, gw = trace_w, gh = kStripH * kNLeads;
    const double page_w = gx + gw + kMarginMm, page_h = kTop + gh + kMarginMm;
    std::string out;
    SvgOut put{out};
    put("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    put("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.1f}mm\" height=\"{1:.1f}mm\" viewBox=\"0 0 {0:.2f} "
        "{1:.2f}\" "
        "font-family=\"Helvetica, Arial, sans-serif\">\n",
        page_w, page_h);
    put("<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");
    put("<text x=\"{:.2f}\" y=\"7\" font-size=\"4.5\" font-weight=\"bold\">{}</text>\n", kMarginMm,
        xml_escape(opts.title));
    put("<text x=\"{:.2f}\" y=\"13\" font-size=\"3.2\" fill=\"#333\" xml:space=\"preserve\">{:g} mm/s    {:g} mm per "
        "unit    "
        "{:g} Hz    {:.1f} s    <tspan fill=\"#000\">\u2014 {}</tspan>    <tspan fill=\"#d01010\">\u2014 "
        "{}</tspan></text>\n",
        kMarginMm, opts.speed_mm_per_s, opts.gain_mm_per_unit, fs, duration, xml_escape(opts.legend_a),
        xml_escape(opts.legend_b));
    std::string minor, major;
    for (int i = 0; i <= static_cast<int>(gw); ++i)
        fmt::format_to(std::back_inserter(i % 5 ? minor : major), "M{:.2f} {:.2f}v{:.2f}", gx + i, kTop, gh);
    for (int j = 0; j <= static_cast<int>(gh); ++j)
        fmt::format_to(std::back_inserter(j % 5 ? minor : major), "M{:.2f} {:.2f}h{:.2f}", gx, kTop + j, gw);
    put("<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" fill=\"#fff7f7\"/>\n", gx, kTop, gw, gh);
    put("<path d=\"{}\" stroke=\"#f7c4c4\" stroke-width=\"0.1\" fill=\"none\"/>\n", minor);
    put("<path d=\"{}\" stroke=\"#e58a8a\" stroke-width=\"0.25\" fill=\"none\"/>\n", major);
    PlotOptions po;
    po.speed_mm_per_s = opts.speed_mm_per_s;
    po.gain_mm_per_mv = opts.gain_mm_per_unit;
    for (int l = 0; l < kNLeads; ++l) {
        const double top = kTop + l * kStripH, base = top + 0.5 * kStripH;
        put("<text class=\"lead-label\" x=\"{:.2f}\" y=\"{:.2f}\" font-size=\"3.6\" font-weight=\"bold\">{}</text>\n",
            kMarginMm, base - 1.0, kLeadNames[l]);
        if (!opts.lead_labels.empty())
            put("<text x=\"{:.2f}\" y=\"{:.2f}\" font-size=\"2.8\" fill=\"#333\">{}</text>\n", kMarginMm, base + 3.5,
                xml_escape(opts.lead_labels[static_cast<size_t>(l)]));
        for (int which = 0; which < 2; ++which) {
            TracePath path(top, top + kStripH);
            path.add_segment((which == 0 ? a : b) + static_cast<ptrdiff_t>(l) * n_samples, 0, n_samples, fs, 1.0, gx,
                             base, po);
            put("<path class=\"{}\" data-lead=\"{}\" d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" "
                "stroke-linejoin=\"round\"/>\n",
                which == 0 ? "original" : "reconstruction", kLeadNames[l], path.d(), which == 0 ? "#000" : "#d01010",
                which == 0 ? "0.3" : "0.25");
        }
    }
    put("</svg>\n");
    return out;
}

}  // namespace diagecg
