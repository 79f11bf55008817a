#include "diagecg/llm/bpe-tokenizer.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <mutex>
#include <queue>
#include <stdexcept>
#include <unordered_map>

#include "diagecg/llm/unicode-text.h"

namespace diagecg {

namespace {

constexpr size_t kMaxTokens = size_t{1} << 22;  // 4.2M: 16x the largest vocabulary in use
constexpr size_t kMaxMerges = size_t{1} << 23;
constexpr size_t kMaxSpelling = 1 << 16;  // bytes of one token's spelling
constexpr size_t kCacheMaxWord = 128;     // words longer than this (bytes) are not cached
constexpr size_t kCacheMaxEntries = 1 << 18;

uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b);
}

// Leftmost-longest matching of a set of byte strings (HF matches added tokens with Aho-Corasick,
// MatchKind::LeftmostLongest; scanning each start position for its longest match gives the same result).
class TokenTrie {
public:
    void insert(std::string_view s, int32_t value) {
        int32_t node = 0;
        for (const char c : s) {
            const auto b = static_cast<uint8_t>(c);
            auto& next = nodes_[node].next;
            auto it = std::find_if(next.begin(), next.end(), [b](const auto& e) { return e.first == b; });
            if (it == next.end()) {
                nodes_.push_back({});
                nodes_[node].next.emplace_back(b, static_cast<int32_t>(nodes_.size() - 1));
                node = static_cast<int32_t>(nodes_.size() - 1);
            } else {
                node = it->second;
            }
        }
        nodes_[node].value = value;
        first_[static_cast<uint8_t>(s[0])] = true;
    }
    bool empty() const { return nodes_.size() == 1; }
    // Length and value of the longest string starting at text[pos]; length 0 when none does.
    std::pair<size_t, int32_t> longest_at(std::string_view text, size_t pos) const {
        if (!first_[static_cast<uint8_t>(text[pos])]) return {0, -1};
        std::pair<size_t, int32_t> best{0, -1};
        int32_t node = 0;
        for (size_t i = pos; i < text.size(); ++i) {
            const auto b = static_cast<uint8_t>(text[i]);
            const auto& next = nodes_[node].next;
            auto it = std::find_if(next.begin(), next.end(), [b](const auto& e) { return e.first == b; });
            if (it == next.end()) break;
            node = it->second;
            if (nodes_[node].value >= 0) best = {i + 1 - pos, nodes_[node].value};
        }
        return best;
    }

private:
    struct Node {
        std::vector<std::pair<uint8_t, int32_t>> next;
        int32_t value = -1;
    };
    std::vector<Node> nodes_{1};
    std::array<bool, 256> first_{};
};

// Bytes of the whitespace run that ends at text[end] / starts at text[begin] (well-formed UTF-8).
size_t whitespace_before(std::string_view text, size_t end) {
    size_t start = end;
    while (start > 0) {
        size_t cp_start = start - 1;
        while (cp_start > 0 && (static_cast<uint8_t>(text[cp_start]) & 0xC0) == 0x80) --cp_start;
        size_t p = cp_start;
        if (!is_unicode_whitespace(utf8_next(text, p))) break;
        start = cp_start;
    }
    return end - start;
}

size_t whitespace_after(std::string_view text, size_t begin) {
    size_t pos = begin;
    while (pos < text.size()) {
        size_t p = pos;
        if (!is_unicode_whitespace(utf8_next(text, p))) break;
        pos = p;
    }
    return pos - begin;
}

bool is_word_char_at(std::string_view text, size_t pos) {
    const uint32_t cp = utf8_next(text, pos);
    return is_unicode_alphanumeric(cp) || cp == '_';
}

bool is_word_char_before(std::string_view text, size_t end) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
    return is_word_char_at(text, start);
}

