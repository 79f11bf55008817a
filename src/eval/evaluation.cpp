#include "diagecg/eval/evaluation.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "diagecg/data/ecgqa.h"
#include "diagecg/eval/jsonl-output.h"
#include "diagecg/eval/report-labels.h"
#include "diagecg/eval/wordnet.h"
#include "diagecg/util/atomic-file.h"
#include "diagecg/util/byte-reader.h"

namespace diagecg {

namespace {

nlohmann::json scores_to_json(const ReportScores& s) {
    return {{"bleu1", s.bleu[0]}, {"bleu2", s.bleu[1]}, {"bleu3", s.bleu[2]}, {"bleu4", s.bleu[3]},
            {"meteor", s.meteor}, {"rouge1", s.rouge1}, {"rouge2", s.rouge2}, {"rougeL", s.rougeL}};
}

ReportScores scores_from_json(const nlohmann::json& j) {
    ReportScores s;
    for (int i = 0; i < 4; ++i) s.bleu[i] = j.at("bleu" + std::to_string(i + 1)).get<double>();
    s.meteor = j.at("meteor").get<double>();
    s.rouge1 = j.at("rouge1").get<double>();
    s.rouge2 = j.at("rouge2").get<double>();
    s.rougeL = j.at("rougeL").get<double>();
    return s;
}

// The most frequent value; ties go to the one that sorts first.
std::string most_frequent(const std::map<std::string, int64_t>& counts) {
    std::string best;
    int64_t n = -1;
    for (const auto& [k, c] : counts)
        if (c > n) best = k, n = c;
    return best;
}

}  // namespace

nlohmann::json prediction_to_json(const Prediction& p) {
    nlohmann::json j = {{"id", p.id},
                        {"task", p.task},
                        {"records", p.records},
                        {"question_type", p.question_type},
                        {"attribute_type", p.attribute_type},
                        {"template_id", p.template_id},
                        {"question", p.question},
                        {"prediction", p.prediction},
                        {"reference", p.reference}};
    if (!p.ecg_ids.empty()) j["ecg_id"] = p.ecg_ids;
    if (p.task == "qa") j["correct"] = p.correct;
    else if (!p.reference.empty())
        j["scores"] = scores_to_json(p.scores);
    if (!p.labels.is_null()) j["labels"] = p.labels;
    if (!p.signal_quality.is_null()) j["signal_quality"] = p.signal_quality;
    if (!p.rhythm.is_null()) j["rhythm"] = p.rhythm;
    if (p.ecg_shuffled) j["ecg_shuffled"] = true;
    return j;
}

Prediction prediction_from_json(const nlohmann::json& j) {
    Prediction p;
    p.id = j.at("id").get<std::string>();
    p.task = j.at("task").get<std::string>();
    if (j.contains("records")) p.records = j.at("records").get<std::vector<std::string>>();
    if (j.contains("ecg_id")) p.ecg_ids = j.at("ecg_id").get<std::vector<int64_t>>();
    p.question_type = j.value("question_type", "");
    p.attribute_type = j.value("attribute_type", "");
    p.template_id = j.value("template_id", -1);
    p.question = j.value("question", "");
    p.prediction = j.at("prediction").get<std::string>();
    p.reference = j.at("reference").get<std::string>();
    if (p.task == "qa") p.correct = j.at("correct").get<bool>();
    else if (!p.reference.empty())
        p.scores = scores_from_json(j.at("scores"));
    if (j.contains("labels")) {
        p.labels = j.at("labels");
        p.labels.at("positive").get<std::vector<std::string>>();  // shape check: throws when malformed
        p.labels.at("scorable").get<std::vector<std::string>>();
    }
    if (j.contains("signal_quality")) p.signal_quality = j.at("signal_quality");
    if (j.contains("rhythm")) p.rhythm = j.at("rhythm");
    p.ecg_shuffled = j.value("ecg_shuffled", false);
    return p;
}

Prediction score_prediction(PromptTask task, const TaskSample& s, const std::string& generated, const WordNet* wordnet) {
    Prediction p;
    p.id = s.id;
    p.task = prompt_task_name(task);
    p.records = s.records;
    p.ecg_ids = s.ecg_ids;
    p.question_type = s.question_type;
    p.attribute_type = s.attribute_type;
    p.template_id = s.template_id;
    p.question = s.question;
    p.reference = s.target;
    std::string text = generated;
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.erase(text.begin());
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    p.prediction = text;
    if (task == PromptTask::kQa) p.correct = answers_match(split_answer(text), s.answers);
    else if (!s.target.empty())
        p.scores = score_report(text, {s.target}, wordnet);
    return p;
}

void validate_prediction(Prediction& p) {
    if (p.task == "qa") {
        // `correct` is recomputed from the texts: a file cannot claim a wrong answer was right.
        p.correct = answers_match(split_answer(p.prediction), split_answer(p.reference));
        return;
    }
    if (p.task != "report") throw std::runtime_error("task \"" + p.task + "\" is neither qa nor report");
    if (p.reference.empty()) return;
    const ReportScores& s = p.scores;
    for (const double v : {s.bleu[0], s.bleu[1], s.bleu[2], s.bleu[3], s.meteor, s.rouge1, s.rouge2, s.rougeL})
        if (!(v >= 0.0 && v <= 1.0)) throw std::runtime_error("score " + std::to_string(v) + " is outside [0, 1]");
}

PredictionsFile read_predictions_file(const std::string& path, bool repair) {
    PredictionsFile out;
    std::ifstream in(path, std::ios::binary);
    if (!in) return out;
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    in.close();
    std::string kept;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (lines[i].empty()) continue;
        try {
            const auto j = nlohmann::json::parse(lines[i]);
            if (i == 0 && j.is_object() && j.contains("diagecg_predictions")) {
                out.header = j;
            } else {
                Prediction p = prediction_from_json(j);
                validate_prediction(p);
                out.predictions.push_back(std::move(p));
            }
            kept += lines[i] + "\n";
        } catch (const std::exception& e) {
            if (i + 1 == lines.size() && repair) {   // a write cut off by a kill: redo that sample
                write_file_atomic(path, kept);
                break;
            }
            throw std::runtime_error(path + " line " + std::to_string(i + 1) + ": not a valid prediction record (" + e.what() + ")");
        }
    }
    return out;
}

