#include "diagecg/llm/hf-tokenizer-json.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace diagecg {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr int64_t kMaxId = int64_t{1} << 22;
const char* const kMetaspace = "\xE2\x96\x81";

[[noreturn]] void fail(const std::string& source, const std::string& what) {
    throw std::runtime_error(source + ": " + what);
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

json parse_json(const std::string& text, const std::string& source) {
    try {
        return json::parse(text);
    } catch (const json::parse_error& e) {
        fail(source, std::string("not valid JSON (") + e.what() + ")");
    }
}

// An integer JSON value in [lo, hi] (converting a float such as 1e90 would be undefined behaviour).
int64_t integer(const json& j, const std::string& what, int64_t lo = -1, int64_t hi = kMaxId - 1) {
    if (!j.is_number_integer()) throw std::runtime_error(what + " is not an integer: " + j.dump());
    const bool above = j.is_number_unsigned() ? j.get<uint64_t>() > static_cast<uint64_t>(hi) : j.get<int64_t>() > hi;
    if (above || (!j.is_number_unsigned() && j.get<int64_t>() < lo))
        throw std::runtime_error(what + " " + j.dump() + " is out of range");
    return j.get<int64_t>();
}

bool flag(const json& j, const char* key, bool fallback) {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? fallback : it->get<bool>();
}

std::string type_of(const json& j, const std::string& where) {
    if (!j.is_object() || !j.contains("type")) throw std::runtime_error(where + " has no \"type\"");
    return j.at("type").get<std::string>();
}

// PCRE2 pattern matching a literal string.
std::string quote_regex(const std::string& s) {
    std::string out;
    for (const char c : s) {
        if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) out += '\\';
        out += c;
    }
    return out;
}

std::string pattern_of(const json& p, const std::string& where) {
    if (p.contains("Regex")) return p.at("Regex").get<std::string>();
    if (p.contains("String")) return quote_regex(p.at("String").get<std::string>());
    throw std::runtime_error(where + ": pattern is neither Regex nor String");
}

void add_normalizer(const json& n, std::vector<NormalizerStep>& out) {
    if (n.is_null()) return;
    const std::string type = type_of(n, "normalizer");
    if (type == "Sequence") {
        for (const auto& s : n.at("normalizers")) add_normalizer(s, out);
    } else if (type == "NFC") {
        out.push_back({NormalizerStep::Kind::Nfc, "", ""});
    } else if (type == "Prepend") {
        out.push_back({NormalizerStep::Kind::Prepend, n.at("prepend").get<std::string>(), ""});
    } else if (type == "Replace") {
        const auto& p = n.at("pattern");
        if (!p.contains("String")) throw std::runtime_error("normalizer Replace with a regex pattern is not supported");
        out.push_back(
            {NormalizerStep::Kind::Replace, p.at("String").get<std::string>(), n.at("content").get<std::string>()});
    } else {
        throw std::runtime_error("normalizer \"" + type + "\" is not supported (NFC, Prepend, Replace, Sequence are)");
    }
}

void add_pre_tokenizer(const json& p, std::vector<PreTokenizerStep>& out, bool& byte_level) {
    if (p.is_null()) return;
    const std::string type = type_of(p, "pre_tokenizer");
    using K = PreTokenizerStep::Kind;
    if (type == "Sequence") {
        for (const auto& s : p.at("pretokenizers")) add_pre_tokenizer(s, out, byte_level);
    } else if (type == "ByteLevel") {
        byte_level = true;
        out.push_back({K::ByteLevel, "", false, flag(p, "use_regex", true), flag(p, "add_prefix_space", false)});
    } else if (type == "Split") {
        const std::string behavior = p.value("behavior", "Isolated");
        if (behavior != "Isolated")
            throw std::runtime_error("pre_tokenizer Split with behavior \"" + behavior +
                                     "\" is not supported (Isolated is)");
        if (flag(p, "invert", false)) throw std::runtime_error("pre_tokenizer Split with invert=true is not supported");
        out.push_back({K::Split, pattern_of(p.at("pattern"), "pre_tokenizer Split"), false, false, false});
    } else if (type == "Digits") {
        out.push_back({K::Digits, "", flag(p, "individual_digits", false), false, false});
    } else {
        throw std::runtime_error("pre_tokenizer \"" + type +
                                 "\" is not supported (ByteLevel, Split, Digits, Sequence are)");
    }
}

