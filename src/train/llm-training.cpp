#include "diagecg/train/llm-training.h"

#include <ATen/autocast_mode.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "diagecg/data/ecgqa.h"
#include "diagecg/data/ptbxl-meta.h"
#include "diagecg/data/task-data.h"
#include "diagecg/data/text-corpus.h"
#include "diagecg/ecg/record-set.h"
#include "diagecg/llm/llm-io.h"
#include "diagecg/llm/lora.h"
#include "diagecg/llm/peft-adapter.h"
#include "diagecg/tokenizer/ecg-token-cache.h"
#include "diagecg/train/distributed.h"
#include "diagecg/train/prefix-pack.h"
#include "diagecg/util/atomic-file.h"
#include "diagecg/util/byte-reader.h"
#include "diagecg/util/device.h"
#include "diagecg/util/json-config.h"
#include "diagecg/util/log.h"
#include "diagecg/util/torch-compat.h"

namespace diagecg {

namespace fs = std::filesystem;

namespace {

TrainableConfig trainable_from_json(const nlohmann::json& j, const std::string& path) {
    TrainableConfig t;
    JsonObject o(j, path);
    o.get("all", t.all);
    o.get("embeddings", t.embeddings);
    o.get("norms", t.norms);
    o.get("lora", t.lora);
    o.finish();
    return t;
}

// bf16 autocast for the scope (CPU and CUDA), restored after.
class AutocastScope {
public:
    explicit AutocastScope(Precision p) : on_(p == Precision::kBf16) {
        if (!on_) return;
        cpu_was_ = compat::autocast_enabled(c10::DeviceType::CPU);
        gpu_was_ = compat::autocast_enabled(c10::DeviceType::CUDA);
        compat::set_autocast(c10::DeviceType::CPU, true, at::kBFloat16);
        compat::set_autocast(c10::DeviceType::CUDA, true, at::kBFloat16);
    }
    ~AutocastScope() {
        if (!on_) return;
        compat::set_autocast(c10::DeviceType::CPU, cpu_was_, at::kBFloat16);
        compat::set_autocast(c10::DeviceType::CUDA, gpu_was_, at::kBFloat16);
        at::autocast::clear_cache();
    }
private:
    bool on_, cpu_was_ = false, gpu_was_ = false;
};

// Marks which parameters train; returns the names of trained non-LoRA tensors.
std::vector<std::string> set_trainable(Llama& model, bool embeddings, bool norms, bool lora, bool all = false) {
    std::vector<std::string> extra;
    for (auto& kv : model->named_parameters(true)) {
        const std::string& n = kv.key();
        bool on;
        if (all) on = true;
        else if (n.find("lora_") != std::string::npos) on = lora;
        else if (n == "embed_tokens.weight" || n == "lm_head.weight" || n == "embed_extra" || n == "head_extra")
            on = embeddings && kv.value().numel() > 0;  // (a vocabulary held in blocks trains its appended rows)
        else if (n.find("norm") != std::string::npos) on = norms;
        else on = false;
        kv.value().set_requires_grad(on);
        if (on && n.find("lora_") == std::string::npos) extra.push_back(n);
    }
    return extra;
}

void log_trainable(Llama& model) {
    int64_t n_all = 0, n_train = 0;
    for (const auto& p : model->parameters()) {
        n_all += p.numel();
        if (p.requires_grad()) n_train += p.numel();
    }
    // matrices held in blocks (QLoRA) are frozen weights too
    for (const auto& kv : model->named_modules("", false))
        if (const auto* l = kv.value()->as<LinearImpl>(); l && l->qweight.defined())
            n_all += l->qweight.rows * l->qweight.cols;
    if (model->embed_q.defined()) n_all += model->embed_q.rows * model->embed_q.cols;
    log::info("parameters: {} in all, {} trained ({:.2f}%)", n_all, n_train, 100.0 * static_cast<double>(n_train) / static_cast<double>(n_all));
}

// Mean next-token cross-entropy over positions where `mask` ([B, N] bool, on targets) is set.
// tokens: [B, N + 1] i64 -> scalar
torch::Tensor lm_loss(Llama& model, const torch::Tensor& tokens, const torch::Tensor& target_mask) {
    const int64_t n = tokens.size(1) - 1;
    const auto input = tokens.slice(1, 0, n), target = tokens.slice(1, 1, n + 1);
    const auto h = model->hidden(input);  // [B, N, D]
    const auto sel = target_mask.reshape(-1);
    // The output projection only where a target carries loss (stage 3: the answer's few tokens of a long
    // prompt): the same logits as forward()'s at those positions, without the rest's matmul and memory.
    const auto lg = model->logits(h.reshape({-1, h.size(-1)}).index({sel}));  // [T, V] f32
    const auto tg = target.reshape(-1).index({sel});
    return torch::nn::functional::cross_entropy(lg, tg);
}

void copy_dir_files(const std::string& src, const std::string& dst) {
    fs::create_directories(dst);
    for (const auto& e : fs::directory_iterator(src))
        if (e.is_regular_file()) fs::copy_file(e.path(), fs::path(dst) / e.path().filename(), fs::copy_options::overwrite_existing);
}

// ---------------------------------------------------------------------------------------------- stage 2

// Windows of seq_len + 1 tokens over a token stream, starting every `stride` tokens. Only the stream is held
// (i32); a batch of windows is cut out when it is needed, so overlapping windows cost no memory.
class TokenWindows {
public:
    TokenWindows(const std::vector<int64_t>& stream, int64_t seq_len, int64_t stride)
        : width_(seq_len + 1), stride_(stride),
          stream_(torch::tensor(stream, torch::kLong).to(torch::kInt)) {
        const auto n = static_cast<int64_t>(stream.size());
        count_ = n < width_ ? 0 : (n - width_) / stride_ + 1;
    }
    int64_t size() const { return count_; }
    // windows idx -> [B, seq_len + 1] i64
    torch::Tensor batch(const std::vector<int64_t>& idx) const {
        std::vector<torch::Tensor> rows;
        for (const int64_t i : idx) rows.push_back(stream_.narrow(0, i * stride_, width_));
        return torch::stack(rows).to(torch::kLong);
    }

private:
    int64_t width_, stride_, count_ = 0;
    torch::Tensor stream_;
};

class PretrainTask : public TrainTask {
public:
    PretrainTask(const PretrainRunConfig& c, LoadedModel m, const std::vector<int64_t>& train_stream,
                 const std::vector<int64_t>& val_stream)
        : c_(c), m_(std::move(m)), precision_(parse_precision(c.precision)),
          train_(train_stream, c.seq_len, c.window_stride > 0 ? c.window_stride : c.seq_len),
          val_(val_stream, c.seq_len, c.seq_len) {
        log::info("stage 2: {} training windows, {} validation windows of {} tokens", train_.size(), val_.size(), c.seq_len);
    }
    torch::nn::Module& module() override { return *m_.model; }
    int64_t n_train() const override { return train_.size(); }
    int64_t last_tokens() const override { return last_tokens_; }

