#include "diagecg/tokenizer/heartllm-checkpoint.h"

#include <set>
#include <sstream>

#include "diagecg/util/atomic-file.h"
#include "diagecg/util/module-weights.h"

namespace diagecg {

namespace {

// The authors' name prefix <-> ours; '#' stands for a stage index (the same number on both sides). The
// parameter's own name (weight, bias) follows the prefix unchanged.
struct NameRow {
    const char* theirs;
    const char* ours;
};
constexpr NameRow kNameTable[] = {
    {"enc.blocks.#.0.inc.b1.", "enc_blocks.#.k3."},
    {"enc.blocks.#.0.inc.b2.", "enc_blocks.#.k5."},
    {"enc.blocks.#.0.inc.b3.", "enc_blocks.#.k7."},
    {"enc.blocks.#.0.inc.b4.", "enc_blocks.#.pool_proj."},
    {"enc.blocks.#.0.match.", "enc_blocks.#.residual."},
    {"enc.blocks.#.0.norm.", "enc_blocks.#.norm."},
    {"enc.blocks.#.1.", "enc_down.#."},
    {"enc.bottleneck.inc.b1.", "bottleneck.k3."},
    {"enc.bottleneck.inc.b2.", "bottleneck.k5."},
    {"enc.bottleneck.inc.b3.", "bottleneck.k7."},
    {"enc.bottleneck.inc.b4.", "bottleneck.pool_proj."},
    {"enc.bottleneck.norm.", "bottleneck.norm."},
    {"enc.to_code.", "to_latent."},
    {"dec.expand.", "from_latent."},
    {"dec.up.#.", "dec_up.#."},
    {"dec.dec.#.inc.b1.", "dec_blocks.#.k3."},
    {"dec.dec.#.inc.b2.", "dec_blocks.#.k5."},
    {"dec.dec.#.inc.b3.", "dec_blocks.#.k7."},
    {"dec.dec.#.inc.b4.", "dec_blocks.#.pool_proj."},
    {"dec.dec.#.norm.", "dec_blocks.#.norm."},
    {"dec.final.", "output_conv."},
};

// Matches `name` against `pattern` ('#' = one or more digits, captured); returns the length matched or 0.
size_t match_prefix(const std::string& name, const std::string& pattern, std::string& index) {
    size_t i = 0;
    for (const char c : pattern) {
        if (c == '#') {
            const size_t b = i;
            while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) ++i;
            if (i == b) return 0;
            index = name.substr(b, i - b);
        } else {
            if (i >= name.size() || name[i] != c) return 0;
            ++i;
        }
    }
    return i;
}

std::string translate(const std::string& name, bool to_ours) {
    for (const NameRow& row : kNameTable) {
        const std::string from = to_ours ? row.theirs : row.ours, to = to_ours ? row.ours : row.theirs;
        std::string index;
        const size_t n = match_prefix(name, from, index);
        if (n == 0) continue;
        std::string out;
        for (const char c : to) out += c == '#' ? index : std::string(1, c);
        const std::string rest = name.substr(n);
        if (rest != "weight" && rest != "bias") return "";
        return out + rest;
    }
    return "";
}

std::string shape_str(const std::vector<int64_t>& s) {
    std::ostringstream o;
    o << c10::IntArrayRef(s);
    return o.str();
}

const CheckpointTensor& need(const std::map<std::string, CheckpointTensor>& sd, const std::string& name, size_t rank,
                             const std::string& what) {
    const auto it = sd.find(name);
    if (it == sd.end()) throw std::runtime_error(what + ": no tensor '" + name + "': not a HeartLLM FSQ_AE state dict");
    if (it->second.shape.size() != rank)
        throw std::runtime_error(what + ": tensor '" + name + "' has shape " + shape_str(it->second.shape) +
                                 ", expected rank " + std::to_string(rank));
    return it->second;
}

}  // namespace

std::string heartllm_name_to_ours(const std::string& theirs) {
    return translate(theirs, true);
}
std::string heartllm_name_from_ours(const std::string& ours) {
    return translate(ours, false);
}

