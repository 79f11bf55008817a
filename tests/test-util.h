// Helpers shared by the test files.
#pragma once

#include <filesystem>
#include <string>

#include <unistd.h>

namespace diagecg::test {

// A fresh, empty directory under the system temp dir, unique per test name and process.
inline std::filesystem::path temp_dir(const std::string& name) {
    auto d = std::filesystem::temp_directory_path() / ("diagecg-test-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    return d;
}

}  // namespace diagecg::test
