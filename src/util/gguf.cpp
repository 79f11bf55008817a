#include "diagecg/util/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <stdexcept>

#include "diagecg/util/byte-reader.h"

namespace diagecg {

namespace {

constexpr uint32_t kMaxDims = 4;   // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;  // arrays of arrays of ...

struct ValueTypeName {
    GgufValueType type;
    const char* name;
    uint64_t size;  // bytes of a fixed-size value; 0 for STRING and ARRAY
};
constexpr ValueTypeName kValueTypes[] = {
    {GgufValueType::kU8, "UINT8", 1},    {GgufValueType::kI8, "INT8", 1},    {GgufValueType::kU16, "UINT16", 2},
    {GgufValueType::kI16, "INT16", 2},   {GgufValueType::kU32, "UINT32", 4}, {GgufValueType::kI32, "INT32", 4},
    {GgufValueType::kF32, "FLOAT32", 4}, {GgufValueType::kBool, "BOOL", 1},  {GgufValueType::kString, "STRING", 0},
    {GgufValueType::kArray, "ARRAY", 0}, {GgufValueType::kU64, "UINT64", 8}, {GgufValueType::kI64, "INT64", 8},
    {GgufValueType::kF64, "FLOAT64", 8},
};

const ValueTypeName* value_type(uint32_t id) {
    return id < std::size(kValueTypes) ? &kValueTypes[id] : nullptr;
}

uint64_t fixed_size(GgufValueType t) {
    return gguf_value_type_size(t);
}

bool is_int(GgufValueType t) {
    switch (t) {
        case GgufValueType::kU8:
        case GgufValueType::kI8:
        case GgufValueType::kU16:
        case GgufValueType::kI16:
        case GgufValueType::kU32:
        case GgufValueType::kI32:
        case GgufValueType::kU64:
        case GgufValueType::kI64:
            return true;
        default:
            return false;
    }
}

// The integer whose little-endian bytes (zero-extended) are `bits`, as type t; throws past int64.
int64_t int_from_bits(GgufValueType t, uint64_t bits) {
    switch (t) {
        case GgufValueType::kI8:
            return static_cast<int8_t>(bits);
        case GgufValueType::kI16:
            return static_cast<int16_t>(bits);
        case GgufValueType::kI32:
            return static_cast<int32_t>(bits);
        case GgufValueType::kI64:
            return static_cast<int64_t>(bits);
        default:
            if (bits > static_cast<uint64_t>(INT64_MAX))
                throw std::runtime_error("UINT64 value " + std::to_string(bits) + " does not fit int64");
            return static_cast<int64_t>(bits);
    }
}

uint64_t load_le(const uint8_t* p, uint64_t size) {
    switch (size) {
        case 1:
            return p[0];
        case 2:
            return load_u16le(p);
        case 4:
            return load_u32le(p);
        default:
            return load_u64le(p);
    }
}

double float_from_bits(GgufValueType t, uint64_t bits) {
    if (t == GgufValueType::kF32) {
        const uint32_t b = static_cast<uint32_t>(bits);
        float f;
        std::memcpy(&f, &b, 4);
        return f;
    }
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
}

[[noreturn]] void wrong_type(const GgufValue& v, const char* expected) {
    std::string got = gguf_value_type_name(v.type);
    if (v.type == GgufValueType::kArray) got = std::string("array of ") + gguf_value_type_name(v.elem_type);
    throw std::runtime_error("is " + got + ", expected " + expected);
}

std::string shape_text(const std::vector<int64_t>& ne) {
    std::string s = "[";
    for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
    return s + "]";
}

// Bounded little-endian reads over [p, end); every failure names the file and the byte offset.
class Cursor {
public:
    Cursor(const uint8_t* base, uint64_t size, const std::string& path) : base_(base), size_(size), path_(path) {}
    uint64_t pos() const { return pos_; }
    uint64_t left() const { return size_ - pos_; }
    [[noreturn]] void fail(const std::string& what) const { throw std::runtime_error(path_ + ": " + what); }
    const uint8_t* take(uint64_t n, const char* what) {
        if (n > left())
            fail(std::string("truncated: ") + what + " at byte " + std::to_string(pos_) + " needs " +
                 std::to_string(n) + " bytes, the file has " + std::to_string(left()) + " left");
        const uint8_t* p = base_ + pos_;
        pos_ += n;
        return p;
    }
    uint32_t u32(const char* what) { return load_u32le(take(4, what)); }
    uint64_t u64(const char* what) { return load_u64le(take(8, what)); }
    std::string str(const char* what) {
        const uint64_t n = u64(what);
        if (n > left())
            fail(std::string(what) + " at byte " + std::to_string(pos_ - 8) + " has length " + std::to_string(n) +
                 ", past the end of the file (" + std::to_string(left()) + " bytes left)");
        const uint8_t* p = take(n, what);
        return std::string(reinterpret_cast<const char*>(p), n);
    }

private:
    const uint8_t* base_;
    uint64_t size_;
    const std::string& path_;
    uint64_t pos_ = 0;
};

void read_value(Cursor& c, GgufValueType t, GgufValue& v, int depth, const std::string& key);

void read_array(Cursor& c, GgufValue& v, int depth, const std::string& key) {
    if (depth >= kMaxArrayDepth)
        c.fail("key '" + key + "': arrays nested deeper than " + std::to_string(kMaxArrayDepth));
    const uint32_t et = c.u32("array element type");
    const ValueTypeName* etn = value_type(et);
    if (!etn) c.fail("key '" + key + "': unknown array element type " + std::to_string(et));
    v.elem_type = etn->type;
    v.n = c.u64("array length");
    const uint64_t min_size = etn->size ? etn->size : (etn->type == GgufValueType::kString ? 8 : 12);
    if (v.n > c.left() / min_size)
        c.fail("key '" + key + "': array of " + std::to_string(v.n) + " " + etn->name + " needs at least " +
               std::to_string(min_size) + " bytes each, only " + std::to_string(c.left()) + " bytes left");
    if (etn->size) {
        const uint8_t* p = c.take(v.n * etn->size, "array data");
        v.raw.assign(p, p + v.n * etn->size);
        if (etn->type == GgufValueType::kBool)
            for (uint64_t i = 0; i < v.n; ++i)
                if (v.raw[i] > 1)
                    c.fail("key '" + key + "': BOOL element " + std::to_string(i) + " is " + std::to_string(v.raw[i]) +
                           ", expected 0 or 1");
    } else if (etn->type == GgufValueType::kString) {
        v.strings.reserve(v.n);
        for (uint64_t i = 0; i < v.n; ++i) v.strings.push_back(c.str("array string"));
    } else {
        for (uint64_t i = 0; i < v.n; ++i) {  // grown as read: memory follows the bytes actually present
            GgufValue item;
            item.type = GgufValueType::kArray;
            read_array(c, item, depth + 1, key);
            v.arrays.push_back(std::move(item));
        }
    }
}

void read_value(Cursor& c, GgufValueType t, GgufValue& v, int depth, const std::string& key) {
    v.type = t;
    if (t == GgufValueType::kString) {
        v.str = c.str("string value");
    } else if (t == GgufValueType::kArray) {
        read_array(c, v, depth, key);
    } else {
        const uint64_t size = fixed_size(t);
        v.bits = load_le(c.take(size, "value"), size);
        if (t == GgufValueType::kBool && v.bits > 1)
            c.fail("key '" + key + "': BOOL value is " + std::to_string(v.bits) + ", expected 0 or 1");
    }
}

}  // namespace

const char* gguf_value_type_name(GgufValueType t) {
    const ValueTypeName* n = value_type(static_cast<uint32_t>(t));
    return n ? n->name : "?";
}

uint64_t gguf_value_type_size(GgufValueType t) {
    const ValueTypeName* n = value_type(static_cast<uint32_t>(t));
    return n ? n->size : 0;
}

// ---- GgufValue ----

int64_t GgufValue::to_int() const {
    if (!is_int(type)) wrong_type(*this, "an integer");
    return int_from_bits(type, bits);
}

double GgufValue::to_float() const {
    if (type != GgufValueType::kF32 && type != GgufValueType::kF64) wrong_type(*this, "FLOAT32 or FLOAT64");
    return float_from_bits(type, bits);
}

bool GgufValue::to_bool() const {
    if (type != GgufValueType::kBool) wrong_type(*this, "BOOL");
    return bits != 0;
}

const std::string& GgufValue::to_string() const {
    if (type != GgufValueType::kString) wrong_type(*this, "STRING");
    return str;
}

std::vector<int64_t> GgufValue::to_ints() const {
    if (type != GgufValueType::kArray || !is_int(elem_type)) wrong_type(*this, "array of integers");
    const uint64_t size = fixed_size(elem_type);
    std::vector<int64_t> out(n);
    for (uint64_t i = 0; i < n; ++i) out[i] = int_from_bits(elem_type, load_le(raw.data() + i * size, size));
    return out;
}

std::vector<float> GgufValue::to_floats() const {
    if (type != GgufValueType::kArray || (elem_type != GgufValueType::kF32 && elem_type != GgufValueType::kF64))
        wrong_type(*this, "array of FLOAT32 or FLOAT64");
    const uint64_t size = fixed_size(elem_type);
    std::vector<float> out(n);
    for (uint64_t i = 0; i < n; ++i)
        out[i] = static_cast<float>(float_from_bits(elem_type, load_le(raw.data() + i * size, size)));
    return out;
}

const std::vector<std::string>& GgufValue::to_strings() const {
    if (type != GgufValueType::kArray || elem_type != GgufValueType::kString) wrong_type(*this, "array of STRING");
    return strings;
}

std::string GgufValue::describe() const {
    if (type == GgufValueType::kArray)
        return std::string("[") + gguf_value_type_name(elem_type) + " x " + std::to_string(n) + "]";
    if (type == GgufValueType::kString) return "\"" + (str.size() > 60 ? str.substr(0, 57) + "..." : str) + "\"";
    if (type == GgufValueType::kBool) return bits ? "true" : "false";
    if (type == GgufValueType::kF32 || type == GgufValueType::kF64) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", float_from_bits(type, bits));
        return buf;
    }
    if (type == GgufValueType::kU64) return std::to_string(bits);
    return std::to_string(int_from_bits(type, bits));
}