// "<0x4F>" -> 0x4F; -1 for any other spelling.
int byte_piece_value(std::string_view s) {
    if (s.size() != 6 || s.substr(0, 3) != "<0x" || s[5] != '>') return -1;
    int v = 0;
    for (size_t i = 3; i < 5; ++i) {
        const char c = s[i];
        v *= 16;
        if (c >= '0' && c <= '9')
            v += c - '0';
        else if (c >= 'A' && c <= 'F')
            v += c - 'A' + 10;
        else if (c >= 'a' && c <= 'f')
            v += c - 'a' + 10;
        else
            return -1;
    }
    return v;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    if (from.empty()) return s;
    for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
        s.replace(pos, from.size(), to);
    return s;
}

const std::string kMetaspace = "\xE2\x96\x81";  // U+2581, SentencePiece's spelling of ' '

}  // namespace

struct BpeTokenizer::Impl {
    struct Merge {
        int32_t rank;
        int32_t result;
    };

    BpeSpec spec;
    int32_t n_tokens = 0;
    std::vector<std::string> spelling;  // id -> spelling (vocabulary, overridden by added tokens)
    std::vector<std::string> bytes;     // id -> the bytes it decodes to
    std::vector<bool> special;
    std::vector<int16_t> byte_piece;                     // id -> byte value of a <0xXX> piece (SentencePiece), else -1
    std::unordered_map<std::string, int32_t> vocab;      // model vocabulary spelling -> id
    std::unordered_map<std::string, int32_t> added_ids;  // added token content -> id
    std::unordered_map<uint32_t, int32_t> char_ids;      // SentencePiece: one-character pieces
    std::array<int32_t, 256> byte_ids{};                 // byte-level: the byte's symbol; SentencePiece: <0xXX>
    std::unordered_map<uint64_t, Merge> merges;
    std::vector<AddedToken> added;  // trie values index this
    TokenTrie raw_trie, normalized_trie;
    PreTokenizer pre;
    mutable std::mutex cache_mutex;
    mutable std::unordered_map<std::string, std::vector<int32_t>> cache;

    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error((spec.source.empty() ? std::string("tokenizer") : spec.source) + ": " + what);
    }

    void build();
    void build_merges_from_list();
    void build_merges_from_scores();
    std::string normalize(std::string_view text) const;
    template <class OnText>
    void split_added(std::string_view text, const TokenTrie& trie, std::vector<int32_t>& out, OnText on_text) const;
    void encode_words(std::string_view text, std::vector<int32_t>& out) const;
    void bpe(std::string_view word, std::vector<int32_t>& out) const;
    void merge_word(std::string_view word, std::vector<int32_t>& out) const;
    void push_unknown(std::vector<int32_t>& syms) const;
};