    torch::Tensor train_loss(const std::vector<int64_t>& idx) override {
        const auto batch = train_.batch(idx).to(m_.model->device());
        last_tokens_ = batch.size(0) * c_.seq_len;
        AutocastScope ac(precision_);
        return lm_loss(m_.model, batch, torch::ones({batch.size(0), c_.seq_len}, torch::kBool).to(batch.device()));
    }

    nlohmann::json validate() override {
        if (val_.size() == 0) return nullptr;
        AutocastScope ac(precision_);
        double sum = 0;
        const int64_t mb = std::max<int64_t>(1, c_.train.micro_batch_size > 0 ? c_.train.micro_batch_size : c_.train.batch_size);
        for (int64_t i = 0; i < val_.size(); i += mb) {
            std::vector<int64_t> idx;
            for (int64_t j = i; j < std::min(val_.size(), i + mb); ++j) idx.push_back(j);
            const auto b = val_.batch(idx).to(m_.model->device());
            sum += lm_loss(m_.model, b, torch::ones({b.size(0), c_.seq_len}, torch::kBool).to(b.device())).item<double>() *
                   static_cast<double>(b.size(0));
        }
        const double loss = sum / static_cast<double>(val_.size());
        return {{"val_loss", loss}, {"val_perplexity", std::exp(loss)}};
    }