// TemplateProcessing's "single" template: special tokens before "A" are BOS, after it EOS.
void read_post_processor(const json& p, BpeSpec& spec) {
    if (p.is_null()) return;
    const std::string type = type_of(p, "post_processor");
    if (type == "Sequence") {
        for (const auto& s : p.at("processors")) read_post_processor(s, spec);
    } else if (type == "ByteLevel") {
        return;
    } else if (type == "TemplateProcessing") {
        bool after = false;
        for (const auto& piece : p.at("single")) {
            if (piece.contains("Sequence")) {
                after = true;
                continue;
            }
            const std::string name = piece.at("SpecialToken").at("id").get<std::string>();
            const auto& ids = p.at("special_tokens").at(name).at("ids");
            if (ids.size() != 1)
                throw std::runtime_error("post_processor special token \"" + name + "\" has " +
                                         std::to_string(ids.size()) + " ids");
            const auto id = static_cast<int32_t>(integer(ids.at(0), "post_processor id of \"" + name + "\""));
            if (after) {
                if (spec.add_eos) throw std::runtime_error("post_processor adds more than one token after the text");
                spec.eos_id = id, spec.add_eos = true;
            } else {
                if (spec.add_bos) throw std::runtime_error("post_processor adds more than one token before the text");
                spec.bos_id = id, spec.add_bos = true;
            }
        }
    } else {
        throw std::runtime_error("post_processor \"" + type +
                                 "\" is not supported (TemplateProcessing, ByteLevel, Sequence are)");
    }
}

void read_decoder(const json& d, BpeSpec& spec) {
    if (d.is_null()) return;
    const std::string type = type_of(d, "decoder");
    if (type == "Sequence") {
        for (const auto& s : d.at("decoders")) read_decoder(s, spec);
    } else if (type == "Strip") {
        if (d.value("content", " ") != " " || (d.contains("stop") && integer(d.at("stop"), "decoder Strip stop") != 0))
            throw std::runtime_error("decoder Strip other than leading spaces is not supported");
        spec.strip_leading_spaces =
            d.contains("start") ? static_cast<int>(integer(d.at("start"), "decoder Strip start", 0, 16)) : 0;
    } else if (type == "Replace") {
        const auto& p = d.at("pattern");
        if (!p.contains("String") || p.at("String") != kMetaspace || d.at("content") != " ")
            throw std::runtime_error("decoder Replace other than U+2581 -> ' ' is not supported");
    } else if (type != "ByteLevel" && type != "ByteFallback" && type != "Fuse") {
        throw std::runtime_error("decoder \"" + type +
                                 "\" is not supported (ByteLevel, Replace, ByteFallback, Fuse, Strip are)");
    }
}

AddedToken read_added(const json& a, int64_t id) {
    if (id < 0 || id >= kMaxId) throw std::runtime_error("added token id " + std::to_string(id) + " is out of range");
    AddedToken t;
    t.id = static_cast<int32_t>(id);
    t.content = a.at("content").get<std::string>();
    t.special = flag(a, "special", false);
    t.lstrip = flag(a, "lstrip", false);
    t.rstrip = flag(a, "rstrip", false);
    t.single_word = flag(a, "single_word", false);
    t.normalized = flag(a, "normalized", !t.special);
    return t;
}

void read_vocab(const json& v, BpeSpec& spec) {
    if (!v.is_object()) throw std::runtime_error("vocab is not an object of spelling -> id");
    int64_t max_id = -1;
    for (const auto& [spelling, id] : v.items()) {
        const int64_t i = integer(id, "vocab entry \"" + spelling + "\" has id", 0);
        max_id = std::max(max_id, i);
    }
    spec.tokens.assign(static_cast<size_t>(max_id + 1), std::string());
    for (const auto& [spelling, id] : v.items()) {
        auto& slot = spec.tokens[static_cast<size_t>(id.get<int64_t>())];
        if (!slot.empty())
            throw std::runtime_error("vocab id " + std::to_string(id.get<int64_t>()) + " is used by \"" + slot +
                                     "\" and \"" + spelling + "\"");
        slot = spelling;
    }
}

std::pair<std::string, std::string> split_merge(const std::string& line, size_t rank) {
    const size_t space = line.find(' ');
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos || space == 0 ||
        space + 1 == line.size())
        throw std::runtime_error("merge " + std::to_string(rank) + " \"" + line +
                                 "\" is not two tokens separated by one space");
    return {line.substr(0, space), line.substr(space + 1)};
}