void BpeTokenizer::Impl::build() {
    const size_t n_vocab = spec.tokens.size();
    if (n_vocab == 0) fail("the vocabulary is empty");
    if (n_vocab > kMaxTokens)
        fail("vocabulary of " + std::to_string(n_vocab) + " tokens (more than " + std::to_string(kMaxTokens) + ")");
    if (!spec.token_types.empty() && spec.token_types.size() != n_vocab)
        fail(std::to_string(spec.token_types.size()) + " token types for " + std::to_string(n_vocab) + " tokens");
    if (!spec.scores.empty() && spec.scores.size() != n_vocab)
        fail(std::to_string(spec.scores.size()) + " scores for " + std::to_string(n_vocab) + " tokens");
    if (spec.merges.size() > kMaxMerges)
        fail(std::to_string(spec.merges.size()) + " merges (more than " + std::to_string(kMaxMerges) + ")");

    int32_t max_id = static_cast<int32_t>(n_vocab) - 1;
    for (const auto& a : spec.added_tokens) {
        if (a.id < 0 || static_cast<size_t>(a.id) >= kMaxTokens)
            fail("added token \"" + a.content + "\" has id " + std::to_string(a.id));
        if (a.content.empty()) fail("added token " + std::to_string(a.id) + " is empty");
        if (!utf8_is_valid(a.content)) fail("added token " + std::to_string(a.id) + " is not valid UTF-8");
        max_id = std::max(max_id, a.id);
    }
    n_tokens = max_id + 1;
    spelling.assign(n_tokens, std::string());
    bytes.assign(n_tokens, std::string());
    special.assign(n_tokens, false);
    byte_piece.assign(n_tokens, -1);
    byte_ids.fill(-1);
    const bool byte_level = spec.alphabet == BpeAlphabet::ByteLevel;
    auto type_of = [&](size_t id) { return spec.token_types.empty() ? TokenType::Normal : spec.token_types[id]; };

    vocab.reserve(n_vocab * 2);
    for (size_t id = 0; id < n_vocab; ++id) {
        const std::string& s = spec.tokens[id];
        if (s.size() > kMaxSpelling)
            fail("token " + std::to_string(id) + " is " + std::to_string(s.size()) + " bytes long");
        if (!utf8_is_valid(s)) fail("token " + std::to_string(id) + " is not valid UTF-8");
        spelling[id] = s;
        if (s.empty()) continue;
        vocab[s] = static_cast<int32_t>(id);
        if (byte_level) {
            if (!byte_level_decode(s, bytes[id])) bytes[id] = s;  // as HF's ByteLevel decoder
            size_t p = 0;
            const uint32_t cp = utf8_next(s, p);
            const int b = p == s.size() ? codepoint_to_byte(cp) : -1;
            if (b >= 0) byte_ids[b] = static_cast<int32_t>(id);
        } else {
            const int b = byte_piece_value(s);
            if (b >= 0 && (spec.byte_fallback || type_of(id) == TokenType::Byte)) {
                byte_piece[id] = static_cast<int16_t>(b);
                byte_ids[b] = static_cast<int32_t>(id);
                bytes[id] = std::string(1, static_cast<char>(b));
            } else {
                bytes[id] = replace_all(s, kMetaspace, " ");
            }
            size_t p = 0;
            const uint32_t cp = utf8_next(s, p);
            const auto t = type_of(id);
            if (p == s.size() && (t == TokenType::Normal || t == TokenType::UserDefined))
                char_ids[cp] = static_cast<int32_t>(id);
        }
        const auto t = type_of(id);
        special[id] = t == TokenType::Control || t == TokenType::Unknown;
    }

    std::map<int32_t, size_t> seen;
    for (const auto& a : spec.added_tokens) {
        if (!seen.emplace(a.id, 0).second) fail("added token id " + std::to_string(a.id) + " appears twice");
        // A "normalized" token is spelled, and decoded, in its normalised form (HF: "<s>" -> "▁<s>").
        const bool normalized = a.normalized && !spec.normalizer.empty();
        spelling[a.id] = normalized ? normalize(a.content) : a.content;
        if (byte_level) {
            if (!byte_level_decode(spelling[a.id], bytes[a.id])) bytes[a.id] = spelling[a.id];
        } else {
            bytes[a.id] = replace_all(spelling[a.id], kMetaspace, " ");
        }
        byte_piece[a.id] = -1;
        special[a.id] = a.special;
        added_ids[a.content] = a.id;
        const auto index = static_cast<int32_t>(added.size());
        added.push_back(a);
        if (normalized) {
            if (!spelling[a.id].empty()) normalized_trie.insert(spelling[a.id], index);
        } else {
            raw_trie.insert(a.content, index);
        }
    }
    for (const int32_t id : {spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id})
        if (id < -1 || id >= n_tokens)
            fail("special token id " + std::to_string(id) + " is outside the vocabulary of " +
                 std::to_string(n_tokens));
    if (spec.add_bos && spec.bos_id < 0) fail("adds a BOS token but has none");
    if (spec.add_eos && spec.eos_id < 0) fail("adds an EOS token but has none");

    if (!spec.merges.empty()) {
        build_merges_from_list();
    } else if (!spec.scores.empty()) {
        build_merges_from_scores();
    }
    try {
        pre = PreTokenizer(spec.pre_tokenizer);
    } catch (const std::exception& e) {
        fail(e.what());
    }
}

