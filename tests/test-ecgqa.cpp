// PTB-XL metadata, ECG-QA files and the ECG-QA single-ECG question generator. The committed sample in
// tests/data/ecgqa (see its NOTICE.md) always runs; tests on the full shared data need DIAGECG_SHARED_DATA.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>

#include "diagecg/data/ecgqa-generator.h"
#include "diagecg/data/ecgqa.h"
#include "diagecg/data/ptbxl-meta.h"
#include "diagecg/data/question-family.h"
#include "diagecg/data/task-data.h"
#include "test-util.h"

using namespace diagecg;
namespace fs = std::filesystem;

namespace {

const std::string kSample = std::string(DIAGECG_TEST_DATA) + "/ecgqa";

std::string shared_data() {
#ifdef DIAGECG_SHARED_DATA
    return DIAGECG_SHARED_DATA;
#else
    return "";
#endif
}

#define REQUIRE_SHARED_DATA()                                                                                  \
    if (shared_data().empty() || !fs::exists(shared_data() + "/ecgqa")) {                                      \
        GTEST_SKIP() << "shared data not available: define DIAGECG_SHARED_DATA as the folder holding ecgqa/, " \
                        "ptbxl-meta/ and ptbxl-processed/";                                                    \
    }

struct EcgQaTempDir {
    fs::path path;
    EcgQaTempDir() {
        static int n = 0;
        path = fs::temp_directory_path() / ("diagecg-ecgqa-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
        fs::create_directories(path);
    }
    ~EcgQaTempDir() { fs::remove_all(path); }
    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name, std::ios::binary) << text;
        return (path / name).string();
    }
};

// Expects `fn` to throw std::runtime_error whose message contains every fragment.
template <typename Fn>
void expect_error(Fn fn, const std::vector<std::string>& fragments) {
    try {
        fn();
        ADD_FAILURE() << "no exception; expected one mentioning " << fragments[0];
    } catch (const std::runtime_error& e) {
        for (const auto& f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
    }
}

struct Inputs {
    std::map<int64_t, PtbxlRecord> records;
    std::map<std::string, ScpStatement> scp;
    std::map<int, EcgQaTemplate> catalogue;
    std::map<int, std::vector<std::string>> answers;
    std::vector<int64_t> ids() const {
        std::vector<int64_t> out;
        for (const auto& r : records) out.push_back(r.first);
        return out;
    }
};

Inputs load(const std::string& meta_dir, const std::string& qa_dir, const std::string& answers_dir) {
    Inputs in;
    in.records = read_ptbxl_database(meta_dir + "/ptbxl_database_form.csv");
    in.scp = read_scp_statements(meta_dir + "/scp_statements.csv");
    in.catalogue = read_template_catalogue(qa_dir + "/template_catalogue.csv");
    in.answers = read_answers_for_each_template(answers_dir + "/answers_for_each_template.csv");
    return in;
}

const Inputs& sample_inputs() {
    static const Inputs in = load(kSample, kSample, kSample);
    return in;
}

std::vector<QaSample> generate(const Inputs& in, const std::vector<int64_t>& ids, GeneratorOptions o) {
    return generate_single_ecg_questions(in.records, in.scp, in.catalogue, in.answers, ids, o);
}

// Every published sample of a template we generate, about an ECG we have metadata for, gets the same answer
// from the generator's full instantiation. Returns how many samples were compared.
size_t compare_with_published(const Inputs& in, const std::vector<QaSample>& published) {
    std::set<int> supported;
    for (const int t : supported_single_ecg_templates()) supported.insert(t);
    std::vector<int64_t> ids;
    std::set<int64_t> seen;
    for (const auto& s : published)
        if (supported.count(s.template_id) && in.records.count(s.ecg_ids[0]) && seen.insert(s.ecg_ids[0]).second)
            ids.push_back(s.ecg_ids[0]);
    GeneratorOptions o;
    o.max_per_template = 0;
    std::set<int> asked;
    for (const auto& s : published)
        if (supported.count(s.template_id)) asked.insert(s.template_id);
    o.template_ids.assign(asked.begin(), asked.end());
    std::map<std::pair<int64_t, std::string>, std::vector<std::string>> ours;
    for (const auto& s : generate(in, ids, o)) ours[{s.ecg_ids[0], s.question}] = s.answer;
    size_t n = 0;
    for (const auto& s : published) {
        if (!supported.count(s.template_id) || !in.records.count(s.ecg_ids[0])) continue;
        const auto it = ours.find({s.ecg_ids[0], s.question});
        ++n;
        if (it == ours.end()) {
            ADD_FAILURE() << "not generated: ecg " << s.ecg_ids[0] << " \"" << s.question << "\"";
            continue;
        }
        EXPECT_TRUE(answers_match(it->second, s.answer))
            << "ecg " << s.ecg_ids[0] << " \"" << s.question << "\": ours " << join_answer(it->second) << ", published "
            << join_answer(s.answer);
    }
    return n;
}

}  // namespace

