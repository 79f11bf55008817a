#include "diagecg/llm/chat-template.h"

#include <stdexcept>

#include "diagecg/llm/unicode-text.h"

namespace diagecg {

namespace {

const char* const kSmolLm2System = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
const char* const kQwen2System = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
const char* const kLlama3Date = "26 Jul 2024";

std::string known_names() {
    return "chatml, smollm2, qwen2, llama3, llama3.1, llama2";
}

// Jinja's |trim and str.strip(): Python's str.isspace characters at both ends.
std::string trim(const std::string& s) {
    auto space = [](uint32_t cp) { return is_unicode_whitespace(cp) || (cp >= 0x1C && cp <= 0x1F); };
    std::string clean = utf8_sanitize(s);
    size_t begin = 0, end = clean.size();
    while (begin < end) {
        size_t p = begin;
        if (!space(utf8_next(clean, p))) break;
        begin = p;
    }
    while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<uint8_t>(clean[start]) & 0xC0) == 0x80) --start;
        size_t p = start;
        if (!space(utf8_next(clean, p))) break;
        end = start;
    }
    return clean.substr(begin, end - begin);
}

// The literal default system prompt of a ChatML template: "<|im_start|>system" + (newline or "\n") + TEXT +
// "<|im_end|>" inside one quoted string; "" when the template has none.
std::string chatml_default_system(const std::string& jinja) {
    const std::string open = "<|im_start|>system";
    for (size_t pos = 0; (pos = jinja.find(open, pos)) != std::string::npos; pos += open.size()) {
        size_t p = pos + open.size();
        if (jinja.compare(p, 2, "\\n") == 0)
            p += 2;
        else if (jinja.compare(p, 1, "\n") == 0)
            p += 1;
        else
            continue;
        const size_t close = jinja.find("<|im_end|>", p);
        if (close == std::string::npos) continue;
        const std::string text = jinja.substr(p, close - p);
        if (!text.empty() && text.find_first_of("'\"+{}") == std::string::npos) return text;
    }
    return "";
}

void check_role(const std::string& role) {
    if (role != "system" && role != "user" && role != "assistant")
        throw std::invalid_argument("chat message role \"" + role + "\" is not system, user or assistant");
}

}  // namespace

std::vector<std::string> ChatTemplate::names() {
    return {"chatml", "smollm2", "qwen2", "llama3", "llama3.1", "llama2"};
}

ChatTemplate ChatTemplate::named(const std::string& name) {
    ChatTemplate t;
    t.name_ = name;
    if (name == "chatml" || name == "smollm2" || name == "qwen2") {
        t.family_ = Family::ChatMl;
        t.end_of_turn_ = "<|im_end|>";
        if (name == "smollm2") t.default_system_ = kSmolLm2System;
        if (name == "qwen2") t.default_system_ = kQwen2System;
    } else if (name == "llama3" || name == "llama3.1" || name == "llama3.2" || name == "llama3.3") {
        t.family_ = Family::Llama3;
        t.end_of_turn_ = "<|eot_id|>";
        t.knowledge_header_ = name != "llama3";
    } else if (name == "llama2") {
        t.family_ = Family::Llama2;
        t.end_of_turn_ = "</s>";
    } else {
        throw std::invalid_argument("chat template \"" + name + "\" is unknown (known: " + known_names() + ")");
    }
    return t;
}

ChatTemplate ChatTemplate::from_source(const std::string& jinja) {
    const std::string hint = "; pick one with --chat-template NAME (" + known_names() + ")";
    if (jinja.empty()) throw std::invalid_argument("the model has no chat template" + hint);
    if (jinja.find("<|im_start|>") != std::string::npos && jinja.find("<think>") == std::string::npos) {
        const std::string system = chatml_default_system(jinja);
        ChatTemplate t = named(system == kSmolLm2System ? "smollm2" : system == kQwen2System ? "qwen2" : "chatml");
        t.default_system_ = system;
        return t;
    }
    if (jinja.find("<|start_header_id|>") != std::string::npos && jinja.find("<|eot_id|>") != std::string::npos)
        return named(jinja.find("Cutting Knowledge Date: December 2023") != std::string::npos ? "llama3.1" : "llama3");
    if (jinja.find("[INST]") != std::string::npos && jinja.find("<<SYS>>") != std::string::npos) return named("llama2");
    throw std::invalid_argument("the model's chat template is not one diagecg knows" + hint);
}

ChatRendered ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
    if (messages.empty()) throw std::invalid_argument("chat: no messages to render");
    for (const auto& m : messages) check_role(m.role);
    ChatRendered r;
    std::string& out = r.text;
    size_t last_begin = 0, last_end = 0;  // content span of the last message
    auto content = [&](const std::string& text) {
        last_begin = out.size();
        out += text;
        last_end = out.size();
    };
    switch (family_) {
        case Family::ChatMl:
            if (!default_system_.empty() && messages[0].role != "system")
                out += "<|im_start|>system\n" + default_system_ + "<|im_end|>\n";
            for (const auto& m : messages) {
                out += "<|im_start|>" + m.role + "\n";
                content(m.content);
                out += "<|im_end|>\n";
            }
            if (add_generation_prompt) out += "<|im_start|>assistant\n";
            break;
        case Family::Llama3: {
            out += "<|begin_of_text|>";
            size_t first = 0;
            if (knowledge_header_) {
                const bool has_system = messages[0].role == "system";
                out += "<|start_header_id|>system<|end_header_id|>\n\n";
                out += std::string("Cutting Knowledge Date: December 2023\nToday Date: ") + kLlama3Date + "\n\n";
                content(has_system ? trim(messages[0].content) : "");
                out += "<|eot_id|>";
                first = has_system ? 1 : 0;
            }
            for (size_t i = first; i < messages.size(); ++i) {
                out += "<|start_header_id|>" + messages[i].role + "<|end_header_id|>\n\n";
                content(trim(messages[i].content));
                out += "<|eot_id|>";
            }
            if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
            break;
        }
        case Family::Llama2: {
            const bool has_system = messages[0].role == "system";
            for (size_t i = has_system ? 1 : 0, k = 0; i < messages.size(); ++i, ++k) {
                const auto& m = messages[i];
                if ((m.role == "user") != (k % 2 == 0))
                    throw std::invalid_argument(
                        "chat template llama2: conversation roles must alternate user/assistant/user/assistant/...");
                std::string text = m.content;
                if (k == 0 && has_system) text = "<<SYS>>\n" + messages[0].content + "\n<</SYS>>\n\n" + text;
                if (m.role == "user") {
                    out += "<s>[INST] ";
                    content(trim(text));
                    out += " [/INST]";
                } else {
                    out += " ";
                    content(trim(text));
                    out += " </s>";
                }
            }
            break;
        }
    }
    r.answer_begin = r.answer_end = out.size();
    if (messages.back().role == "assistant") {
        r.answer_begin = last_begin;
        r.answer_end = last_end + (family_ == Family::Llama2 ? 1 : 0) + end_of_turn_.size();
    }
    return r;
}

}  // namespace diagecg
