// Linear: the LibTorch module with LoRA, and the dispatch of small-batch CPU calls to the decode kernels
// (linear-kernels.cpp).
#include "diagecg/llm/linear.h"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "diagecg/util/torch-compat.h"

namespace diagecg {

namespace {
thread_local bool t_skip_init = false;
}

SkipParameterInit::SkipParameterInit() : prev_(t_skip_init) { t_skip_init = true; }
SkipParameterInit::~SkipParameterInit() { t_skip_init = prev_; }
bool SkipParameterInit::active() { return t_skip_init; }

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias) {
    // nn.Linear's default init: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    weight = register_parameter("weight", torch::empty({out_features, in_features}));
    if (with_bias) bias = register_parameter("bias", torch::empty({out_features}));
    if (t_skip_init) return;
    torch::NoGradGuard ng;
    weight.uniform_(-bound, bound);
    if (with_bias) bias.uniform_(-bound, bound);
}

namespace {

// QLoRA (Dettmers et al. 2023): a frozen quantized base inside a model that trains. Forward and backward each
// dequantize the weight and run an exact matmul in the input's dtype; only the input gets a gradient, and only
// the blocks are kept for the backward pass (not an f32 copy of the weight).
struct QuantLinearFunction : public torch::autograd::Function<QuantLinearFunction> {
    static QuantWeight weight_of(torch::autograd::AutogradContext* ctx, const torch::Tensor& blocks) {
        return {static_cast<GgmlType>(ctx->saved_data["type"].toInt()), ctx->saved_data["rows"].toInt(),
                ctx->saved_data["cols"].toInt(), blocks, ctx->saved_data["interleaved"].toBool()};
    }
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                                 const torch::Tensor& blocks, int64_t type, int64_t rows, int64_t cols,
                                 bool interleaved) {
        ctx->save_for_backward({blocks});
        ctx->saved_data["type"] = type;
        ctx->saved_data["rows"] = rows;
        ctx->saved_data["cols"] = cols;
        ctx->saved_data["interleaved"] = interleaved;
        return torch::matmul(x, dequantize_weight(weight_of(ctx, blocks)).to(x.scalar_type()).t());
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads) {
        const auto w = dequantize_weight(weight_of(ctx, ctx->get_saved_variables()[0])).to(grads[0].scalar_type());
        return {torch::matmul(grads[0], w), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(),
                torch::Tensor()};
    }
};

}  // namespace

torch::Tensor quant_linear(const torch::Tensor& x, const QuantWeight& w, bool exact) {
    // Training (autograd on): the dequantized exact path, so that gradients are the base's own; inference: the
    // int8 kernels.
    return exact || torch::GradMode::is_enabled()
               ? QuantLinearFunction::apply(x, w.blocks, static_cast<int64_t>(w.type), w.rows, w.cols, w.interleaved)
               : compat::as_dtype(quant_matmul(x, w), x.scalar_type());
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
    if (qweight.defined()) {
        const auto y = quant_linear(x, qweight, quant_exact);
        return add_lora(x, bias.defined() ? y + bias : y);
    }
    return add_lora(x, diagecg::linear(x, weight, bias));
}

void LinearImpl::set_quantized(QuantWeight q) {
    if (q.rows != out_features() || q.cols != in_features())
        throw std::invalid_argument("quantized weight [" + std::to_string(q.rows) + ", " + std::to_string(q.cols) +
                                    "] does not fit a layer [" + std::to_string(out_features()) + ", " +
                                    std::to_string(in_features()) + "]");
    torch::NoGradGuard ng;
    weight.set_data(torch::empty({q.rows, 0}, weight.options()));
    qweight = std::move(q);
}

torch::Tensor LinearImpl::add_lora(const torch::Tensor& x, const torch::Tensor& y) const {
    if (!lora_a.defined()) return y;
    const auto xl = lora_dropout > 0 ? torch::dropout(x, lora_dropout, is_training()) : x;
    // Under bf16 autocast the matmuls run in bf16; otherwise the adapter runs in f32 and is cast back.
    const auto delta = torch::matmul(torch::matmul(xl.to(lora_a.scalar_type()), lora_a.t()), lora_b.t()) * lora_scale;
    return y + delta.to(y.scalar_type());
}