TEST(PtbxlMeta, ReadsKnownRowsOfTheSample) {
    const auto db = read_ptbxl_database(kSample + "/ptbxl_database_form.csv");
    EXPECT_EQ(db.size(), 41u);
    const PtbxlRecord& r = db.at(103);  // checked by eye against the CSV
    EXPECT_EQ(r.patient_id, 13722);
    EXPECT_EQ(*r.age, 39);
    EXPECT_EQ(*r.sex, 0);
    EXPECT_FALSE(r.height_cm);
    EXPECT_EQ(*r.weight_kg, 93);
    EXPECT_EQ(r.heart_axis, "ALAD");
    EXPECT_EQ(r.infarction_stadium1, "Stadium II-III");
    EXPECT_EQ(r.infarction_stadium2, "");
    const std::map<std::string, double> codes = {{"IMI", 15}, {"LAFB", 100}, {"ABQRS", 0}, {"STACH", 0}};
    EXPECT_EQ(r.scp_codes, codes);
    EXPECT_EQ(r.strat_fold, 4);
    EXPECT_EQ(patient_features_text(r), "age 39, male, weight 93 kg");
    const PtbxlRecord& q = db.at(274);  // quoted report holding commas
    EXPECT_EQ(patient_features_text(q), "age 67, female, height 152 cm, weight 60 kg");
    EXPECT_EQ(q.report.rfind("sinus rhythm. possible left atrial enlargement.", 0), 0u);
    EXPECT_NE(q.report.find("in i, avl, v5,6"), std::string::npos);
    EXPECT_EQ(q.scp_codes.at("LAO/LAE"), 50);
    EXPECT_FALSE(db.at(6027).age);
    EXPECT_EQ(patient_features_text(db.at(6027)), "male, height 150 cm");
    EXPECT_EQ(db.at(16175).infarction_stadium2, "Stadium II");
    EXPECT_EQ(db.at(19299).electrodes_problems, "V3,V4-V6");
    EXPECT_EQ(db.at(3559).extra_beats, "1ES,SVES");
    EXPECT_EQ(patient_features_text(PtbxlRecord{}), "");
    PtbxlRecord old;
    old.age = 300;
    old.sex = 1;
    EXPECT_EQ(patient_features_text(old), "age over 89, female");
}

TEST(PtbxlMeta, ScpStatements) {
    const auto scp = read_scp_statements(kSample + "/scp_statements.csv");
    EXPECT_EQ(scp.size(), 71u);
    EXPECT_TRUE(scp.at("NDT").diagnostic && scp.at("NDT").form && !scp.at("NDT").rhythm);
    EXPECT_EQ(scp.at("NDT").diagnostic_class, "STTC");
    EXPECT_TRUE(scp.at("SR").rhythm && !scp.at("SR").diagnostic);
    EXPECT_EQ(scp.at("BIGU").description, "bigeminal pattern (unknown origin, SV or Ventricular)");
    EXPECT_EQ(scp.at("IMI").statement_category, "Myocardial Infarction");
}

TEST(PtbxlMeta, ColumnsByNameInAnyOrderExtraColumnsIgnored) {
    EcgQaTempDir d;
    const std::string path = d.write(
        "db.csv",
        "strat_fold,extra,scp_codes,pacemaker,extra_beats,electrodes_problems,burst_noise,static_noise,baseline_drift,"
        "infarction_stadium2,infarction_stadium1,heart_axis,report,weight,height,sex,age,patient_id,ecg_id\r\n"
        "3,x,\"{'NORM': 100.0, 'SR': 0.0}\",,,,,nan,,,,MID,\"a \"\"quoted\"\"\nreport, two "
        "lines\",63.0,,1,56.0,15709.0,1\r\n"
        "\r\n"
        "7,y,{},,,,,,,,,,,,,,,,2\r\n");
    const auto db = read_ptbxl_database(path);
    ASSERT_EQ(db.size(), 2u);
    EXPECT_EQ(db.at(1).report, "a \"quoted\"\nreport, two lines");
    EXPECT_EQ(db.at(1).patient_id, 15709);
    EXPECT_EQ(db.at(1).strat_fold, 3);
    EXPECT_EQ(db.at(1).static_noise, "");
    EXPECT_EQ(patient_features_text(db.at(1)), "age 56, female, weight 63 kg");
    EXPECT_TRUE(db.at(2).scp_codes.empty());
    EXPECT_FALSE(db.at(2).sex);
}

TEST(PtbxlMeta, MalformedFilesAreRefusedNamingFileAndLine) {
    EcgQaTempDir d;
    const std::string head =
        "ecg_id,patient_id,age,sex,height,weight,report,scp_codes,heart_axis,infarction_stadium1,infarction_stadium2,"
        "baseline_drift,static_noise,burst_noise,electrodes_problems,extra_beats,pacemaker,strat_fold\n";
    const std::string good = "1,2,56,1,,,r,\"{'SR': 0.0}\",,,,,,,,,,3\n";
    expect_error([&] { read_ptbxl_database(d.write("age.csv", head + good + "2,2,abc,1,,,r,{},,,,,,,,,,3\n")); },
                 {"age.csv:3", "'age'", "abc"});
    expect_error([&] { read_ptbxl_database(d.write("scp.csv", head + "1,2,56,1,,,r,\"{'SR' 0.0}\",,,,,,,,,,3\n")); },
                 {"scp.csv:2", "scp_codes"});
    expect_error([&] { read_ptbxl_database(d.write("quote.csv", head + good + "1,2,56,1,,,\"open,{},,,,,,,,,,3\n")); },
                 {"quote.csv:3", "not closed"});
    expect_error([&] { read_ptbxl_database(d.write("fields.csv", head + "1,2,56\n")); }, {"fields.csv:2", "3 fields"});
    expect_error([&] { read_ptbxl_database(d.write("col.csv", "ecg_id,age\n1,2\n")); }, {"col.csv", "patient_id"});
    expect_error([&] { read_ptbxl_database(d.write("dup.csv", head + good + good)); }, {"dup.csv:3", "twice"});
    expect_error([&] { read_ptbxl_database(d.write("sex.csv", head + "1,2,56,2,,,r,{},,,,,,,,,,3\n")); },
                 {"sex.csv:2", "'sex'"});
    expect_error([&] { read_ptbxl_database((d.path / "missing.csv").string()); }, {"missing.csv"});
    expect_error([&] { read_scp_statements(d.write("scp-bad.csv", "code,description\nNDT,x\n")); },
                 {"scp-bad.csv", "SCP code column"});
}

