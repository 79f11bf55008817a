#include "diagecg/util/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "diagecg/util/byte-reader.h"

namespace diagecg {

namespace {

struct DTypeName {
    DType dtype;
    const char* name;
    size_t size;
};
constexpr DTypeName kDTypes[] = {
    {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2},   {DType::kBF16, "BF16", 2}, {DType::kF64, "F64", 8},
    {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},   {DType::kI16, "I16", 2},   {DType::kI8, "I8", 1},
    {DType::kU8, "U8", 1},   {DType::kBool, "BOOL", 1},
};

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr uint64_t kMaxNumel = static_cast<uint64_t>(INT64_MAX);  // TensorInfo::numel() is int64

[[noreturn]] void fail(const std::string& path, const std::string& what) {
    throw std::runtime_error(path + ": " + what);
}

}  // namespace

DType parse_dtype(const std::string& s) {
    for (const auto& d : kDTypes)
        if (s == d.name) return d.dtype;
    throw std::runtime_error("unknown dtype \"" + s + "\"");
}

const char* dtype_name(DType d) {
    for (const auto& e : kDTypes)
        if (e.dtype == d) return e.name;
    return "?";
}

size_t dtype_size(DType d) {
    for (const auto& e : kDTypes)
        if (e.dtype == d) return e.size;
    return 0;
}

int64_t TensorInfo::numel() const {
    int64_t n = 1;
    for (const int64_t s : shape) n *= s;
    return n;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        ::close(fd);
        fail(path, "cannot stat");
    }
    map_size_ = static_cast<size_t>(st.st_size);
    if (map_size_ < 8) {
        ::close(fd);
        fail(path,
             "file is " + std::to_string(map_size_) + " bytes, too short for a safetensors header (8-byte length)");
    }
    map_ = ::mmap(nullptr, map_size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map_ == MAP_FAILED) {
        map_ = nullptr;
        fail(path, std::string("cannot mmap: ") + std::strerror(errno));
    }
    try {
        const auto* bytes = static_cast<const uint8_t*>(map_);
        uint64_t n_header = 0;
        for (int i = 7; i >= 0; --i) n_header = (n_header << 8) | bytes[i];
        if (n_header < 2)
            fail(path, "header length " + std::to_string(n_header) + " is too small (at least 2: \"{}\")");
        if (n_header > kMaxHeaderBytes)
            fail(path, "header length " + std::to_string(n_header) + " exceeds the limit of " +
                           std::to_string(kMaxHeaderBytes) + " bytes");
        if (n_header > map_size_ - 8)
            fail(path, "header length " + std::to_string(n_header) + " runs past the end of the file (" +
                           std::to_string(map_size_ - 8) + " bytes after the length field)");
        nlohmann::json header;
        try {
            header = nlohmann::json::parse(reinterpret_cast<const char*>(bytes + 8),
                                           reinterpret_cast<const char*>(bytes + 8 + n_header));
        } catch (const nlohmann::json::exception& e) {
            fail(path, std::string("safetensors header is not valid JSON: ") + e.what());
        }
        if (!header.is_object()) fail(path, "safetensors header is not a JSON object");
        data_ = bytes + 8 + n_header;
        const uint64_t data_size = map_size_ - 8 - n_header;
        for (const auto& [name, entry] : header.items()) {
            if (name == "__metadata__") {
                if (!entry.is_object()) fail(path, "__metadata__ is not an object");
                for (const auto& [k, v] : entry.items()) {
                    if (!v.is_string()) fail(path, "__metadata__." + k + " is not a string");
                    metadata_[k] = v.get<std::string>();
                }
                continue;
            }
            const std::string where = "tensor '" + name + "'";
            if (!entry.is_object()) fail(path, where + " entry is not an object");
            for (const char* key : {"dtype", "shape", "data_offsets"})
                if (!entry.contains(key)) fail(path, where + " has no \"" + key + "\"");
            TensorInfo t;
            t.name = name;
            if (!entry["dtype"].is_string()) fail(path, where + ": dtype is not a string");
            try {
                t.dtype = parse_dtype(entry["dtype"].get<std::string>());
            } catch (const std::runtime_error& e) {
                fail(path, where + ": " + e.what());
            }
            const auto& shape = entry["shape"];
            if (!shape.is_array()) fail(path, where + ": shape is not an array");
            uint64_t numel = 1;
            for (const auto& d : shape) {
                if (!d.is_number_integer() || d.get<int64_t>() < 0)
                    fail(path,
                         where + ": shape " + shape.dump() + " has a dimension that is not a non-negative integer");
                const uint64_t dim = d.get<uint64_t>();
                if (dim != 0 && numel > kMaxNumel / dim)
                    fail(path, where + ": shape " + shape.dump() + " has too many elements");
                numel *= dim;
                t.shape.push_back(static_cast<int64_t>(dim));
            }
            const auto& off = entry["data_offsets"];
            if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
                fail(path, where + ": data_offsets must be [begin, end] of non-negative integers, got " + off.dump());
            t.begin = off[0].get<uint64_t>();
            t.end = off[1].get<uint64_t>();
            if (t.begin > t.end)
                fail(path,
                     where + ": data_offsets begin " + std::to_string(t.begin) + " > end " + std::to_string(t.end));
            if (t.end > data_size)
                fail(path, where + ": data_offsets end " + std::to_string(t.end) + " is past the data buffer (" +
                               std::to_string(data_size) + " bytes)");
            if (numel > UINT64_MAX / dtype_size(t.dtype))
                fail(path, where + ": shape " + shape.dump() + " of " + dtype_name(t.dtype) +
                               " overflows a 64-bit byte count");
            const uint64_t expected = numel * dtype_size(t.dtype);
            if (t.end - t.begin != expected)
                fail(path, where + ": holds " + std::to_string(t.end - t.begin) + " bytes, but shape " + shape.dump() +
                               " of " + dtype_name(t.dtype) + " needs " + std::to_string(expected));
            tensors_.push_back(std::move(t));
        }
        std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
            return a.begin != b.begin ? a.begin < b.begin : a.end != b.end ? a.end < b.end : a.name < b.name;
        });
        // Empty tensors occupy no bytes; every other pair of byte ranges must be disjoint.
        const TensorInfo* reach = nullptr;  // the non-empty tensor reaching furthest so far
        for (const TensorInfo& t : tensors_) {
            if (t.begin == t.end) continue;
            if (reach && t.begin < reach->end)
                fail(path, "tensors '" + reach->name + "' [" + std::to_string(reach->begin) + ", " +
                               std::to_string(reach->end) + ") and '" + t.name + "' [" + std::to_string(t.begin) +
                               ", " + std::to_string(t.end) + ") overlap");
            if (!reach || t.end > reach->end) reach = &t;
        }
        for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
    } catch (...) {
        ::munmap(map_, map_size_);
        map_ = nullptr;
        throw;
    }
}

