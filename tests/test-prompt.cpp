// The prompt builder: what carries loss, and that generation sees exactly the training prefix.
#include <gtest/gtest.h>

#include "diagecg/data/prompt.h"

using namespace diagecg;

namespace {

TextTokenizer extended_tokenizer() {
    TextTokenizer tok(std::string(DIAGECG_TEST_DATA) + "/models/stories260K/tokenizer.model");
    tok.set_vocab(Vocab(tok.n_pieces(), 1296));
    return tok;
}

PromptInput qa_input() {
    PromptInput in;
    in.task = PromptTask::kQa;
    in.patient = "age 56, female";
    in.ecgs = {{0, 5, 1295, 7}, {3, 3}};
    in.question = "Does this ECG show atrial fibrillation?";
    return in;
}

}  // namespace

TEST(Prompt, ExampleIsPromptThenTargetThenEos) {
    const auto tok = extended_tokenizer();
    const auto in = qa_input();
    const auto prompt = build_prompt(tok, in);
    const auto ex = build_example(tok, in, "yes");
    ASSERT_EQ(ex.n_prompt, static_cast<int64_t>(prompt.size()));
    EXPECT_TRUE(std::equal(prompt.begin(), prompt.end(), ex.ids.begin()));   // generation sees the training prefix
    EXPECT_EQ(ex.ids.back(), tok.eos_id());
    const std::vector<int64_t> target(ex.ids.begin() + ex.n_prompt, ex.ids.end() - 1);
    EXPECT_EQ(tok.decode(target), "yes");
    EXPECT_EQ(prompt.front(), tok.bos_id());
}

TEST(Prompt, EcgBlocksAreMarkedAndInOrder) {
    const auto tok = extended_tokenizer();
    const Vocab& v = tok.vocab();
    const auto ids = build_prompt(tok, qa_input());
    std::vector<std::vector<int64_t>> blocks;
    bool inside = false;
    for (const int64_t id : ids) {
        if (id == v.start_ecg()) { blocks.emplace_back(); inside = true; continue; }
        if (id == v.end_ecg()) { inside = false; continue; }
        if (inside) {
            ASSERT_TRUE(v.is_ecg(id));
            blocks.back().push_back(v.ecg_code(id));
        } else {
            EXPECT_FALSE(v.is_ecg(id)) << "ECG code outside a block";
        }
    }
    EXPECT_EQ(blocks, qa_input().ecgs);
}

TEST(Prompt, PatientFeaturesAndQuestionAppearOnlyWhenAsked) {
    const auto tok = extended_tokenizer();
    auto in = qa_input();
    const std::string with = tok.decode(build_prompt(tok, in));
    EXPECT_NE(with.find("Background: age 56, female"), std::string::npos) << with;
    EXPECT_NE(with.find("Question: Does this ECG show atrial fibrillation?"), std::string::npos) << with;
    PromptOptions no_patient;
    no_patient.patient_features = false;
    EXPECT_EQ(tok.decode(build_prompt(tok, in, no_patient)).find("Background"), std::string::npos);
    in.task = PromptTask::kReport;
    in.question.clear();
    const std::string report = tok.decode(build_prompt(tok, in));
    EXPECT_EQ(report.find("Question"), std::string::npos);
    EXPECT_NE(report.find("Report:"), std::string::npos);
}

TEST(Prompt, BadInputIsRefused) {
    const auto tok = extended_tokenizer();
    auto in = qa_input();
    in.ecgs[0][1] = 1296;   // outside the codebook
    EXPECT_THROW(build_prompt(tok, in), std::invalid_argument);
    in = qa_input();
    in.question.clear();
    EXPECT_THROW(build_prompt(tok, in), std::invalid_argument);
    in = qa_input();
    in.ecgs.clear();
    EXPECT_THROW(build_prompt(tok, in), std::invalid_argument);
    TextTokenizer plain(std::string(DIAGECG_TEST_DATA) + "/models/stories260K/tokenizer.model");
    EXPECT_THROW(build_prompt(plain, qa_input()), std::invalid_argument);
    EXPECT_THROW(parse_prompt_task("summary"), std::invalid_argument);
}
