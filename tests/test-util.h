// Helpers shared by the test files.
#pragma once

#include <filesystem>
#include <string>

#include <unistd.h>

#include "diagecg/llm/llm-config.h"

namespace diagecg::test {

// A 2-layer Llama with GQA, small enough for adapter round trips.
inline LlmConfig tiny_llm_config() {
    LlmConfig c;
    c.vocab_size = 61;
    c.hidden_size = 32;
    c.intermediate_size = 48;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.rms_norm_eps = 1e-5;
    c.max_position_embeddings = 64;
    return c;
}

// A fresh, empty directory under the system temp dir, unique per test name and process.
inline std::filesystem::path temp_dir(const std::string& name) {
    auto d = std::filesystem::temp_directory_path() / ("diagecg-test-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    return d;
}

}  // namespace diagecg::test