void BpeTokenizer::Impl::build_merges_from_list() {
    merges.reserve(spec.merges.size() * 2);
    auto id_of = [&](const std::string& s, size_t rank, const char* what) {
        auto it = vocab.find(s);
        if (it == vocab.end())
            fail("merge " + std::to_string(rank) + " (\"" + spec.merges[rank].first + "\" \"" +
                 spec.merges[rank].second + "\"): " + what + " \"" + s + "\" is not in the vocabulary");
        return it->second;
    };
    for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
        const auto& [a, b] = spec.merges[rank];
        const int32_t ia = id_of(a, rank, "token"), ib = id_of(b, rank, "token");
        const int32_t ir = id_of(a + b, rank, "merged token");
        merges[pair_key(ia, ib)] = Merge{static_cast<int32_t>(rank), ir};  // a repeated pair keeps its last rank, as HF
    }
}

// SentencePiece BPE merges the adjacent pair whose concatenation is the highest-scoring piece (leftmost on
// ties). That is a merge table where every split a+b of a piece t has rank = t's place in the score order.
void BpeTokenizer::Impl::build_merges_from_scores() {
    std::vector<float> distinct(spec.scores);
    std::sort(distinct.begin(), distinct.end(), std::greater<float>());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    for (size_t id = 0; id < spec.tokens.size(); ++id) {
        const auto t = spec.token_types.empty() ? TokenType::Normal : spec.token_types[id];
        if (t != TokenType::Normal && t != TokenType::UserDefined) continue;
        const std::string& s = spec.tokens[id];
        const auto rank = static_cast<int32_t>(
            std::lower_bound(distinct.begin(), distinct.end(), spec.scores[id], std::greater<float>()) -
            distinct.begin());
        for (size_t k = 1; k < s.size(); ++k) {
            if ((static_cast<uint8_t>(s[k]) & 0xC0) == 0x80) continue;
            auto a = vocab.find(s.substr(0, k));
            if (a == vocab.end()) continue;
            auto b = vocab.find(s.substr(k));
            if (b == vocab.end()) continue;
            merges[pair_key(a->second, b->second)] = Merge{rank, static_cast<int32_t>(id)};
        }
    }
}

std::string BpeTokenizer::Impl::normalize(std::string_view text) const {
    std::string s(text);
    for (const auto& step : spec.normalizer) {
        switch (step.kind) {
            case NormalizerStep::Kind::Nfc:
                s = utf8_nfc(s);
                break;
            case NormalizerStep::Kind::Prepend:
                if (!s.empty()) s = step.text + s;
                break;
            case NormalizerStep::Kind::Replace:
                s = replace_all(std::move(s), step.text, step.replacement);
                break;
        }
    }
    return s;
}

// Splits `text` on the trie's added tokens as HF's AddedVocabulary::find_matches does; token ids go to
// `out`, the text between them to on_text.
template <class OnText>
void BpeTokenizer::Impl::split_added(std::string_view text, const TokenTrie& trie, std::vector<int32_t>& out,
                                     OnText on_text) const {
    if (trie.empty()) {
        on_text(text);
        return;
    }
    size_t done = 0, pos = 0;
    while (pos < text.size()) {
        const auto [len, index] = trie.longest_at(text, pos);
        if (len == 0) {
            ++pos;
            continue;
        }
        const AddedToken& tok = added[index];
        size_t start = pos, stop = pos + len;
        pos = stop;
        if (tok.single_word &&
            ((start > 0 && is_word_char_before(text, start)) || (stop < text.size() && is_word_char_at(text, stop))))
            continue;
        if (tok.lstrip) start = std::max(start - whitespace_before(text, start), done);
        if (tok.rstrip) stop += whitespace_after(text, stop);
        if (start > done) on_text(text.substr(done, start - done));
        out.push_back(tok.id);
        done = pos = stop;
    }
    if (done < text.size()) on_text(text.substr(done));
}

void BpeTokenizer::Impl::encode_words(std::string_view text, std::vector<int32_t>& out) const {
    std::vector<std::string> words;
    pre.split(text, words);
    for (const auto& w : words) bpe(w, out);
}

