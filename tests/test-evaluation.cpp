// Evaluation bookkeeping: scoring, the predictions file's crash safety, summaries and baselines.
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "diagecg/eval/evaluation.h"
#include "diagecg/eval/jsonl-output.h"
#include "diagecg/util/byte-reader.h"

using namespace diagecg;
namespace fs = std::filesystem;

namespace {

TaskSample qa(const std::string& id, int tmpl, const std::string& type, std::vector<std::string> answers) {
    TaskSample s;
    s.id = id;
    s.template_id = tmpl;
    s.question_type = type;
    s.attribute_type = "scp_code";
    s.question = "q?";
    s.answers = std::move(answers);
    s.target = s.answers.size() == 1 ? s.answers[0] : s.answers[0] + "; " + s.answers[1];
    return s;
}

fs::path temp_file(const std::string& name) {
    return fs::temp_directory_path() / ("diagecg-test-" + name + "-" + std::to_string(::getpid()) + ".jsonl");
}

}  // namespace

TEST(Evaluation, QaAnswersCompareAsSets) {
    const auto s = qa("a", 4, "single-choose", {"myocardial infarction", "st/t change"});
    EXPECT_TRUE(score_prediction(PromptTask::kQa, s, " ST/T change;  myocardial infarction ", nullptr).correct);
    EXPECT_FALSE(score_prediction(PromptTask::kQa, s, "st/t change", nullptr).correct);   // a subset is wrong
    EXPECT_FALSE(score_prediction(PromptTask::kQa, s, "", nullptr).correct);
    EXPECT_EQ(score_prediction(PromptTask::kQa, s, " yes\n", nullptr).prediction, "yes");
}

TEST(Evaluation, PartialLastLineOfAKilledRunIsDroppedAndNothingElse) {
    const auto path = temp_file("preds");
    std::vector<Prediction> preds;
    for (const char* id : {"a", "b"}) preds.push_back(score_prediction(PromptTask::kQa, qa(id, 1, "single-verify", {"yes"}), "yes", nullptr));
    append_predictions(path.string(), preds);
    {
        std::ofstream out(path, std::ios::app);
        out << R"({"id": "c", "task": "qa", "predi)";   // the write a SIGKILL cut off
    }
    EXPECT_THROW(read_predictions(path.string(), false), std::runtime_error);
    const auto back = read_predictions(path.string(), true);
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(back[1].id, "b");
    EXPECT_EQ(read_file_text(path.string()).find("\"id\": \"c\""), std::string::npos);   // repaired on disk
    // A broken line that is not the last is corruption, not a cut-off write: refused.
    {
        std::ofstream out(path, std::ios::app);
        out << "garbage\n";
    }
    append_predictions(path.string(), {preds[0]});
    EXPECT_THROW(read_predictions(path.string(), true), std::runtime_error);
    fs::remove(path);
}