SafetensorsFile::~SafetensorsFile() {
    if (map_) ::munmap(map_, map_size_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

void write_safetensors(const std::string& path, const std::vector<TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    std::vector<const TensorView*> sorted;
    for (const auto& t : tensors) sorted.push_back(&t);
    std::sort(sorted.begin(), sorted.end(), [](const TensorView* a, const TensorView* b) { return a->name < b->name; });
    nlohmann::json header = nlohmann::json::object();  // keys sorted by name
    if (!metadata.empty()) header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (const auto* t : sorted) {
        const std::string where = "write_safetensors " + path + ": tensor '" + t->name + "'";
        if (t->name == "__metadata__") throw std::invalid_argument(where + ": the name is reserved");
        if (header.contains(t->name)) throw std::invalid_argument(where + " is given twice");
        const size_t size = dtype_size(t->dtype);
        uint64_t numel = 1;
        for (const int64_t d : t->shape) {
            if (d < 0) throw std::invalid_argument(where + ": negative dimension " + std::to_string(d));
            if (d != 0 && numel > kMaxNumel / static_cast<uint64_t>(d))
                throw std::invalid_argument(where + ": too many elements");
            numel *= static_cast<uint64_t>(d);
        }
        if (size == 0 || numel > UINT64_MAX / size || numel * size != t->n_bytes)
            throw std::invalid_argument(where + " has " + std::to_string(t->n_bytes) + " bytes, but its shape of " +
                                        dtype_name(t->dtype) + " needs " + std::to_string(numel) + " x " +
                                        std::to_string(size));
        if (t->n_bytes > 0 && t->data == nullptr) throw std::invalid_argument(where + ": data is null");
        header[t->name] = {
            {"dtype", dtype_name(t->dtype)}, {"shape", t->shape}, {"data_offsets", {offset, offset + t->n_bytes}}};
        offset += t->n_bytes;
    }
    std::string h = header.dump();
    h.append((8 - h.size() % 8) % 8, ' ');  // data buffer starts 8-byte aligned

    // Streamed to a temp file beside the target (tensors can be large), fsynced, then renamed.
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
    int err = 0;
    auto put = [&](const void* p, size_t n) {
        if (err == 0 && n > 0 && std::fwrite(p, 1, n, f) != n) err = errno ? errno : EIO;
    };
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(h.size()) >> (8 * i));
    put(len, 8);
    put(h.data(), h.size());
    for (const auto* t : sorted) put(t->data, t->n_bytes);
    if (err == 0 && (std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0)) err = errno ? errno : EIO;
    if (std::fclose(f) != 0 && err == 0) err = errno ? errno : EIO;
    if (err == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
    if (err != 0) {
        std::remove(tmp.c_str());
        throw std::runtime_error("cannot write " + path + ": " + std::strerror(err));
    }
}

SafetensorsSet::SafetensorsSet(const std::string& model_dir) {
    namespace fs = std::filesystem;
    const fs::path single = fs::path(model_dir) / "model.safetensors";
    const fs::path index = fs::path(model_dir) / "model.safetensors.index.json";
    if (fs::exists(index)) {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(read_file_text(index.string()));
        } catch (const nlohmann::json::exception& e) {
            throw std::runtime_error(index.string() + ": not valid JSON: " + e.what());
        }
        if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
            throw std::runtime_error(index.string() + ": has no \"weight_map\" object");
        std::map<std::string, size_t> opened;  // shard file name -> files_ index; each shard mapped once
        for (const auto& [tensor, file] : j["weight_map"].items()) {
            if (!file.is_string())
                throw std::runtime_error(index.string() + ": weight_map." + tensor + " is not a file name");
            const std::string name = file.get<std::string>();
            if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
                throw std::runtime_error(index.string() + ": shard name \"" + name + "\" must be a plain file name");
            if (!opened.count(name)) {
                opened[name] = files_.size();
                files_.push_back(std::make_unique<SafetensorsFile>((fs::path(model_dir) / name).string()));
            }
            if (!files_[opened[name]]->find(tensor))
                throw std::runtime_error(index.string() + ": tensor '" + tensor + "' is listed in shard " + name +
                                         " but not stored there");
        }
    } else if (fs::exists(single)) {
        files_.push_back(std::make_unique<SafetensorsFile>(single.string()));
    } else {
        throw std::runtime_error(model_dir + ": has neither model.safetensors nor model.safetensors.index.json");
    }
    for (size_t i = 0; i < files_.size(); ++i) {
        for (const auto& t : files_[i]->tensors()) {
            const auto [it, inserted] = index_.emplace(t.name, i);
            if (!inserted)
                throw std::runtime_error(model_dir + ": tensor '" + t.name + "' is stored in both " +
                                         files_[it->second]->path() + " and " + files_[i]->path());
        }
    }
}

std::vector<std::string> SafetensorsSet::names() const {
    std::vector<std::string> out;
    for (const auto& [name, file] : index_) out.push_back(name);
    return out;
}

const TensorInfo* SafetensorsSet::find(const std::string& name, const SafetensorsFile** file) const {
    const auto it = index_.find(name);
    if (it == index_.end()) return nullptr;
    if (file) *file = files_[it->second].get();
    return files_[it->second]->find(name);
}

}  // namespace diagecg