std::optional<int32_t> id_of(const BpeSpec& spec, const std::string& spelling) {
    for (const auto& a : spec.added_tokens)
        if (a.content == spelling) return a.id;
    for (size_t i = 0; i < spec.tokens.size(); ++i)
        if (spec.tokens[i] == spelling) return static_cast<int32_t>(i);
    return std::nullopt;
}

// bos_token etc.: a string, an AddedToken object {"content": ...}, or null.
std::optional<std::string> token_name(const json& cfg, const char* key) {
    auto it = cfg.find(key);
    if (it == cfg.end() || it->is_null()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    return it->at("content").get<std::string>();
}

bool any_merge_joins_digits(const BpeSpec& spec) {
    auto digits = [](const std::string& s) {
        for (const char c : s)
            if (c < '0' || c > '9') return false;
        return !s.empty();
    };
    for (const auto& [a, b] : spec.merges)
        if (digits(a) && digits(b)) return true;
    return false;
}

}  // namespace

BpeSpec parse_tokenizer_json(const std::string& text, const std::string& source) {
    const json j = parse_json(text, source);
    BpeSpec spec;
    spec.source = source;
    try {
        if (!j.is_object()) throw std::runtime_error("the top level is not an object");
        const json& model = j.at("model");
        const std::string type = model.value("type", "BPE");
        if (type != "BPE") throw std::runtime_error("model type \"" + type + "\" is not supported (only BPE)");
        if (model.contains("dropout") && !model.at("dropout").is_null() && model.at("dropout").get<double>() > 0)
            throw std::runtime_error("BPE dropout is not supported");
        for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
            if (model.contains(key) && !model.at(key).is_null() && !model.at(key).get<std::string>().empty())
                throw std::runtime_error(std::string("BPE ") + key + " is not supported");
        read_vocab(model.at("vocab"), spec);
        const json& merges = model.at("merges");
        if (!merges.is_array()) throw std::runtime_error("merges is not an array");
        spec.merges.reserve(merges.size());
        for (size_t r = 0; r < merges.size(); ++r) {
            const auto& m = merges[r];
            if (m.is_string()) {
                spec.merges.push_back(split_merge(m.get<std::string>(), r));
            } else if (m.is_array() && m.size() == 2) {
                spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
            } else {
                throw std::runtime_error("merge " + std::to_string(r) + " is neither \"a b\" nor [a, b]");
            }
        }
        spec.byte_fallback = flag(model, "byte_fallback", false);
        spec.fuse_unk = flag(model, "fuse_unk", false);
        spec.ignore_merges = flag(model, "ignore_merges", false);
        if (j.contains("added_tokens") && !j.at("added_tokens").is_null())
            for (const auto& a : j.at("added_tokens"))
                spec.added_tokens.push_back(read_added(a, integer(a.at("id"), "added token id", 0)));
        if (model.contains("unk_token") && !model.at("unk_token").is_null()) {
            const auto name = model.at("unk_token").get<std::string>();
            const auto id = id_of(spec, name);
            if (!id) throw std::runtime_error("unk_token \"" + name + "\" is not in the vocabulary");
            spec.unk_id = *id;
        }
        add_normalizer(j.value("normalizer", json()), spec.normalizer);
        bool byte_level = false;
        add_pre_tokenizer(j.value("pre_tokenizer", json()), spec.pre_tokenizer, byte_level);
        spec.alphabet = byte_level ? BpeAlphabet::ByteLevel : BpeAlphabet::SentencePiece;
        read_post_processor(j.value("post_processor", json()), spec);
        read_decoder(j.value("decoder", json()), spec);
    } catch (const json::exception& e) {
        fail(source, e.what());
    } catch (const std::runtime_error& e) {
        fail(source, e.what());
    }
    return spec;
}

BpeSpec parse_vocab_and_merges(const std::string& vocab_json, const std::string& merges_txt,
                               const std::string& source) {
    BpeSpec spec;
    spec.source = source;
    spec.alphabet = BpeAlphabet::ByteLevel;
    try {
        read_vocab(parse_json(vocab_json, source), spec);
        std::istringstream in(merges_txt);
        std::string line;
        for (size_t n = 0; std::getline(in, line); ++n) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if ((n == 0 && line.rfind("#version", 0) == 0) || (line.empty() && in.peek() == EOF)) continue;
            spec.merges.push_back(split_merge(line, spec.merges.size()));
        }
    } catch (const json::exception& e) {
        fail(source, e.what());
    } catch (const std::runtime_error& e) {
        fail(source, e.what());
    }
    return spec;
}