std::vector<Prediction> read_predictions(const std::string& path, bool repair) {
    return read_predictions_file(path, repair).predictions;
}

void append_predictions(const std::string& path, const std::vector<Prediction>& preds) {
    std::string text;
    for (const auto& p : preds) text += prediction_to_json(p).dump() + "\n";
    append_text_synced(path, text);
}

Baselines build_baselines(PromptTask task, const std::vector<TaskSample>& samples, const std::string& source) {
    Baselines b;
    b.source = source;
    if (task == PromptTask::kQa) {
        std::map<int, std::map<std::string, int64_t>> counts;
        for (const auto& s : samples) ++counts[s.template_id][join_answer(s.answers)];
        for (const auto& [t, c] : counts) b.qa_majority[t] = most_frequent(c);
    } else {
        std::map<std::string, int64_t> counts;   // distinct report -> copies
        for (const auto& s : samples)
            if (!s.target.empty()) ++counts[s.target];  // label-only samples have no report
        std::vector<std::pair<std::string, int64_t>> distinct(counts.begin(), counts.end());
        if (distinct.size() > 2000) distinct.resize(2000);
        std::vector<Tokens> toks;
        for (const auto& [r, c] : distinct) toks.push_back(tokenize_report(r));
        double best = -1;
        for (size_t i = 0; i < distinct.size(); ++i) {
            // mean over the other samples: its own copies match fully, the other reports by ROUGE-L
            double sum = static_cast<double>(distinct[i].second - 1);
            int64_t n = distinct[i].second - 1;
            for (size_t j = 0; j < distinct.size(); ++j) {
                if (j == i) continue;
                sum += rouge_l({toks[j]}, toks[i]) * static_cast<double>(distinct[j].second);
                n += distinct[j].second;
            }
            const double mean = n > 0 ? sum / static_cast<double>(n) : 0.0;
            if (mean > best) best = mean, b.report_consensus = distinct[i].first;
        }
    }
    return b;
}

