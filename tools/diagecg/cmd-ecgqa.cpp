// diagecg ecgqa-generate --ptbxl-meta DIR --ecgqa DIR -o OUTDIR: ECG-QA single-ECG questions instantiated from
// PTB-XL metadata (rules in include/diagecg/data/ecgqa-generator.h), one ECG-QA JSON file per split.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "diagecg/data/ecgqa-generator.h"
#include "diagecg/data/ecgqa.h"
#include "diagecg/data/ptbxl-meta.h"
#include "diagecg/util/byte-reader.h"
#include "diagecg/util/log.h"

namespace diagecg::cli {

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kSplits = {"train", "valid", "test"};
const std::vector<std::string> kQuestionTypes = {"single-verify", "single-choose", "single-query"};

struct EcgQaGenerateOptions {
    std::string ptbxl_meta, ecgqa, records, out;
    std::string split_by = "ecgqa";
    uint64_t seed = 42;
    int max_per_template = 1;
    std::vector<int> templates;
    bool json = false;
};

// DIR/ptbxl/NAME when it exists (the published layout), else DIR/NAME; the first of `names` found.
std::string find_file(const std::string& dir, const std::vector<std::string>& names) {
    for (const auto& name : names)
        for (const fs::path& p : {fs::path(dir) / "ptbxl" / name, fs::path(dir) / name})
            if (fs::exists(p)) return p.string();
    throw std::runtime_error(fmt::format("{}: no {} in it (nor in its ptbxl/ folder)", dir, names.front()));
}

// "00043", "43", "train/00043.hea" -> 43.
int64_t parse_ecg_id(const std::string& path, int64_t line, const std::string& cell) {
    const std::string stem = fs::path(std::string(trim_view(cell))).stem().string();
    const auto v = parse_int64(stem);
    if (!v || *v <= 0) throw std::runtime_error(fmt::format("{}:{}: \"{}\" is not an ECG id", path, line, cell));
    return *v;
}

// A records file: CSV/TSV with an "ecg_id" column (and, optionally, "split"), or one id / record path per
// line. Returns the ids in file order and the split each row names ("val" read as "valid").
std::vector<std::pair<int64_t, std::string>> read_records_file(const std::string& path) {
    const std::string text = read_file_text(path);
    std::vector<std::pair<int64_t, std::string>> out;
    int id_col = 0, split_col = -1;
    bool header_done = false;
    int64_t line_no = 0;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        const std::string line(trim_view(std::string_view(text).substr(pos, end - pos)));
        pos = end + 1;
        ++line_no;
        if (line.empty() || line[0] == '#') continue;
        std::vector<std::string> cells;
        std::string cur;
        for (const char c : line + ",") {
            if (c == ',' || c == '\t') {
                cells.emplace_back(trim_view(cur));
                cur.clear();
            } else {
                cur += c;
            }
        }
        if (!header_done) {
            header_done = true;
            const auto it = std::find(cells.begin(), cells.end(), "ecg_id");
            if (it != cells.end()) {
                id_col = static_cast<int>(it - cells.begin());
                const auto s = std::find(cells.begin(), cells.end(), "split");
                split_col = s == cells.end() ? -1 : static_cast<int>(s - cells.begin());
                continue;
            }
        }
        if (id_col >= static_cast<int>(cells.size()))
            throw std::runtime_error(fmt::format("{}:{}: no ecg_id cell", path, line_no));
        std::string split =
            split_col >= 0 && split_col < static_cast<int>(cells.size()) ? cells[static_cast<size_t>(split_col)] : "";
        if (split == "val") split = "valid";
        out.emplace_back(parse_ecg_id(path, line_no, cells[static_cast<size_t>(id_col)]), split);
    }
    return out;
}