    void save(const std::string& dir) override {
        save_model(m_, dir);   // attached LoRA adapters are merged into the saved weights
        copy_dir_files(c_.ecg_tokenizer, (fs::path(dir) / "ecg-tokenizer").string());
    }

private:
    PretrainRunConfig c_;
    LoadedModel m_;
    Precision precision_;
    TokenWindows train_, val_;
    int64_t last_tokens_ = 0;
};

// The documents of a stage-2 stream: each ECG as <|start_ecg|> codes <|end_ecg|> (record order), then each
// text document as BOS text EOS; with text present the documents are shuffled (seeded), so that every part
// of training sees both. Returns the concatenation.
std::vector<int64_t> pretrain_stream(EcgTokenCache& cache, const LoadedModel& m, const std::vector<std::string>& paths,
                                     const std::vector<std::string>& text_files, uint64_t seed, const char* what) {
    std::vector<std::pair<std::string, std::string>> failed;
    const auto codes = cache.codes(paths, &failed);
    for (const auto& [p, why] : failed) log::warn("{} record {} left out: {}", what, p, why);
    const Vocab& v = m.vocab;
    std::vector<std::vector<int64_t>> docs;
    int64_t n_ecg_tokens = 0, n_text_tokens = 0;
    for (const auto& c : codes) {
        if (c.empty()) continue;
        std::vector<int64_t> d{v.start_ecg()};
        for (const int64_t x : c) d.push_back(v.ecg_id(x));
        d.push_back(v.end_ecg());
        n_ecg_tokens += static_cast<int64_t>(d.size());
        docs.push_back(std::move(d));
    }
    const auto texts = read_text_documents(text_files);
    for (const auto& t : texts) {
        auto d = m.tokenizer->encode(t, true);
        d.push_back(m.tokenizer->eos_id());
        n_text_tokens += static_cast<int64_t>(d.size());
        docs.push_back(std::move(d));
    }
    if (!texts.empty()) {
        std::mt19937_64 rng(seed);
        std::shuffle(docs.begin(), docs.end(), rng);
    }
    log::info("{}: {} ECG tokens, {} text tokens ({} documents)", what, n_ecg_tokens, n_text_tokens, texts.size());
    std::vector<int64_t> s;
    for (const auto& d : docs) s.insert(s.end(), d.begin(), d.end());
    return s;
}

// ---------------------------------------------------------------------------------------------- stage 3

struct Example {
    std::string id;
    std::string records;   // the ECG record(s) it asks about: examples sharing them share a prompt prefix
    TokenizedExample tokens;
};

// Stage 3's sequences: examples about the same records packed up to `per_pack` per sequence (prefix-pack.h).
std::vector<PackedSequence> pack_examples(const std::vector<Example>& ex, int64_t per_pack, int64_t max_len, uint64_t seed) {
    std::vector<TokenizedExample> tokens;
    std::vector<std::string> groups;
    for (const auto& e : ex) {
        tokens.push_back(e.tokens);
        groups.push_back(e.records);
    }
    return pack_shared_prefix(tokens, groups, per_pack, max_len, seed);
}

class FinetuneTask : public TrainTask {
public:
    // Training examples packed c.pack_per_ecg to a sequence; validation one per sequence (its loss per example)
    FinetuneTask(const FinetuneRunConfig& c, LoadedModel m, const std::vector<Example>& train, const std::vector<Example>& val,
                 std::vector<std::string> extra, std::string base_dir, bool replaces_base_lora)
        : c_(c), m_(std::move(m)), precision_(parse_precision(c.precision)),
          train_(pack_examples(train, c.pack_per_ecg, c.max_len, c.train.seed)), val_(pack_examples(val, 1, c.max_len, 0)),
          extra_(std::move(extra)), base_dir_(std::move(base_dir)), replaces_base_lora_(replaces_base_lora) {
        if (c.pack_per_ecg > 1) {
            int64_t packed = 0, alone = 0;
            for (const auto& s : train_) packed += static_cast<int64_t>(s.ids.size());
            for (const auto& e : train) alone += static_cast<int64_t>(e.tokens.ids.size());
            log::info("training: {} examples packed into {} sequences of up to {} ({} tokens instead of {}: {:.2f}x fewer)",
                      train.size(), train_.size(), c.pack_per_ecg, packed, alone,
                      static_cast<double>(alone) / static_cast<double>(std::max<int64_t>(1, packed)));
        }
    }
    torch::nn::Module& module() override { return *m_.model; }
    int64_t n_train() const override { return static_cast<int64_t>(train_.size()); }
    int64_t last_tokens() const override { return last_tokens_; }

    torch::Tensor train_loss(const std::vector<int64_t>& idx) override {
        std::vector<const PackedSequence*> b;
        for (const int64_t i : idx) b.push_back(&train_[static_cast<size_t>(i)]);
        AutocastScope ac(precision_);
        return packed_loss(m_.model, b, m_.vocab.pad(), &last_tokens_);
    }

