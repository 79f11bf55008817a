// Report metrics: hand-checked cases, then agreement with NLTK 3.8 (tests/nltk-metrics.py, run with
// $DIAGECG_PYTHON or /usr/bin/python3) on pairs built from the PTB-XL reports in tests/data/reports/.
// Tests needing WordNet or NLTK skip, saying so, when Debian's wordnet-base or python3-nltk is missing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "diagecg/eval/meteor.h"
#include "diagecg/eval/text-metrics.h"
#include "diagecg/eval/wordnet.h"

using namespace diagecg;

namespace {

// Loaded once; null when the database is absent.
const WordNet* shared_wordnet() {
    static const std::unique_ptr<WordNet> wn = []() -> std::unique_ptr<WordNet> {
        if (!std::filesystem::exists(WordNet::default_dir() + "/index.noun")) return nullptr;
        return std::make_unique<WordNet>();
    }();
    return wn.get();
}

#define REQUIRE_WORDNET()                                               \
    if (!shared_wordnet())                                              \
    GTEST_SKIP() << "no WordNet database in " << WordNet::default_dir() \
                 << " (install Debian's wordnet-base, or set DIAGECG_WORDNET)"

Tokens toks(const std::string& s) {
    return tokenize_report(s);
}

}  // namespace

TEST(TextMetrics, TokenizeReport) {
    EXPECT_EQ(
        toks("Sinus rhythm. ST-T changes in V4,5,6; QT prolonged (drug effect?)"),
        (Tokens{"sinus", "rhythm", "st", "t", "changes", "in", "v4", "5", "6", "qt", "prolonged", "drug", "effect"}));
    EXPECT_EQ(toks("  "), Tokens{});
    // bytes >= 0x80 separate tokens like punctuation: "sänkning" in UTF-8
    EXPECT_EQ(toks("s\xc3\xa4nkning  ok"), (Tokens{"s", "nkning", "ok"}));
}

TEST(TextMetrics, IdenticalScoresOne) {
    const std::string report = "sinus rhythm. left axis deviation. otherwise normal ecg.";
    const Tokens t = toks(report);
    for (int n = 1; n <= 4; ++n) EXPECT_DOUBLE_EQ(sentence_bleu({t}, t, n), 1.0) << "BLEU-" << n;
    EXPECT_DOUBLE_EQ(rouge_n({t}, t, 1), 1.0);
    EXPECT_DOUBLE_EQ(rouge_n({t}, t, 2), 1.0);
    EXPECT_DOUBLE_EQ(rouge_l({t}, t), 1.0);
    REQUIRE_WORDNET();
    // METEOR keeps a fragmentation penalty even for one chunk: 1 - 0.5 * (1/m)^3, m = 8 words here
    const ReportScores s = score_report(report, {report}, shared_wordnet());
    EXPECT_DOUBLE_EQ(s.meteor, 1.0 - 0.5 / (8.0 * 8.0 * 8.0));
    EXPECT_DOUBLE_EQ(s.bleu[3], 1.0);
    EXPECT_DOUBLE_EQ(s.rougeL, 1.0);
}

TEST(TextMetrics, DisjointScoresZero) {
    const Tokens hyp = toks("atrial fibrillation"), ref = toks("sinus bradycardia otherwise normal ecg");
    // no unigram match: NLTK returns exactly 0 before smoothing applies
    for (int n = 1; n <= 4; ++n) EXPECT_EQ(sentence_bleu({ref}, hyp, n), 0.0);
    EXPECT_EQ(rouge_n({ref}, hyp, 1), 0.0);
    EXPECT_EQ(rouge_l({ref}, hyp), 0.0);
    // one unigram, no bigram: method1 turns p2 = 0/1 into 0.1/1; equal lengths so BP = exp(1 - 2/2) = 1
    EXPECT_DOUBLE_EQ(sentence_bleu({toks("sinus bradycardia")}, toks("sinus tachycardia"), 2), std::sqrt(0.5 * 0.1));
    REQUIRE_WORDNET();
    EXPECT_EQ(meteor_score({ref}, hyp, *shared_wordnet()), 0.0);
}

