#include "diagecg/llm/text-tokenizer.h"

#include "diagecg/llm/gguf-vocab.h"
#include "diagecg/llm/hf-tokenizer-json.h"
#include "diagecg/util/gguf.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>

#ifndef DIAGECG_SPM_SHIM_PATH
#define DIAGECG_SPM_SHIM_PATH ""
#endif

namespace diagecg {

namespace {

// The SentencePiece shim (src/llm/spm-shim/spm-shim.cpp explains why it is a separate object).
struct SpmApi {
    void* (*load)(const char*, char**);
    void (*release)(void*);
    void (*free_buffer)(void*);
    int (*piece_size)(void*);
    int (*bos_id)(void*);
    int (*eos_id)(void*);
    int (*encode)(void*, const char*, size_t, int**, size_t*, char**);
    int (*decode)(void*, const int*, size_t, char**, size_t*, char**);
    char* (*id_to_piece)(void*, int);
    int (*train)(const char*, char**);
};

std::string shim_candidates(std::vector<std::string>& out) {
    if (const char* env = std::getenv("DIAGECG_SPM_SHIM")) out.push_back(env);
    char exe[4096];
    const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        const auto dir = std::filesystem::path(exe).parent_path();
        out.push_back((dir / "libdiagecg_spm.so").string());
        out.push_back((dir / "../lib/diagecg/libdiagecg_spm.so").string());
    }
    if (*DIAGECG_SPM_SHIM_PATH) out.push_back(DIAGECG_SPM_SHIM_PATH);
    std::string all;
    for (const auto& c : out) all += "\n  " + c;
    return all;
}

const SpmApi& spm() {
    static SpmApi api;
    static std::string error;
    static std::once_flag once;
    std::call_once(once, [] {
        std::vector<std::string> candidates;
        const std::string tried = shim_candidates(candidates);
        void* lib = nullptr;
        std::string last;
        for (const auto& c : candidates) {
            if (!std::filesystem::exists(c)) continue;
            lib = ::dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
            if (lib) break;
            last = ::dlerror();
        }
        if (!lib) {
            error = "cannot load the SentencePiece shim libdiagecg_spm.so (set DIAGECG_SPM_SHIM to its path); tried:" +
                    tried + (last.empty() ? "" : "\n  last error: " + last);
            return;
        }
        auto sym = [&](const char* name) {
            void* p = ::dlsym(lib, name);
            if (!p) error = std::string("SentencePiece shim lacks ") + name;
            return p;
        };
        api.load = reinterpret_cast<decltype(api.load)>(sym("spm_load"));
        api.release = reinterpret_cast<decltype(api.release)>(sym("spm_release"));
        api.free_buffer = reinterpret_cast<decltype(api.free_buffer)>(sym("spm_free_buffer"));
        api.piece_size = reinterpret_cast<decltype(api.piece_size)>(sym("spm_piece_size"));
        api.bos_id = reinterpret_cast<decltype(api.bos_id)>(sym("spm_bos_id"));
        api.eos_id = reinterpret_cast<decltype(api.eos_id)>(sym("spm_eos_id"));
        api.encode = reinterpret_cast<decltype(api.encode)>(sym("spm_encode"));
        api.decode = reinterpret_cast<decltype(api.decode)>(sym("spm_decode"));
        api.id_to_piece = reinterpret_cast<decltype(api.id_to_piece)>(sym("spm_id_to_piece"));
        api.train = reinterpret_cast<decltype(api.train)>(sym("spm_train"));
    });
    if (!error.empty()) throw std::runtime_error(error);
    return api;
}

std::string take_error(char* err) {
    std::string s = err ? err : "unknown error";
    if (err) spm().free_buffer(err);
    return s;
}

}  // namespace

struct TextTokenizer::Impl {
    void* handle = nullptr;             // SentencePiece
    std::unique_ptr<BpeTokenizer> bpe;  // or BPE
    ~Impl() {
        if (handle) spm().release(handle);
    }
};

TextTokenizer::TextTokenizer(const std::string& path) : impl_(std::make_unique<Impl>()) {
    namespace fs = std::filesystem;
    if (!fs::exists(path)) throw std::runtime_error("tokenizer " + path + " does not exist");
    const bool dir = fs::is_directory(path);
    std::string spm_path = path;
    // A GGUF file, or a model directory saved from one (its tokenizer as a vocab-only tokenizer.gguf).
    const std::string gguf = !dir && fs::path(path).extension() == ".gguf" ? path
                             : dir && fs::exists(fs::path(path) / "tokenizer.gguf") ? (fs::path(path) / "tokenizer.gguf").string()
                                                                                    : "";
    if (!gguf.empty()) {
        const GgufFile f(gguf);
        impl_->bpe = std::make_unique<BpeTokenizer>(bpe_spec_from_gguf(gguf_vocab_from_file(f), gguf));
        chat_template_ = f.get_string("tokenizer.chat_template", "");
    } else if (dir ? has_hf_tokenizer(path) : fs::path(path).extension() == ".json") {
        HfTokenizer hf = load_hf_tokenizer(path);
        impl_->bpe = std::make_unique<BpeTokenizer>(std::move(hf.spec));
        chat_template_ = std::move(hf.chat_template);
    } else {
        if (dir) spm_path = (fs::path(path) / "tokenizer.model").string();
        if (!fs::exists(spm_path))
            throw std::runtime_error("model directory " + path +
                                     " has no tokenizer.json, vocab.json + merges.txt or tokenizer.model");
        char* err = nullptr;
        impl_->handle = spm().load(spm_path.c_str(), &err);
        if (!impl_->handle) throw std::runtime_error("tokenizer " + spm_path + ": " + take_error(err));
    }
    vocab_ = Vocab(n_pieces(), 0);
}