void LinearImpl::attach_lora(int64_t rank, double alpha, double dropout) {
    if (lora_a.defined()) throw std::logic_error("a LoRA adapter is attached already");
    if (rank <= 0) throw std::invalid_argument("LoRA rank must be > 0");
    const int64_t out = out_features(), in = in_features();
    auto opts = torch::TensorOptions().dtype(torch::kFloat).device(weight.device());
    // PEFT's init: kaiming_uniform_(a = sqrt(5)) on A, i.e. U(-1/sqrt(in), 1/sqrt(in)); B = 0, so the
    // adapted layer starts equal to the base layer.
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    lora_a = register_parameter("lora_A", torch::empty({rank, in}, opts).uniform_(-bound, bound));
    lora_b = register_parameter("lora_B", torch::zeros({out, rank}, opts));
    lora_scale = alpha / static_cast<double>(rank);
    lora_dropout = dropout;
}

torch::Tensor LinearImpl::merged_weight() const {
    if (qweight.defined()) throw std::logic_error("an adapter cannot be merged into quantized weights (load with --dtype f32)");
    if (!lora_a.defined()) return weight.detach();
    torch::NoGradGuard ng;
    const auto delta = torch::matmul(lora_b.to(torch::kFloat), lora_a.to(torch::kFloat)) * lora_scale;
    return (weight.to(torch::kFloat) + delta).to(weight.scalar_type());
}

void LinearImpl::merge_lora() {
    if (!lora_a.defined()) return;
    {
        torch::NoGradGuard ng;
        weight.copy_(merged_weight());
    }
    // LibTorch 1.13 has no unregister_parameter; the parameter dict is a protected member.
    parameters_.erase("lora_A");
    parameters_.erase("lora_B");
    lora_a = lora_b = torch::Tensor();
    lora_scale = 0;
}

namespace {

// The fast path: CPU, bf16 or f32 weights in x's dtype, few rows, no autograd.
bool fast_path_applies(const torch::Tensor& x, const torch::Tensor& w) {
    const auto dt = w.scalar_type();
    const int64_t k = w.size(1);
    return (dt == torch::kBFloat16 || dt == torch::kFloat) && x.scalar_type() == dt && x.device().is_cpu() &&
           w.device().is_cpu() && x.size(-1) == k && !torch::GradMode::is_enabled() &&
           x.numel() / k <= kFastLinearMaxRows && w.is_contiguous();
}

// [M, n] -> x's leading shape with n last, plus the bias
torch::Tensor finish(const torch::Tensor& y, const torch::Tensor& x, const torch::Tensor& b) {
    auto shape = x.sizes().vec();
    shape.back() = y.size(1);
    const auto out = y.view(shape);
    return b.defined() ? out + b : out;
}

}  // namespace

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
    if (fast_path_applies(x, w)) {
        const auto y = fast_linear(x.reshape({-1, w.size(1)}), w);
        if (y.defined()) return finish(y, x, b);
    }
    return torch::nn::functional::linear(x, w, b);
}

std::vector<torch::Tensor> linear_group(const torch::Tensor& x, const std::vector<LinearImpl*>& layers) {
    // all held in blocks of one type: one activation quantization and one parallel pass
    bool quant = !layers.empty() && !(torch::GradMode::is_enabled() && x.requires_grad());
    std::vector<const QuantWeight*> qs;
    for (const auto* l : layers) {
        quant = quant && l->qweight.defined() && l->qweight.type == layers[0]->qweight.type;
        qs.push_back(&l->qweight);
    }
    if (quant) {
        auto ys = quant_matmul_group(x, qs);
        for (size_t i = 0; i < ys.size(); ++i) {
            auto y = compat::as_dtype(ys[i], x.scalar_type());
            if (layers[i]->bias.defined()) y = y + layers[i]->bias;
            ys[i] = layers[i]->add_lora(x, y);
        }
        return ys;
    }
    bool fast = !layers.empty();
    std::vector<torch::Tensor> ws;
    for (const auto* l : layers) {
        fast = fast && fast_path_applies(x, l->weight) && l->weight.scalar_type() == layers[0]->weight.scalar_type();
        ws.push_back(l->weight);
    }
    std::vector<torch::Tensor> out;
    if (fast) {
        const auto ys = fast_linear_group(x.reshape({-1, x.size(-1)}), ws);
        for (size_t i = 0; i < ys.size(); ++i) out.push_back(layers[i]->add_lora(x, finish(ys[i], x, layers[i]->bias)));
        if (!out.empty()) return out;
    }
    for (auto* l : layers) out.push_back(l->forward(x));
    return out;
}

}  // namespace diagecg