TEST(TextMetrics, BleuWorkedExample) {
    // hyp "sinus rhythm normal ecg" (4 words), ref "sinus rhythm otherwise normal ecg" (5 words)
    //   p1 = 4/4; p2: sinus rhythm, rhythm normal, normal ecg -> 2 of 3 in the ref = 2/3;
    //   p3: sinus rhythm normal, rhythm normal ecg -> 0 of 2, method1: 0.1/2; p4: 0 of 1 -> 0.1/1
    //   BP = exp(1 - 5/4) (hyp shorter than the ref)
    //   BLEU-n = BP * (p1 * ... * pn)^(1/n)
    const Tokens hyp = toks("Sinus rhythm, normal ECG."), ref = toks("sinus rhythm otherwise normal ecg");
    const double bp = std::exp(-0.25), p[4] = {1.0, 2.0 / 3.0, 0.05, 0.1};
    double prod = 1.0;
    for (int n = 1; n <= 4; ++n) {
        prod *= p[n - 1];
        EXPECT_NEAR(sentence_bleu({ref}, hyp, n), bp * std::pow(prod, 1.0 / n), 1e-15) << "BLEU-" << n;
    }
    EXPECT_NEAR(sentence_bleu({ref}, hyp, 4), 0.18713114109010565, 1e-15);  // NLTK 3.8's value
}

TEST(TextMetrics, BleuEdgeCases) {
    const Tokens ref = toks("sinus rhythm normal ecg");
    for (int n = 1; n <= 4; ++n) EXPECT_EQ(sentence_bleu({ref}, {}, n), 0.0) << "empty hyp, BLEU-" << n;
    // hyp shorter than n: no n-grams, denominator max(1, 0) = 1, so p_n = 0.1; BP = exp(1 - 4/1)
    EXPECT_DOUBLE_EQ(sentence_bleu({ref}, toks("sinus"), 2), std::exp(-3.0) * std::sqrt(1.0 * 0.1));
    // clipping: "ecg ecg ecg" against one "ecg" -> p1 = 1/3; hyp 3 < ref 4 -> BP = exp(1 - 4/3)
    EXPECT_DOUBLE_EQ(sentence_bleu({ref}, toks("ecg ecg ecg"), 1), std::exp(1.0 - 4.0 / 3.0) / 3.0);
    // several refs: counts clip against the max over refs, length against the closest ref (the shorter
    // on a tie: 3 and 5 are both 1 from 4 -> r = 3 < 4 -> BP = 1)
    const std::vector<Tokens> refs = {toks("ecg ecg x"), toks("a b c d ecg")};
    EXPECT_DOUBLE_EQ(sentence_bleu(refs, toks("ecg ecg ecg y"), 1), 2.0 / 4.0);
    // longer hyp -> BP = 1
    EXPECT_DOUBLE_EQ(sentence_bleu({ref}, toks("sinus rhythm normal ecg today"), 1), 4.0 / 5.0);
    EXPECT_THROW(sentence_bleu({}, ref, 1), std::invalid_argument);
    EXPECT_THROW(sentence_bleu({ref}, ref, 0), std::invalid_argument);
}

TEST(TextMetrics, RougeKnownOverlaps) {
    // LCS of "a b c d e" and "a x c y e z" is "a c e": P = 3/5, R = 3/6, F1 = 2PR/(P+R) = 6/11
    EXPECT_DOUBLE_EQ(rouge_l({toks("a x c y e z")}, toks("a b c d e")), 6.0 / 11.0);
    // LCS is order-aware: reversed sentence keeps only 1 word in order
    EXPECT_DOUBLE_EQ(rouge_l({toks("a b c")}, toks("c b a")), 1.0 / 3.0);
    EXPECT_DOUBLE_EQ(rouge_n({toks("a b c")}, toks("c b a"), 1), 1.0);
    // clipped unigrams: hyp "ecg ecg ecg" vs ref "ecg normal": overlap 1, P = 1/3, R = 1/2 -> F1 = 0.4
    EXPECT_DOUBLE_EQ(rouge_n({toks("ecg normal")}, toks("ecg ecg ecg"), 1), 0.4);
    // bigrams: "sinus rhythm normal" vs "sinus rhythm abnormal": 1 of 2 each way -> 0.5
    EXPECT_DOUBLE_EQ(rouge_n({toks("sinus rhythm abnormal")}, toks("sinus rhythm normal"), 2), 0.5);
    // several refs: the best F1
    EXPECT_DOUBLE_EQ(rouge_n({toks("x y"), toks("sinus rhythm")}, toks("sinus rhythm"), 2), 1.0);
    EXPECT_EQ(rouge_l({toks("a")}, {}), 0.0);
    EXPECT_THROW(rouge_n({}, toks("a"), 1), std::invalid_argument);
}

