#include "diagecg/llm/llm-io.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "diagecg/llm/gguf-model.h"
#include "diagecg/llm/lora.h"
#include "diagecg/util/atomic-file.h"
#include "diagecg/util/byte-reader.h"
#include "diagecg/util/device.h"
#include "diagecg/util/gguf-writer.h"
#include "diagecg/util/gguf.h"
#include "diagecg/util/json-config.h"
#include "diagecg/util/log.h"
#include "diagecg/util/module-weights.h"
#include "diagecg/util/safetensors.h"
#include "diagecg/util/sha256.h"

namespace diagecg {

namespace fs = std::filesystem;


std::string hf_tensor_name(const std::string& param_name) {
    // Our module tree mirrors HF's LlamaModel under "model.", except the output head.
    static const std::map<std::string, std::string> kTopLevel = {
        {"embed_tokens.weight", "model.embed_tokens.weight"},
        {"norm.weight", "model.norm.weight"},
        {"lm_head.weight", "lm_head.weight"},
        {"embed_extra", "diagecg.embed_extra"},  // rows appended to a vocabulary held in blocks (llm.h)
        {"head_extra", "diagecg.head_extra"},
    };
    if (const auto it = kTopLevel.find(param_name); it != kTopLevel.end()) return it->second;
    if (param_name.rfind("layers.", 0) == 0) return "model." + param_name;
    throw std::logic_error("no HF name for parameter '" + param_name + "'");
}

void load_weights(Llama& model, const std::string& dir) { load_module_weights(*model, dir, hf_tensor_name, "weights"); }

namespace {

void apply_quantization(LoadedModel& m, const LoadOptions& opts);  // below: --dtype q8_0/q4_0/q4_1

bool is_gguf_file(const std::string& path) {
    std::error_code ec;
    return fs::is_regular_file(path, ec) && fs::path(path).extension() == ".gguf";
}

// The model of `cfg` in opts.dtype (huge pages on the CPU), weights from `load`, moved to opts.device, in eval mode.
// `prepare` runs before the weights are placed (quantized layers drop their f32 weights there). With
// `every_weight_loaded`, Linear weights are not initialised first (their memory is only touched by the load).
void build_model(LoadedModel& m, const LlmConfig& cfg, const LoadOptions& opts, const std::function<void()>& load,
                 const std::function<void()>& prepare = {}, bool every_weight_loaded = false) {
    m.tokenizer->set_vocab(m.vocab);
    if (every_weight_loaded) {
        SkipParameterInit skip;
        m.model = Llama(cfg);
    } else {
        m.model = Llama(cfg);
    }
    m.model->to(opts.dtype);
    if (prepare) prepare();
    if (opts.device.is_cpu()) place_parameters_in_huge_pages(*m.model);
    load();
    m.model->to(opts.device);
    m.model->eval();
    log::debug("loaded {} ({} layers, d={}, vocab {})", m.dir, cfg.num_hidden_layers, cfg.hidden_size, cfg.vocab_size);
}

// A GGUF model file (llama.cpp's format): config, tokenizer and weights from the one file.
LoadedModel load_gguf_model(const std::string& path, const LoadOptions& opts) {
    const auto file = std::make_shared<const GgufFile>(path);
    const GgufFile& f = *file;
    LoadedModel m;
    m.dir = path;
    const LlmConfig cfg = llm_config_from_gguf(f);
    m.tokenizer = std::make_shared<TextTokenizer>(path);
    m.vocab = Vocab(cfg.vocab_size, 0);
    if (opts.keep_quantized && (opts.dtype != torch::kFloat || !opts.device.is_cpu()))
        throw std::invalid_argument("quantized weights (--dtype native) run in f32 on the CPU");
    if (opts.keep_quantized) {
        // "native" on a file whose matrices are all BF16: no blocks to keep, its own dtype is bf16
        bool all_bf16 = true;
        for (const auto& t : f.tensors())
            if (t.ne.size() == 2) all_bf16 = all_bf16 && t.type == GgmlType::kBF16;
        if (all_bf16) {
            LoadOptions dense = opts;
            dense.keep_quantized = false;
            dense.dtype = torch::kBFloat16;
            log::info("{}: BF16 matrices, loaded in bf16", path);
            return load_gguf_model(path, dense);
        }
    }
    std::set<std::string> held;
    const auto keep = [&] {
        if (!opts.keep_quantized) return;
        const int64_t n = keep_gguf_quantized(m.model, file, &held);
        log::info("{}: {} matrices kept in their quantized blocks", path, n);
    };
    // load_gguf_weights refuses a file that lacks a tensor, so every weight is loaded or held
    build_model(m, cfg, opts, [&] { load_gguf_weights(m.model, f, &held); }, keep, /*every_weight_loaded=*/true);
    apply_quantization(m, opts);
    if (!held.empty()) m.base_gguf = path;
    return m;
}

constexpr const char* kBaseModelFile = "base-model.json";
constexpr const char* kBaseLoraName = "lora";   // DIR/lora.json + lora.safetensors: a LoRA kept beside the blocks

// The GGUF a model directory's base-model.json names: found beside the directory's files or in the cache
// (DIAGECG_CACHE or ~/.cache/diagecg, models/), and checked by size and sha256.
std::string find_base_gguf(const std::string& dir, const nlohmann::json& j) {
    const std::string where = (fs::path(dir) / kBaseModelFile).string();
    const auto get = [&](const char* key) {
        if (!j.contains(key)) throw std::runtime_error(where + ": no \"" + std::string(key) + "\"");
        return j.at(key);
    };
    if (get("format") != "diagecg-gguf-base") throw std::runtime_error(where + ": format is not \"diagecg-gguf-base\"");
    const std::string file = get("file").get<std::string>();
    const auto bytes = get("bytes").get<uint64_t>();
    const std::string sha = get("sha256").get<std::string>();
    const std::string source = j.value("source", std::string());
    std::vector<fs::path> dirs{fs::path(dir)};
    if (const char* c = std::getenv("DIAGECG_CACHE"); c && *c)
        dirs.push_back(fs::path(c) / "models");
    else if (const char* h = std::getenv("HOME"); h && *h)
        dirs.push_back(fs::path(h) / ".cache/diagecg/models");
    std::string looked;
    for (const auto& d : dirs) {
        const fs::path p = fs::path(file).is_absolute() ? fs::path(file) : d / file;
        std::error_code ec;
        if (!fs::is_regular_file(p, ec)) {
            looked += (looked.empty() ? "" : ", ") + p.parent_path().string();
            continue;
        }
        const auto size = fs::file_size(p);
        if (size != bytes || sha256_file(p.string()) != sha)
            throw std::runtime_error(p.string() + " is not the base model " + where + " names (" +
                                     std::to_string(bytes) + " bytes, sha256 " + sha +
                                     (source.empty() ? "" : ", from " + source) +
                                     "): a different file under the same name");
        return p.string();
    }
    throw std::runtime_error(
        dir + ": its base model " + file + " is not in " + looked +
        (source.empty() ? "" : " (it comes from " + source + "; scripts/setup-python.sh installs it)"));
}

// A model on a quantized GGUF base (QLoRA runs): the base from its GGUF, then this directory's own tensors (the
// appended ECG rows, norms) and its ECG vocabulary (config.json).
LoadedModel load_gguf_based_model(const std::string& dir, const LoadOptions& opts) {
    const auto base_json = read_json_file((fs::path(dir) / kBaseModelFile).string());
    LoadedModel m = load_gguf_model(find_base_gguf(dir, base_json), opts);
    const LlmConfig own = load_llm_config((fs::path(dir) / "config.json").string());
    LlmConfig cfg = m.model->config();
    if (own.hidden_size != cfg.hidden_size || own.num_hidden_layers != cfg.num_hidden_layers)
        throw std::runtime_error(dir + "/config.json: its shape is not its base model's");
    const SafetensorsFile st((fs::path(dir) / "model.safetensors").string());
    const auto tensor = [&](const TensorInfo& t) {
        auto x = torch::from_blob(const_cast<uint8_t*>(st.data(t)), t.shape, torch_dtype_of(t.dtype, t.name)).clone();
        return x.to(torch::kFloat);
    };
    if (own.ecg.n_ecg_codes > 0) {
        if (own.ecg.base_vocab_size != cfg.vocab_size)
            throw std::runtime_error(dir + "/config.json: base_vocab_size " + std::to_string(own.ecg.base_vocab_size) +
                                     " is not its base model's vocabulary (" + std::to_string(cfg.vocab_size) + ")");
        const Vocab vocab(cfg.vocab_size, own.ecg.n_ecg_codes);
        const TensorInfo* e = st.find("diagecg.embed_extra");
        const TensorInfo* h = st.find("diagecg.head_extra");
        if (!e) throw std::runtime_error(dir + "/model.safetensors: no diagecg.embed_extra (the ECG token rows)");
        // an untied f32 head is stored whole (lm_head.weight, copied below); a quantized one's rows as head_extra
        const auto& head = m.model->lm_head;
        const torch::Tensor head_rows = h ? tensor(*h)
                                        : head && !head->qweight.defined()
                                            ? torch::zeros({vocab.size() - cfg.vocab_size, cfg.hidden_size})
                                            : torch::Tensor();
        m.model->resize_vocab(vocab.size(), tensor(*e), head_rows);
        cfg.vocab_size = vocab.size();
        cfg.ecg = own.ecg;
        m.model->set_config(cfg);
        m.vocab = vocab;
        m.tokenizer->set_vocab(vocab);
    }
    std::map<std::string, torch::Tensor> params;
    for (auto& kv : m.model->named_parameters(true)) params[hf_tensor_name(kv.key())] = kv.value();
    std::string problems;
    torch::NoGradGuard ng;
    for (const auto& t : st.tensors()) {
        if (t.name == "diagecg.embed_extra" || t.name == "diagecg.head_extra") continue;
        const auto it = params.find(t.name);
        if (it == params.end() || it->second.numel() == 0) {
            problems += "\n  " + t.name + ": not a parameter of the base model outside its blocks";
        } else if (it->second.sizes().vec() != t.shape) {
            problems += "\n  " + t.name + ": shape mismatch";
        } else {
            it->second.copy_(tensor(t));
        }
    }
    if (!problems.empty()) throw std::runtime_error(dir + "/model.safetensors:" + problems);
    // its own LoRA (stage 2 trained one beside the blocks): merged into dense weights, attached to kept blocks
    const fs::path lora = fs::path(dir) / kBaseLoraName;
    if (opts.base_lora && fs::exists(lora.string() + ".json"))
        apply_adapter(m.model, read_adapter_spec(lora.string()), 1.0, opts.keep_quantized);
    m.dir = dir;
    return m;
}

// Tokenizer files a model directory may carry; save_model copies those the source has.
constexpr const char* kTokenizerFiles[] = {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "vocab.json",
                                           "merges.txt", "special_tokens_map.json", "chat_template.jinja", "tokenizer.gguf"};

// A GGUF's tokenizer as a vocab-only GGUF (its tokenizer.* metadata, no tensors), which TextTokenizer reads.
void write_tokenizer_gguf(const std::string& gguf_path, const std::string& out) {
    const GgufFile f(gguf_path);
    GgufWriter w;
    for (const auto& [key, value] : f.metadata())
        if (key.rfind("tokenizer.", 0) == 0 || key == "general.architecture") w.set(key, value);
    w.write(out);
}

}  // namespace

LoadOptions parse_load_dtype(const std::string& dtype, torch::Device device) {
    LoadOptions o;
    o.device = device;
    if (dtype == "native") {
        o.keep_quantized = true;
        return o;
    }
    for (const auto& [name, t] : {std::pair<const char*, GgmlType>{"q8_0", GgmlType::kQ8_0}, {"q4_0", GgmlType::kQ4_0},
                                  {"q4_1", GgmlType::kQ4_1}, {"q4_k", GgmlType::kQ4_K}, {"q6_k", GgmlType::kQ6_K}})
        if (dtype == name) {
            o.quantize_to = t;
            return o;
        }
    try {
        o.dtype = parse_dtype_flag(dtype);
    } catch (const std::invalid_argument&) {
        throw std::invalid_argument("unknown dtype \"" + dtype + "\" (f32, bf16, f16, native, q8_0, q4_0, q4_1, q4_k or q6_k)");
    }
    return o;
}

// The interleaved blocks of a model quantized at load into one huge-page buffer, as place_parameters_in_huge_pages
// puts the parameters (a GGUF's kept blocks are written into one by keep_gguf_quantized).
void place_quant_weights_in_huge_pages(Llama& model) {
    std::vector<torch::Tensor*> ts;
    for (auto& kv : model->named_modules("", false))
        if (auto* l = kv.value()->as<LinearImpl>(); l && l->qweight.interleaved) ts.push_back(&l->qweight.blocks);
    const bool shared = model->tied_head_q.defined() && model->embed_q.defined() &&
                        model->tied_head_q.blocks.is_same(model->embed_q.blocks);
    if (model->embed_q.interleaved) ts.push_back(&model->embed_q.blocks);
    if (model->tied_head_q.interleaved && !shared) ts.push_back(&model->tied_head_q.blocks);
    place_tensors_in_huge_pages(ts);
    if (shared) model->tied_head_q.blocks = model->embed_q.blocks;
}

int64_t quantize_linear_layers(Llama& model, GgmlType t) {
    torch::NoGradGuard ng;
    int64_t n = 0, skipped = 0, fallback = 0;
    const auto quantize = [&](const torch::Tensor& w) {
        const GgmlType fit = quant_type_for_cols(t, w.size(1));
        fallback += fit != t;
        return interleave_for_cpu(quantize_weight(w, fit));
    };
    for (auto& kv : model->named_modules("", false)) {
        auto* l = kv.value()->as<LinearImpl>();
        if (!l || l->qweight.defined()) continue;
        if (l->in_features() % 32 != 0) {
            ++skipped;
            continue;
        }
        l->set_quantized(quantize(l->weight));
        ++n;
    }
    if (!model->lm_head && !model->tied_head_q.defined() && model->config().hidden_size % 32 == 0) {
        model->tied_head_q = quantize(model->embed_tokens->weight);
        ++n;
    }
    if (skipped) log::info("{} layers keep their weights: inputs not a multiple of 32", skipped);
    if (fallback)
        log::info("{} matrices quantized to {}: inputs not a multiple of 256 ({} needs that)", fallback,
                  ggml_type_name(quant_type_for_cols(t, 32)), ggml_type_name(t));
    place_quant_weights_in_huge_pages(model);
    return n;
}

namespace {
void apply_quantization(LoadedModel& m, const LoadOptions& opts) {
    if (opts.quantize_to == GgmlType::kF32) return;
    if (opts.dtype != torch::kFloat || !opts.device.is_cpu())
        throw std::invalid_argument("quantized weights run in f32 on the CPU");
    const int64_t n = quantize_linear_layers(m.model, opts.quantize_to);
    log::info("{}: {} matrices quantized to {} at load", m.dir, n, ggml_type_name(opts.quantize_to));
}
}  // namespace

LoadedModel load_model(const std::string& dir, const LoadOptions& opts) {
    if (is_gguf_file(dir)) return load_gguf_model(dir, opts);
    if (!fs::is_directory(dir)) throw std::runtime_error("model directory " + dir + " does not exist");
    if (fs::exists(fs::path(dir) / kBaseModelFile)) return load_gguf_based_model(dir, opts);
    LoadedModel m;
    m.dir = dir;
    const LlmConfig cfg = load_llm_config((fs::path(dir) / "config.json").string());
    m.tokenizer = std::make_shared<TextTokenizer>(dir);  // tokenizer.json, vocab.json + merges.txt or tokenizer.model
    if (cfg.ecg.n_ecg_codes > 0) {
        m.vocab = Vocab(cfg.ecg.base_vocab_size, cfg.ecg.n_ecg_codes);
        if (m.vocab.size() != cfg.vocab_size)
            throw std::runtime_error(dir + "/config.json: vocab_size " + std::to_string(cfg.vocab_size) +
                                     " does not match base_vocab_size + n_ecg_codes + specials = " + std::to_string(m.vocab.size()));
    } else {
        m.vocab = Vocab(cfg.vocab_size, 0);
    }
    build_model(m, cfg, opts, [&] { load_weights(m.model, dir); });
    apply_quantization(m, opts);
    return m;
}

namespace {

// DIR/model.safetensors (HF names) from the model's parameters: `pick` gives the tensor written for a parameter,
// undefined to leave it out.
void write_parameters(const Llama& model, const std::string& dir,
                      const std::function<torch::Tensor(const std::string&, const torch::Tensor&)>& pick) {
    std::vector<torch::Tensor> keep;
    std::vector<TensorView> views;
    for (const auto& kv : model->named_parameters(true)) {
        const torch::Tensor p = pick(kv.key(), kv.value());
        if (!p.defined()) continue;
        const auto t = p.detach().to(torch::kCPU).contiguous();
        keep.push_back(t);
        views.push_back({hf_tensor_name(kv.key()), dtype_from_torch(t.scalar_type()), t.sizes().vec(), t.data_ptr(),
                         static_cast<size_t>(t.nbytes())});
    }
    write_safetensors((fs::path(dir) / "model.safetensors").string(), views, {{"format", "pt"}});
}

// A model whose matrices are a GGUF's blocks: base-model.json names the GGUF (file name, size, sha256), and
// model.safetensors holds every parameter outside the blocks (norms, appended ECG rows).
void save_gguf_based_model(const LoadedModel& m, const std::string& dir) {
    fs::create_directories(dir);
    // a matrix held in blocks is an empty parameter: left out; attached adapters go to lora.json/.safetensors
    const auto is_lora = [](const std::string& n) { return n.find(".lora_A") != n.npos || n.find(".lora_B") != n.npos; };
    write_parameters(m.model, dir, [&](const std::string& name, const torch::Tensor& p) {
        return p.numel() && !is_lora(name) ? p : torch::Tensor();
    });
    const std::string lora_path = (fs::path(dir) / kBaseLoraName).string();
    if (has_attached_lora(m.model)) {
        Llama model = m.model;   // a handle: the adapters are read, not changed
        save_adapter(model, attached_lora_config(model), {}, lora_path);
    } else {
        fs::remove(lora_path + ".json");
        fs::remove(lora_path + ".safetensors");
    }
    nlohmann::json base = {{"format", "diagecg-gguf-base"},
                           {"file", fs::path(m.base_gguf).filename().string()},
                           {"bytes", static_cast<uint64_t>(fs::file_size(m.base_gguf))},
                           {"sha256", sha256_file(m.base_gguf)}};
    // A model built on another such directory keeps the source it records (e.g. the PyPI wheel).
    if (const fs::path src = fs::path(m.dir) / kBaseModelFile; fs::is_regular_file(src)) {
        const auto j = read_json_file(src.string());
        if (j.contains("source")) base["source"] = j["source"];
    }
    write_file_atomic((fs::path(dir) / kBaseModelFile).string(), base.dump(2) + "\n");
    write_file_atomic((fs::path(dir) / "config.json").string(), llm_config_to_json(m.model->config()).dump(2) + "\n");
}

}  // namespace

void save_model(const LoadedModel& m, const std::string& dir) {
    if (!m.base_gguf.empty()) return save_gguf_based_model(m, dir);
    if (has_quantized_weights(m.model))
        throw std::invalid_argument("a model with quantized weights cannot be saved as a directory (load it with --dtype f32)");
    fs::create_directories(dir);
    // Attached LoRA adapters are merged into the weights written (the model itself is left as it is).
    std::map<std::string, const LinearImpl*> adapted;
    for (const auto& kv : m.model->named_modules("", false))
        if (const auto* lin = kv.value()->as<LinearImpl>(); lin && lin->has_lora()) adapted[kv.key() + ".weight"] = lin;
    write_parameters(m.model, dir, [&](const std::string& name, const torch::Tensor& p) {
        if (name.size() > 7 && (name.compare(name.size() - 7, 7, ".lora_A") == 0 || name.compare(name.size() - 7, 7, ".lora_B") == 0))
            return torch::Tensor();
        const auto it = adapted.find(name);
        return it != adapted.end() ? it->second->merged_weight() : p;
    });
    // The tokenizer goes with the weights: the source directory's tokenizer files, or a GGUF's tokenizer.
    if (is_gguf_file(m.dir)) {
        write_tokenizer_gguf(m.dir, (fs::path(dir) / "tokenizer.gguf").string());
    } else if (const fs::path base = fs::path(m.dir) / kBaseModelFile; fs::is_regular_file(base)) {
        // a directory on a GGUF base (loaded dense, e.g. by `lora merge`): its tokenizer is the GGUF's
        write_tokenizer_gguf(find_base_gguf(m.dir, read_json_file(base.string())),
                             (fs::path(dir) / "tokenizer.gguf").string());
    } else {
        for (const char* name : kTokenizerFiles) {
            const fs::path src_tok = fs::path(m.dir) / name, dst_tok = fs::path(dir) / name;
            if (fs::exists(src_tok) && fs::weakly_canonical(src_tok) != fs::weakly_canonical(dst_tok))
                write_file_atomic(dst_tok.string(), read_file_text(src_tok.string(), 1ull << 30));
        }
    }
    write_file_atomic((fs::path(dir) / "config.json").string(), llm_config_to_json(m.model->config()).dump(2) + "\n");
}

namespace {

// rows ~ N(mean(E), cov_scale * cov(E)): [n, D] f32
torch::Tensor sample_like(const torch::Tensor& weight, int64_t n, double cov_scale, at::Generator& gen) {
    const auto e = weight.detach().to(torch::kCPU, torch::kDouble);
    const auto mean = e.mean(0);
    const auto c = e - mean;
    const int64_t d = e.size(1);
    auto cov = c.t().matmul(c) / static_cast<double>(e.size(0)) * cov_scale;
    cov = cov + torch::eye(d, torch::kDouble) * 1e-12;
    const auto chol = at::linalg_cholesky(cov);
    const auto z = torch::randn({n, d}, gen, torch::kDouble);
    return (mean + z.matmul(chol.t())).to(torch::kFloat);
}

}  // namespace

void extend_vocab(LoadedModel& m, int64_t n_ecg_codes, uint64_t seed, double cov_scale) {
    if (!(cov_scale > 0)) throw std::invalid_argument("extend_vocab: the covariance scale must be > 0");
    if (m.vocab.extended()) throw std::invalid_argument("model " + m.dir + " is already extended with ECG tokens");
    const int64_t base = m.model->config().vocab_size;
    const Vocab vocab(base, n_ecg_codes);
    const int64_t n_new = vocab.size() - base;
    auto gen = at::detail::createCPUGenerator(seed);
    // (a base held in blocks: drawn from its dequantized rows)
    const auto& mod = m.model;
    const auto embed_rows =
        sample_like(mod->embed_q.defined() ? dequantize_weight(mod->embed_q) : mod->embed_tokens->weight, n_new, cov_scale, gen);
    torch::Tensor head_rows;
    if (mod->lm_head)
        head_rows = sample_like(
            mod->lm_head->qweight.defined() ? dequantize_weight(mod->lm_head->qweight) : mod->lm_head->weight, n_new,
            cov_scale, gen);
    m.model->resize_vocab(vocab.size(), embed_rows, head_rows);
    LlmConfig cfg = m.model->config();
    cfg.ecg.n_ecg_codes = n_ecg_codes;
    cfg.ecg.base_vocab_size = base;
    m.model->set_config(cfg);
    m.vocab = vocab;
    m.tokenizer->set_vocab(vocab);
}

Llama random_llama(const LlmConfig& cfg, uint64_t seed, const LoadOptions& opts) {
    Llama model(cfg);
    auto gen = at::detail::createCPUGenerator(seed);
    torch::NoGradGuard ng;
    for (auto& kv : model->named_parameters(true)) {
        auto& p = kv.value();
        if (kv.key().find("norm") != std::string::npos) {
            p.fill_(1.0);
        } else {
            p.normal_(0.0, 0.02, gen);
        }
    }
    model->to(opts.dtype);
    model->to(opts.device);
    if (opts.device.is_cpu()) place_parameters_in_huge_pages(*model);
    model->eval();
    return model;
}

}  // namespace diagecg