    nlohmann::json validate() override {
        if (val_.empty()) return nullptr;
        AutocastScope ac(precision_);
        const size_t mb = static_cast<size_t>(std::max<int64_t>(1, c_.train.micro_batch_size > 0 ? c_.train.micro_batch_size : c_.train.batch_size));
        double sum = 0;
        for (size_t i = 0; i < val_.size(); i += mb) {
            std::vector<const PackedSequence*> b;
            for (size_t j = i; j < std::min(val_.size(), i + mb); ++j) b.push_back(&val_[j]);
            sum += packed_loss(m_.model, b, m_.vocab.pad()).item<double>() * static_cast<double>(b.size());
        }
        return {{"val_loss", sum / static_cast<double>(val_.size())}};
    }

    void save(const std::string& dir) override {
        save_adapter(m_.model, c_.lora, extra_, (fs::path(dir) / "adapter").string());
        // Record the base model, so `--lora DIR/adapter` users know what it belongs to.
        auto meta = nlohmann::json::parse(read_file_text((fs::path(dir) / "adapter.json").string()));
        meta["base_model"] = fs::absolute(base_dir_).lexically_normal().string();
        meta["task"] = c_.task;
        // the prompt layout it was tuned with, which inference must repeat (EcgLlm::prompt_options)
        if (c_.prompt.ecg_first) meta["prompt"]["ecg_first"] = true;
        if (c_.prompt.rhythm) meta["prompt"]["rhythm"] = true;
        if (replaces_base_lora_) meta["replaces_base_lora"] = true;
        write_file_atomic((fs::path(dir) / "adapter.json").string(), meta.dump(2) + "\n");
        // The same adapter in Hugging Face PEFT's layout (adapter_config.json + adapter_model.safetensors)
        export_peft_adapter((fs::path(dir) / "adapter").string(), dir);
    }

private:
    FinetuneRunConfig c_;
    LoadedModel m_;
    Precision precision_;
    std::vector<PackedSequence> train_, val_;
    std::vector<std::string> extra_;
    std::string base_dir_;
    bool replaces_base_lora_ = false;   // the adapter continued the base's own LoRA (AdapterSpec)
    int64_t last_tokens_ = 0;
};

std::vector<Example> tokenize_samples(const FinetuneRunConfig& c, const std::vector<TaskSample>& raw, EcgTokenCache& cache,
                                      const TextTokenizer& tok, const std::map<int64_t, PtbxlRecord>& meta, int64_t cap,
                                      const char* what) {
    // A cap keeps the first examples in file order, or ("subset": "spread") samples spread evenly over the files.
    std::vector<const TaskSample*> picked;
    for (const size_t i : spread_indices(raw.size(), c.data.subset == "spread" ? cap : 0)) picked.push_back(&raw[i]);
    std::vector<std::string> paths;
    for (const TaskSample* s : picked) paths.insert(paths.end(), s->records.begin(), s->records.end());
    std::vector<std::pair<std::string, std::string>> failed;
    std::vector<RhythmMeasure> rhythm;
    const auto codes = cache.codes(paths, &failed, 16, {}, nullptr, nullptr, &rhythm);
    std::map<std::string, size_t> by_path;
    for (size_t i = 0; i < paths.size(); ++i)
        if (!codes[i].empty()) by_path[paths[i]] = i;
    const PromptTask task = parse_prompt_task(c.task);
    std::vector<Example> out;
    int64_t too_long = 0, unreadable = 0;
    for (const TaskSample* sp : picked) {
        const TaskSample& s = *sp;
        if (cap > 0 && static_cast<int64_t>(out.size()) >= cap) break;
        PromptInput in;
        in.task = task;
        in.question = s.question;
        bool ok = true;
        for (const auto& r : s.records) {
            const auto it = by_path.find(r);
            if (it == by_path.end()) { ok = false; break; }
            in.ecgs.push_back(codes[it->second]);
            in.rhythm.push_back(rhythm_text(rhythm[it->second]));
        }
        if (!ok) { ++unreadable; continue; }
        in.patient = s.patient;
        if (in.patient.empty() && !s.ecg_ids.empty())
            if (const auto it = meta.find(s.ecg_ids[0]); it != meta.end()) in.patient = patient_features_text(it->second);
        std::string records;
        for (const auto& r : s.records) records += r + "\n";
        Example e{s.id, records, build_example(tok, in, s.target, c.prompt)};
        if (static_cast<int64_t>(e.tokens.ids.size()) > c.max_len) { ++too_long; continue; }
        out.push_back(std::move(e));
    }
    if (too_long) log::warn("{}: {} example(s) longer than max_len {} left out", what, too_long, c.max_len);
    if (unreadable) log::warn("{}: {} example(s) whose ECG could not be read left out", what, unreadable);
    log::info("{}: {} examples", what, out.size());
    return out;
}

}  // namespace

std::vector<size_t> spread_indices(size_t n, int64_t k) {
    std::vector<size_t> out;
    if (k <= 0 || static_cast<size_t>(k) >= n) {
        for (size_t i = 0; i < n; ++i) out.push_back(i);
        return out;
    }
    for (size_t i = 0; i < static_cast<size_t>(k); ++i) out.push_back(i * n / static_cast<size_t>(k));
    return out;
}

namespace {

// f32 master weights (bf16 via autocast); with QLoRA the GGUF's blocks are kept.
LoadedModel load_training_model(const std::string& path, bool qlora, const std::string& device, bool base_lora = true) {
    LoadOptions o{torch::kFloat, torch::kCPU};
    o.keep_quantized = qlora;
    o.base_lora = base_lora;
    if (qlora && training_device(device).is_cuda())
        throw std::invalid_argument("qlora: quantized blocks train on the CPU only (set \"qlora\": false for CUDA)");
    LoadedModel m = load_model(path, o);
    if (qlora && m.base_gguf.empty())
        throw std::invalid_argument("qlora: " + path +
                                    " holds no Q4_0/Q4_1/Q8_0/Q4_K/Q6_K matrices (a GGUF, or a directory on one, is needed)");
    m.model->set_quant_exact(qlora);  // validation then runs the dequantized arithmetic training runs
    return m;
}

}  // namespace

Precision parse_precision(const std::string& s) {
    if (s == "f32") return Precision::kF32;
    if (s == "bf16") return Precision::kBf16;
    throw std::invalid_argument("precision must be \"f32\" or \"bf16\", got \"" + s + "\"");
}

torch::Device training_device(const std::string& device) {
    torch::Device d = parse_device(device);
    if (d.is_cuda() && !d.has_index()) {
        const char* local = std::getenv("LOCAL_RANK");
        d = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local && *local ? std::atoi(local) : 0));
    }
    return d;
}

