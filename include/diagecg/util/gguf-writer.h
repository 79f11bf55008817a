// Writes GGUF v3 files (the layout is in gguf.h): metadata in insertion order, tensors laid out in order at
// `general.alignment` (default 32).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "diagecg/util/gguf.h"

namespace diagecg {

class GgufWriter {
public:
    void set(const std::string& key, GgufValue value);  // replaces an existing key in place
    // data: ggml_row_bytes(type, numel) bytes, which must stay valid until write().
    void add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne, const void* data);
    std::vector<uint8_t> to_bytes() const;
    void write(const std::string& path) const;  // through a temporary file and a rename

private:
    uint64_t alignment() const;
    std::vector<uint8_t> header_bytes() const;  // up to the aligned start of the data section
    struct Tensor {
        GgufTensorInfo info;
        const void* data;
    };
    std::vector<std::pair<std::string, GgufValue>> kv_;
    std::vector<Tensor> tensors_;
};

}  // namespace diagecg