TEST(PtbxlMeta, PythonLiterals) {
    EXPECT_EQ(parse_python_string_list("['no', 'not sure', \"it's\"]"),
              (std::vector<std::string>{"no", "not sure", "it's"}));
    EXPECT_EQ(parse_python_string_list(" [ ] "), std::vector<std::string>{});
    EXPECT_EQ(parse_python_string_list("['a, b', 'c\\'d']"), (std::vector<std::string>{"a, b", "c'd"}));
    EXPECT_THROW(parse_python_string_list("['a' 'b']"), std::invalid_argument);
    EXPECT_THROW(parse_python_string_list("['a'"), std::invalid_argument);
    EXPECT_THROW(parse_python_string_list("['a'] x"), std::invalid_argument);
    const std::map<std::string, double> d = {{"NORM", 100}, {"LVOLT", 0}};
    EXPECT_EQ(parse_python_likelihood_dict("{'NORM': 100.0, 'LVOLT': 0.0}"), d);
    EXPECT_THROW(parse_python_likelihood_dict("{'NORM': x}"), std::invalid_argument);
    EXPECT_THROW(parse_python_likelihood_dict("{'NORM': 1, 'NORM': 2}"), std::invalid_argument);
    EXPECT_THROW(parse_python_likelihood_dict("{'NORM': 1"), std::invalid_argument);
}

TEST(PtbxlMeta, SharedDatabase) {
    REQUIRE_SHARED_DATA();
    const auto db = read_ptbxl_database(shared_data() + "/ptbxl-meta/ptbxl_database_form.csv");
    EXPECT_EQ(db.size(), 8988u);  // as the data README says
    EXPECT_EQ(patient_features_text(db.at(1)), "age 56, female, weight 63 kg");
    EXPECT_EQ(db.at(1).scp_codes, (std::map<std::string, double>{{"NORM", 100}, {"LVOLT", 0}, {"SR", 0}}));
    EXPECT_EQ(db.at(1).static_noise, ", I-V1,");
    // the committed sample is a verbatim subset
    for (const auto& [id, r] : sample_inputs().records) {
        const PtbxlRecord& f = db.at(id);
        EXPECT_EQ(f.report, r.report);
        EXPECT_EQ(f.scp_codes, r.scp_codes);
        EXPECT_EQ(f.age, r.age);
        EXPECT_EQ(f.extra_beats, r.extra_beats);
    }
    EXPECT_EQ(read_scp_statements(shared_data() + "/ptbxl-meta/scp_statements.csv").size(), 71u);
}

TEST(PtbxlMeta, NoiseLeadsAndExtraBeats) {
    auto leads = [](uint16_t m) {
        std::string s;
        for (int i = 0; i < 12; ++i) s += (m >> i) & 1 ? '1' : '0';
        return s;
    };
    EXPECT_EQ(leads(noise_lead_mask(" , I-AVF,  ")), "111111000000");
    EXPECT_EQ(leads(noise_lead_mask(" , alles,  ")), "111111111111");
    EXPECT_EQ(leads(noise_lead_mask("V3,V4-V6")), "000000001111");
    EXPECT_EQ(leads(noise_lead_mask(" , v4-6")), "000000000111");
    EXPECT_EQ(leads(noise_lead_mask("V1???")), "000000100000");
    EXPECT_EQ(leads(noise_lead_mask(" , mittel,  ")), "000000000000");
    EXPECT_EQ(leads(noise_lead_mask("inferior")), "011001000000");
    EXPECT_EQ(noise_lead_mask(""), 0);
    auto beats = [](const std::string& cell) {
        const ExtraBeats b = parse_extra_beats(cell);
        return std::to_string(b.es) + "/" + std::to_string(b.ves) + "/" + std::to_string(b.sves);
    };
    EXPECT_EQ(beats("1ES"), "1/-1/-1");
    EXPECT_EQ(beats("12ES"), "12/-1/-1");
    EXPECT_EQ(beats("VES2,alles"), "-1/2/-1");
    EXPECT_EQ(beats("SVES"), "-1/-1/0");
    EXPECT_EQ(beats("1ES,SVES"), "1/-1/0");
    EXPECT_EQ(beats("1,alles"), "1/-1/-1");
    EXPECT_EQ(beats(""), "-1/-1/-1");
}

TEST(EcgQa, ReadsTheCommittedSample) {
    const auto s = read_ecgqa_json(kSample + "/ecgqa-sample.json");
    ASSERT_EQ(s.size(), 109u);
    for (const auto& q : s) {
        EXPECT_FALSE(q.question.empty());
        EXPECT_FALSE(q.answer.empty());
        EXPECT_FALSE(q.ecg_ids.empty());
        EXPECT_EQ(q.id, default_sample_id(q));
        EXPECT_EQ(q.attribute.empty(), q.question_type.rfind("comparison", 0) == 0);
    }
    EXPECT_EQ(s.front().id, "q1709-s120082");
}