std::string model_ecg_tokenizer_dir(const std::string& model_dir) { return (fs::path(model_dir) / "ecg-tokenizer").string(); }

PretrainRunConfig pretrain_run_config_from_json(const nlohmann::json& j, const std::string& path) {
    PretrainRunConfig c;
    JsonObject o(j, path);
    if (!o.get("base_model", c.base_model) || c.base_model.empty()) throw std::invalid_argument(path + ".base_model: required");
    if (!o.get("ecg_tokenizer", c.ecg_tokenizer) || c.ecg_tokenizer.empty())
        throw std::invalid_argument(path + ".ecg_tokenizer: required");
    o.get("token_cache", c.token_cache);
    o.get("seq_len", c.seq_len);
    o.get("window_stride", c.window_stride);
    o.get("precision", c.precision);
    o.get("device", c.device);
    o.get("qlora", c.qlora);
    o.get("new_rows_cov_scale", c.new_rows_cov_scale);
    parse_device(c.device);
    if (!(c.new_rows_cov_scale > 0)) throw std::invalid_argument(path + ".new_rows_cov_scale: must be > 0");
    if (!j.contains("data")) throw std::invalid_argument(path + ".data: required (ECG records to pretrain on)");
    c.data = data_config_from_json(j["data"], path + ".data");
    if (j.contains("text")) {
        JsonObject t(j["text"], path + ".text");
        t.get("train", c.text.train);
        t.get("val", c.text.val);
        t.finish();
    }
    if (j.contains("trainable")) c.trainable = trainable_from_json(j["trainable"], path + ".trainable");
    if (j.contains("lora")) c.lora = lora_config_from_json(j["lora"], path + ".lora");
    if (j.contains("train")) c.train = train_config_from_json(j["train"], path + ".train");
    for (const auto& [k, v] : j.items())
        if (k != "base_model" && k != "ecg_tokenizer" && k != "token_cache" && k != "seq_len" && k != "window_stride" &&
            k != "precision" && k != "device" && k != "qlora" && k != "new_rows_cov_scale" && k != "data" &&
            k != "text" && k != "trainable" && k != "lora" && k != "train")
            throw std::invalid_argument("unknown config key(s): " + path + "." + k);
    if (c.seq_len < 2) throw std::invalid_argument(path + ".seq_len: must be >= 2");
    if (c.window_stride < 0) throw std::invalid_argument(path + ".window_stride: must be >= 0");
    parse_precision(c.precision);
    if (!c.trainable.all && !c.trainable.embeddings && !c.trainable.norms && !c.trainable.lora)
        throw std::invalid_argument(path + ".trainable: nothing would train");
    if (c.qlora && c.trainable.all)
        throw std::invalid_argument(path + ".trainable.all: with qlora the base stays frozen in its blocks (train "
                                           "embeddings, norms and lora)");
    return c;
}

