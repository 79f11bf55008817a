// diagecg plot RECORD -o FILE.svg: standard 12-lead clinical layout on ECG grid paper.
#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "commands.h"
#include "diagecg/atomic-file.h"
#include "diagecg/ecg-plot.h"
#include "diagecg/lead-map.h"
#include "diagecg/log.h"

namespace diagecg::cli {

namespace {

struct PlotCmdOptions {
    std::string path;
    std::string output;
    std::string title;
    std::vector<std::string> footer;
    PlotOptions plot;
    bool gain_given = false;
    ReadFlags read;
};

void run_plot(const PlotCmdOptions& o) {
    const EcgRecord raw = read_ecg(o.path, o.read.options());
    LeadMapping mapping;
    const EcgRecord rec = to_canonical_leads(raw, &mapping);
    for (const auto& n : mapping.notes) log::info("{}", n);
    PlotOptions p = o.plot;
    // z-scored records (e.g. the processed PTB-XL set) have QRS complexes of 5-8 units: at 10 mm per unit
    // they overrun their rows. 2.5 mm per unit gives them the proportions of a normal printout.
    if (!o.gain_given && std::all_of(rec.units.begin(), rec.units.end(), [](const std::string& u) { return u == "z"; })) {
        p.gain_mm_per_mv = 2.5;
        log::info("amplitudes are z-scores: drawn at 2.5 mm per unit (override with --gain)");
    }
    p.title = o.title.empty() ? fmt::format("{}  |  {:g} Hz  |  {:.1f} s", rec.name, rec.sample_rate_hz, rec.duration_s()) : o.title;
    p.footer_lines = o.footer;
    write_file_atomic(o.output, render_ecg_svg(rec, p));
    log::info("wrote {}", o.output);
}

}  // namespace

void add_plot(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<PlotCmdOptions>();
    auto* sub = app.add_subcommand("plot", "Draw a record as a 12-lead ECG (3x4 + lead II rhythm strip) in SVG");
    sub->add_option("record", o->path, "record file")->required();
    sub->add_option("-o,--output", o->output, "output SVG file")->required();
    sub->add_option("--title", o->title, "title (default: record name, sample rate, duration)");
    sub->add_option("--footer", o->footer, "text line(s) printed under the grid (repeatable)");
    sub->add_option("--speed", o->plot.speed_mm_per_s, "paper speed in mm/s")->capture_default_str();
    sub->add_option_function<double>("--gain", [o](double g) { o->plot.gain_mm_per_mv = g; o->gain_given = true; },
                                     "gain in mm/mV (default 10; 2.5 mm per unit for z-scored records)");
    add_read_options(sub, o->read);
    sub->callback([&run, o] { run = [o] { run_plot(*o); }; });
}

}  // namespace diagecg::cli
