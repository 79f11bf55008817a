// Files written by the program go to a temporary name beside the target and are renamed into
// place, so a crash never leaves a half-written file where a good one was.
#pragma once

#include <cstdint>
#include <string>

namespace diagecg {

void write_file_atomic(const std::string& path, const std::string& data);
void write_file_atomic(const std::string& path, const void* data, size_t n_bytes);

}  // namespace diagecg