std::string apply_tokenizer_config(const std::string& text, const std::string& source, BpeSpec& spec) {
    const json cfg = parse_json(text, source);
    std::string chat_template;
    try {
        if (!cfg.is_object()) throw std::runtime_error("the top level is not an object");
        if (cfg.contains("added_tokens_decoder")) {
            for (const auto& [key, a] : cfg.at("added_tokens_decoder").items()) {
                const int64_t id = std::stoll(key);
                bool known = false;
                for (const auto& t : spec.added_tokens) known |= t.id == id;
                if (!known) spec.added_tokens.push_back(read_added(a, id));
            }
        }
        auto set_id = [&](const char* key, int32_t& id) {
            if (const auto name = token_name(cfg, key)) {
                const auto found = id_of(spec, *name);
                if (!found) throw std::runtime_error(std::string(key) + " \"" + *name + "\" is not in the vocabulary");
                id = *found;
            }
        };
        set_id("bos_token", spec.bos_id);
        set_id("eos_token", spec.eos_id);
        set_id("pad_token", spec.pad_id);  // unk_token is transformers'; the BPE model's own unk_token decides
        spec.add_bos = flag(cfg, "add_bos_token", spec.add_bos);
        spec.add_eos = flag(cfg, "add_eos_token", spec.add_eos);
        if (cfg.contains("chat_template") && !cfg.at("chat_template").is_null()) {
            const auto& t = cfg.at("chat_template");
            if (t.is_string()) {
                chat_template = t.get<std::string>();
            } else {
                for (const auto& named : t)
                    if (named.at("name") == "default") chat_template = named.at("template").get<std::string>();
            }
        }
    } catch (const json::exception& e) {
        fail(source, e.what());
    } catch (const std::exception& e) {
        fail(source, e.what());
    }
    return chat_template;
}

bool has_hf_tokenizer(const std::string& dir) {
    const fs::path d(dir);
    return fs::is_regular_file(d / "tokenizer.json") ||
           (fs::is_regular_file(d / "vocab.json") && fs::is_regular_file(d / "merges.txt"));
}

HfTokenizer load_hf_tokenizer(const std::string& path, const HfTokenizerOptions& options) {
    const fs::path p(path);
    const fs::path dir = fs::is_directory(p) ? p : p.parent_path();
    const fs::path config_path = dir / "tokenizer_config.json";
    std::string config;
    if (fs::is_regular_file(config_path)) config = read_file(config_path);

    HfTokenizer out;
    const fs::path json_path = fs::is_directory(p) ? dir / "tokenizer.json" : p;
    if (fs::is_regular_file(json_path)) {
        out.spec = parse_tokenizer_json(read_file(json_path), json_path.string());
    } else if (fs::is_regular_file(dir / "vocab.json") && fs::is_regular_file(dir / "merges.txt")) {
        out.spec = parse_vocab_and_merges(read_file(dir / "vocab.json"), read_file(dir / "merges.txt"),
                                          (dir / "vocab.json").string());
        std::string pre = options.pre;
        bool nfc = false;
        if (pre.empty()) {
            std::string cls;
            if (!config.empty()) cls = parse_json(config, config_path.string()).value("tokenizer_class", "");
            if (cls == "Qwen2Tokenizer" || cls == "Qwen2TokenizerFast")
                pre = "qwen2", nfc = true;
            else
                pre = any_merge_joins_digits(out.spec) ? "gpt2" : "smollm";
        }
        try {
            out.spec.pre_tokenizer = pre_tokenizer_preset(pre);
        } catch (const std::exception& e) {
            fail(path, e.what());
        }
        if (nfc) out.spec.normalizer = {{NormalizerStep::Kind::Nfc, "", ""}};
    } else {
        fail(path, "no tokenizer.json, and no vocab.json + merges.txt");
    }
    if (!config.empty()) out.chat_template = apply_tokenizer_config(config, config_path.string(), out.spec);
    if (out.chat_template.empty() && fs::is_regular_file(dir / "chat_template.jinja"))
        out.chat_template = read_file(dir / "chat_template.jinja");
    return out;
}

}  // namespace diagecg