nlohmann::json pretrain_run_config_to_json(const PretrainRunConfig& c) {
    nlohmann::json j = {{"base_model", c.base_model},
                        {"ecg_tokenizer", c.ecg_tokenizer},
                        {"token_cache", c.token_cache},
                        {"data", data_config_to_json(c.data)},
                        {"seq_len", c.seq_len},
                        {"window_stride", c.window_stride},
                        {"text", {{"train", c.text.train}, {"val", c.text.val}}},
                        {"trainable",
                         {{"all", c.trainable.all},
                          {"embeddings", c.trainable.embeddings},
                          {"norms", c.trainable.norms},
                          {"lora", c.trainable.lora}}},
                        {"lora", lora_config_to_json(c.lora)},
                        {"precision", c.precision},
                        {"device", c.device},
                        {"train", train_config_to_json(c.train)}};
    if (c.qlora) j["qlora"] = true;  // only when set: runs recorded before the option still resume
    if (c.new_rows_cov_scale != PretrainRunConfig{}.new_rows_cov_scale) j["new_rows_cov_scale"] = c.new_rows_cov_scale;
    return j;
}

PretrainRunConfig load_pretrain_run_config(const std::string& file) { return pretrain_run_config_from_json(read_json_file(file), file); }

FinetuneRunConfig finetune_run_config_from_json(const nlohmann::json& j, const std::string& path) {
    FinetuneRunConfig c;
    if (!j.is_object()) throw std::invalid_argument(path + ": expected a JSON object");
    for (const auto& [k, v] : j.items())
        if (k != "model" && k != "ecg_tokenizer" && k != "token_cache" && k != "task" && k != "data" && k != "prompt" &&
            k != "max_len" && k != "lora" && k != "train_norms" && k != "train_embeddings" && k != "precision" &&
            k != "device" && k != "qlora" && k != "pack_per_ecg" && k != "init_adapter" && k != "train")
            throw std::invalid_argument("unknown config key(s): " + path + "." + k);
    JsonObject o(j, path);
    if (!o.get("model", c.model) || c.model.empty()) throw std::invalid_argument(path + ".model: required");
    o.get("ecg_tokenizer", c.ecg_tokenizer);
    o.get("token_cache", c.token_cache);
    o.get("task", c.task);
    parse_prompt_task(c.task);
    o.get("max_len", c.max_len);
    o.get("pack_per_ecg", c.pack_per_ecg);
    o.get("init_adapter", c.init_adapter);
    o.get("train_norms", c.train_norms);
    o.get("train_embeddings", c.train_embeddings);
    o.get("precision", c.precision);
    parse_precision(c.precision);
    o.get("device", c.device);
    o.get("qlora", c.qlora);
    parse_device(c.device);
    if (!j.contains("data")) throw std::invalid_argument(path + ".data: required");
    {
        JsonObject d(j["data"], path + ".data");
        d.get("train", c.data.train);
        d.get("val", c.data.val);
        d.get("ecg_dir", c.data.ecg_dir);
        d.get("ptbxl_database", c.data.ptbxl_database);
        d.get("max_train", c.data.max_train);
        d.get("max_val", c.data.max_val);
        d.get("subset", c.data.subset);
        d.finish();
        if (c.data.subset != "first" && c.data.subset != "spread")
            throw std::invalid_argument(path + ".data.subset: \"first\" or \"spread\", got \"" + c.data.subset + "\"");
        if (c.data.train.empty()) throw std::invalid_argument(path + ".data.train: at least one file");
    }
    if (j.contains("prompt")) {
        JsonObject p(j["prompt"], path + ".prompt");
        p.get("patient_features", c.prompt.patient_features);
        p.get("ecg_first", c.prompt.ecg_first);
        p.get("rhythm", c.prompt.rhythm);
        p.finish();
    }
    if (j.contains("lora")) c.lora = lora_config_from_json(j["lora"], path + ".lora");
    if (j.contains("train")) c.train = train_config_from_json(j["train"], path + ".train");
    if (c.max_len < 8) throw std::invalid_argument(path + ".max_len: must be >= 8");
    if (c.pack_per_ecg < 1) throw std::invalid_argument(path + ".pack_per_ecg: must be >= 1");
    return c;
}

