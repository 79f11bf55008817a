#include "diagecg/train/init-llm.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include <ATen/Parallel.h>

#include "diagecg/llm/llm-io.h"
#include "diagecg/llm/text-tokenizer.h"
#include "diagecg/llm/vocab.h"
#include "diagecg/util/json-config.h"
#include "diagecg/util/log.h"

namespace diagecg {

namespace fs = std::filesystem;

LlmConfig InitLlmConfig::small_llm() {
    LlmConfig m;
    m.hidden_size = 256;
    m.intermediate_size = 768;
    m.num_hidden_layers = 4;
    m.num_attention_heads = 8;
    m.num_key_value_heads = 4;
    m.max_position_embeddings = 1024;
    m.rms_norm_eps = 1e-5;
    m.tie_word_embeddings = true;
    return m;
}

InitLlmConfig init_llm_config_from_json(const nlohmann::json& j, const std::string& path) {
    InitLlmConfig c;
    JsonObject o(j, path);
    o.get("text", c.text);
    if (c.text.empty()) throw std::invalid_argument(path + ".text: at least one text file");
    o.get("seed", c.seed);
    if (const auto* tj = o.object("tokenizer")) {
        JsonObject t(*tj, path + ".tokenizer");
        t.get("vocab_size", c.vocab_size);
        t.get("model_type", c.model_type);
        t.finish();
    }
    const auto* mj = o.object("model");
    if (!mj) throw std::invalid_argument(path + ".model: required (the model's shape)");
    {
        JsonObject m(*mj, path + ".model");
        m.get("hidden_size", c.model.hidden_size);
        m.get("intermediate_size", c.model.intermediate_size);
        m.get("num_hidden_layers", c.model.num_hidden_layers);
        m.get("num_attention_heads", c.model.num_attention_heads);
        m.get("num_key_value_heads", c.model.num_key_value_heads);
        m.get("max_position_embeddings", c.model.max_position_embeddings);
        m.get("rope_theta", c.model.rope_theta);
        m.get("rms_norm_eps", c.model.rms_norm_eps);
        m.get("tie_word_embeddings", c.model.tie_word_embeddings);
        m.finish();
    }
    o.finish();
    if (c.vocab_size < 16) throw std::invalid_argument(path + ".tokenizer.vocab_size: must be >= 16");
    if (c.model_type != "unigram" && c.model_type != "bpe")
        throw std::invalid_argument(path + ".tokenizer.model_type: \"unigram\" or \"bpe\", got \"" + c.model_type + "\"");
    return c;
}

InitLlmConfig load_init_llm_config(const std::string& file) { return init_llm_config_from_json(read_json_file(file), file); }

void run_init_llm(const InitLlmConfig& c, const std::string& out_dir) {
    for (const auto& f : c.text)
        if (!fs::is_regular_file(f)) throw std::runtime_error(f + ": no such text file");
    LlmConfig cfg = c.model;
    cfg.vocab_size = c.vocab_size;
    cfg.validate();   // before the tokenizer trains, so a bad shape fails fast
    // SentencePiece writes PREFIX.model / PREFIX.vocab; train into a temporary directory, then move.
    const fs::path tmp = fs::path(out_dir + ".tmp-spm");
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    std::string inputs;
    for (const auto& f : c.text) inputs += (inputs.empty() ? "" : ",") + f;
    log::info("training a {}-piece {} SentencePiece model on {}", c.vocab_size, c.model_type, inputs);
    train_sentencepiece("--input=" + inputs + " --model_prefix=" + (tmp / "tokenizer").string() +
                        " --vocab_size=" + std::to_string(c.vocab_size) + " --model_type=" + c.model_type +
                        " --character_coverage=1.0 --byte_fallback=true --split_digits=true"
                        " --hard_vocab_limit=false --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 --minloglevel=2 --num_threads=" +
                        std::to_string(std::max(1, at::get_num_threads())));
    LoadedModel m;
    m.dir = tmp.string();
    m.tokenizer = std::make_shared<TextTokenizer>((tmp / "tokenizer.model").string());
    cfg.vocab_size = m.tokenizer->n_pieces();
    cfg.bos_token_id = m.tokenizer->bos_id();
    cfg.eos_token_id = m.tokenizer->eos_id();
    m.vocab = Vocab(cfg.vocab_size, 0);
    m.model = random_llama(cfg, c.seed, LoadOptions{});
    save_model(m, out_dir);
    fs::remove_all(tmp);
    int64_t n = 0;
    for (const auto& p : m.model->parameters()) n += p.numel();
    log::info("{}: {} parameters, {} text pieces, context {}", out_dir, n, cfg.vocab_size, cfg.max_position_embeddings);
}

}  // namespace diagecg