TEST(TextMetrics, ScoreReportAndMean) {
    EXPECT_THROW(score_report("a", {"a"}, nullptr), std::invalid_argument);
    EXPECT_THROW(mean_scores({}), std::invalid_argument);
    ReportScores a, b;
    a.bleu[2] = 0.2;
    b.bleu[2] = 0.4;
    a.meteor = 1.0;
    b.rougeL = 0.5;
    const ReportScores m = mean_scores({a, b});
    EXPECT_DOUBLE_EQ(m.bleu[2], 0.3);
    EXPECT_DOUBLE_EQ(m.meteor, 0.5);
    EXPECT_DOUBLE_EQ(m.rougeL, 0.25);
    EXPECT_EQ(m.bleu[0], 0.0);
    REQUIRE_WORDNET();
    EXPECT_THROW(score_report("a", {}, shared_wordnet()), std::invalid_argument);
}

TEST(Meteor, PorterStemmerMatchesNltk) {
    // word:stem as nltk.stem.porter.PorterStemmer().stem(word) gives them, NLTK 3.8 (Debian python3-nltk)
    const std::string cases =
        "caresses:caress ponies:poni ties:tie cats:cat feed:feed agreed:agre plastered:plaster bled:bled "
        "motoring:motor sing:sing conflated:conflat troubled:troubl sized:size hopping:hop tanned:tan "
        "falling:fall hissing:hiss fizzed:fizz failing:fail filing:file happy:happi sky:sky skies:sky dying:die "
        "spied:spi died:die flies:fli relational:relat conditional:condit rational:ration valenci:valenc "
        "digitizer:digit radically:radic differentli:differ analogousli:analog vietnamization:vietnam "
        "predication:predic operator:oper feudalism:feudal decisiveness:decis hopefulness:hope "
        "callousness:callous formaliti:formal sensitiviti:sensit sensibiliti:sensibl triplicate:triplic "
        "formative:form formalize:formal electrical:electr hopeful:hope goodness:good revival:reviv "
        "allowance:allow inference:infer airliner:airlin gyroscopic:gyroscop adjustable:adjust defensible:defens "
        "irritant:irrit replacement:replac adjustment:adjust dependent:depend adoption:adopt communism:commun "
        "activate:activ angulariti:angular homologous:homolog effective:effect bowdlerize:bowdler probate:probat "
        "rate:rate cease:ceas controlling:control roll:roll geology:geolog theology:theolog enjoy:enjoy is:is "
        "as:as news:news proceed:proceed rhythm:rhythm arrhythmia:arrhythmia myocardial:myocardi "
        "infarction:infarct ischaemia:ischaemia ischemic:ischem abnormal:abnorm deviation:deviat "
        "bradycardia:bradycardia ventricular:ventricular hypertrophy:hypertrophi premature:prematur "
        "repolarization:repolar possibly:possibl inferior:inferior leads:lead consistent:consist "
        "flattening:flatten elevation:elev conditionally:condit traditionally:tradit rationally:ration "
        "generalization:gener sensational:sensat beautifully:beauti logically:logic archaeology:archaeolog "
        "hopefully:hope dies:die cries:cri innings:inning outing:outing succeeding:succeed "
        "exceedingly:exceedingli yellow:yellow by:by ivy:ivi oats:oat trees:tree";
    std::istringstream in(cases);
    for (std::string pair; in >> pair;) {
        const size_t colon = pair.find(':');
        EXPECT_EQ(porter_stem(pair.substr(0, colon)), pair.substr(colon + 1)) << pair;
    }
    EXPECT_EQ(porter_stem("Leads"), "lead");
}

