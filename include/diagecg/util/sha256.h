// SHA-256 (FIPS 180-4) of bytes and of files, as lower-case hex: checkpoint manifests and eval provenance.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace diagecg {

class Sha256 {
public:
    Sha256();
    void update(const void* data, size_t n);
    std::string hex_digest();          // finishes the hash; call once

private:
    void block(const uint8_t* p);
    uint32_t h_[8];
    uint8_t buf_[64];
    size_t buf_len_ = 0;
    uint64_t total_ = 0;
};

std::string sha256_hex(const std::string& bytes);
// Streams the file; throws std::runtime_error naming it when it cannot be read.
std::string sha256_file(const std::string& path);
// A file's sha256, or for a directory one hash over every regular file below it (relative path and content
// hash, in path order): a model directory's identity.
std::string sha256_tree(const std::string& path);

}  // namespace diagecg
