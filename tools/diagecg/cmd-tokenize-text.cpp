// diagecg tokenize-text -m MODEL [TEXT | -f FILE]: text token ids (and pieces with --json) per input line.
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "diagecg/llm/text-tokenizer.h"
#include "diagecg/util/log.h"

namespace diagecg::cli {

namespace {

struct TokenizeTextOptions {
    std::string model;
    std::string text;
    std::string file;
    bool json = false;
    bool escaped = false;
    bool add_special = false;
    bool no_parse_special = false;
    bool bench = false;
};

// \n \t \r \\ and \xHH escapes (tools/make-tokenizer-goldens.py writes its corpus this way).
std::string unescape(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\' || i + 1 == s.size()) {
            out += s[i];
            continue;
        }
        const char c = s[++i];
        if (c == 'n')
            out += '\n';
        else if (c == 't')
            out += '\t';
        else if (c == 'r')
            out += '\r';
        else if (c == 'x' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
                 std::isxdigit(static_cast<unsigned char>(s[i + 2])))
            out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)), i += 2;
        else
            out += c;
    }
    return out;
}

std::vector<std::string> read_inputs(const TokenizeTextOptions& o) {
    std::vector<std::string> inputs;
    if (o.file.empty()) {
        inputs.push_back(o.text);
    } else {
        std::ifstream f;
        if (o.file != "-") {
            f.open(o.file, std::ios::binary);
            if (!f) throw std::runtime_error("cannot read " + o.file);
        }
        std::istream& in = o.file == "-" ? std::cin : f;
        for (std::string line; std::getline(in, line);) inputs.push_back(line);
    }
    if (o.escaped)
        for (auto& s : inputs) s = unescape(s);
    return inputs;
}

// Encodes every input once with a cold word cache, then again until a second has passed.
void bench(const TextTokenizer& tok, const std::vector<std::string>& inputs, const TokenizeTextOptions& o) {
    using clock = std::chrono::steady_clock;
    auto pass = [&] {
        size_t n = 0;
        for (const auto& s : inputs) n += tok.encode(s, o.add_special, !o.no_parse_special).size();
        return n;
    };
    auto t0 = clock::now();
    const size_t n_first = pass();
    const double first_s = std::chrono::duration<double>(clock::now() - t0).count();
    size_t n_warm = 0;
    t0 = clock::now();
    double warm_s = 0;
    do {
        n_warm += pass();
        warm_s = std::chrono::duration<double>(clock::now() - t0).count();
    } while (warm_s < 1.0);
    std::cerr << fmt::format(
        "diagecg: {} inputs, {} tokens; first pass {:.0f} tokens/s, warm {:.0f} tokens/s (1 thread)\n", inputs.size(),
        n_first, n_first / first_s, n_warm / warm_s);
}

void run_tokenize_text(const TokenizeTextOptions& o) {
    if (!o.text.empty() && !o.file.empty()) throw std::invalid_argument("give TEXT or -f FILE, not both");
    const TextTokenizer tok(o.model);
    const auto inputs = read_inputs(o);
    if (o.bench) {
        bench(tok, inputs, o);
        return;
    }
    std::string out;
    for (const auto& s : inputs) {
        const auto ids = tok.encode(s, o.add_special, !o.no_parse_special);
        if (o.json) {
            std::vector<std::string> pieces;
            for (const int64_t id : ids) pieces.push_back(tok.piece(id));
            const nlohmann::json j = {{"text", s}, {"ids", ids}, {"pieces", pieces}};
            out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
        } else {
            out += fmt::format("{}\n", fmt::join(ids, " "));
        }
        if (out.size() > (1 << 16)) {
            print_result(out);
            out.clear();
        }
    }
    print_result(out);
}

}  // namespace

void add_tokenize_text(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<TokenizeTextOptions>();
    auto* sub = app.add_subcommand("tokenize-text",
                                   "Text -> token ids with a model's text tokenizer (one line of ids per input)");
    sub->add_option("-m,--model", o->model,
                    "model directory (tokenizer.json, vocab.json + merges.txt or tokenizer.model), or a "
                    "tokenizer.json, .model or .gguf file")
        ->required();
    sub->add_option("text", o->text, "text to tokenize");
    sub->add_option("-f,--file", o->file, "file with one input per line (- = stdin)");
    sub->add_flag("--json", o->json, "one JSON object per input: text, ids, pieces");
    sub->add_flag("--escaped", o->escaped,
                  "inputs use \\n \\t \\r \\\\ \\xHH escapes (for text with newlines or raw bytes)");
    sub->add_flag("--add-special", o->add_special, "add BOS as the model does (HF add_special_tokens)");
    sub->add_flag("--no-parse-special", o->no_parse_special, "special-token strings in the text are plain text");
    sub->add_flag("--bench", o->bench, "print encoding speed (tokens/s) to stderr instead of ids");
    sub->callback([&run, o] { run = [o] { run_tokenize_text(*o); }; });
}

}  // namespace diagecg::cli