nlohmann::json finetune_run_config_to_json(const FinetuneRunConfig& c) {
    nlohmann::json j = {{"model", c.model},
                        {"ecg_tokenizer", c.ecg_tokenizer},
                        {"token_cache", c.token_cache},
                        {"task", c.task},
                        {"data",
                         {{"train", c.data.train},
                          {"val", c.data.val},
                          {"ecg_dir", c.data.ecg_dir},
                          {"ptbxl_database", c.data.ptbxl_database},
                          {"max_train", c.data.max_train},
                          {"max_val", c.data.max_val}}},
                        {"prompt", {{"patient_features", c.prompt.patient_features}}},
                        {"max_len", c.max_len},
                        {"lora", lora_config_to_json(c.lora)},
                        {"train_norms", c.train_norms},
                        {"train_embeddings", c.train_embeddings},
                        {"precision", c.precision},
                        {"device", c.device},
                        {"train", train_config_to_json(c.train)}};
    if (c.qlora) j["qlora"] = true;
    if (c.data.subset != "first") j["data"]["subset"] = c.data.subset;   // older runs' provenance stays as it was
    if (c.pack_per_ecg != 1) j["pack_per_ecg"] = c.pack_per_ecg;
    if (!c.init_adapter.empty()) j["init_adapter"] = c.init_adapter;
    if (c.prompt.ecg_first) j["prompt"]["ecg_first"] = true;
    if (c.prompt.rhythm) j["prompt"]["rhythm"] = true;
    return j;
}

FinetuneRunConfig load_finetune_run_config(const std::string& file) { return finetune_run_config_from_json(read_json_file(file), file); }

TrainResult run_pretrain(const PretrainRunConfig& c, const std::string& run_dir, bool resume, const TrainHooks& hooks,
                         Distributed* dist) {
    LoadedModel m = load_training_model(c.base_model, c.qlora, c.device);
    EcgTokenCache cache(c.ecg_tokenizer, c.token_cache);
    extend_vocab(m, cache.codebook_size(), c.train.seed, c.new_rows_cov_scale);
    std::vector<std::string> train_paths, val_paths;
    resolve_data(c.data, c.train.seed, train_paths, val_paths);
    auto train_stream = pretrain_stream(cache, m, train_paths, c.text.train, c.train.seed, "training");
    auto val_stream = pretrain_stream(cache, m, val_paths, c.text.val, c.train.seed + 1, "validation");
    if (c.trainable.lora && !c.trainable.all) add_lora(m.model, c.lora, c.train.seed);
    set_trainable(m.model, c.trainable.embeddings, c.trainable.norms, c.trainable.lora, c.trainable.all);
    log_trainable(m.model);
    m.model->to(training_device(c.device));
    m.model->train();
    PretrainTask task(c, std::move(m), train_stream, val_stream);
    if (task.n_train() == 0)
        throw std::runtime_error("stage 2: the training ECGs give fewer tokens than one window of seq_len + 1 = " +
                                 std::to_string(c.seq_len + 1));
    return train(task, c.train, pretrain_run_config_to_json(c), run_dir, resume, hooks, dist);
}

