// init-llm: a language model from scratch (the bundled v1 model's base): a SentencePiece tokenizer trained on
// text files and a Llama-architecture model of a given shape with random weights, as a model directory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "diagecg/llm/llm-config.h"

namespace diagecg {

// A language model from scratch, for when no pretrained LLM is at hand (the bundled model): a SentencePiece
// model trained with the library's trainer on the text files, and a Llama-architecture model of the given
// shape with random weights (N(0, 0.02), norms 1), written as a model directory (config.json,
// model.safetensors, tokenizer.model) that stage 2 takes as its base_model.
struct InitLlmConfig {
    std::vector<std::string> text;      // training text: one document per line
    int64_t vocab_size = 2000;          // SentencePiece pieces (incl. <unk>, <s>, </s>)
    std::string model_type = "unigram"; // "unigram" | "bpe"
    LlmConfig model = small_llm();      // the shape ("model" section); vocab_size and bos/eos come from SentencePiece
    uint64_t seed = 0;

    // Defaults of the "model" section: 4 layers, d 256, 8/4 heads, SwiGLU 768, context 1024, tied embeddings.
    static LlmConfig small_llm();
};
InitLlmConfig init_llm_config_from_json(const nlohmann::json& j, const std::string& path);   // strict
InitLlmConfig load_init_llm_config(const std::string& file);
void run_init_llm(const InitLlmConfig& c, const std::string& out_dir);

}  // namespace diagecg