TEST(EcgQa, WriteReadRoundTrip) {
    EcgQaTempDir d;
    auto samples = read_ecgqa_json(kSample + "/ecgqa-sample.json");
    samples[3].id = "custom-id";
    const std::string path = (d.path / "out.json").string();
    write_ecgqa_json(path, samples);
    const auto back = read_ecgqa_json(path);
    ASSERT_EQ(back.size(), samples.size());
    for (size_t i = 0; i < back.size(); ++i) {
        EXPECT_EQ(back[i].id, samples[i].id);
        EXPECT_EQ(back[i].template_id, samples[i].template_id);
        EXPECT_EQ(back[i].question_id, samples[i].question_id);
        EXPECT_EQ(back[i].sample_id, samples[i].sample_id);
        EXPECT_EQ(back[i].question_type, samples[i].question_type);
        EXPECT_EQ(back[i].attribute_type, samples[i].attribute_type);
        EXPECT_EQ(back[i].question, samples[i].question);
        EXPECT_EQ(back[i].answer, samples[i].answer);
        EXPECT_EQ(back[i].ecg_ids, samples[i].ecg_ids);
        EXPECT_EQ(back[i].attribute, samples[i].attribute);
    }
    for (const auto& e : fs::directory_iterator(d.path)) EXPECT_EQ(e.path().filename(), "out.json");  // no temp left
}

TEST(EcgQa, MalformedJsonIsRefusedNamingFileAndIndex) {
    EcgQaTempDir d;
    const std::string ok =
        R"({"template_id": 1, "question_id": 0, "sample_id": 0, "question_type": "single-verify",
            "attribute_type": "scp_code", "question": "Q?", "answer": ["yes"], "ecg_id": [1], "attribute": ["a"]})";
    EXPECT_EQ(read_ecgqa_json(d.write("ok.json", "[" + ok + "]")).size(), 1u);
    std::string no_answer = ok;
    no_answer.replace(no_answer.find(R"("answer": ["yes"], )"), 19, "");
    expect_error([&] { read_ecgqa_json(d.write("missing.json", "[" + ok + "," + no_answer + "]")); },
                 {"missing.json", "sample 1", "answer"});
    std::string bad_ecg = ok;
    bad_ecg.replace(bad_ecg.find("[1]"), 3, "[\"1\"]");
    expect_error([&] { read_ecgqa_json(d.write("type.json", "[" + bad_ecg + "]")); },
                 {"type.json", "sample 0", "ecg_id"});
    expect_error([&] { read_ecgqa_json(d.write("obj.json", "{}")); }, {"obj.json", "array"});
    expect_error([&] { read_ecgqa_json(d.write("syntax.json", "[" + ok)); }, {"syntax.json", "not valid JSON"});
    expect_error([&] { read_ecgqa_json(d.write("elem.json", "[3]")); }, {"elem.json", "sample 0"});
    expect_error(
        [&] { read_answers_for_each_template(d.write("ans.csv", "template_id,classes\n1,\"['no', 'yes'\"\n")); },
        {"ans.csv:2", "classes"});
    expect_error([&] { read_template_catalogue(d.write("cat.csv", "template_id,question_type\n1,x\n")); },
                 {"cat.csv", "attribute_type"});
    expect_error([&] { read_ecg_split(d.write("split.tsv", "0\t1\n1\tx\n")); }, {"split.tsv:2"});
    expect_error([&] { read_ecg_split(d.write("dup.tsv", "0\t1\n1\t1\n")); }, {"dup.tsv:2", "twice"});
}

TEST(EcgQa, AnswerFilesAgreeAndNeverHoldTheSeparator) {
    const auto per_template = read_answers_for_each_template(kSample + "/answers_for_each_template.csv");
    EXPECT_EQ(per_template.size(), 70u);
    EXPECT_EQ(per_template.at(1), (std::vector<std::string>{"no", "not sure", "yes"}));
    const CsvTable all = read_csv_table(kSample + "/answers.csv");
    std::set<std::string> vocab;
    for (const auto& row : all.rows) vocab.insert(row[static_cast<size_t>(all.required_column("class"))]);
    EXPECT_EQ(vocab.size(), 104u);
    bool comma_space = false;
    for (const auto& [id, classes] : per_template)
        for (const auto& c : classes) {
            EXPECT_TRUE(vocab.count(c)) << "template " << id << ": " << c;
            EXPECT_EQ(c.find(';'), std::string::npos) << c;
            comma_space = comma_space || c.find(", ") != std::string::npos;
        }
    for (const auto& c : vocab) EXPECT_EQ(c.find(';'), std::string::npos) << c;
    EXPECT_TRUE(comma_space);  // why join_answer uses "; "
    const auto cat = read_template_catalogue(kSample + "/template_catalogue.csv");
    EXPECT_EQ(cat.size(), 70u);
    EXPECT_EQ(cat.at(21).question_type, "single-choose");
    EXPECT_EQ(cat.at(23).attribute_type, "stage_of_infarction");
    EXPECT_EQ(read_ecg_split(kSample + "/valid_ecgs.tsv"), (std::vector<int64_t>{985, 2311, 10202, 17535}));
}

TEST(EcgQa, AnswersMatchIsOrderFreeCaseInsensitiveAndRejectsSubsets) {
    EXPECT_EQ(normalise_answer("  Lead   aVF \t"), "lead avf");
    EXPECT_TRUE(answers_match({"Sinus Rhythm", "atrial  flutter"}, {"atrial flutter", "sinus rhythm"}));
    EXPECT_TRUE(answers_match({"yes", "YES"}, {"yes"}));
    EXPECT_FALSE(answers_match({"sinus rhythm"}, {"sinus rhythm", "atrial flutter"}));
    EXPECT_FALSE(answers_match({"sinus rhythm", "atrial flutter"}, {"sinus rhythm"}));
    EXPECT_FALSE(answers_match({"no"}, {"not sure"}));
    EXPECT_FALSE(answers_match({}, {"none"}));
}