nlohmann::json summarize(const std::vector<Prediction>& preds_in, const Baselines* baselines, const WordNet* wordnet) {
    std::map<std::string, const Prediction*> by_id;
    for (const auto& p : preds_in) by_id[p.id] = &p;
    if (by_id.empty()) throw std::invalid_argument("no predictions to summarize");
    const std::string task = by_id.begin()->second->task;
    nlohmann::json s = {{"task", task}, {"n", by_id.size()}};
    if (baselines) s["baseline_source"] = baselines->source;
    if (task == "qa") {
        struct Acc { int64_t n = 0, ok = 0, base_ok = 0; };
        Acc all;
        std::map<std::string, Acc> by_type, by_attr, by_template;
        for (const auto& [id, p] : by_id) {
            bool base_ok = false;
            if (baselines) {
                const auto it = baselines->qa_majority.find(p->template_id);
                base_ok = it != baselines->qa_majority.end() && answers_match(split_answer(it->second), split_answer(p->reference));
            }
            for (Acc* a : {&all, &by_type[p->question_type], &by_attr[p->attribute_type],
                           &by_template[std::to_string(p->template_id)]}) {
                ++a->n;
                a->ok += p->correct;
                a->base_ok += base_ok;
            }
        }
        auto acc_json = [&](const Acc& a) {
            nlohmann::json j = {{"n", a.n}, {"accuracy", static_cast<double>(a.ok) / static_cast<double>(a.n)}};
            if (baselines) j["baseline_accuracy"] = static_cast<double>(a.base_ok) / static_cast<double>(a.n);
            return j;
        };
        s["overall"] = acc_json(all);
        for (const auto& [k, a] : by_type) s["by_question_type"][k] = acc_json(a);
        for (const auto& [k, a] : by_attr) s["by_attribute_type"][k] = acc_json(a);
        for (const auto& [k, a] : by_template) s["by_template"][k] = acc_json(a);
    } else {
        std::vector<ReportScores> ours, base;
        std::vector<LabelledReport> model_labels, reference_labels, baseline_labels;
        const std::set<std::string> baseline_asserts =
            baselines ? report_asserted_labels(baselines->report_consensus) : std::set<std::string>();
        int64_t n_shuffled = 0;
        for (const auto& [id, p] : by_id) {
            n_shuffled += p->ecg_shuffled;
            if (!p->reference.empty()) {
                ours.push_back(p->scores);
                if (baselines) base.push_back(score_report(baselines->report_consensus, {p->reference}, wordnet));
            }
            if (p->labels.is_null()) continue;
            LabelledReport r;
            for (const auto& c : p->labels.at("positive")) r.truth.insert(c.get<std::string>());
            for (const auto& c : p->labels.at("scorable")) r.scorable.insert(c.get<std::string>());
            r.asserted = report_asserted_labels(p->prediction);
            model_labels.push_back(r);
            if (baselines) {
                r.asserted = baseline_asserts;
                baseline_labels.push_back(r);
            }
            if (!p->reference.empty()) {
                r.asserted = report_asserted_labels(p->reference);
                reference_labels.push_back(r);
            }
        }
        s["n_with_reference"] = ours.size();
        if (n_shuffled > 0) s["n_ecg_shuffled"] = n_shuffled;
        if (!ours.empty()) s["metrics"] = scores_to_json(mean_scores(ours));
        if (baselines) {
            if (!ours.empty()) s["baseline_metrics"] = scores_to_json(mean_scores(base));
            s["baseline_report"] = baselines->report_consensus;
        }
        if (!model_labels.empty()) {
            s["clinical_labels"] = {{"model", label_accuracy(model_labels)}};
            if (!reference_labels.empty()) s["clinical_labels"]["reference_reports"] = label_accuracy(reference_labels);
            if (baselines) s["clinical_labels"]["baseline_report"] = label_accuracy(baseline_labels);
        }
    }
    return s;
}

namespace {

std::string cell(const nlohmann::json& v) {
    return v.is_null() ? std::string("-") : fmt::format("{:.3f}", v.get<double>());
}

// Per class: positives/n, then sensitivity and specificity for the model, the reference reports and the baseline.
std::string format_label_accuracy(const nlohmann::json& cl) {
    const auto& m = cl.at("model");
    std::string out = fmt::format("clinical labels of the reports ({} records; sens/spec; report-labels.h)\n",
                                  m.at("records").get<int64_t>());
    std::vector<std::pair<std::string, const nlohmann::json*>> cols = {{"model", &m}};
    if (cl.contains("reference_reports")) cols.push_back({"reference", &cl.at("reference_reports")});
    if (cl.contains("baseline_report")) cols.push_back({"baseline", &cl.at("baseline_report")});
    out += fmt::format("{:<6} {:>9}", "class", "pos/n");
    for (const auto& [name, j] : cols) out += fmt::format("  {:>13}", name + " sens");
    for (const auto& [name, j] : cols) out += fmt::format("  {:>13}", name + " spec");
    out += "\n";
    for (const auto& c : report_label_classes()) {
        if (!m.at("classes").contains(c.name)) continue;
        const auto& r = m.at("classes").at(c.name);
        out += fmt::format("{:<6} {:>9}", c.name,
                           fmt::format("{}/{}", r.at("positives").get<int64_t>(), r.at("n").get<int64_t>()));
        for (const char* k : {"sensitivity", "specificity"})
            for (const auto& [name, j] : cols) {
                const auto& cls = j->at("classes");
                out += fmt::format("  {:>13}", cls.contains(c.name) ? cell(cls.at(c.name).at(k)) : std::string("-"));
            }
        out += "\n";
    }
    out += fmt::format("{:<16}", "macro-F1");
    for (const auto& [name, j] : cols) out += fmt::format("  {} {}", name, cell(j->at("macro_f1")));
    out += "\n";
    if (cl.contains("reference_reports"))
        out += fmt::format("(reference: the cardiologists' reports of the {} labelled records that have one)\n",
                           cl.at("reference_reports").at("records").get<int64_t>());
    return out;
}

}  // namespace