// ---- GgufTensorInfo ----

int64_t GgufTensorInfo::numel() const {
    int64_t n = 1;
    for (const int64_t d : ne) n *= d;  // checked against overflow when parsed
    return n;
}

std::vector<int64_t> GgufTensorInfo::shape() const {
    return std::vector<int64_t>(ne.rbegin(), ne.rend());
}

// ---- GgufFile ----

GgufFile::GgufFile(const std::string& path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw std::runtime_error(path + ": not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ == 0) {  // mmap refuses empty files
        ::close(fd);
        throw std::runtime_error(path + ": file is 0 bytes, too short for a GGUF header (24 bytes)");
    }
    map_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map_ == MAP_FAILED) {
        map_ = nullptr;
        throw std::runtime_error(path + ": cannot map: " + std::strerror(errno));
    }
    base_ = static_cast<const uint8_t*>(map_);
    try {
        parse();
    } catch (...) {
        ::munmap(map_, size_);
        map_ = nullptr;
        throw;
    }
}

GgufFile::GgufFile(std::vector<uint8_t> bytes, std::string name) : path_(std::move(name)), owned_(std::move(bytes)) {
    size_ = owned_.size();
    base_ = owned_.data();
    parse();
}

GgufFile::~GgufFile() {
    if (map_) ::munmap(map_, size_);
}