TEST(EcgQa, JoinSplitRoundTripsAnyCandidateSet) {
    const auto per_template = read_answers_for_each_template(kSample + "/answers_for_each_template.csv");
    std::mt19937_64 rng(7);
    for (const auto& [id, classes] : per_template) {
        for (int trial = 0; trial < 5; ++trial) {
            std::vector<std::string> v;
            for (const auto& c : classes)
                if (rng() % 3 == 0) v.push_back(c);
            const std::string joined = join_answer(v);
            EXPECT_TRUE(answers_match(split_answer(joined), v)) << joined;
            EXPECT_EQ(join_answer(split_answer(joined)), joined);
            std::shuffle(v.begin(), v.end(), rng);
            EXPECT_EQ(join_answer(v), joined);
        }
    }
    EXPECT_EQ(join_answer({"lead V1", " lead  aVF", "LEAD V1"}), "lead aVF; lead V1");
    EXPECT_EQ(split_answer("a; b ;;c"), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_THROW(join_answer({"a;b"}), std::invalid_argument);
}

TEST(EcgQa, SharedChunksAndSplits) {
    REQUIRE_SHARED_DATA();
    const std::string qa = shared_data() + "/ecgqa/ptbxl";
    std::set<int64_t> have;
    for (const auto& row : read_csv_table(shared_data() + "/ptbxl-processed/records.csv").rows)
        have.insert(std::stoll(row[0]));
    // counts from the data README: 24,348 samples in 4 chunks; 828, 33, 15, 29 with all ECGs in ptbxl-processed
    const std::vector<std::pair<std::string, std::pair<size_t, size_t>>> chunks = {{"train/120000", {10000, 828}},
                                                                                   {"train/260000", {7539, 33}},
                                                                                   {"valid/60000", {4663, 15}},
                                                                                   {"test/80000", {2146, 29}}};
    for (const auto& [chunk, counts] : chunks) {
        const auto tmpl = read_ecgqa_json(qa + "/template/" + chunk + ".json");
        const auto para = read_ecgqa_json(qa + "/paraphrased/" + chunk + ".json");
        EXPECT_EQ(tmpl.size(), counts.first) << chunk;
        ASSERT_EQ(para.size(), tmpl.size()) << chunk;
        size_t n_have = 0;
        for (size_t i = 0; i < tmpl.size(); ++i) {
            EXPECT_FALSE(tmpl[i].question.empty() || tmpl[i].answer.empty() || tmpl[i].question_type.empty());
            EXPECT_EQ(para[i].question_id, tmpl[i].question_id);
            EXPECT_TRUE(answers_match(para[i].answer, tmpl[i].answer));  // same set, not always the same order
            n_have += std::all_of(tmpl[i].ecg_ids.begin(), tmpl[i].ecg_ids.end(),
                                  [&](int64_t e) { return have.count(e) > 0; });
        }
        EXPECT_EQ(n_have, counts.second) << chunk;
    }
    // the official split lists are disjoint. (ptbxl-processed/records.csv does not follow them: its split is
    // PTB-XL's strat_fold, 9 = val, 10 = test, and some of its ECGs are in none of the lists.)
    std::set<int64_t> all;
    for (const char* file : {"train", "valid", "test"}) {
        const auto ids = read_ecg_split(qa + "/" + file + "_ecgs.tsv");
        EXPECT_GT(ids.size(), 1000u) << file;
        for (const int64_t e : ids) EXPECT_TRUE(all.insert(e).second) << e << " in two splits";
    }
}

TEST(EcgQaGenerator, WordingReproducesTheCatalogueExamples) {
    const auto& cat = sample_inputs().catalogue;
    for (const int t : supported_single_ecg_templates()) {
        std::string pattern;
        for (const char c : template_wording(t))
            pattern += std::string(std::strchr(".?()[]*+^$|\\", c) ? "\\" : "") + c;
        pattern = std::regex_replace(pattern, std::regex("\\{(a|b|lead)\\}"), ".+");
        EXPECT_TRUE(std::regex_match(cat.at(t).example_question, std::regex(pattern)))
            << t << ": " << template_wording(t) << " vs " << cat.at(t).example_question;
    }
    EXPECT_THROW(template_wording(43), std::invalid_argument);
}

TEST(EcgQaGenerator, AnswersWithinCandidatesOnlyRequestedEcgsNoPlaceholders) {
    const Inputs& in = sample_inputs();
    const std::vector<int64_t> ids = {274, 3559, 999999, 103, 6000, 16175};
    const std::set<int64_t> wanted = {274, 3559, 103, 6000, 16175};
    for (const int max : {0, 1, 3}) {
        GeneratorOptions o;
        o.max_per_template = max;
        const auto out = generate(in, ids, o);
        ASSERT_FALSE(out.empty());
        std::map<std::pair<int64_t, int>, int> n;
        for (size_t i = 0; i < out.size(); ++i) {
            const QaSample& s = out[i];
            ASSERT_EQ(s.ecg_ids.size(), 1u);
            EXPECT_TRUE(wanted.count(s.ecg_ids[0])) << s.ecg_ids[0];
            const auto& cands = in.answers.at(s.template_id);
            for (const auto& a : s.answer)
                EXPECT_NE(std::find(cands.begin(), cands.end(), a), cands.end()) << s.template_id << ": " << a;
            EXPECT_EQ(s.answer.size(), std::set<std::string>(s.answer.begin(), s.answer.end()).size());
            EXPECT_EQ(s.question.find('{'), std::string::npos) << s.question;
            EXPECT_EQ(s.question.find('}'), std::string::npos) << s.question;
            EXPECT_EQ(s.question.find('$'), std::string::npos) << s.question;
            EXPECT_EQ(s.question_type, in.catalogue.at(s.template_id).question_type);
            EXPECT_EQ(s.attribute_type, in.catalogue.at(s.template_id).attribute_type);
            EXPECT_FALSE(s.attribute.empty());
            EXPECT_EQ(s.sample_id, static_cast<int64_t>(i));
            EXPECT_EQ(s.question_id / 10000, s.template_id);
            if (s.question_type == "single-choose") {
                ASSERT_EQ(s.attribute.size(), 2u);
                EXPECT_NE(s.question.find(s.attribute[0]), std::string::npos);
                for (const auto& a : s.answer) EXPECT_TRUE(a == "none" || a == s.attribute[0] || a == s.attribute[1]);
            }
            ++n[{s.ecg_ids[0], s.template_id}];
        }
        if (max > 0) {
            for (const auto& [key, count] : n) EXPECT_LE(count, max);
        }
    }
}

TEST(EcgQaGenerator, DeterministicPerSeedAndIndependentOfOtherEcgs) {
    const Inputs& in = sample_inputs();
    GeneratorOptions o;
    o.max_per_template = 2;
    const auto a = generate(in, in.ids(), o), b = generate(in, in.ids(), o);
    ASSERT_EQ(a.size(), b.size());
    size_t same = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].question, b[i].question);
        EXPECT_EQ(a[i].answer, b[i].answer);
        EXPECT_EQ(a[i].ecg_ids, b[i].ecg_ids);
    }
    GeneratorOptions o2 = o;
    o2.seed = o.seed + 1;
    const auto c = generate(in, in.ids(), o2);
    for (size_t i = 0; i < std::min(a.size(), c.size()); ++i) same += a[i].question == c[i].question;
    EXPECT_LT(same, a.size());
    // one ECG alone gets the same questions as inside the whole list
    std::vector<std::string> alone, inside;
    for (const auto& s : generate(in, {3559}, o)) alone.push_back(s.question + " -> " + join_answer(s.answer));
    for (const auto& s : a)
        if (s.ecg_ids[0] == 3559) inside.push_back(s.question + " -> " + join_answer(s.answer));
    EXPECT_EQ(alone, inside);
}

