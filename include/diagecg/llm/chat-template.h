// Chat templates of the supported backbone families, written out in C++ (no Jinja engine): a model's
// chat_template source is recognised by its markers and rendered exactly as transformers' Jinja would
// (trim_blocks, lstrip_blocks) for plain {role, content} conversations without tools.
//   chatml     <|im_start|>ROLE\nCONTENT<|im_end|>\n ...; generation prompt <|im_start|>assistant\n.
//              Variants by default system turn (inserted when the first message is not "system"):
//              smollm2 ("You are a helpful AI assistant named SmolLM, trained by Hugging Face"),
//              qwen2 ("You are Qwen, created by Alibaba Cloud. You are a helpful assistant.").
//   llama3     <|begin_of_text|><|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT(trimmed)<|eot_id|> ...
//   llama3.1   the same after a system turn "Cutting Knowledge Date: December 2023\nToday Date: DATE\n\n"
//              + system message (Llama 3.1-3.3 templates; DATE is the template's fallback "26 Jul 2024").
//   llama2     <s>[INST] <<SYS>>\nSYSTEM\n<</SYS>>\n\nUSER [/INST] ASSISTANT </s><s>[INST] ... (roles alternate).
// Rendered text carries the template's special-token strings (BOS too where the template writes it): encode
// it with the tokenizer's added tokens parsed and without adding BOS again.
#pragma once

#include <string>
#include <vector>

namespace diagecg {

struct ChatMessage {
    std::string role;  // "system", "user" or "assistant"
    std::string content;
};

struct ChatRendered {
    std::string text;
    // Bytes [answer_begin, answer_end) of text: the last message's content and its end-of-turn marker when that
    // message is the assistant's (the span a training loss covers); both text.size() otherwise.
    size_t answer_begin = 0, answer_end = 0;
};

class ChatTemplate {
public:
    // Recognises a model's chat_template (Jinja source); throws std::invalid_argument for an unknown one,
    // naming the --chat-template NAME override and the known names.
    static ChatTemplate from_source(const std::string& jinja);
    // By name (names()); throws std::invalid_argument for an unknown name.
    static ChatTemplate named(const std::string& name);
    static std::vector<std::string> names();

    const std::string& name() const { return name_; }
    // The string that closes an assistant turn ("<|im_end|>", "<|eot_id|>", "</s>"): generation stops there.
    const std::string& end_of_turn() const { return end_of_turn_; }

    // Renders the conversation (at least one message); add_generation_prompt opens an assistant turn.
    // Throws std::invalid_argument for an unknown role, or roles that llama2 cannot alternate.
    ChatRendered render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

private:
    enum class Family { ChatMl, Llama3, Llama2 };
    Family family_ = Family::ChatMl;
    std::string name_;
    std::string default_system_;     // chatml: inserted when the first message is not "system"
    bool knowledge_header_ = false;  // llama3.1
    std::string end_of_turn_;
};

}  // namespace diagecg
