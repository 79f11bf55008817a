#include "diagecg/text-tokenizer.h"

#include <stdexcept>

#include <sentencepiece_processor.h>

namespace diagecg {

struct TextTokenizer::Impl {
    sentencepiece::SentencePieceProcessor sp;
};

TextTokenizer::TextTokenizer(const std::string& model_path) : impl_(std::make_unique<Impl>()) {
    const auto status = impl_->sp.Load(model_path);
    if (!status.ok()) throw std::runtime_error("tokenizer " + model_path + ": " + status.ToString());
    vocab_ = Vocab(impl_->sp.GetPieceSize(), 0);
}

TextTokenizer::~TextTokenizer() = default;
TextTokenizer::TextTokenizer(TextTokenizer&&) noexcept = default;
TextTokenizer& TextTokenizer::operator=(TextTokenizer&&) noexcept = default;

int64_t TextTokenizer::n_pieces() const { return impl_->sp.GetPieceSize(); }
int64_t TextTokenizer::bos_id() const { return impl_->sp.bos_id(); }
int64_t TextTokenizer::eos_id() const { return impl_->sp.eos_id(); }

std::vector<int64_t> TextTokenizer::encode(const std::string& text, bool add_bos) const {
    std::vector<int64_t> out;
    if (add_bos && bos_id() >= 0) out.push_back(bos_id());
    auto encode_text = [&](const std::string& part) {
        if (part.empty()) return;
        std::vector<int> ids;
        const auto status = impl_->sp.Encode(part, &ids);
        if (!status.ok()) throw std::runtime_error("tokenizer: cannot encode text: " + status.ToString());
        out.insert(out.end(), ids.begin(), ids.end());
    };
    if (!vocab_.extended()) {
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
        std::string s;
        const auto status = impl_->sp.Decode(run, &s);
        if (!status.ok()) throw std::runtime_error("tokenizer: cannot decode: " + status.ToString());
        out += s;
        run.clear();
    };
    for (const int64_t id : ids) {
        if (id >= 0 && id < n_pieces()) {
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
    if (id >= 0 && id < n_pieces()) return impl_->sp.IdToPiece(static_cast<int>(id));
    return vocab_.special_string(id);
}

}  // namespace diagecg