TEST(EcgQaGenerator, ReproducesPublishedAnswersOfTheSample) {
    // templates 26-28 (ECG-QA's noise chunk) and template 1 (HeartLLM's copy of ECG-QA samples)
    const size_t n = compare_with_published(sample_inputs(), read_ecgqa_json(kSample + "/ecgqa-sample.json"));
    EXPECT_EQ(n, 107u);
}

TEST(EcgQaGenerator, ReproducesPublishedAnswersOnSharedData) {
    REQUIRE_SHARED_DATA();
    const Inputs in = load(shared_data() + "/ptbxl-meta", shared_data() + "/ecgqa", shared_data() + "/ecgqa/ptbxl");
    EXPECT_EQ(compare_with_published(in, read_ecgqa_json(shared_data() + "/ecgqa/ptbxl/template/train/120000.json")),
              3815u);
    std::vector<QaSample> heartllm;
    for (const char* split : {"train", "valid", "test"}) {
        const auto s =
            read_ecgqa_json(shared_data() + "/heartllm-samples/ecgqa-ptbxl/template_" + split + "_background.json");
        heartllm.insert(heartllm.end(), s.begin(), s.end());
    }
    EXPECT_GT(compare_with_published(in, heartllm), 200u);
    // every ECG with signals and metadata: all instantiations stay within the candidates
    std::vector<int64_t> ids;
    for (const auto& row : read_csv_table(shared_data() + "/ptbxl-processed/records.csv").rows)
        ids.push_back(std::stoll(row[0]));
    GeneratorOptions o;
    o.max_per_template = 2;
    EXPECT_GT(generate(in, ids, o).size(), 394u * 30);
}