TextTokenizer::TextTokenizer(BpeTokenizer bpe, std::string chat_template)
    : impl_(std::make_unique<Impl>()), chat_template_(std::move(chat_template)) {
    impl_->bpe = std::make_unique<BpeTokenizer>(std::move(bpe));
    vocab_ = Vocab(n_pieces(), 0);
}

TextTokenizer::~TextTokenizer() = default;
TextTokenizer::TextTokenizer(TextTokenizer&&) noexcept = default;
TextTokenizer& TextTokenizer::operator=(TextTokenizer&&) noexcept = default;

int64_t TextTokenizer::n_pieces() const {
    return impl_->bpe ? impl_->bpe->n_tokens() : spm().piece_size(impl_->handle);
}

int64_t TextTokenizer::bos_id() const {
    if (impl_->bpe) return impl_->bpe->add_bos() ? impl_->bpe->bos_id() : -1;
    return spm().bos_id(impl_->handle);
}

int64_t TextTokenizer::eos_id() const {
    return impl_->bpe ? impl_->bpe->eos_id() : spm().eos_id(impl_->handle);
}

std::optional<int64_t> TextTokenizer::find(const std::string& spelling) const {
    if (impl_->bpe) {
        if (const auto id = impl_->bpe->find(spelling)) return *id;
        return std::nullopt;
    }
    for (int64_t id = 0; id < n_pieces(); ++id)
        if (piece(id) == spelling) return id;
    return std::nullopt;
}

std::vector<int64_t> TextTokenizer::encode(const std::string& text, bool add_bos, bool parse_special) const {
    std::vector<int64_t> out;
    if (add_bos && bos_id() >= 0) out.push_back(bos_id());
    auto encode_text = [&](const std::string& part) {
        if (part.empty()) return;
        if (impl_->bpe) {
            const auto ids = impl_->bpe->encode(part, false, parse_special);
            out.insert(out.end(), ids.begin(), ids.end());
            return;
        }
        int* ids = nullptr;
        size_t n = 0;
        char* err = nullptr;
        if (spm().encode(impl_->handle, part.data(), part.size(), &ids, &n, &err) != 0)
            throw std::runtime_error("tokenizer: cannot encode text: " + take_error(err));
        out.insert(out.end(), ids, ids + n);
        spm().free_buffer(ids);
    };
    if (!vocab_.extended() || !parse_special) {
        encode_text(text);
        return out;
    }
    // Split on special strings "<...>" that the vocabulary knows; everything else is text.
    size_t start = 0, pos = 0;
    while ((pos = text.find('<', pos)) != std::string::npos) {
        const size_t close = text.find('>', pos);
        if (close == std::string::npos) break;
        const auto id = vocab_.parse_special(text.substr(pos, close - pos + 1));
        if (id) {
            encode_text(text.substr(start, pos - start));
            out.push_back(*id);
            start = pos = close + 1;
        } else {
            ++pos;
        }
    }
    encode_text(text.substr(start));
    return out;
}

std::string TextTokenizer::decode(const std::vector<int64_t>& ids) const {
    std::string out;
    std::vector<int> run;
    auto flush = [&] {
        if (run.empty()) return;
        if (impl_->bpe) {
            out += impl_->bpe->decode(std::vector<int32_t>(run.begin(), run.end()));
            run.clear();
            return;
        }
        char* text = nullptr;
        size_t len = 0;
        char* err = nullptr;
        if (spm().decode(impl_->handle, run.data(), run.size(), &text, &len, &err) != 0)
            throw std::runtime_error("tokenizer: cannot decode: " + take_error(err));
        out.append(text, len);
        spm().free_buffer(text);
        run.clear();
    };
    const int64_t n_text = n_pieces();
    for (const int64_t id : ids) {
        if (id >= 0 && id < n_text) {
            run.push_back(static_cast<int>(id));
        } else {
            flush();
            out += vocab_.special_string(id);
        }
    }
    flush();
    return out;
}

std::string TextTokenizer::piece(int64_t id) const {
    if (id >= 0 && id < n_pieces()) {
        if (impl_->bpe) return impl_->bpe->piece(static_cast<int32_t>(id));
        char* p = spm().id_to_piece(impl_->handle, static_cast<int>(id));
        std::string s = p;
        spm().free_buffer(p);
        return s;
    }
    return vocab_.special_string(id);
}

void train_sentencepiece(const std::string& args) {
    char* err = nullptr;
    if (spm().train(args.c_str(), &err) != 0)
        throw std::runtime_error("sentencepiece training failed: " + take_error(err));
}

}  // namespace diagecg