void GgufFile::release_tensor_pages(const GgufTensorInfo& t) const {
    if (!map_) return;
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto b = reinterpret_cast<uintptr_t>(tensor_data(t)), e = b + t.n_bytes;
    const uintptr_t lo = (b + page - 1) / page * page, hi = e / page * page;  // whole pages of t only
    if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

void GgufFile::parse() {
    Cursor c(base_, size_, path_);
    if (size_ < 24) c.fail("file is " + std::to_string(size_) + " bytes, too short for a GGUF header (24 bytes)");
    const uint8_t* magic = c.take(4, "magic");
    if (std::memcmp(magic, "GGUF", 4) != 0) c.fail("not a GGUF file (magic is not \"GGUF\")");
    version_ = c.u32("version");
    if (version_ == 1) c.fail("GGUF version 1 is not supported (only 2 and 3)");
    if (version_ == 0x02000000u || version_ == 0x03000000u) c.fail("big-endian GGUF is not supported");
    if (version_ != 2 && version_ != 3)
        c.fail("unknown GGUF version " + std::to_string(version_) + " (expected 2 or 3)");
    const uint64_t n_tensors = c.u64("tensor count");
    const uint64_t n_kv = c.u64("metadata count");
    // Smallest metadata pair: 8-byte key length + 4-byte type + 1-byte value; smallest tensor info:
    // 8-byte name length + 4 n_dims + 4 type + 8 offset.
    if (n_kv > c.left() / 13)
        c.fail("metadata count " + std::to_string(n_kv) + " cannot fit in the " + std::to_string(c.left()) +
               " bytes left");
    if (n_tensors > c.left() / 24)
        c.fail("tensor count " + std::to_string(n_tensors) + " cannot fit in the " + std::to_string(c.left()) +
               " bytes left");

    kv_.reserve(n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) {
        std::string key = c.str("metadata key");
        const uint32_t t = c.u32("value type");
        const ValueTypeName* tn = value_type(t);
        if (!tn) c.fail("key '" + key + "': unknown value type " + std::to_string(t));
        if (kv_index_.count(key)) c.fail("duplicate metadata key '" + key + "'");
        GgufValue v;
        read_value(c, tn->type, v, 0, key);
        kv_index_.emplace(key, kv_.size());
        kv_.emplace_back(std::move(key), std::move(v));
    }
    if (const GgufValue* a = find("general.alignment")) {
        if (a->type != GgufValueType::kU32)
            c.fail(std::string("key 'general.alignment' is ") + gguf_value_type_name(a->type) + ", expected UINT32");
        alignment_ = a->bits;
        if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0)
            c.fail("general.alignment is " + std::to_string(alignment_) + ", expected a power of two");
    }

    tensors_.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) {
        GgufTensorInfo t;
        t.name = c.str("tensor name");
        const std::string where = "tensor '" + t.name + "'";
        if (tensor_index_.count(t.name)) c.fail("duplicate tensor name '" + t.name + "'");
        const uint32_t n_dims = c.u32("tensor n_dims");
        if (n_dims > kMaxDims) c.fail(where + " has " + std::to_string(n_dims) + " dimensions, at most 4");
        int64_t numel = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            const uint64_t ne = c.u64("tensor dimension");
            if (ne > static_cast<uint64_t>(INT64_MAX) ||
                __builtin_mul_overflow(numel, static_cast<int64_t>(ne), &numel))
                c.fail(where + ": element count of its shape overflows int64 (dimension " + std::to_string(d) + " is " +
                       std::to_string(ne) + ")");
            t.ne.push_back(static_cast<int64_t>(ne));
        }
        const uint32_t type_id = c.u32("tensor type");
        const GgmlTypeInfo* info = ggml_type_info(type_id);
        if (!info) c.fail(where + " has unknown ggml type " + std::to_string(type_id));
        t.type = info->type;
        const int64_t row = t.ne.empty() ? 1 : t.ne[0];
        if (row % info->block_size != 0)
            c.fail(where + " (" + info->name + ", ne " + shape_text(t.ne) + "): row length " + std::to_string(row) +
                   " is not a multiple of the block size " + std::to_string(info->block_size));
        const uint64_t n_blocks = static_cast<uint64_t>(numel / info->block_size);
        if (__builtin_mul_overflow(n_blocks, static_cast<uint64_t>(info->type_size), &t.n_bytes))
            c.fail(where + ": byte size of ne " + shape_text(t.ne) + " overflows");
        t.offset = c.u64("tensor offset");
        if (t.offset % alignment_ != 0)
            c.fail(where + " offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                   std::to_string(alignment_));
        tensor_index_.emplace(t.name, tensors_.size());
        tensors_.push_back(std::move(t));
    }

    // The data section starts at the next multiple of the alignment (a file without tensors may end here).
    uint64_t data_start = c.pos();
    if (data_start % alignment_) data_start += alignment_ - data_start % alignment_;
    if (data_start > size_) {
        if (!tensors_.empty())
            c.fail("data section would start at byte " + std::to_string(data_start) + ", past the end of the file (" +
                   std::to_string(size_) + " bytes)");
        data_start = size_;
    }
    data_ = base_ + data_start;
    const uint64_t data_size = size_ - data_start;
    std::vector<const GgufTensorInfo*> by_offset;
    by_offset.reserve(tensors_.size());
    for (const auto& t : tensors_) {
        if (t.offset > data_size || t.n_bytes > data_size - t.offset)
            c.fail("tensor '" + t.name + "' (" + ggml_type_name(t.type) + ", ne " + shape_text(t.ne) + ", " +
                   std::to_string(t.n_bytes) + " bytes at offset " + std::to_string(t.offset) +
                   ") runs past the end of the data section (" + std::to_string(data_size) + " bytes)");
        by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
        const GgufTensorInfo& a = *by_offset[i - 1];
        const GgufTensorInfo& b = *by_offset[i];
        if (a.offset + a.n_bytes > b.offset && b.n_bytes > 0 && a.n_bytes > 0)
            c.fail("tensors '" + a.name + "' (bytes " + std::to_string(a.offset) + ".." +
                   std::to_string(a.offset + a.n_bytes) + ") and '" + b.name + "' (from byte " +
                   std::to_string(b.offset) + ") overlap");
    }
}