TEST(EcgQaGenerator, RulesOnRowsCheckedByEye) {
    const Inputs& in = sample_inputs();
    GeneratorOptions o;
    o.max_per_template = 0;
    std::map<std::pair<int64_t, std::string>, std::string> ans;
    for (const auto& s : generate(in, in.ids(), o)) ans[{s.ecg_ids[0], s.question}] = join_answer(s.answer);
    auto at = [&](int64_t e, const std::string& q) {
        const auto it = ans.find({e, q});
        return it == ans.end() ? std::string("<not asked>") : it->second;
    };
    // 103: IMI 15 (uncertain), LAFB 100, ALAD, Stadium II-III
    EXPECT_EQ(at(103, "Does this ECG show symptoms of myocardial infarction in inferior leads?"), "not sure");
    EXPECT_EQ(at(103, "Does this ECG show symptoms of left anterior fascicular block?"), "yes");
    EXPECT_EQ(at(103, "What diagnostic symptoms does this ECG show, including uncertain symptoms?"),
              "left anterior fascicular block; myocardial infarction in inferior leads");
    EXPECT_EQ(at(103, "What diagnostic symptoms does this ECG show, excluding uncertain symptoms?"),
              "left anterior fascicular block");
    EXPECT_EQ(at(103, "What direction is this ECG deviated to?"), "left axis deviation");
    EXPECT_EQ(at(103, "What stage of infarction is this ECG at?"), "middle stage of myocardial infarction");
    EXPECT_EQ(at(103, "Is this a normal ECG?"), "no");
    EXPECT_EQ(at(5150, "What direction is this ECG deviated to?"), "normal heart axis");   // LAD, "linkstyp"
    EXPECT_EQ(at(607, "What direction is this ECG deviated to?"), "left axis deviation");  // LAD, English report
    EXPECT_EQ(at(2311, "What direction is this ECG deviated to?"), "right axis deviation");
    EXPECT_EQ(at(318, "What direction is this ECG deviated to?"), "<not asked>");  // no heart_axis
    EXPECT_EQ(at(16175, "What stage of infarction is this ECG at?"), "middle stage of myocardial infarction");
    EXPECT_EQ(at(1014, "What stage of infarction is this ECG at?"), "unknown stage of myocardial infarction");
    EXPECT_EQ(at(274, "What stage of infarction is this ECG at?"), "old stage of myocardial infarction");
    EXPECT_EQ(at(6000, "What stage of infarction is this ECG at?"), "none of myocardial infarction");
    EXPECT_EQ(at(3559, "What kind of extra systole does this ECG show?"),
              "extrasystoles; supraventricular extrasystoles");
    EXPECT_EQ(at(5537, "What kind of extra systole does this ECG show?"), "ventricular extrasystoles");
    EXPECT_EQ(at(6000, "What kind of extra systole does this ECG show?"), "none");
    EXPECT_EQ(at(19299, "What leads are showing electrodes problems in this ECG?"),
              "lead V3; lead V4; lead V5; lead V6");
    EXPECT_EQ(at(622, "What kind of noises does this ECG show?"), "none");  // static_noise " , stark," names no lead
    EXPECT_EQ(at(6000, "Does this ECG show any rhythm-related symptoms?"), "yes");    // SR counts
    EXPECT_EQ(at(6000, "Does this ECG show any kind of abnormal symptoms?"), "yes");  // NT_
}

TEST(EcgQaGenerator, RefusesBadOptionsAndInconsistentCandidates) {
    const Inputs& in = sample_inputs();
    GeneratorOptions o;
    o.template_ids = {40};
    EXPECT_THROW(generate(in, {103}, o), std::invalid_argument);
    o.template_ids = {2, 2};
    EXPECT_THROW(generate(in, {103}, o), std::invalid_argument);
    o.template_ids = {};
    EXPECT_THROW(generate(in, {103, 103}, o), std::invalid_argument);
    Inputs bad = in;
    bad.catalogue.at(20).question_type = "single-query";
    EXPECT_THROW(generate(bad, {103}, o), std::invalid_argument);
    bad = in;
    bad.answers.erase(25);
    EXPECT_THROW(generate(bad, {103}, o), std::invalid_argument);
    bad = in;
    bad.answers.at(2) = {"maybe", "yes"};  // 103 is not normal: its answer "no" is no longer a candidate
    o.template_ids = {2};
    expect_error([&] { generate(bad, {103}, o); }, {"template 2", "\"no\"", "candidates"});
}

// Our "record" extension: samples on ECGs outside PTB-XL name their record files; relative paths are taken
// from the JSON file's folder; the writer keeps them; a sample with neither ecg_id nor record is refused.
TEST(EcgQa, RecordFilesStandInForEcgIds) {
    const auto dir = diagecg::test::temp_dir("ecgqa-record");
    const std::string src = std::string(DIAGECG_SOURCE_DIR) + "/tests/data/ecg";
    std::ofstream(dir / "q.json") << R"([{"template_id": 35, "question_id": 1, "sample_id": 2, "question_type": "single-verify",
        "attribute_type": "extra_systole", "question": "Does this ECG show any kind of extra systoles?", "answer": ["no"],
        "record": ["sub/E07500.hea"], "attribute": ["any kind of extra systoles"]}])";
    fs::create_directories(dir / "sub");
    fs::copy_file(src + "/E07500.hea", dir / "sub" / "E07500.hea");
    fs::copy_file(src + "/E07500.mat", dir / "sub" / "E07500.mat");
    const auto q = read_ecgqa_json((dir / "q.json").string());
    ASSERT_EQ(q.size(), 1u);
    EXPECT_TRUE(q[0].ecg_ids.empty());
    EXPECT_EQ(q[0].records, std::vector<std::string>{"sub/E07500.hea"});
    const auto s = read_task_samples(PromptTask::kQa, {(dir / "q.json").string()}, "");
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(fs::path(s[0].records.at(0)), (dir / "sub" / "E07500.hea").lexically_normal());
    EXPECT_EQ(s[0].target, "no");
    write_ecgqa_json((dir / "w.json").string(), q);
    EXPECT_EQ(read_ecgqa_json((dir / "w.json").string())[0].records, q[0].records);
    std::ofstream(dir / "bad.json") << R"([{"template_id": 35, "question_id": 1, "sample_id": 2, "question_type": "single-verify",
        "attribute_type": "extra_systole", "question": "Q?", "answer": ["no"], "attribute": null}])";
    try {
        read_ecgqa_json((dir / "bad.json").string());
        ADD_FAILURE() << "no error";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("missing 'ecg_id'"), std::string::npos) << e.what();
    }
}

