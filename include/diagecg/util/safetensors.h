// safetensors files (Hugging Face), read through a read-only memory map.
// Layout: 1. u64 little-endian N = header length; 2. N bytes of JSON: {"NAME": {"dtype": "F32",
// "shape": [..], "data_offsets": [BEGIN, END]}, ..., "__metadata__": {str: str}}; 3. the data
// buffer; offsets are relative to its start. Every offset, size and shape is checked.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace diagecg {

enum class DType { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };
DType parse_dtype(const std::string& s);        // "F32", "BF16", ...; throws std::runtime_error
const char* dtype_name(DType d);
size_t dtype_size(DType d);

struct TensorInfo {
    std::string name;
    DType dtype = DType::kF32;
    std::vector<int64_t> shape;
    uint64_t begin = 0;             // byte offset in the data buffer
    uint64_t end = 0;
    int64_t numel() const;
};

class SafetensorsFile {
public:
    // Maps the file and validates the header; throws std::runtime_error naming the file and tensor.
    explicit SafetensorsFile(const std::string& path);
    ~SafetensorsFile();
    SafetensorsFile(const SafetensorsFile&) = delete;
    SafetensorsFile& operator=(const SafetensorsFile&) = delete;

    const std::string& path() const { return path_; }
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* find(const std::string& name) const;      // nullptr when absent
    const uint8_t* data(const TensorInfo& t) const { return data_ + t.begin; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

private:
    std::string path_;
    void* map_ = nullptr;
    size_t map_size_ = 0;
    const uint8_t* data_ = nullptr;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t> index_;
    std::map<std::string, std::string> metadata_;
};

struct TensorView {
    std::string name;
    DType dtype = DType::kF32;
    std::vector<int64_t> shape;
    const void* data = nullptr;
    size_t n_bytes = 0;
};

// Writes tensors (sorted by name, 8-byte aligned header) atomically (temp file + rename).
void write_safetensors(const std::string& path, const std::vector<TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// A model's weights: "DIR/model.safetensors", or the shards listed in
// "DIR/model.safetensors.index.json" ({"weight_map": {tensor: file}}).
class SafetensorsSet {
public:
    explicit SafetensorsSet(const std::string& model_dir);
    std::vector<std::string> names() const;                          // all tensor names, sorted
    const TensorInfo* find(const std::string& name, const SafetensorsFile** file) const;

private:
    std::vector<std::unique_ptr<SafetensorsFile>> files_;
    std::map<std::string, size_t> index_;                            // tensor -> files_ index
};

}  // namespace diagecg
