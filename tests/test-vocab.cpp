#include <gtest/gtest.h>

#include "diagecg/llm/text-tokenizer.h"
#include "diagecg/llm/vocab.h"

using namespace diagecg;

TEST(Vocab, IdLayout) {
    const Vocab v(512, 1296);
    EXPECT_EQ(v.size(), 512 + 1296 + 3);
    EXPECT_EQ(v.ecg_id(0), 512);
    EXPECT_EQ(v.ecg_id(1295), 1807);
    EXPECT_EQ(v.start_ecg(), 1808);
    EXPECT_EQ(v.end_ecg(), 1809);
    EXPECT_EQ(v.pad(), 1810);
    EXPECT_TRUE(v.is_ecg(1807));
    EXPECT_FALSE(v.is_ecg(1808));
    EXPECT_EQ(v.ecg_code(600), 88);
    EXPECT_EQ(v.special_string(512 + 42), "<ecg_0042>");
    EXPECT_EQ(*v.parse_special("<ecg_0042>"), 554);
    EXPECT_FALSE(v.parse_special("<ecg_1296>"));
    EXPECT_FALSE(v.parse_special("<ecg_12a>"));
    EXPECT_THROW(v.ecg_id(1296), std::out_of_range);
}

TEST(Vocab, EcgTokenStringsTokenizeToEcgIds) {
    TextTokenizer tok(std::string(DIAGECG_TEST_DATA) + "/models/stories260K/tokenizer.model");
    tok.set_vocab(Vocab(512, 1296));
    const auto ids = tok.encode("Look:<|start_ecg|><ecg_0000><ecg_0042><ecg_1295><|end_ecg|> a cat", false);
    const std::vector<int64_t> ecg = {1808, 512, 554, 1807, 1809};
    const auto it = std::search(ids.begin(), ids.end(), ecg.begin(), ecg.end());
    ASSERT_NE(it, ids.end());
    for (const int64_t id : ids) EXPECT_TRUE(id < 512 || (id >= 512 && id <= 1809));
    // text parts are ordinary pieces and the whole thing decodes back (SentencePiece normalises the
    // whitespace at the start of each text segment away, as it does at the start of any text)
    EXPECT_EQ(tok.decode(ids), "Look:<|start_ecg|><ecg_0000><ecg_0042><ecg_1295><|end_ecg|>a cat");
    // not extended: the same string is plain text pieces
    TextTokenizer plain(std::string(DIAGECG_TEST_DATA) + "/models/stories260K/tokenizer.model");
    for (const int64_t id : plain.encode("<ecg_0042>", false)) EXPECT_LT(id, 512);
}
