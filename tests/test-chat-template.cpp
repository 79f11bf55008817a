// Chat templates: recognised from the models' Jinja sources and rendered as transformers' Jinja does
// (tests/data/tokenizers/chat-templates.json, from tools/make-tokenizer-goldens.py), token for token.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "diagecg/llm/chat-template.h"
#include "tokenizer-test-util.h"

using namespace diagecg;
using namespace diagecg::test;
using json = nlohmann::json;

namespace {

std::vector<ChatMessage> messages_of(const json& j) {
    std::vector<ChatMessage> out;
    for (const auto& m : j) out.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
    return out;
}

const json& goldens() {
    static const json j = json::parse(read_text(kGoldens + "/chat-templates.json"));
    return j;
}

TEST(ChatTemplate, RecognisedAndRenderedAsJinjaDoes) {
    ASSERT_EQ(goldens().size(), 6u);
    for (const auto& [name, t] : goldens().items()) {
        const ChatTemplate ct = ChatTemplate::from_source(t.at("source").get<std::string>());
        EXPECT_EQ(ct.name(), name);
        for (const auto& c : t.at("cases")) {
            const auto r = ct.render(messages_of(c.at("messages")), c.at("add_generation_prompt").get<bool>());
            EXPECT_EQ(r.text, c.at("text").get<std::string>()) << name;
        }
    }
}

TEST(ChatTemplate, RenderedTextTokenizesAsHf) {
    if (!have_tokenizer_data()) GTEST_SKIP() << kTokenizerData << " is missing";
    for (const auto& [name, t] : goldens().items()) {
        const ChatTemplate ct = ChatTemplate::named(name);
        const auto& tok = family_tokenizer(t.at("family").get<std::string>());
        for (const auto& c : t.at("cases")) {
            const auto r = ct.render(messages_of(c.at("messages")), c.at("add_generation_prompt").get<bool>());
            EXPECT_EQ(tok.encode(r.text), c.at("ids").get<std::vector<int32_t>>()) << name << ": " << r.text;
        }
        // the end-of-turn marker is one token of the family's vocabulary
        EXPECT_TRUE(tok.find(ct.end_of_turn())) << name;
    }
}

TEST(ChatTemplate, AnswerSpanIsTheLastAssistantContentAndItsEndOfTurn) {
    const std::vector<ChatMessage> conv = {
        {"system", "You are a cardiologist."}, {"user", "Describe this ECG."}, {"assistant", "  Sinus rhythm.\n"}};
    const std::map<std::string, std::string> expected = {
        {"chatml", "  Sinus rhythm.\n<|im_end|>"}, {"smollm2", "  Sinus rhythm.\n<|im_end|>"},
        {"qwen2", "  Sinus rhythm.\n<|im_end|>"},  {"llama3", "Sinus rhythm.<|eot_id|>"},
        {"llama3.1", "Sinus rhythm.<|eot_id|>"},   {"llama2", "Sinus rhythm. </s>"}};
    for (const auto& name : ChatTemplate::names()) {
        const auto r = ChatTemplate::named(name).render(conv, false);
        ASSERT_LE(r.answer_end, r.text.size());
        EXPECT_EQ(r.text.substr(r.answer_begin, r.answer_end - r.answer_begin), expected.at(name)) << name;
        // the prompt part is what rendering without the answer and with a generation prompt gives
        const auto prompt = ChatTemplate::named(name).render({conv[0], conv[1]}, true);
        if (name != "llama2") {
            EXPECT_EQ(r.text.substr(0, r.answer_begin), prompt.text) << name;
        }
        const auto open = ChatTemplate::named(name).render({conv[1]}, true);
        EXPECT_EQ(open.answer_begin, open.text.size());
        EXPECT_EQ(open.answer_end, open.text.size());
    }
}

TEST(ChatTemplate, ModelTemplatesFromTheirFiles) {
    if (!have_tokenizer_data()) GTEST_SKIP() << kTokenizerData << " is missing";
    EXPECT_EQ(ChatTemplate::from_source(read_text(kTokenizerData + "/smollm2/chat_template.jinja")).name(), "smollm2");
    const auto qwen = json::parse(read_text(kTokenizerData + "/qwen2.5/tokenizer_config.json"));
    EXPECT_EQ(ChatTemplate::from_source(qwen.at("chat_template").get<std::string>()).name(), "qwen2");
    const auto llama3 = json::parse(read_text(kTokenizerData + "/llama3/tokenizer_config.json"));
    EXPECT_EQ(ChatTemplate::from_source(llama3.at("chat_template").get<std::string>()).name(), "llama3.1");
    // Qwen3's thinking template and Phi-3's are not written out: refused, naming the override
    for (const std::string file : {"qwen2.5/qwen3-0.6b.tokenizer_config.json", "phi3/tokenizer_config.json"}) {
        const auto cfg = json::parse(read_text(kTokenizerData + "/" + file));
        try {
            ChatTemplate::from_source(cfg.at("chat_template").get<std::string>());
            ADD_FAILURE() << file << " was recognised";
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find("--chat-template NAME"), std::string::npos) << e.what();
        }
    }
}

TEST(ChatTemplate, BadInput) {
    EXPECT_THROW(ChatTemplate::from_source(""), std::invalid_argument);
    EXPECT_THROW(ChatTemplate::from_source("{{ messages }}"), std::invalid_argument);
    EXPECT_THROW(ChatTemplate::named("vicuna"), std::invalid_argument);
    const auto t = ChatTemplate::named("chatml");
    EXPECT_THROW(t.render({}, true), std::invalid_argument);
    EXPECT_THROW(t.render({{"tool", "x"}}, true), std::invalid_argument);
    EXPECT_THROW(ChatTemplate::named("llama2").render({{"assistant", "x"}}, false), std::invalid_argument);
    EXPECT_THROW(ChatTemplate::named("llama2").render({{"user", "a"}, {"user", "b"}}, true), std::invalid_argument);
}

}  // namespace
