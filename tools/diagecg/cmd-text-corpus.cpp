// diagecg text-corpus: the plain-text corpus (train.txt, val.txt: one document per line) for a language
// model trained from scratch (text-corpus.h): PTB-XL reports of the training records, ECG-QA questions with
// answers, SCP statement descriptions.
#include <algorithm>
#include <filesystem>
#include <memory>

#include "commands.h"
#include "diagecg/data/text-corpus.h"
#include "diagecg/ecg/record-set.h"
#include "diagecg/util/atomic-file.h"

namespace diagecg::cli {

namespace fs = std::filesystem;

namespace {

struct TextCorpusFlags {
    TextCorpusOptions o;
    std::string exclude_split_file;
    std::vector<std::string> exclude_splits{"val", "test"};
    std::vector<int> exclude_folds{9, 10};
    std::string out;
};

void run_text_corpus(TextCorpusFlags f) {
    if (!f.exclude_split_file.empty())
        for (const auto& [id, split] : read_split_file(f.exclude_split_file))
            if (std::find(f.exclude_splits.begin(), f.exclude_splits.end(), split) != f.exclude_splits.end())
                f.o.exclude_ecg_ids.insert(std::stoll(id));
    f.o.exclude_folds.insert(f.exclude_folds.begin(), f.exclude_folds.end());
    const TextCorpus c = build_text_corpus(f.o);
    if (c.train.empty()) throw std::runtime_error("text-corpus: no document (give --ptbxl-database, --ecgqa or --scp-statements)");
    auto join = [](const std::vector<std::string>& docs) {
        std::string s;
        for (const auto& d : docs) s += d + "\n";
        return s;
    };
    fs::create_directories(f.out);
    write_file_atomic((fs::path(f.out) / "train.txt").string(), join(c.train));
    write_file_atomic((fs::path(f.out) / "val.txt").string(), join(c.val));
    auto summary = c.summary;
    summary["out"] = f.out;
    summary["excluded_ecg_ids"] = f.o.exclude_ecg_ids.size();
    write_file_atomic((fs::path(f.out) / "summary.json").string(), summary.dump(2) + "\n");
    print_result(summary.dump(2) + "\n");
}

}  // namespace

void add_text_corpus(CLI::App& app, RunFn& run) {
    auto f = std::make_shared<TextCorpusFlags>();
    auto* sub = app.add_subcommand("text-corpus", "Write a plain-text corpus (train.txt, val.txt) for training a language model from scratch");
    sub->add_option("--ptbxl-database", f->o.ptbxl_database, "PTB-XL's ptbxl_database.csv: its reports");
    sub->add_option("--exclude-split-file", f->exclude_split_file, "CSV of ecg_id,split rows (records.csv): reports of held-out records are left out");
    sub->add_option("--exclude-splits", f->exclude_splits, "splits of --exclude-split-file to leave out")->capture_default_str();
    sub->add_option("--exclude-folds", f->exclude_folds, "PTB-XL strat_folds whose reports are left out")->capture_default_str();
    sub->add_flag("--all-languages", f->o.all_languages, "keep German and Swedish reports too");
    sub->add_option("--ecgqa", f->o.ecgqa_files, "ECG-QA JSON files (training files only): question/answer documents");
    sub->add_option("--max-qa", f->o.max_qa, "at most this many distinct QA documents (0 = all)")->capture_default_str();
    sub->add_option("--scp-statements", f->o.scp_statements, "PTB-XL's scp_statements.csv: statement descriptions");
    sub->add_option("--val-fraction", f->o.val_fraction, "documents held out for validation")->capture_default_str();
    sub->add_option("-o,--out", f->out, "output directory")->required();
    sub->callback([&run, f] { run = [f] { run_text_corpus(*f); }; });
}

}  // namespace diagecg::cli
