// diagecg generate -m DIR -p PROMPT: text generation with a KV cache, streamed to stdout.
#include <filesystem>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "diagecg/llm/chat-template.h"
#include "diagecg/llm/generate.h"
#include "diagecg/llm/llm-io.h"
#include "diagecg/llm/lora.h"
#include "diagecg/util/device.h"
#include "diagecg/util/log.h"

namespace diagecg::cli {

namespace {

struct GenerateCmdOptions {
    std::string model_dir;
    std::vector<std::string> prompts;
    std::string prompt_file;
    GenerateOptions gen;
    std::string dtype = "auto";
    std::string device = "cpu";
    bool json = false;
    bool no_bos = false;
    bool chat = false;                  // each prompt is a user turn in the model's chat template
    std::string chat_template;          // template by name (implies chat)
    std::string system;                 // system turn of the chat
    std::vector<std::string> loras;     // FILE or FILE:SCALE
    std::string logits_out;             // each prompt's first-step logits, [n_prompts, V] raw f32
    int64_t n_ctx = 0;                  // context length limit in tokens; 0 = the model's max_position_embeddings
};

// -c/--ctx-size: the longest prompt + n_predict must fit in n_ctx, and n_ctx in the model's context.
void check_ctx_size(int64_t n_ctx, int64_t n_ctx_model, const std::vector<std::vector<int64_t>>& ids, int64_t n_predict) {
    if (n_ctx < 0) throw std::invalid_argument("--ctx-size must be >= 0 (0 = the model's), got " + std::to_string(n_ctx));
    if (n_ctx > n_ctx_model)
        throw std::invalid_argument("--ctx-size " + std::to_string(n_ctx) + " exceeds the model's context of " +
                                    std::to_string(n_ctx_model) + " tokens (max_position_embeddings)");
    const int64_t limit = n_ctx > 0 ? n_ctx : n_ctx_model;
    for (size_t i = 0; i < ids.size(); ++i) {
        const int64_t n_prompt = static_cast<int64_t>(ids[i].size());
        if (n_prompt + n_predict > limit)
            throw std::invalid_argument("prompt " + std::to_string(i) + " (" + std::to_string(n_prompt) + " tokens) + --n-predict " +
                                        std::to_string(n_predict) + " = " + std::to_string(n_prompt + n_predict) +
                                        " tokens exceed the context of " + std::to_string(limit) +
                                        (n_ctx > 0 ? " (--ctx-size)" : " (the model's max_position_embeddings)"));
    }
}

// logits after each prompt's last token, the ones greedy step 0 picks from: [n_prompts, V] f32 to `path`.
void write_first_step_logits(Llama& model, const std::vector<std::vector<int64_t>>& ids, const std::string& path) {
    torch::NoGradGuard ng;
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary);
        for (const auto& p : ids) {
            const auto x = torch::tensor(p).unsqueeze(0).to(model->parameters()[0].device());
            const auto lg =
                model->logits(model->hidden(x).select(1, x.size(1) - 1))[0].to(torch::kCPU, torch::kFloat).contiguous();
            out.write(reinterpret_cast<const char*>(lg.data_ptr<float>()),
                      static_cast<std::streamsize>(lg.numel() * 4));
        }
        if (!out.flush()) throw std::runtime_error("cannot write logits to " + tmp);
    }
    std::filesystem::rename(tmp, path);
}

void run_generate(GenerateCmdOptions o) {
    if (!o.prompt_file.empty()) {
        std::ifstream in(o.prompt_file);
        if (!in) throw std::runtime_error("cannot read prompt file " + o.prompt_file);
        for (std::string line; std::getline(in, line);) if (!line.empty()) o.prompts.push_back(line);
    }
    if (o.prompts.empty()) o.prompts.push_back("");
    LoadOptions lo = parse_load_dtype(o.dtype == "auto" ? "native" : o.dtype, parse_device(o.device));
    for (const auto& arg : o.loras) lo.base_lora = lo.base_lora && !adapter_replaces_base_lora(parse_lora_arg(arg).first);
    auto m = load_model(o.model_dir, lo);
    for (const auto& arg : o.loras) {
        const auto [file, scale] = parse_lora_arg(arg);
        apply_adapter(m.model, file, scale);
    }
    const bool chat = o.chat || !o.chat_template.empty();
    std::unique_ptr<ChatTemplate> tpl;
    if (chat) {
        tpl = std::make_unique<ChatTemplate>(o.chat_template.empty() ? ChatTemplate::from_source(m.tokenizer->chat_template())
                                                                    : ChatTemplate::named(o.chat_template));
        if (o.gen.stop_at_eos) o.gen.stop.push_back(tpl->end_of_turn());   // --ignore-eos: past the turn's end too
        log::info("chat template {}", tpl->name());
    }
    std::vector<std::vector<int64_t>> ids;
    for (const auto& p : o.prompts) {
        if (tpl) {
            std::vector<ChatMessage> turns;
            if (!o.system.empty()) turns.push_back({"system", o.system});
            turns.push_back({"user", p});
            ids.push_back(m.tokenizer->encode(tpl->render(turns, true).text, false));  // the template holds BOS
            continue;
        }
        ids.push_back(m.tokenizer->encode(p, !o.no_bos));
        if (ids.back().empty()) throw std::invalid_argument("prompt \"" + p + "\" has no tokens (and --no-bos was given)");
    }
    check_ctx_size(o.n_ctx, m.model->config().max_position_embeddings, ids, o.gen.n_predict);
    if (!o.logits_out.empty()) write_first_step_logits(m.model, ids, o.logits_out);
    const bool streaming = !o.json && o.prompts.size() == 1;
    if (streaming && !chat) print_result(o.prompts[0]);
    GenerateStats stats;
    const auto results = generate(m.model, *m.tokenizer, ids, o.gen,
                                  streaming ? StreamFn([](size_t, const std::string& s) { print_result(s); }) : StreamFn(),
                                  &stats);
    if (streaming) {
        print_result("\n");
    } else {
        for (size_t i = 0; i < results.size(); ++i) {
            const auto& r = results[i];
            if (o.json) {
                nlohmann::json j = {{"prompt", o.prompts[i]}, {"text", r.text}, {"stop_reason", r.stop_reason},
                                    {"n_prompt_tokens", r.n_prompt}, {"n_generated", r.tokens.size()}, {"tokens", r.tokens},
                                    {"prompt_tokens", ids[i]}};
                print_result(j.dump() + "\n");
            } else {
                print_result((chat ? "" : o.prompts[i]) + r.text + "\n");
            }
        }
    }
    log::info("prefill {} tokens in {:.3f} s; {} decode steps in {:.3f} s ({:.1f} steps/s)", stats.n_prefill_tokens,
              stats.prefill_s, stats.n_decode_steps, stats.decode_s,
              stats.decode_s > 0 ? stats.n_decode_steps / stats.decode_s : 0.0);
}

}  // namespace

