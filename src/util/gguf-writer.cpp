#include "diagecg/util/gguf-writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace diagecg {

namespace {

constexpr uint64_t kMaxDims = 4;
constexpr uint64_t kDefaultAlignment = 32;

uint64_t fixed_size(GgufValueType t) {
    return gguf_value_type_size(t);
}

void append_le(std::vector<uint8_t>& out, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void append_str(std::vector<uint8_t>& out, const std::string& s) {
    append_le(out, s.size(), 8);
    out.insert(out.end(), s.begin(), s.end());
}

void append_value(std::vector<uint8_t>& out, const GgufValue& v, bool with_type) {
    if (with_type) append_le(out, static_cast<uint32_t>(v.type), 4);
    if (v.type == GgufValueType::kString) {
        append_str(out, v.str);
    } else if (v.type == GgufValueType::kArray) {
        append_le(out, static_cast<uint32_t>(v.elem_type), 4);
        append_le(out, v.n, 8);
        if (v.elem_type == GgufValueType::kString) {
            for (const auto& s : v.strings) append_str(out, s);
        } else if (v.elem_type == GgufValueType::kArray) {
            for (const auto& a : v.arrays) append_value(out, a, false);
        } else {
            out.insert(out.end(), v.raw.begin(), v.raw.end());
        }
    } else {
        append_le(out, v.bits, static_cast<int>(fixed_size(v.type)));
    }
}

}  // namespace

GgufValue GgufValue::of_u32(uint32_t v) {
    GgufValue g;
    g.type = GgufValueType::kU32;
    g.bits = v;
    return g;
}
GgufValue GgufValue::of_i32(int32_t v) {
    GgufValue g;
    g.type = GgufValueType::kI32;
    g.bits = static_cast<uint32_t>(v);
    return g;
}
GgufValue GgufValue::of_u64(uint64_t v) {
    GgufValue g;
    g.type = GgufValueType::kU64;
    g.bits = v;
    return g;
}
GgufValue GgufValue::of_f32(float v) {
    GgufValue g;
    g.type = GgufValueType::kF32;
    uint32_t b;
    std::memcpy(&b, &v, 4);
    g.bits = b;
    return g;
}
GgufValue GgufValue::of_bool(bool v) {
    GgufValue g;
    g.type = GgufValueType::kBool;
    g.bits = v;
    return g;
}
GgufValue GgufValue::of_string(std::string v) {
    GgufValue g;
    g.type = GgufValueType::kString;
    g.str = std::move(v);
    return g;
}
GgufValue GgufValue::of_strings(std::vector<std::string> v) {
    GgufValue g;
    g.type = GgufValueType::kArray;
    g.elem_type = GgufValueType::kString;
    g.n = v.size();
    g.strings = std::move(v);
    return g;
}
GgufValue GgufValue::of_i32s(const std::vector<int32_t>& v) {
    GgufValue g;
    g.type = GgufValueType::kArray;
    g.elem_type = GgufValueType::kI32;
    g.n = v.size();
    for (const int32_t x : v) append_le(g.raw, static_cast<uint32_t>(x), 4);
    return g;
}
GgufValue GgufValue::of_f32s(const std::vector<float>& v) {
    GgufValue g;
    g.type = GgufValueType::kArray;
    g.elem_type = GgufValueType::kF32;
    g.n = v.size();
    for (const float x : v) {
        uint32_t b;
        std::memcpy(&b, &x, 4);
        append_le(g.raw, b, 4);
    }
    return g;
}

// ---- GgufWriter ----

void GgufWriter::set(const std::string& key, GgufValue value) {
    for (auto& kv : kv_)
        if (kv.first == key) {
            kv.second = std::move(value);
            return;
        }
    kv_.emplace_back(key, std::move(value));
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne, const void* data) {
    if (ne.size() > kMaxDims) throw std::invalid_argument("gguf: tensor '" + name + "' has more than 4 dimensions");
    for (const auto& t : tensors_)
        if (t.info.name == name) throw std::invalid_argument("gguf: duplicate tensor '" + name + "'");
    Tensor t;
    t.info.name = name;
    t.info.type = type;
    t.info.ne = std::move(ne);
    const int64_t row = t.info.ne.empty() ? 1 : t.info.ne[0];
    ggml_row_bytes(type, row);  // throws when the row is not whole blocks
    t.info.n_bytes = ggml_row_bytes(type, t.info.numel());
    t.data = data;
    tensors_.push_back(std::move(t));
}

uint64_t GgufWriter::alignment() const {
    for (const auto& kv : kv_)
        if (kv.first == "general.alignment") {
            const int64_t a = kv.second.to_int();
            if (kv.second.type != GgufValueType::kU32 || a <= 0 || (a & (a - 1)) != 0)
                throw std::invalid_argument("gguf: general.alignment must be a UINT32 power of two");
            return static_cast<uint64_t>(a);
        }
    return kDefaultAlignment;
}

std::vector<uint8_t> GgufWriter::header_bytes() const {
    const uint64_t alignment = this->alignment();
    std::vector<uint8_t> out = {'G', 'G', 'U', 'F'};
    append_le(out, 3, 4);
    append_le(out, tensors_.size(), 8);
    append_le(out, kv_.size(), 8);
    for (const auto& kv : kv_) {
        append_str(out, kv.first);
        append_value(out, kv.second, true);
    }
    uint64_t offset = 0;
    for (const auto& t : tensors_) {
        append_str(out, t.info.name);
        append_le(out, t.info.ne.size(), 4);
        for (const int64_t d : t.info.ne) append_le(out, static_cast<uint64_t>(d), 8);
        append_le(out, static_cast<uint32_t>(t.info.type), 4);
        append_le(out, offset, 8);
        offset += (t.info.n_bytes + alignment - 1) / alignment * alignment;
    }
    if (!tensors_.empty()) out.resize((out.size() + alignment - 1) / alignment * alignment, 0);
    return out;
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
    const uint64_t alignment = this->alignment();
    std::vector<uint8_t> out = header_bytes();
    for (const auto& t : tensors_) {
        const auto* p = static_cast<const uint8_t*>(t.data);
        out.insert(out.end(), p, p + t.info.n_bytes);
        out.resize((out.size() + alignment - 1) / alignment * alignment, 0);
    }
    return out;
}

void GgufWriter::write(const std::string& path) const {
    const uint64_t alignment = this->alignment();
    const std::vector<uint8_t> header = header_bytes();
    const std::string tmp = path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw std::runtime_error(tmp + ": cannot create: " + std::strerror(errno));
    bool ok = std::fwrite(header.data(), 1, header.size(), f) == header.size();
    const std::vector<uint8_t> zeros(alignment, 0);
    for (const auto& t : tensors_) {
        if (!ok) break;
        ok = std::fwrite(t.data, 1, t.info.n_bytes, f) == t.info.n_bytes;
        const uint64_t pad = (alignment - t.info.n_bytes % alignment) % alignment;
        ok = ok && std::fwrite(zeros.data(), 1, pad, f) == pad;
    }
    ok = (std::fclose(f) == 0) && ok;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        const std::string err = std::strerror(errno);
        std::remove(tmp.c_str());
        throw std::runtime_error(path + ": cannot write: " + err);
    }
}

}  // namespace diagecg