TEST(Meteor, WorkedExamplesByStage) {
    REQUIRE_WORDNET();
    const WordNet& wn = *shared_wordnet();
    // exact: sinus, normal, ecg; stem: rhythms ~ rhythm. m = 4, P = 1, R = 4/5,
    // Fmean = P*R / (0.9P + 0.1R) = 0.8 / 0.98; chunks (0,0)(1,1) | (2,3)(3,4) = 2 -> penalty 0.5 * (2/4)^3
    EXPECT_DOUBLE_EQ(
        single_meteor_score(toks("sinus rhythm otherwise normal ecg"), toks("sinus rhythms normal ecg"), wn),
        (1 - 0.5 * 0.125) * 0.8 / 0.98);
    // synonyms: segment ~ section, ischaemia ~ ischemia (WordNet); one chunk of 4 -> 1 - 0.5 / 64.
    // Without the synonym stage it would be 2 matches in 2 chunks: 0.5 * (1 - 0.5) = 0.25.
    EXPECT_DOUBLE_EQ(
        single_meteor_score(toks("st section depression ischemia"), toks("st segment depression ischaemia"), wn),
        1 - 0.5 / 64);
    // several refs: the best one
    EXPECT_DOUBLE_EQ(meteor_score({toks("x y z"), toks("sinus rhythm")}, toks("sinus rhythm"), wn), 1 - 0.5 / 8);
    EXPECT_EQ(single_meteor_score(toks("sinus rhythm"), {}, wn), 0.0);
    EXPECT_THROW(meteor_score({}, toks("a"), wn), std::invalid_argument);
}

TEST(WordNet, MorphyAndLemmaNames) {
    REQUIRE_WORDNET();
    const WordNet& wn = *shared_wordnet();
    EXPECT_EQ(wn.morphy("dogs", 'n'), std::vector<std::string>{"dog"});
    EXPECT_EQ(wn.morphy("churches", 'n'), std::vector<std::string>{"church"});
    EXPECT_EQ(wn.morphy("aardwolves", 'n'), std::vector<std::string>{"aardwolf"});
    EXPECT_EQ(wn.morphy("abaci", 'n'), std::vector<std::string>{"abacus"});  // noun.exc
    EXPECT_TRUE(wn.morphy("book", 'a').empty());
    EXPECT_THROW(wn.morphy("book", 'x'), std::invalid_argument);
    // NLTK: [n for s in wordnet.synsets('ECG') for n in s.lemma_names()]
    EXPECT_EQ(wn.synset_lemma_names("ECG"),
              (std::vector<std::string>{"electrocardiogram", "cardiogram", "EKG", "ECG"}));
    EXPECT_EQ(wn.synset_lemma_names("abnormal"),
              (std::vector<std::string>{"abnormal", "unnatural", "abnormal", "abnormal"}));
}

TEST(WordNet, MissingFilesFailClearly) {
    try {
        WordNet wn("/nonexistent/wordnet");
        FAIL() << "expected std::runtime_error";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/wordnet/index.noun"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("wordnet-base"), std::string::npos) << e.what();
    }
    const char* old = std::getenv("DIAGECG_WORDNET");
    const std::string saved = old ? old : "";
    setenv("DIAGECG_WORDNET", "/opt/wn", 1);
    EXPECT_EQ(WordNet::default_dir(), "/opt/wn");
    unsetenv("DIAGECG_WORDNET");
    EXPECT_EQ(WordNet::default_dir(), "/usr/share/wordnet");
    if (old) setenv("DIAGECG_WORDNET", saved.c_str(), 1);
}

// ---- agreement with NLTK on pairs built from real report text ----

namespace {

struct ReportPair {
    std::string kind;
    std::string hyp;
    std::vector<std::string> refs;
};

std::string join(const Tokens& t) {
    std::string s;
    for (const auto& w : t) s += (s.empty() ? "" : " ") + w;
    return s;
}

// Deterministic on every platform: raw mt19937 output, no std distributions.
struct Rng {
    std::mt19937 gen{20240611u};
    size_t pick(size_t n) { return static_cast<size_t>(gen() % n); }
    bool chance(size_t one_in) { return pick(one_in) == 0; }
};

// WordNet lemma names of word that are plain lower-case words other than word itself.
std::vector<std::string> synonym_candidates(const WordNet& wn, const std::string& word) {
    std::vector<std::string> out;
    for (const auto& name : wn.synset_lemma_names(word)) {
        const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        });
        if (plain && name != word && std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    }
    return out;
}