void add_generate(CLI::App& app, RunFn& run) {
    auto o = std::make_shared<GenerateCmdOptions>();
    o->gen.sampling.temperature = 0.8f;
    auto* sub = app.add_subcommand("generate", "Generate text from a prompt with a (possibly extended) Llama-family model");
    sub->add_option("-m,--model", o->model_dir, "model directory (HF layout: config.json, model.safetensors, tokenizer) or a GGUF file")->required();
    sub->add_option("-p,--prompt", o->prompts, "prompt (repeatable: several prompts run as one batch)");
    sub->add_option("-f,--file", o->prompt_file, "file with one prompt per line (batched)");
    sub->add_option("-n,--n-predict", o->gen.n_predict, "max new tokens")->capture_default_str();
    sub->add_option("--temp", o->gen.sampling.temperature, "temperature (0 = greedy)")->capture_default_str();
    sub->add_option("--top-k", o->gen.sampling.top_k, "top-k (0 = off)")->capture_default_str();
    sub->add_option("--top-p", o->gen.sampling.top_p, "top-p (1 = off)")->capture_default_str();
    sub->add_option("--min-p", o->gen.sampling.min_p, "min-p: keep tokens with p >= P * p_max (0 = off)")
        ->check(CLI::Range(0.0, 1.0))
        ->capture_default_str();
    sub->add_option("-c,--ctx-size", o->n_ctx, "context length limit in tokens: prompt + n-predict must fit (0 = the model's)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    sub->add_option("--repeat-penalty", o->gen.sampling.repetition_penalty, "repetition penalty (1 = off)")->capture_default_str();
    sub->add_option("--repeat-last-n", o->gen.sampling.repetition_window, "tokens the penalty looks back on")->capture_default_str();
    sub->add_option("-s,--seed", o->gen.sampling.seed, "sampling seed")->capture_default_str();
    sub->add_option("--stop", o->gen.stop, "stop string (repeatable)");
    sub->add_flag("--ignore-eos", [o](int64_t) { o->gen.stop_at_eos = false; }, "keep generating past EOS (and, with --chat, past the template's end of turn)");
    sub->add_flag("--no-bos", o->no_bos, "do not prepend BOS");
    sub->add_flag("--chat", o->chat, "wrap each prompt as a user turn in the model's chat template; print the answer only");
    sub->add_option("--chat-template", o->chat_template, "chat template by name, overriding the model's (implies --chat): " +
                    [] { std::string n; for (const auto& x : ChatTemplate::names()) n += (n.empty() ? "" : ", ") + x; return n; }());
    sub->add_option("--system", o->system, "system turn for --chat");
    sub->add_option("--dtype", o->dtype, "weights: auto (a GGUF's Q4_0/Q4_1/Q8_0/Q4_K/Q6_K matrices kept in their blocks and run on int8-quantized activations, as llama.cpp; a BF16 GGUF in bf16; f32 otherwise), native (the same), f32, bf16, f16, or q8_0/q4_0/q4_1/q4_k/q6_k (quantized at load)")->capture_default_str();
    add_device_flag(sub, o->device);
    sub->add_flag("--json", o->json, "print one JSON object per prompt");
    sub->add_option("--logits-out", o->logits_out, "write each prompt's first-step logits to FILE (raw f32, one row of V per prompt)");
    sub->add_option("--lora", o->loras, "LoRA adapter FILE or FILE:SCALE applied to the model (repeatable)");
    sub->callback([&run, o] { run = [o] { run_generate(*o); }; });
}

}  // namespace diagecg::cli