std::string format_summary(const nlohmann::json& s) {
    std::string out;
    const bool base = s.contains("baseline_source");
    if (s.at("task") == "qa") {
        out += fmt::format("{:<34} {:>6} {:>9}{}\n", "ECG-QA exact match", "n", "accuracy", base ? "  baseline" : "");
        auto row = [&](const std::string& name, const nlohmann::json& r) {
            out += fmt::format("{:<34} {:>6} {:>9.3f}", name, r.at("n").get<int64_t>(), r.at("accuracy").get<double>());
            if (base) out += fmt::format(" {:>9.3f}", r.at("baseline_accuracy").get<double>());
            out += "\n";
        };
        row("overall", s.at("overall"));
        for (const auto& [k, r] : s.at("by_question_type").items()) row("  " + k, r);
        for (const auto& [k, r] : s.at("by_attribute_type").items()) row("  attribute " + k, r);
        if (s.contains("by_template")) {
            std::vector<std::pair<int, const nlohmann::json*>> ts;  // numeric order
            for (const auto& [k, r] : s.at("by_template").items()) ts.push_back({std::stoi(k), &r});
            std::sort(ts.begin(), ts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
            for (const auto& [t, r] : ts) row("  template " + std::to_string(t), *r);
        }
    } else {
        if (s.contains("metrics")) {
            out += fmt::format("{:<10} {:>8}{}\n", "report", "model", base ? "  baseline" : "");
            for (const char* k : {"bleu1", "bleu2", "bleu3", "bleu4", "meteor", "rouge1", "rouge2", "rougeL"}) {
                out += fmt::format("{:<10} {:>8.4f}", k, s.at("metrics").at(k).get<double>());
                if (base) out += fmt::format(" {:>9.4f}", s.at("baseline_metrics").at(k).get<double>());
                out += "\n";
            }
        }
        out += fmt::format("({} samples, {} with a reference report)\n", s.at("n").get<int64_t>(),
                           s.value("n_with_reference", s.at("n").get<int64_t>()));
        if (s.contains("clinical_labels")) out += format_label_accuracy(s.at("clinical_labels"));
    }
    if (base) out += "baseline: " + s.at("baseline_source").get<std::string>() + "\n";
    if (s.contains("covers")) {
        const auto& c = s.at("covers");
        out += fmt::format("covers {} of {} samples asked", c.value("samples_scored", 0), c.value("samples_asked", 0));
        if (c.contains("samples_missing"))
            out += fmt::format(" ({} without a record in the data, {} skipped: unreadable, refused or too long)",
                               c.value("samples_missing", 0), c.value("samples_skipped", 0));
        out += "\n";
    }
    return out;
}

std::pair<int64_t, int64_t> parse_shard(const std::string& s) {
    const auto slash = s.find('/');
    try {
        if (slash == std::string::npos) throw std::invalid_argument("");
        size_t a = 0, b = 0;
        const int64_t i = std::stoll(s.substr(0, slash), &a), n = std::stoll(s.substr(slash + 1), &b);
        if (a != slash || b != s.size() - slash - 1 || n < 1 || i < 0 || i >= n) throw std::invalid_argument("");
        return {i, n};
    } catch (const std::exception&) {
        throw std::invalid_argument("--shard must be i/n with 0 <= i < n, got \"" + s + "\"");
    }
}

}  // namespace diagecg