void run_ecgqa_generate(const EcgQaGenerateOptions& o) {
    const auto records =
        read_ptbxl_database(find_file(o.ptbxl_meta, {"ptbxl_database_form.csv", "ptbxl_database.csv"}));
    const auto scp = read_scp_statements(find_file(o.ptbxl_meta, {"scp_statements.csv"}));
    const auto catalogue = read_template_catalogue(find_file(o.ecgqa, {"template_catalogue.csv"}));
    const auto answers = read_answers_for_each_template(find_file(o.ecgqa, {"answers_for_each_template.csv"}));
    log::info("PTB-XL metadata: {} ECGs; ECG-QA: {} templates in the catalogue", records.size(), catalogue.size());

    // ECGs per split: by ECG-QA's official lists, or by the records file's split column
    std::map<int64_t, std::string> official;
    std::vector<int64_t> official_order;
    for (const auto& split : kSplits)
        for (const int64_t id : read_ecg_split(find_file(o.ecgqa, {split + "_ecgs.tsv"}))) {
            official[id] = split;
            official_order.push_back(id);
        }
    std::vector<std::pair<int64_t, std::string>> wanted;
    if (!o.records.empty()) {
        wanted = read_records_file(o.records);
    } else {
        for (const int64_t id : official_order) wanted.emplace_back(id, "");
    }
    std::map<std::string, std::vector<int64_t>> ids;
    int64_t n_no_meta = 0, n_no_split = 0;
    std::set<int64_t> seen;
    for (const auto& [id, record_split] : wanted) {
        if (!seen.insert(id).second) continue;
        if (!records.count(id)) {
            ++n_no_meta;
            continue;
        }
        std::string split = record_split;
        if (o.split_by == "ecgqa") {
            const auto it = official.find(id);
            split = it == official.end() ? "" : it->second;
        }
        if (std::find(kSplits.begin(), kSplits.end(), split) == kSplits.end()) {
            ++n_no_split;
            continue;
        }
        ids[split].push_back(id);
    }
    if (n_no_meta > 0) log::warn("{} ECG(s) have no PTB-XL metadata row and get no questions", n_no_meta);
    if (n_no_split > 0)
        log::warn("{} ECG(s) are in no {} split and get no questions", n_no_split,
                  o.split_by == "ecgqa" ? "official ECG-QA" : "train/val/test");

    GeneratorOptions g;
    g.seed = o.seed;
    g.max_per_template = o.max_per_template;
    g.template_ids = o.templates;
    generate_single_ecg_questions(records, scp, catalogue, answers, {}, g);  // checks the options before any output
    fs::create_directories(o.out);
    nlohmann::ordered_json summary;
    std::string table = fmt::format("{:<6} {:>6} {:>8}", "split", "ecgs", "samples");
    for (const auto& t : kQuestionTypes) table += fmt::format(" {:>14}", t);
    table += "\n";
    for (const auto& split : kSplits) {
        const auto samples = generate_single_ecg_questions(records, scp, catalogue, answers, ids[split], g);
        const std::string path = (fs::path(o.out) / (split + ".json")).string();
        write_ecgqa_json(path, samples);
        log::info("{}: {} questions about {} ECGs -> {}", split, samples.size(), ids[split].size(), path);
        std::map<std::string, int64_t> per_type;
        std::map<int, int64_t> per_template;
        for (const auto& s : samples) {
            ++per_type[s.question_type];
            ++per_template[s.template_id];
        }
        table += fmt::format("{:<6} {:>6} {:>8}", split, ids[split].size(), samples.size());
        for (const auto& t : kQuestionTypes) table += fmt::format(" {:>14}", per_type[t]);
        table += "\n";
        nlohmann::ordered_json js = {{"ecgs", ids[split].size()}, {"samples", samples.size()}, {"file", path}};
        for (const auto& t : kQuestionTypes) js["question_types"][t] = per_type[t];
        for (const auto& [t, n] : per_template) js["templates"][std::to_string(t)] = n;
        summary[split] = js;
    }
    print_result(o.json ? summary.dump(2) + "\n" : table);
}

}  // namespace

void add_ecgqa_generate(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<EcgQaGenerateOptions>();
    auto* sub = app.add_subcommand(
        "ecgqa-generate", "Instantiate ECG-QA single-ECG questions from PTB-XL metadata ({train,valid,test}.json)");
    sub->add_option("--ptbxl-meta", o->ptbxl_meta,
                    "folder with ptbxl_database_form.csv (or ptbxl_database.csv) and scp_statements.csv")
        ->required()
        ->check(CLI::ExistingDirectory);
    sub->add_option(
           "--ecgqa", o->ecgqa,
           "ECG-QA folder: template_catalogue.csv, answers_for_each_template.csv and {train,valid,test}_ecgs.tsv "
           "(each there or in its ptbxl/ folder)")
        ->required()
        ->check(CLI::ExistingDirectory);
    sub->add_option("--records", o->records,
                    "only these ECGs: CSV with an ecg_id column (e.g. records.csv) or one id / record path per line "
                    "(default: every ECG of the official split lists)")
        ->check(CLI::ExistingFile);
    sub->add_option("-o,--output", o->out, "output folder for train.json, valid.json, test.json")->required();
    sub->add_option("--split-by", o->split_by,
                    "ecgqa: ECG-QA's official split lists; records: the split column of --records (val = valid)")
        ->check(CLI::IsMember({"ecgqa", "records"}))
        ->capture_default_str();
    sub->add_option("-s,--seed", o->seed, "sampling seed")->capture_default_str();
    sub->add_option("--max-per-template", o->max_per_template,
                    "questions per template per ECG (0 = every instantiation)")
        ->capture_default_str();
    sub->add_option("--templates", o->templates,
                    "template ids to instantiate, comma-separated (default: all supported)")
        ->delimiter(',');
    sub->add_flag("--json", o->json, "print the summary as JSON (per split: counts per question type and template)");
    sub->callback([&run, o] {
        if (o->split_by == "records" && o->records.empty())
            throw CLI::ValidationError("--split-by records", "needs --records FILE with a split column");
        run = [o] { run_ecgqa_generate(*o); };
    });
}

}  // namespace diagecg::cli