// Each report against other reports and against perturbed copies of itself.
std::vector<ReportPair> build_pairs(const std::vector<std::string>& reports, const WordNet& wn) {
    Rng rng;
    std::vector<ReportPair> pairs;
    const size_t n = reports.size();
    for (size_t i = 0; i < n; ++i) {
        const std::string& report = reports[i];
        const Tokens t = tokenize_report(report);
        pairs.push_back({"other", report, {reports[(i + 1) % n]}});
        pairs.push_back({"other", report, {reports[(i + 7) % n]}});

        Tokens dropped;
        for (const auto& w : t)
            if (!rng.chance(4)) dropped.push_back(w);
        pairs.push_back({"drop", join(dropped), {report}});

        Tokens swapped = t;
        for (int k = 0; k < 2 && swapped.size() >= 2; ++k) {
            const size_t j = rng.pick(swapped.size() - 1);
            std::swap(swapped[j], swapped[j + 1]);
        }
        pairs.push_back({"swap", join(swapped), {report}});

        Tokens synonyms = t;
        for (auto& w : synonyms) {
            const auto cands = synonym_candidates(wn, w);
            if (!cands.empty() && rng.chance(2)) w = cands[rng.pick(cands.size())];
        }
        pairs.push_back({"synonym", join(synonyms), {report}});

        Tokens stems = t;
        for (auto& w : stems) {
            if (rng.chance(2))
                w = porter_stem(w);
            else if (rng.chance(4))
                w += "s";
        }
        pairs.push_back({"stem", join(stems), {report}});

        pairs.push_back({"multi-ref", join(dropped), {reports[(i + 3) % n], join(swapped), reports[(i + 11) % n]}});
    }
    pairs.push_back({"empty hyp", "", {reports[0]}});
    pairs.push_back({"one word", "sinus", {reports[1], reports[2]}});
    pairs.push_back({"identical", reports[3], {reports[3]}});
    pairs.push_back({"repeated", "ecg ecg ecg ecg ecg", {reports[4]}});
    pairs.push_back({"longer", reports[5] + " " + reports[5], {reports[5]}});
    pairs.push_back({"punctuation only", "...", {reports[6]}});
    return pairs;
}