void BpeTokenizer::Impl::bpe(std::string_view word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    const bool cacheable = word.size() <= kCacheMaxWord;
    std::string key;
    if (cacheable) {
        key.assign(word);
        std::lock_guard<std::mutex> lock(cache_mutex);
        auto it = cache.find(key);
        if (it != cache.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    const size_t first = out.size();
    merge_word(word, out);
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache_mutex);
        if (cache.size() >= kCacheMaxEntries) cache.clear();
        cache.emplace(std::move(key),
                      std::vector<int32_t>(out.begin() + static_cast<std::ptrdiff_t>(first), out.end()));
    }
}

void BpeTokenizer::Impl::push_unknown(std::vector<int32_t>& syms) const {
    if (spec.unk_id < 0) return;  // HF BPE without unk_token drops the character
    if (spec.fuse_unk && !syms.empty() && syms.back() == spec.unk_id) return;
    syms.push_back(spec.unk_id);
}

void BpeTokenizer::Impl::merge_word(std::string_view word, std::vector<int32_t>& out) const {
    const bool byte_level = spec.alphabet == BpeAlphabet::ByteLevel;
    if (spec.ignore_merges) {
        auto it = vocab.find(byte_level ? byte_level_encode(word) : std::string(word));
        if (it != vocab.end()) {
            out.push_back(it->second);
            return;
        }
    }
    std::vector<int32_t> ids;
    ids.reserve(word.size());
    if (byte_level) {
        for (const char c : word) {
            const int32_t id = byte_ids[static_cast<uint8_t>(c)];
            if (id >= 0)
                ids.push_back(id);
            else
                push_unknown(ids);
        }
    } else {
        for (size_t pos = 0; pos < word.size();) {
            const size_t begin = pos;
            const uint32_t cp = utf8_next(word, pos);
            auto it = char_ids.find(cp);
            if (it != char_ids.end()) {
                ids.push_back(it->second);
                continue;
            }
            bool all_bytes = spec.byte_fallback;
            for (size_t k = begin; all_bytes && k < pos; ++k) all_bytes = byte_ids[static_cast<uint8_t>(word[k])] >= 0;
            if (all_bytes) {
                for (size_t k = begin; k < pos; ++k) ids.push_back(byte_ids[static_cast<uint8_t>(word[k])]);
            } else {
                push_unknown(ids);
            }
        }
    }
    if (ids.size() < 2 || merges.empty()) {
        out.insert(out.end(), ids.begin(), ids.end());
        return;
    }
    // Symbols form a linked list; candidates are (rank, left position), lowest rank then leftmost first.
    struct Sym {
        int32_t id, prev, next;
    };
    const auto n = static_cast<int32_t>(ids.size());
    std::vector<Sym> syms(n);
    for (int32_t i = 0; i < n; ++i) syms[i] = {ids[i], i - 1, i + 1 < n ? i + 1 : -1};
    using Cand = std::pair<int32_t, int32_t>;
    std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
    auto consider = [&](int32_t i) {
        const int32_t j = syms[i].next;
        if (j < 0) return;
        auto it = merges.find(pair_key(syms[i].id, syms[j].id));
        if (it != merges.end()) heap.emplace(it->second.rank, i);
    };
    for (int32_t i = 0; i + 1 < n; ++i) consider(i);
    while (!heap.empty()) {
        const auto [rank, i] = heap.top();
        heap.pop();
        Sym& a = syms[i];
        if (a.id < 0 || a.next < 0) continue;
        auto it = merges.find(pair_key(a.id, syms[a.next].id));
        if (it == merges.end() || it->second.rank != rank) continue;  // stale candidate
        const int32_t j = a.next;
        a.id = it->second.result;
        a.next = syms[j].next;
        if (a.next >= 0) syms[a.next].prev = i;
        syms[j].id = -1;
        if (a.prev >= 0) consider(a.prev);
        consider(i);
    }
    for (int32_t i = 0; i >= 0; i = syms[i].next) out.push_back(syms[i].id);
}

BpeTokenizer::BpeTokenizer(BpeSpec spec) : impl_(std::make_unique<Impl>()) {
    impl_->spec = std::move(spec);
    impl_->build();
}