const GgufValue* GgufFile::find(const std::string& key) const {
    const auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const GgufValue& GgufFile::require(const std::string& key) const {
    const GgufValue* v = find(key);
    if (!v) throw std::runtime_error(path_ + ": metadata key '" + key + "' is missing");
    return *v;
}

namespace {
template <typename F>
auto with_key(const std::string& path, const std::string& key, F f) -> decltype(f()) {
    try {
        return f();
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(path + ": metadata key '" + key + "' " + e.what());
    }
}
}  // namespace

std::string GgufFile::get_string(const std::string& key) const {
    const GgufValue& v = require(key);
    return with_key(path_, key, [&] { return v.to_string(); });
}
std::string GgufFile::get_string(const std::string& key, const std::string& fallback) const {
    return has(key) ? get_string(key) : fallback;
}
int64_t GgufFile::get_int(const std::string& key) const {
    const GgufValue& v = require(key);
    return with_key(path_, key, [&] { return v.to_int(); });
}
int64_t GgufFile::get_int(const std::string& key, int64_t fallback) const {
    return has(key) ? get_int(key) : fallback;
}
double GgufFile::get_float(const std::string& key) const {
    const GgufValue& v = require(key);
    return with_key(path_, key, [&] { return v.to_float(); });
}
double GgufFile::get_float(const std::string& key, double fallback) const {
    return has(key) ? get_float(key) : fallback;
}
bool GgufFile::get_bool(const std::string& key) const {
    const GgufValue& v = require(key);
    return with_key(path_, key, [&] { return v.to_bool(); });
}
bool GgufFile::get_bool(const std::string& key, bool fallback) const {
    return has(key) ? get_bool(key) : fallback;
}
const std::vector<std::string>& GgufFile::get_strings(const std::string& key) const {
    const GgufValue& v = require(key);
    return with_key(path_, key, [&]() -> const std::vector<std::string>& { return v.to_strings(); });
}
std::vector<int64_t> GgufFile::get_ints(const std::string& key) const {
    const GgufValue& v = require(key);
    return with_key(path_, key, [&] { return v.to_ints(); });
}
std::vector<float> GgufFile::get_floats(const std::string& key) const {
    const GgufValue& v = require(key);
    return with_key(path_, key, [&] { return v.to_floats(); });
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
    const auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::vector<float> GgufFile::dequantize(const GgufTensorInfo& t) const {
    std::vector<float> out(static_cast<size_t>(t.numel()));
    try {
        diagecg::dequantize(t.type, tensor_data(t), out.data(), t.numel());
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(path_ + ": tensor '" + t.name + "': " + e.what());
    }
    return out;
}

}  // namespace diagecg