EcgTokenizer heartllm_tokenizer_from_state_dict(const std::map<std::string, CheckpointTensor>& state_in,
                                                const HeartllmImportOptions& opt, const std::string& what) {
    std::map<std::string, CheckpointTensor> sd;
    for (const auto& [k, t] : state_in) sd[k.rfind("module.", 0) == 0 ? k.substr(7) : k] = t;
    // Shapes: match [C, 1, 1] (first stage's 1x1 residual), to_code [Z, L*C]; stages = enc.blocks.S.1 count.
    EcgTokenizerConfig cfg;
    cfg.architecture = EcgTokenizerArch::kHeartllm;
    cfg.channels = need(sd, "enc.blocks.0.0.match.weight", 3, what).shape[0];
    const auto& to_code = need(sd, "enc.to_code.weight", 2, what);
    if (cfg.channels <= 0 || to_code.shape[1] % cfg.channels != 0)
        throw std::runtime_error(what + ": enc.to_code.weight " + shape_str(to_code.shape) + " does not fit " +
                                 std::to_string(cfg.channels) + " channels per lead");
    cfg.n_leads = to_code.shape[1] / cfg.channels;
    cfg.fsq_levels.assign(static_cast<size_t>(to_code.shape[0]), opt.fsq_level);
    cfg.n_stages = 0;  // 1 + the largest S of enc.blocks.S.*
    for (const auto& [k, t] : sd) {
        std::string index;
        if (match_prefix(k, "enc.blocks.#.", index) && index.size() < 4)
            cfg.n_stages = std::max<int64_t>(cfg.n_stages, std::stoll(index) + 1);
    }
    cfg.n_samples = opt.n_samples;
    cfg.groups = opt.groups;
    cfg.negative_slope = opt.negative_slope;
    try {
        cfg.validate();
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(what + ": " + e.what());
    }

    EcgTokenizer net(cfg);
    std::vector<std::string> problems;
    std::set<std::string> used;
    torch::NoGradGuard ng;
    for (auto& kv : net->named_parameters(true)) {
        const std::string theirs = heartllm_name_from_ours(kv.key());
        const auto it = sd.find(theirs);
        if (it == sd.end()) {
            if (!(opt.allow_missing_decoder && theirs.rfind("dec.", 0) == 0))
                problems.push_back("missing tensor '" + theirs + "' (shape " + shape_str(kv.value().sizes().vec()) +
                                   ")");
            continue;
        }
        used.insert(theirs);
        const CheckpointTensor& t = it->second;
        if (t.shape != kv.value().sizes().vec()) {
            problems.push_back("tensor '" + theirs + "' has shape " + shape_str(t.shape) + ", expected " +
                               shape_str(kv.value().sizes().vec()));
            continue;
        }
        try {
            const auto src = torch::from_blob(const_cast<uint8_t*>(t.data.data()), t.shape,
                                              torch::TensorOptions().dtype(torch_dtype_of(t.dtype, theirs)));
            kv.value().copy_(src);
        } catch (const std::runtime_error& e) {
            problems.push_back(e.what());
        }
    }
    for (const auto& [k, t] : sd)
        if (!used.count(k)) problems.push_back("unexpected tensor '" + k + "'");
    if (!problems.empty()) {
        std::string msg =
            what + ": " + std::to_string(problems.size()) + " problem(s) reading a HeartLLM FSQ_AE state dict:";
        for (const auto& p : problems) msg += "\n  " + p;
        throw std::runtime_error(msg);
    }
    net->eval();
    return net;
}

void save_heartllm_state_dict(EcgTokenizer& net, const std::string& path) {
    if (net->config().architecture != EcgTokenizerArch::kHeartllm)
        throw std::invalid_argument("only a heartllm tokenizer has the authors' layout (this one is " +
                                    std::string(ecg_tokenizer_arch_name(net->config().architecture)) + ")");
    c10::Dict<std::string, torch::Tensor> model;
    for (const auto& kv : net->named_parameters(true)) {
        const std::string theirs = heartllm_name_from_ours(kv.key());
        if (theirs.empty()) throw std::logic_error("heartllm name table has no row for " + kv.key());
        model.insert(theirs, kv.value().detach().to(torch::kCPU, torch::kFloat).contiguous());
    }
    c10::impl::GenericDict ckpt(c10::StringType::get(), c10::AnyType::get());
    ckpt.insert("model", model);
    ckpt.insert("step", int64_t{0});
    const std::vector<char> bytes = torch::pickle_save(ckpt);
    write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace diagecg