// Free questions are matched to the template families the bundled QA model was trained on: the template's
// wording with its blanks filled by the template's attribute names (case and spacing free); anything else is out.
TEST(QuestionFamily, MatchesTemplateWordingOnly) {
    auto id = [](const std::string& q) {
        const QuestionFamily* f = match_question_family(q);
        return f ? f->template_id : -1;
    };
    EXPECT_EQ(id("Is this a normal ECG?"), 2);
    EXPECT_EQ(id("  is this a   NORMAL ecg "), 2);
    EXPECT_EQ(id("Does this ECG show symptoms of atrial fibrillation?"), 1);
    EXPECT_EQ(id("Which rhythm-related symptom does this ECG show, atrial fibrillation or sinus rhythm?"), 7);
    EXPECT_EQ(id("Does this ECG show baseline drift in lead V1?"), 26);
    EXPECT_EQ(id("Does this ECG show left axis deviation?"), 20);
    EXPECT_EQ(id("What stage of infarction is this ECG at?"), 25);
    EXPECT_EQ(id("What numeric features of the second ECG are still abnormal as compared to the first ECG?"), 70);
    EXPECT_EQ(match_question_family("What numeric features of the second ECG are still abnormal as compared to the first ECG?")->n_ecgs, 2);
    for (const char* q : {"What is the heart rate?", "Translate this to French", "Does this ECG show atrial fibrillation?",
                          "Does this ECG show symptoms of a dog?", "Does this ECG show baseline drift in lead V7?", ""})
        EXPECT_EQ(id(q), -1) << q;
    // every family's example matches its own family (the catalogue's wording, filled in)
    for (const auto& f : trained_question_families()) EXPECT_EQ(id(f.example), f.template_id) << f.example;
    // and the catalogue's example questions of the generator's templates match theirs (but 37's, "ventricular
    // extrasystoles or ventricular ventricular extrasystoles", names no extra systole)
    const auto catalogue = read_template_catalogue(std::string(DIAGECG_SOURCE_DIR) + "/tests/data/ecgqa/template_catalogue.csv");
    for (const int t : supported_single_ecg_templates())
        EXPECT_EQ(id(catalogue.at(t).example_question), t == 37 ? -1 : t) << t;
}

// One schema for QA and report data, JSON array or JSONL: only question + record needed (answers for eval and
// training), unknown and missing fields named, ids independent of the cwd, repeated ids kept apart.
TEST(TaskData, MinimalSchemaJsonlAndErrors) {
    const auto dir = diagecg::test::temp_dir("task-schema");
    const std::string ecg = std::string(DIAGECG_SOURCE_DIR) + "/tests/data/ecg/00318.hea";
    std::ofstream(dir / "q.jsonl") << "{\"question\": \"Is this a normal ECG?\", \"record\": \"" << ecg << "\", \"answer\": \"no\"}\n"
                                   << "{\"question\": \"Is this a normal ECG?\", \"record\": \"" << ecg << "\", \"answer\": [\"no\"]}\n"
                                   << "{\"id\": \"x\", \"question\": \"What is the heart rate?\", \"records\": [\"" << ecg << "\"]}\n";
    EXPECT_THROW(read_task_samples(PromptTask::kQa, {(dir / "q.jsonl").string()}, ""), std::runtime_error);   // line 3: no answer
    const auto s = read_task_samples(PromptTask::kQa, {(dir / "q.jsonl").string()}, "", nullptr, true, false);
    ASSERT_EQ(s.size(), 3u);
    const std::string canon = fs::weakly_canonical(ecg).string();
    EXPECT_EQ(s[0].id, canon + "|Is this a normal ECG?");
    EXPECT_EQ(s[1].id, canon + "|Is this a normal ECG?#2");
    EXPECT_EQ(s[2].id, "x");
    EXPECT_EQ(s[0].template_id, 2);
    EXPECT_EQ(s[0].question_type, "single-verify");
    EXPECT_EQ(s[2].template_id, -1);
    EXPECT_EQ(s[0].target, "no");
    EXPECT_TRUE(s[2].target.empty());
    auto error_of = [&](PromptTask task, const std::string& name, const std::string& text) {
        std::ofstream(dir / name) << text;
        try {
            read_task_samples(task, {(dir / name).string()}, "");
        } catch (const std::exception& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(error_of(PromptTask::kQa, "a.jsonl", "{\"questoin\": \"q\", \"record\": \"r.hea\"}\n").find("a.jsonl line 1: unknown field \"questoin\""), std::string::npos);
    EXPECT_NE(error_of(PromptTask::kQa, "b.json", "[{\"record\": \"r.hea\", \"answer\": \"no\"}]").find("b.json item 0: missing field \"question\""), std::string::npos);
    EXPECT_NE(error_of(PromptTask::kReport, "c.jsonl", "{\"record\": \"r.hea\"}\n").find("missing field \"report\""), std::string::npos);
    EXPECT_NE(error_of(PromptTask::kReport, "d.jsonl", "{\"record\": \"r.hea\", \"report\": \"x\", \"reprot\": 1}\n").find("unknown field \"reprot\""), std::string::npos);
    EXPECT_NE(error_of(PromptTask::kQa, "e.jsonl", "{\"question\": \"q\", \"answer\": \"no\"}\n").find("missing field \"record\""), std::string::npos);
    // a report's id: its record's absolute path, whatever the cwd; a relative record is taken from the file's folder
    fs::create_directories(dir / "sub");
    std::ofstream(dir / "sub" / "r.jsonl") << "{\"record\": \"../rec.hea\", \"report\": \"sinus rhythm.\"}\n";
    const auto r = read_task_samples(PromptTask::kReport, {(dir / "sub" / "r.jsonl").string()}, "");
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].id, fs::weakly_canonical(dir / "rec.hea").string());
}
