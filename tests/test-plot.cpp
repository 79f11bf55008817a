// Tests for render_ecg_svg: document shape, trace count, labels, escaping, physical scaling, time window, clipping.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "diagecg/ecg/ecg-plot.h"

namespace {

using diagecg::EcgRecord;
using diagecg::PlotClipping;
using diagecg::PlotOptions;
using diagecg::render_ecg_svg;

const std::vector<std::string> kNames = {"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"};

// 12 leads, 500 Hz, 10 s: a 1 Hz sine (0.3 mV * (l+1)/12) plus a 1.2 mV spike every 0.8 s.
EcgRecord synthetic_record(double fs = 500.0, double duration_s = 10.0) {
    EcgRecord rec;
    rec.name = "synth";
    rec.format = "test";
    rec.sample_rate_hz = fs;
    rec.n_samples = static_cast<int64_t>(fs * duration_s);
    rec.lead_names = kNames;
    rec.units.assign(12, "mV");
    rec.signal.resize(12 * rec.n_samples);
    const double pi = std::acos(-1.0);
    for (int64_t l = 0; l < 12; ++l) {
        float* x = rec.lead(l);
        for (int64_t t = 0; t < rec.n_samples; ++t) {
            const double s = t / fs;
            double v = 0.3 * (l + 1) / 12.0 * std::sin(2 * pi * s);
            if (t % static_cast<int64_t>(0.8 * fs) == 0) v += 1.2;
            x[t] = static_cast<float>(v);
        }
    }
    return rec;
}

size_t count(const std::string& s, const std::string& needle) {
    size_t n = 0;
    for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
    return n;
}

// The d attribute of the i-th element with class="trace".
std::string trace_d(const std::string& svg, size_t i) {
    size_t p = 0;
    for (size_t k = 0; k <= i; ++k) {
        p = svg.find("class=\"trace\"", k == 0 ? 0 : p + 1);
        if (p == std::string::npos) return {};
    }
    const size_t d = svg.find(" d=\"", p);
    const size_t e = svg.find('"', d + 4);
    return svg.substr(d + 4, e - d - 4);
}

// y coordinates of an absolute path made of M/L commands with implicit repeated pairs.
std::vector<double> path_ys(const std::string& d) {
    std::vector<double> nums;
    const char* s = d.c_str();
    while (*s) {
        if (*s == 'M' || *s == 'L' || *s == ' ' || *s == ',') {
            ++s;
            continue;
        }
        char* end = nullptr;
        nums.push_back(std::strtod(s, &end));
        if (end == s) {
            ADD_FAILURE() << "unexpected path text: " << s;
            break;
        }
        s = end;
    }
    std::vector<double> ys;
    for (size_t i = 1; i < nums.size(); i += 2) ys.push_back(nums[i]);
    return ys;
}

double viewbox_width(const std::string& svg) {
    const size_t p = svg.find("viewBox=\"");
    if (p == std::string::npos) return -1;
    double x = 0, y = 0, w = 0, h = 0;
    if (std::sscanf(svg.c_str() + p + 9, "%lf %lf %lf %lf", &x, &y, &w, &h) != 4) return -1;
    return w;
}

TEST(EcgPlot, DocumentShapeTracesLabelsTitle) {
    PlotOptions opts;
    opts.title = "Synthetic test record";
    const std::string svg = render_ecg_svg(synthetic_record(), opts);

    std::string body = svg;
    if (body.rfind("<?xml", 0) == 0) body = body.substr(body.find("?>") + 2);
    body.erase(0, body.find_first_not_of(" \t\r\n"));
    EXPECT_EQ(body.rfind("<svg", 0), 0u);
    const bool ends_ok = (svg.size() >= 7 && svg.compare(svg.size() - 7, 7, "</svg>\n") == 0) ||
                         (svg.size() >= 6 && svg.compare(svg.size() - 6, 6, "</svg>") == 0);
    EXPECT_TRUE(ends_ok);

    EXPECT_EQ(count(svg, "class=\"trace\""), 13u);
    for (const auto& name : kNames) EXPECT_NE(svg.find(">" + name + "</text>"), std::string::npos) << name;
    EXPECT_NE(svg.find("Synthetic test record"), std::string::npos);

    // Every trace is non-empty and decimated to at most ~2 points per 0.2 mm.
    for (size_t i = 0; i < 13; ++i) {
        const auto ys = path_ys(trace_d(svg, i));
        EXPECT_GT(ys.size(), 50u) << i;
        const size_t max_pts = i < 12 ? 2 * (62.5 / 0.2) + 4 : 2 * (250 / 0.2) + 4;
        EXPECT_LE(ys.size(), max_pts) << i;
    }
}

TEST(EcgPlot, DefaultTitleNamesRecordAndRate) {
    const std::string svg = render_ecg_svg(synthetic_record(), PlotOptions{});
    EXPECT_NE(svg.find("synth  |  500 Hz"), std::string::npos);
    EXPECT_NE(svg.find("25 mm/s"), std::string::npos);
    EXPECT_NE(svg.find("10 mm/mV"), std::string::npos);
}

TEST(EcgPlot, FooterIsEscapedAndWrapped) {
    PlotOptions opts;
    opts.footer_lines = {"Report: <a & b> \"quoted\"", std::string(60, 'w') + " " + std::string(2000, 'x')};
    const std::string svg = render_ecg_svg(synthetic_record(), opts);
    EXPECT_NE(svg.find("&lt;a &amp; b&gt;"), std::string::npos);
    EXPECT_EQ(svg.find("<a & b>"), std::string::npos);
    EXPECT_NE(svg.find("&quot;quoted&quot;"), std::string::npos);
    // The 2000-character word is split over several lines.
    EXPECT_GE(count(svg, "xxxxxxxxxx</text>"), 3u);
}

TEST(EcgPlot, ViewBoxIsPhysicalAndScalesWithSpeed) {
    const auto rec = synthetic_record();
    PlotOptions opts;
    const double w25 = viewbox_width(render_ecg_svg(rec, opts));
    EXPECT_GE(w25, 10.0 * 25.0);
    opts.speed_mm_per_s = 50.0;
    const double w50 = viewbox_width(render_ecg_svg(rec, opts));
    EXPECT_GE(w50, 10.0 * 50.0);
    EXPECT_GT(w50, w25 + 240.0);
    const std::string svg = render_ecg_svg(rec, opts);
    EXPECT_NE(svg.find("width=\""), std::string::npos);
    EXPECT_NE(svg.find("mm\" height=\""), std::string::npos);
}

TEST(EcgPlot, NanBreaksThePath) {
    auto rec = synthetic_record();
    float* ii = rec.lead(1);
    for (int t = 300; t < 400; ++t) ii[t] = std::numeric_limits<float>::quiet_NaN();
    const std::string svg = render_ecg_svg(rec, PlotOptions{});
    // Row 2 column 1 is lead II (trace index 4); the rhythm strip (index 12) is lead II too.
    EXPECT_GE(count(trace_d(svg, 4), "M"), 2u);
    EXPECT_GE(count(trace_d(svg, 12), "M"), 2u);
    EXPECT_EQ(count(trace_d(svg, 0), "M"), 1u);  // lead I has no NaN
}

TEST(EcgPlot, OneMillivoltStepMovesTraceByGain) {
    auto rec = synthetic_record();
    float* lead_i = rec.lead(0);
    for (int64_t t = 0; t < rec.n_samples; ++t) lead_i[t] = (t / 100) % 2 ? 1.0f : 0.0f;
    for (double gain : {10.0, 5.0, 20.0}) {
        PlotOptions opts;
        opts.gain_mm_per_mv = gain;
        const auto ys = path_ys(trace_d(render_ecg_svg(rec, opts), 0));
        ASSERT_FALSE(ys.empty());
        const auto [lo, hi] = std::minmax_element(ys.begin(), ys.end());
        EXPECT_NEAR(*hi - *lo, gain, 0.02) << gain;
    }
}

TEST(EcgPlot, MicrovoltsAreConvertedAndOtherUnitsNamed) {
    auto rec = synthetic_record();
    float* lead_i = rec.lead(0);
    for (int64_t t = 0; t < rec.n_samples; ++t) lead_i[t] = (t / 100) % 2 ? 1000.0f : 0.0f;
    rec.units[0] = "uV";
    auto ys = path_ys(trace_d(render_ecg_svg(rec, PlotOptions{}), 0));
    auto [lo, hi] = std::minmax_element(ys.begin(), ys.end());
    EXPECT_NEAR(*hi - *lo, 10.0, 0.02);

    rec.units.assign(12, "z");
    const std::string svg = render_ecg_svg(rec, PlotOptions{});
    EXPECT_NE(svg.find("amplitude in z units (not mV)"), std::string::npos);
    EXPECT_NE(svg.find("10 mm per unit"), std::string::npos);
}

TEST(EcgPlot, HugeValuesStayInsideTheirRow) {
    auto rec = synthetic_record();
    rec.lead(0)[10] = 1e6f;
    rec.lead(0)[20] = -1e6f;
    const auto ys = path_ys(trace_d(render_ecg_svg(rec, PlotOptions{}), 0));
    const auto [lo, hi] = std::minmax_element(ys.begin(), ys.end());
    EXPECT_LT(*hi - *lo, 45.0);  // clamped to one row band (plus a small margin)
}

TEST(EcgPlot, ShortRecordStillHas13Traces) {
    const std::string svg = render_ecg_svg(synthetic_record(250.0, 3.0), PlotOptions{});
    EXPECT_EQ(count(svg, "class=\"trace\""), 13u);
}

TEST(EcgPlot, RejectsBadInput) {
    auto rec = synthetic_record();
    rec.lead_names.pop_back();
    EXPECT_THROW(render_ecg_svg(rec, PlotOptions{}), std::invalid_argument);
    PlotOptions opts;
    opts.speed_mm_per_s = 0;
    EXPECT_THROW(render_ecg_svg(synthetic_record(), opts), std::invalid_argument);
    auto bad = synthetic_record();
    bad.signal.resize(10);
    EXPECT_THROW(render_ecg_svg(bad, PlotOptions{}), std::invalid_argument);
}

// Lead II steps up 0.5 mV every 10 s of a 30 s record: the rhythm strip of a window shows only its steps.
TEST(EcgPlot, WindowSelectsTheSamplesDrawn) {
    auto rec = synthetic_record(500.0, 30.0);
    float* ii = rec.lead(1);
    for (int64_t t = 0; t < rec.n_samples; ++t) ii[t] = 0.5f * static_cast<float>(t / 5000);
    auto strip = [&](double start_s, double duration_s) {
        PlotOptions opts;
        opts.start_s = start_s;
        opts.duration_s = duration_s;
        const std::string svg = render_ecg_svg(rec, opts);
        const auto ys = path_ys(trace_d(svg, 12));
        const auto [lo, hi] = std::minmax_element(ys.begin(), ys.end());
        return std::make_tuple(*lo, *hi, svg);
    };
    const auto [lo0, hi0, svg0] = strip(0, 10);
    EXPECT_NEAR(hi0 - lo0, 0.0, 1e-9);  // 0 mV throughout
    EXPECT_NE(svg0.find("0.0-10.0 s of 30.0 s"), std::string::npos);
    const auto [lo1, hi1, svg1] = strip(10, 10);
    EXPECT_NEAR(hi1 - lo1, 0.0, 1e-9);  // 0.5 mV throughout: 5 mm above the first window's
    EXPECT_NEAR(lo0 - lo1, 5.0, 0.02);
    EXPECT_NE(svg1.find("10.0-20.0 s of 30.0 s"), std::string::npos);
    const auto [lo2, hi2, svg2] = strip(15, 10);  // 0.5 then 1.0 mV
    EXPECT_NEAR(hi2 - lo2, 5.0, 0.02);
    EXPECT_NEAR(lo2, lo0 - 10.0, 0.02);
    // a 5 s window draws 5 s of rhythm strip: half the points of a 10 s one
    const auto full = path_ys(trace_d(render_ecg_svg(rec, PlotOptions{}), 12)).size();
    PlotOptions half;
    half.duration_s = 5;
    const auto n_half = path_ys(trace_d(render_ecg_svg(rec, half), 12)).size();
    EXPECT_NEAR(static_cast<double>(n_half), full / 2.0, 4.0);
    // the whole 10 s record has no window note
    EXPECT_NE(render_ecg_svg(synthetic_record(), PlotOptions{}).find("500 Hz    10.0 s"), std::string::npos);
}

TEST(EcgPlot, WindowOutsideTheRecordOrPageIsRejected) {
    const auto rec = synthetic_record(500.0, 30.0);
    for (const auto& [start, dur] :
         std::vector<std::pair<double, double>>{{30.0, 5.0}, {-1.0, 5.0}, {0.0, 0.0}, {0.0, 10.5}}) {
        PlotOptions opts;
        opts.start_s = start;
        opts.duration_s = dur;
        EXPECT_THROW(render_ecg_svg(rec, opts), std::invalid_argument) << start << ":" << dur;
    }
}

// A row holds -1.4 to +2.1 mV at 10 mm/mV: a 3 mV spike in V2 and a -2 mV one in V3 are clipped, the rest not.
TEST(EcgPlot, ClippingNamesTheLeadsAndTheGainThatFits) {
    auto rec = synthetic_record();
    PlotClipping c;
    render_ecg_svg(rec, PlotOptions{}, &c);
    EXPECT_FALSE(c.clipped());
    EXPECT_GT(c.max_mv, 1.2);  // a 1.2 mV spike on a sine of at most 0.3 mV
    EXPECT_LE(c.max_mv, 1.5);
    EXPECT_NEAR(c.min_mv, -0.3, 0.01);
    rec.lead(7)[3000] = 3.0f;  // V2 and V3 are drawn in column 3 (5-7.5 s, samples 2500-3749)
    rec.lead(8)[3100] = -2.0f;
    render_ecg_svg(rec, PlotOptions{}, &c);
    ASSERT_TRUE(c.clipped());
    EXPECT_EQ(c.leads, (std::vector<std::string>{"V2", "V3"}));
    EXPECT_NEAR(c.max_mv, 3.0, 1e-6);
    EXPECT_NEAR(c.min_mv, -2.0, 1e-6);
    EXPECT_NEAR(c.fitting_gain_mm_per_mv, 7.0, 1e-6);  // min(21 / 3, 14 / 2)
    EXPECT_NEAR(c.row_min_mv, -1.4, 1e-9);
    EXPECT_NEAR(c.row_max_mv, 2.1, 1e-9);
    PlotOptions fits;
    fits.gain_mm_per_mv = c.fitting_gain_mm_per_mv * 0.999;
    render_ecg_svg(rec, fits, &c);
    EXPECT_FALSE(c.clipped()) << c.leads.front();
    // only drawn samples count: V2 at 0.2 s lies outside its column
    auto only_undrawn = synthetic_record();
    only_undrawn.lead(7)[100] = 3.0f;
    render_ecg_svg(only_undrawn, PlotOptions{}, &c);
    EXPECT_FALSE(c.clipped());
}

}  // namespace