BpeTokenizer::~BpeTokenizer() = default;
BpeTokenizer::BpeTokenizer(BpeTokenizer&&) noexcept = default;
BpeTokenizer& BpeTokenizer::operator=(BpeTokenizer&&) noexcept = default;

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_special, bool parse_added) const {
    const Impl& m = *impl_;
    std::string clean;
    if (!utf8_is_valid(text)) {
        clean = utf8_sanitize(text);
        text = clean;
    }
    std::vector<int32_t> out;
    if (add_special && m.spec.add_bos) out.push_back(m.spec.bos_id);
    static const TokenTrie kNoTokens;
    const TokenTrie& raw = parse_added ? m.raw_trie : kNoTokens;
    const TokenTrie& normalized = parse_added ? m.normalized_trie : kNoTokens;
    m.split_added(text, raw, out, [&](std::string_view piece) {
        const std::string n = m.normalize(piece);
        m.split_added(n, normalized, out, [&](std::string_view part) { m.encode_words(part, out); });
    });
    if (add_special && m.spec.add_eos) out.push_back(m.spec.eos_id);
    return out;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
    const Impl& m = *impl_;
    std::string out, run;  // run: pending <0xXX> bytes (HF ByteFallback: an ill-formed run is U+FFFD per byte)
    size_t run_tokens = 0;
    auto flush = [&] {
        if (run_tokens == 0) return;
        if (utf8_is_valid(run))
            out += run;
        else
            for (size_t k = 0; k < run_tokens; ++k) out += "\xEF\xBF\xBD";
        run.clear();
        run_tokens = 0;
    };
    for (const int32_t id : ids) {
        if (id < 0 || id >= m.n_tokens)
            throw std::out_of_range("decode: token id " + std::to_string(id) + " is outside [0, " +
                                    std::to_string(m.n_tokens) + ")");
        if (skip_special && m.special[id]) continue;
        if (m.byte_piece[id] >= 0) {
            run += m.bytes[id];
            ++run_tokens;
            continue;
        }
        flush();
        out += m.bytes[id];
    }
    flush();
    for (int k = 0; k < m.spec.strip_leading_spaces && !out.empty() && out[0] == ' '; ++k) out.erase(0, 1);
    return utf8_sanitize(out);
}

std::string BpeTokenizer::token_bytes(int32_t id) const {
    if (id < 0 || id >= impl_->n_tokens)
        throw std::out_of_range("token id " + std::to_string(id) + " is outside the vocabulary");
    return impl_->bytes[id];
}

const std::string& BpeTokenizer::piece(int32_t id) const {
    if (id < 0 || id >= impl_->n_tokens)
        throw std::out_of_range("token id " + std::to_string(id) + " is outside the vocabulary");
    return impl_->spelling[id];
}

std::optional<int32_t> BpeTokenizer::find(std::string_view spelling) const {
    const std::string key(spelling);
    if (auto it = impl_->added_ids.find(key); it != impl_->added_ids.end()) return it->second;
    if (auto it = impl_->vocab.find(key); it != impl_->vocab.end()) return it->second;
    return std::nullopt;
}

bool BpeTokenizer::is_special(int32_t id) const {
    return id >= 0 && id < impl_->n_tokens && impl_->special[id];
}
int32_t BpeTokenizer::n_tokens() const {
    return impl_->n_tokens;
}
int32_t BpeTokenizer::bos_id() const {
    return impl_->spec.bos_id;
}
int32_t BpeTokenizer::eos_id() const {
    return impl_->spec.eos_id;
}
int32_t BpeTokenizer::unk_id() const {
    return impl_->spec.unk_id;
}
int32_t BpeTokenizer::pad_id() const {
    return impl_->spec.pad_id;
}
bool BpeTokenizer::add_bos() const {
    return impl_->spec.add_bos;
}
bool BpeTokenizer::add_eos() const {
    return impl_->spec.add_eos;
}
BpeAlphabet BpeTokenizer::alphabet() const {
    return impl_->spec.alphabet;
}

}  // namespace diagecg