TEST(Evaluation, LoadedLinesAreValidatedNotTrusted) {
    const auto path = temp_file("preds-validated");
    Prediction wrong = score_prediction(PromptTask::kQa, qa("a", 1, "single-verify", {"yes"}), "no", nullptr);
    ASSERT_FALSE(wrong.correct);
    auto j = prediction_to_json(wrong);
    j["correct"] = true;   // a file that claims a wrong answer was right
    std::ofstream(path) << nlohmann::json{{"diagecg_predictions", 1}, {"task", "qa"}}.dump() << "\n" << j.dump() << "\n";
    const PredictionsFile f = read_predictions_file(path.string(), false);
    EXPECT_EQ(f.header.at("task"), "qa");
    ASSERT_EQ(f.predictions.size(), 1u);
    EXPECT_FALSE(f.predictions[0].correct);   // recomputed from prediction and reference

    Prediction rep;
    rep.id = "r";
    rep.task = "report";
    rep.prediction = rep.reference = "sinus rhythm";
    rep.scores.rougeL = 1.5;   // out of range
    std::ofstream(path) << prediction_to_json(rep).dump() << "\n" << prediction_to_json(rep).dump() << "\n";
    try {
        read_predictions_file(path.string(), false);
        ADD_FAILURE() << "an out-of-range score was accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("line 1: not a valid prediction record (score 1.5"), std::string::npos) << e.what();
    }
    fs::remove(path);
}

TEST(Evaluation, QaSummaryPerTypeWithMajorityBaseline) {
    const std::vector<TaskSample> train = {qa("t1", 1, "single-verify", {"yes"}), qa("t2", 1, "single-verify", {"yes"}),
                                           qa("t3", 1, "single-verify", {"no"}), qa("t4", 3, "single-choose", {"mi"})};
    const auto base = build_baselines(PromptTask::kQa, train, "train");
    EXPECT_EQ(base.qa_majority.at(1), "yes");
    std::vector<Prediction> p = {
        score_prediction(PromptTask::kQa, qa("e1", 1, "single-verify", {"yes"}), "no", nullptr),    // wrong; baseline right
        score_prediction(PromptTask::kQa, qa("e2", 1, "single-verify", {"no"}), "no", nullptr),     // right; baseline wrong
        score_prediction(PromptTask::kQa, qa("e3", 3, "single-choose", {"mi"}), "mi", nullptr),     // both right
    };
    p.push_back(p[0]);   // a duplicate id counts once
    const auto s = summarize(p, &base, nullptr);
    EXPECT_EQ(s.at("n").get<int64_t>(), 3);
    EXPECT_DOUBLE_EQ(s.at("overall").at("accuracy").get<double>(), 2.0 / 3);
    EXPECT_DOUBLE_EQ(s.at("overall").at("baseline_accuracy").get<double>(), 2.0 / 3);
    EXPECT_DOUBLE_EQ(s.at("by_question_type").at("single-verify").at("accuracy").get<double>(), 0.5);
    EXPECT_DOUBLE_EQ(s.at("by_question_type").at("single-choose").at("accuracy").get<double>(), 1.0);
    const std::string table = format_summary(s);
    EXPECT_NE(table.find("single-verify"), std::string::npos) << table;
    EXPECT_NE(table.find("baseline: train"), std::string::npos) << table;
    // Split into shards and merged, the summary is the same.
    std::vector<Prediction> shard_a{p[2]}, shard_b{p[0], p[1]}, merged = shard_b;
    merged.insert(merged.end(), shard_a.begin(), shard_a.end());
    EXPECT_EQ(summarize(merged, &base, nullptr), summarize({p[0], p[1], p[2]}, &base, nullptr));
}

TEST(Evaluation, PredictionRoundTripsThroughJson) {
    auto p = score_prediction(PromptTask::kQa, qa("x", 7, "single-query", {"lead i", "lead ii"}), "lead ii; lead i", nullptr);
    EXPECT_TRUE(p.correct);
    const auto back = prediction_from_json(prediction_to_json(p));
    EXPECT_EQ(prediction_to_json(back), prediction_to_json(p));
}

TEST(Evaluation, ShardSpec) {
    EXPECT_EQ(parse_shard("0/1"), std::make_pair(int64_t{0}, int64_t{1}));
    EXPECT_EQ(parse_shard("2/3"), std::make_pair(int64_t{2}, int64_t{3}));
    for (const char* bad : {"3/3", "-1/2", "1", "a/b", "1/0", "1/2x"}) EXPECT_THROW(parse_shard(bad), std::invalid_argument) << bad;
}

// The report baseline: a report repeated in the training set wins; among distinct reports, the one that
// shares most with the others (not the one that happens to sort first).
TEST(Evaluation, ReportBaselineIsTheConsensusReport) {
    auto rep = [](const std::string& id, const std::string& text) {
        TaskSample s;
        s.id = id;
        s.target = text;
        return s;
    };
    // ROUGE-L F1 means over the others: c 0.513 (0.769 against b and d), b and d 0.465, a 0
    const std::vector<TaskSample> distinct = {rep("a", "atrial fibrillation. rapid ventricular response."),
                                              rep("b", "sinus rhythm. left axis deviation. otherwise normal ecg."),
                                              rep("c", "sinus rhythm. otherwise normal ecg."),
                                              rep("d", "sinus rhythm. low t waves. otherwise normal ecg.")};
    EXPECT_EQ(build_baselines(PromptTask::kReport, distinct, "train").report_consensus, "sinus rhythm. otherwise normal ecg.");
    auto repeated = distinct;
    repeated.push_back(rep("e", "atrial fibrillation. rapid ventricular response."));
    repeated.push_back(rep("f", "atrial fibrillation. rapid ventricular response."));
    EXPECT_EQ(build_baselines(PromptTask::kReport, repeated, "train").report_consensus, "atrial fibrillation. rapid ventricular response.");
}

// Append-only JSONL: lines come back as written; a last line cut off by a kill (no newline, or not JSON) is
// dropped and the file rewritten without it; a bad line elsewhere is an error naming it.
TEST(JsonlOutput, AppendReadRepair) {
    const auto path = (fs::temp_directory_path() / ("diagecg-jsonl-" + std::to_string(::getpid()) + ".jsonl")).string();
    fs::remove(path);
    EXPECT_TRUE(read_jsonl_lines(path, true).empty());
    append_jsonl_synced(path, {{{"id", "a"}}, {{"id", "b"}}});
    append_jsonl_synced(path, {{{"id", "c"}}});
    ASSERT_EQ(read_jsonl_lines(path, false).size(), 3u);
    std::ofstream(path, std::ios::app) << R"({"id": "d"})";   // complete JSON, but no end of line: unfinished
    EXPECT_THROW(read_jsonl_lines(path, false), std::runtime_error);
    auto lines = read_jsonl_lines(path, true);
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[2]["id"], "c");
    EXPECT_EQ(read_file_text(path), "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n");
    std::ofstream(path, std::ios::app) << "{\"id\": \"cut\n";
    EXPECT_EQ(read_jsonl_lines(path, true).size(), 3u);
    append_jsonl_synced(path, {{{"id", "d"}}});
    EXPECT_EQ(read_jsonl_lines(path, false).back()["id"], "d");
    std::string text = read_file_text(path);
    text.replace(text.find("{\"id\":\"b\"}"), 10, "not json!!");
    std::ofstream(path, std::ios::trunc) << text;
    try {
        read_jsonl_lines(path, true);
        ADD_FAILURE() << "no error";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
    }
    fs::remove(path);
}