TrainResult run_finetune(const FinetuneRunConfig& c, const std::string& run_dir, bool resume, const TrainHooks& hooks,
                         Distributed* dist) {
    // An init adapter that continued the model's own LoRA replaces it (as when the adapter is used for inference).
    AdapterSpec init;
    if (!c.init_adapter.empty()) {
        init = read_adapter_spec(c.init_adapter);
        const std::string base = adapter_base_model(c.init_adapter);
        std::error_code ec;
        if (!base.empty() && fs::exists(base) && fs::exists(c.model) && !fs::equivalent(base, c.model, ec))
            throw std::invalid_argument("init_adapter " + c.init_adapter + " was trained on " + base + ", not on " + c.model);
    }
    LoadedModel m = load_training_model(c.model, c.qlora, c.device, !init.replaces_base_lora);
    const std::string tok_dir = c.ecg_tokenizer.empty() ? model_ecg_tokenizer_dir(c.model) : c.ecg_tokenizer;
    if (!fs::exists(fs::path(tok_dir) / "config.json"))
        throw std::runtime_error("no ECG tokenizer at " + tok_dir + " (set \"ecg_tokenizer\" or use a stage-2 model)");
    EcgTokenCache cache(tok_dir, c.token_cache);
    if (!m.vocab.extended()) {
        log::warn("{} has no ECG tokens: extending it here (new rows are untrained; stage 2 first is better)", c.model);
        extend_vocab(m, cache.codebook_size(), c.train.seed);
    } else if (m.vocab.n_ecg_codes() != cache.codebook_size()) {
        throw std::runtime_error(c.model + " has " + std::to_string(m.vocab.n_ecg_codes()) + " ECG tokens but the ECG tokenizer " +
                                 tok_dir + " has " + std::to_string(cache.codebook_size()) + " codes");
    }
    std::map<int64_t, PtbxlRecord> meta;
    if (!c.data.ptbxl_database.empty()) meta = read_ptbxl_database(c.data.ptbxl_database);
    auto train_set = tokenize_samples(c, read_task_samples(parse_prompt_task(c.task), c.data.train, c.data.ecg_dir), cache, *m.tokenizer, meta, c.data.max_train, "training");
    auto val_set = tokenize_samples(c, read_task_samples(parse_prompt_task(c.task), c.data.val, c.data.ecg_dir), cache, *m.tokenizer, meta, c.data.max_val, "validation");
    if (train_set.empty()) throw std::runtime_error("stage 3: no training example (see the warnings above)");
    if (c.max_len > m.model->config().max_position_embeddings)
        log::warn("max_len {} is beyond the model's context of {} tokens", c.max_len, m.model->config().max_position_embeddings);
    // init_adapter: its LoRA attached, trainable (the model's own was left out at load when the adapter continued it).
    if (!c.init_adapter.empty()) {
        if (has_attached_lora(m.model))
            throw std::invalid_argument("init_adapter " + c.init_adapter + " was trained on top of " + c.model +
                                        "'s own LoRA, not as its continuation: one LoRA per layer can be trained");
        apply_adapter(m.model, init, 1.0, /*attach=*/true);
        log::info("starting from the adapter {} (r {}, {} whole tensors)", c.init_adapter, init.r, init.whole_tensors.size());
    }
    // A stage-2 model on a GGUF base that trained a LoRA beside the blocks comes with it attached (qlora): stage 3
    // continues it (the adapter saved then replaces the base's own); otherwise it was merged at load and a fresh
    // adapter is added on top.
    const bool continues = has_attached_lora(m.model);
    // The saved adapter replaces the model's own LoRA when it continues it, directly or through init_adapter.
    const bool replaces_base_lora = c.init_adapter.empty() ? continues : init.replaces_base_lora;
    if (continues) {
        const LoraConfig have = attached_lora_config(m.model);
        auto sorted = [](std::vector<std::string> v) { std::sort(v.begin(), v.end()); return v; };
        if (have.rank != c.lora.rank || std::abs(have.alpha - c.lora.alpha) > 1e-9 ||
            sorted(have.targets) != sorted(c.lora.targets))
            throw std::invalid_argument((c.init_adapter.empty() ? c.model + " carries a stage-2 LoRA"
                                                                : "init_adapter " + c.init_adapter + " has a LoRA") +
                                        " (r " + std::to_string(have.rank) + ", alpha " +
                                        fmt::format("{}", have.alpha) +
                                        ") that stage 3 continues under qlora: set \"lora\" to its rank, alpha and "
                                        "targets");
        if (c.init_adapter.empty()) log::info("continuing the stage-2 LoRA of {} (r {}, alpha {})", c.model, have.rank, have.alpha);
    } else {
        add_lora(m.model, c.lora, c.train.seed);
    }
    const auto extra = set_trainable(m.model, c.train_embeddings, c.train_norms, true);
    // What the init adapter held whole must be trained and saved again, or the new adapter would silently drop it.
    for (const auto& w : init.whole_tensors) {
        const std::string hf = w.substr(init.whole_prefix.size());
        if (std::none_of(extra.begin(), extra.end(), [&](const std::string& e) { return hf_tensor_name(e) == hf; }))
            throw std::invalid_argument("init_adapter " + c.init_adapter + " holds " + hf +
                                        ", which this run does not train (set train_norms / train_embeddings as its run did)");
    }
    log_trainable(m.model);
    m.model->to(training_device(c.device));
    m.model->train();
    FinetuneTask task(c, std::move(m), train_set, val_set, extra, c.model, replaces_base_lora);
    return train(task, c.train, finetune_run_config_to_json(c), run_dir, resume, hooks, dist);
}

}  // namespace diagecg
