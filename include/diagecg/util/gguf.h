// GGUF files (llama.cpp's model format), versions 2 and 3, read through a read-only memory map.
// Layout (little-endian; ggml's docs/gguf.md):
//  1. magic "GGUF", u32 version, u64 n_tensors, u64 n_kv;
//  2. n_kv metadata pairs: string key, u32 value type, value. A string is u64 length + bytes (no NUL);
//     an array is u32 element type + u64 count + elements, and its elements may be arrays;
//  3. n_tensors tensor infos: string name, u32 n_dims (1..4), u64 ne[n_dims] (ne[0] varies fastest),
//     u32 ggml type, u64 offset into the data section (a multiple of the alignment);
//  4. zero padding to `general.alignment` (u32, a power of two, default 32), then the data section.
// Every count, length, shape, type and offset is checked against the file before it is used; a malformed
// file gives one std::runtime_error naming the file and what was wrong.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "diagecg/util/gguf-quants.h"

namespace diagecg {

enum class GgufValueType : uint32_t {
    kU8 = 0,
    kI8 = 1,
    kU16 = 2,
    kI16 = 3,
    kU32 = 4,
    kI32 = 5,
    kF32 = 6,
    kBool = 7,
    kString = 8,
    kArray = 9,
    kU64 = 10,
    kI64 = 11,
    kF64 = 12,
};
const char* gguf_value_type_name(GgufValueType t);  // "UINT32", "STRING", ... as the spec names them
uint64_t gguf_value_type_size(GgufValueType t);     // bytes of a number or bool; 0 for STRING and ARRAY

// One metadata value. Conversions throw std::runtime_error saying the type found and the one expected.
struct GgufValue {
    GgufValueType type = GgufValueType::kU8;
    uint64_t bits = 0;                             // numbers and bools: their bytes, zero-extended
    std::string str;                               // kString
    GgufValueType elem_type = GgufValueType::kU8;  // kArray: element type
    uint64_t n = 0;                                // kArray: element count
    std::vector<uint8_t> raw;                      // kArray of numbers or bools: n elements as in the file
    std::vector<std::string> strings;              // kArray of strings
    std::vector<GgufValue> arrays;                 // kArray of arrays

    int64_t to_int() const;   // any integer type whose value fits int64
    double to_float() const;  // FLOAT32 or FLOAT64
    bool to_bool() const;
    const std::string& to_string() const;
    std::vector<int64_t> to_ints() const;                // array of an integer type
    std::vector<float> to_floats() const;                // array of FLOAT32 or FLOAT64
    const std::vector<std::string>& to_strings() const;  // array of STRING
    std::string describe() const;                        // short text for logs: 32, "llama", [STRING x 49152]

    static GgufValue of_u32(uint32_t v);
    static GgufValue of_i32(int32_t v);
    static GgufValue of_u64(uint64_t v);
    static GgufValue of_f32(float v);
    static GgufValue of_bool(bool v);
    static GgufValue of_string(std::string v);
    static GgufValue of_strings(std::vector<std::string> v);
    static GgufValue of_i32s(const std::vector<int32_t>& v);
    static GgufValue of_f32s(const std::vector<float>& v);
};

struct GgufTensorInfo {
    std::string name;
    GgmlType type = GgmlType::kF32;
    std::vector<int64_t> ne;  // ggml order: ne[0] is the row length; a PyTorch [out, in] is ne {in, out}
    uint64_t offset = 0;      // bytes from the start of the data section
    uint64_t n_bytes = 0;
    int64_t numel() const;
    std::vector<int64_t> shape() const;  // row-major (PyTorch) order: ne reversed
};

class GgufFile {
public:
    // Maps `path` and validates everything but the tensor bytes themselves.
    explicit GgufFile(const std::string& path);
    // Parses a GGUF held in memory (tests, fuzzing); `name` stands for the path in errors.
    GgufFile(std::vector<uint8_t> bytes, std::string name);
    ~GgufFile();
    GgufFile(const GgufFile&) = delete;
    GgufFile& operator=(const GgufFile&) = delete;

    const std::string& path() const { return path_; }
    uint32_t version() const { return version_; }
    uint64_t alignment() const { return alignment_; }

    // Metadata, in file order.
    const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
    const GgufValue* find(const std::string& key) const;  // nullptr when absent
    bool has(const std::string& key) const { return find(key) != nullptr; }
    // Typed access: throws std::runtime_error naming the file and key when the key is missing (unless a
    // fallback is given) or holds another type.
    std::string get_string(const std::string& key) const;
    std::string get_string(const std::string& key, const std::string& fallback) const;
    int64_t get_int(const std::string& key) const;
    int64_t get_int(const std::string& key, int64_t fallback) const;
    double get_float(const std::string& key) const;
    double get_float(const std::string& key, double fallback) const;
    bool get_bool(const std::string& key) const;
    bool get_bool(const std::string& key, bool fallback) const;
    const std::vector<std::string>& get_strings(const std::string& key) const;
    std::vector<int64_t> get_ints(const std::string& key) const;
    std::vector<float> get_floats(const std::string& key) const;

    // Tensor infos, in file order.
    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    const GgufTensorInfo* find_tensor(const std::string& name) const;  // nullptr when absent
    const uint8_t* tensor_data(const GgufTensorInfo& t) const { return data_ + t.offset; }
    // For a caller that has copied tensor t elsewhere: the pages holding only t's bytes leave this process's
    // memory (a mapped file reads them again if they are touched; a GGUF held in memory is left as it is).
    void release_tensor_pages(const GgufTensorInfo& t) const;
    // The tensor's numel() values as float32, row-major; throws naming the tensor for a type that
    // cannot be dequantized.
    std::vector<float> dequantize(const GgufTensorInfo& t) const;

private:
    void parse();
    const GgufValue& require(const std::string& key) const;

    std::string path_;
    std::vector<uint8_t> owned_;  // in-memory files
    void* map_ = nullptr;
    size_t size_ = 0;
    const uint8_t* base_ = nullptr;
    const uint8_t* data_ = nullptr;  // data section
    uint32_t version_ = 0;
    uint64_t alignment_ = 32;
    std::vector<std::pair<std::string, GgufValue>> kv_;
    std::map<std::string, size_t> kv_index_;
    std::vector<GgufTensorInfo> tensors_;
    std::map<std::string, size_t> tensor_index_;
};

}  // namespace diagecg