// Every 25th plain lemma of the WordNet index files, each with inflected variants: exercises the stemmer's
// rules and morphy's exception lists and suffix rules far beyond the report vocabulary.
std::vector<std::string> dictionary_words(const std::string& dir) {
    std::vector<std::string> out;
    size_t n_plain = 0;
    for (const char* pos : {"noun", "verb", "adj", "adv"}) {
        std::ifstream in(dir + "/index." + pos);
        for (std::string line; std::getline(in, line);) {
            if (line.empty() || line[0] == ' ') continue;
            const std::string w = line.substr(0, line.find(' '));
            const bool plain = std::all_of(w.begin(), w.end(),
                                           [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
            if (!plain || n_plain++ % 25 != 0) continue;
            for (const char* suffix : {"", "s", "ed", "ing", "ly", "er", "est"}) out.push_back(w + suffix);
        }
    }
    return out;
}

std::string python_command() {
    if (const char* py = std::getenv("DIAGECG_PYTHON"); py && *py) return py;
    return std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

std::string run_capture(const std::string& cmd, int& status) {
    FILE* pipe = popen(cmd.c_str(), "r");
    if (!pipe) throw std::runtime_error("popen failed: " + cmd);
    std::string out;
    char buf[65536];
    for (size_t got; (got = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, got);
    status = pclose(pipe);
    return out;
}

}  // namespace

TEST(TextMetricsNltk, MatchesNltkOnReportPairs) {
    REQUIRE_WORDNET();
    const std::string py = python_command();
    if (std::system((py + " -c 'import nltk' >/dev/null 2>&1").c_str()) != 0)
        GTEST_SKIP() << py << " cannot import nltk (install Debian's python3-nltk, or set DIAGECG_PYTHON)";
    const WordNet& wn = *shared_wordnet();

    std::ifstream in(std::string(DIAGECG_TEST_DATA) + "/reports/ptbxl-reports.json");
    ASSERT_TRUE(in) << "cannot open tests/data/reports/ptbxl-reports.json";
    std::vector<std::string> reports;
    for (const auto& r : nlohmann::json::parse(in)) reports.push_back(r.at("report").get<std::string>());
    ASSERT_GE(reports.size(), 50u);

    const auto pairs = build_pairs(reports, wn);
    ASSERT_GE(pairs.size(), 200u);
    std::set<std::string> words;
    nlohmann::json doc = {{"pairs", nlohmann::json::array()}};
    for (const auto& p : pairs) {
        doc["pairs"].push_back({{"hyp", p.hyp}, {"refs", p.refs}});
        for (const auto& w : tokenize_report(p.hyp)) words.insert(w);
        for (const auto& r : p.refs)
            for (const auto& w : tokenize_report(r)) words.insert(w);
    }
    const size_t n_report_words = words.size();
    for (const auto& w : dictionary_words(wn.dir())) words.insert(w);
    ASSERT_GT(words.size(), n_report_words + 10000);
    doc["words"] = words;

    const auto path = std::filesystem::temp_directory_path() /
                      ("diagecg-nltk-pairs-" + std::to_string(static_cast<long>(getpid())) + ".json");
    std::ofstream(path) << doc.dump();
    int status = 0;
    const std::string out = run_capture(py + " '" + std::string(DIAGECG_SOURCE_DIR) + "/tests/nltk-metrics.py' '" +
                                            path.string() + "' --wordnet '" + wn.dir() + "'",
                                        status);
    std::filesystem::remove(path);
    ASSERT_EQ(status, 0) << "tests/nltk-metrics.py failed";
    const auto nltk = nlohmann::json::parse(out);
    ASSERT_EQ(nltk.at("pairs").size(), pairs.size());

    const char* names[8] = {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-1", "ROUGE-2", "ROUGE-L"};
    double max_diff[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int n_bad = 0;
    for (size_t k = 0; k < pairs.size(); ++k) {
        const auto& ref_out = nltk["pairs"][k];
        const Tokens hyp = tokenize_report(pairs[k].hyp);
        std::vector<Tokens> refs;
        for (const auto& r : pairs[k].refs) refs.push_back(tokenize_report(r));
        ASSERT_EQ(ref_out.at("hyp_tokens").get<Tokens>(), hyp) << "pair " << k << ": tokenisations differ";
        ASSERT_EQ(ref_out.at("ref_tokens").get<std::vector<Tokens>>(), refs) << "pair " << k;

        const ReportScores s = score_report(pairs[k].hyp, pairs[k].refs, &wn);
        const double ours[8] = {s.bleu[0], s.bleu[1], s.bleu[2], s.bleu[3], s.meteor, s.rouge1, s.rouge2, s.rougeL};
        const double theirs[8] = {ref_out["bleu"][0], ref_out["bleu"][1], ref_out["bleu"][2], ref_out["bleu"][3],
                                  ref_out["meteor"],  ref_out["rouge1"],  ref_out["rouge2"],  ref_out["rougeL"]};
        for (int m = 0; m < 8; ++m) {
            const double diff = std::fabs(ours[m] - theirs[m]);
            max_diff[m] = std::max(max_diff[m], diff);
            if (diff > 1e-6 && ++n_bad <= 10)
                ADD_FAILURE() << "pair " << k << " (" << pairs[k].kind << ") " << names[m] << ": ours " << ours[m]
                              << ", reference " << theirs[m] << "\n  hyp: " << pairs[k].hyp
                              << "\n  ref: " << pairs[k].refs[0];
        }
    }
    EXPECT_EQ(n_bad, 0) << "scores differing by more than 1e-6";

    // the stemmer and the WordNet reader word by word: the vocabulary of the pairs and the dictionary sample
    int n_word_bad = 0;
    for (const auto& w : words) {
        const std::string stem = nltk["stems"].at(w);
        const auto lemma_names = nltk["lemma_names"].at(w).get<std::vector<std::string>>();
        if (porter_stem(w) != stem && ++n_word_bad <= 10)
            ADD_FAILURE() << "stem of '" << w << "': ours " << porter_stem(w) << ", NLTK " << stem;
        if (wn.synset_lemma_names(w) != lemma_names && ++n_word_bad <= 10)
            ADD_FAILURE() << "lemma names of '" << w << "' differ from NLTK's";
    }
    EXPECT_EQ(n_word_bad, 0);

    std::printf("[ nltk     ] %zu pairs, %zu words (%zu from the reports); max |ours - reference|:", pairs.size(),
                words.size(), n_report_words);
    for (int m = 0; m < 8; ++m) std::printf(" %s %.2g", names[m], max_diff[m]);
    std::printf("\n");
}
