// Properties of the Llama runtime that need no reference numbers, plus the real stories260K checkpoint.
#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "test-util.h"
#include "diagecg/llm/generate.h"
#include "diagecg/llm/linear.h"
#include "diagecg/llm/llm-io.h"
#include "diagecg/llm/perplexity.h"
#include "diagecg/util/device.h"

using namespace diagecg;
using diagecg::test::temp_dir;
namespace fs = std::filesystem;

namespace {

const std::string kStories = std::string(DIAGECG_TEST_DATA) + "/models/stories260K";

LlmConfig tiny_config(int64_t n_kv_heads = 2) {
    LlmConfig c;
    c.vocab_size = 97;
    c.hidden_size = 32;
    c.intermediate_size = 48;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = n_kv_heads;
    c.rms_norm_eps = 1e-5;
    c.max_position_embeddings = 64;
    return c;
}

torch::Tensor seq(std::vector<int64_t> v) { return torch::tensor(v, torch::kLong).unsqueeze(0); }

}  // namespace

TEST(Llm, KvCacheDecodeEqualsFullRecompute) {
    torch::NoGradGuard ng;
    auto model = random_llama(tiny_config(), 1, {});
    const auto tokens = seq({5, 17, 3, 88, 42, 7, 7, 61, 0, 13, 29, 96});
    const auto full = model->forward(tokens);                                  // [1, 12, V]
    KvCache cache(model->config(), 1, 16, torch::kFloat, torch::kCPU);
    auto pre = model->forward(tokens.narrow(1, 0, 5), &cache);                  // prefill 5
    EXPECT_TRUE(torch::allclose(pre, full.narrow(1, 0, 5), 1e-5, 1e-5));
    for (int64_t t = 5; t < 12; ++t) {
        const auto step = model->forward(tokens.narrow(1, t, 1), &cache);       // one token
        EXPECT_TRUE(torch::allclose(step.squeeze(1), full.select(1, t), 1e-4, 1e-5)) << "position " << t;
    }
    EXPECT_EQ(cache.n_past(), 12);
}

// Perplexity: each document's summed NLL is the log-softmax of its own full forward at every next token, whatever
// the batch (right padding never reaches a document's tokens); one-token documents are skipped; bad ids are errors.
TEST(Llm, PerplexityScoresEachDocumentAloneInAnyBatch) {
    auto model = random_llama(tiny_config(), 7, {});
    const std::vector<std::vector<int64_t>> docs = {{5, 17, 3, 88, 42}, {9}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {60, 61}};
    std::vector<double> expect;
    {
        torch::NoGradGuard ng;
        for (const auto& d : docs) {
            if (d.size() < 2) continue;
            const auto lp = torch::log_softmax(model->forward(seq(d))[0], -1).to(torch::kDouble);
            double s = 0;
            for (size_t t = 1; t < d.size(); ++t) s -= lp[static_cast<int64_t>(t) - 1][d[t]].item<double>();
            expect.push_back(s);
        }
    }
    for (const int64_t batch : {1, 2, 4}) {
        int64_t calls = 0;
        const auto r = score_documents(model, docs, batch, [&](int64_t, int64_t total) { ++calls; EXPECT_EQ(total, 3); });
        ASSERT_EQ(r.documents, 3) << "batch " << batch;
        EXPECT_EQ(r.tokens, 4 + 10 + 1);
        EXPECT_EQ(calls, (3 + batch - 1) / batch);
        ASSERT_EQ(r.doc_nll.size(), expect.size());
        double sum = 0;
        for (size_t i = 0; i < expect.size(); ++i) {
            EXPECT_NEAR(r.doc_nll[i], expect[i], 1e-4 * expect[i]) << "batch " << batch << " document " << i;
            sum += expect[i];
        }
        EXPECT_NEAR(r.perplexity(), std::exp(sum / 15), 1e-4 * r.perplexity());
        EXPECT_GT(r.perplexity(), 1.0);
    }
    EXPECT_THROW(score_documents(model, {{1, 97}}, 1), std::invalid_argument);   // vocab is 97
    EXPECT_THROW(score_documents(model, {std::vector<int64_t>(65, 1)}, 1), std::invalid_argument);   // context 64
    EXPECT_THROW(score_documents(model, docs, 0), std::invalid_argument);
}

// bf16 on the CPU: the full forward of 20 tokens takes LibTorch's matmuls in bf16, the one-token steps take
// the fast linear kernels and f32 attention; both round differently, so they agree to bf16 precision.
TEST(Llm, KvCacheDecodeBf16TracksFullRecompute) {
    torch::NoGradGuard ng;
    auto model = random_llama(tiny_config(), 1, {torch::kBFloat16, torch::kCPU});
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < 20; ++i) ids.push_back((i * 37 + 11) % 100);
    const auto tokens = seq(ids);
    const auto full = model->forward(tokens);                                   // [1, 20, V] f32 logits
    KvCache cache(model->config(), 1, 20, torch::kBFloat16, torch::kCPU);
    (void)model->forward(tokens.narrow(1, 0, 5), &cache);
    for (int64_t t = 5; t < 20; ++t) {
        const auto step = model->forward(tokens.narrow(1, t, 1), &cache).squeeze(1);
        const auto ref = full.select(1, t);
        const double err = (step - ref).abs().max().item<double>(), scale = ref.abs().max().item<double>();
        EXPECT_LT(err, 0.03 * scale) << "position " << t;
    }
}

// The decode-step loop of RmsNorm (no autograd, few rows, CPU) against its LibTorch op chain (autograd on).
TEST(Llm, RmsNormStepLoopMatchesTheOpChain) {
    for (const auto dt : {torch::kFloat, torch::kBFloat16}) {
        RmsNorm norm(64, 1e-5);
        {
            torch::NoGradGuard ng;
            norm->weight.uniform_(0.5, 1.5);
        }
        norm->to(dt);
        const auto x = (torch::randn({3, 64}) * 3).to(dt);
        torch::Tensor fused;
        {
            torch::NoGradGuard ng;
            fused = norm(x);
        }
        const auto chain = norm(x).detach();
        ASSERT_EQ(fused.scalar_type(), dt);
        // f32: summation order only; bf16: a rare one-ulp flip of a rounding
        const double tol = dt == torch::kFloat ? 1e-6 : 8e-3;
        EXPECT_TRUE(torch::allclose(fused.to(torch::kFloat), chain.to(torch::kFloat), tol, tol)) << c10::toString(dt);
    }
}

// The decode-step loops (no autograd, at most 16 rows on the CPU: with a KV cache and f32 weights the whole step
// on raw buffers, else the modules' RoPE tables, RoPE + cache writes + attention in one pass, SwiGLU) against
// LibTorch's op chain (the same model with autograd on), for a prefill, cached one-token steps, two rows with a
// left-padded one, GQA, q/k/v biases; f32 to summation order, bf16 to its rounding.
TEST(Llm, DecodeStepLoopsMatchTheOpChain) {
    for (const auto dt : {torch::kFloat, torch::kBFloat16})
    for (const bool bias : {false, true}) {
        auto cfg = tiny_config(2);
        cfg.attention_bias = bias;
        auto model = random_llama(cfg, 11, {dt, torch::kCPU});
        if (bias) {
            torch::NoGradGuard ng;
            for (auto& kv : model->named_parameters())
                if (kv.key().find("bias") != std::string::npos) kv.value().uniform_(-0.5, 0.5);
        }
        const double tol = dt == torch::kFloat ? 2e-5 : 0.03;
        const auto close = [&](const torch::Tensor& a, const torch::Tensor& b, const std::string& what) {
            const double scale = b.abs().max().item<double>();
            EXPECT_LT((a - b).abs().max().item<double>(), tol * scale) << c10::toString(dt) << " bias " << bias << " " << what;
        };
        // rows 0 and 1: row 0 left-padded by 2 (positions from 0 at its first real token)
        auto toks = torch::tensor({0, 0, 5, 17, 3, 88, 42, 7, 61, 13, 29, 96}, torch::kLong).view({2, 6});
        auto pos = torch::tensor({0, 0, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5}, torch::kLong).view({2, 6});
        auto keys = torch::ones({2, 6}, torch::kBool);
        keys[0][0] = keys[0][1] = false;
        const std::vector<int64_t> next = {33, 71};
        torch::Tensor chain_pre, chain_step, loop_pre, loop_step, chain_nocache, loop_nocache;
        for (const bool grad : {true, false}) {
            torch::AutoGradMode mode(grad);
            (grad ? chain_nocache : loop_nocache) = model->forward(toks, nullptr, pos, keys).detach();
            KvCache cache(model->config(), 2, 8, dt, torch::kCPU);
            auto pre = model->forward(toks, &cache, pos, keys);
            auto step_keys = torch::cat({keys, torch::ones({2, 1}, torch::kBool)}, 1);
            auto step = model->forward(torch::tensor(next, torch::kLong).view({2, 1}), &cache,
                                       torch::tensor({4, 6}, torch::kLong).view({2, 1}), step_keys);
            (grad ? chain_pre : loop_pre) = pre.detach();
            (grad ? chain_step : loop_step) = step.detach();
        }
        close(loop_pre.narrow(1, 2, 4)[0], chain_pre.narrow(1, 2, 4)[0], "prefill, padded row");
        close(loop_pre[1], chain_pre[1], "prefill");
        close(loop_nocache.narrow(1, 2, 4)[0], chain_nocache.narrow(1, 2, 4)[0], "no cache, padded row");
        close(loop_nocache[1], chain_nocache[1], "no cache");
        close(loop_step, chain_step, "cached step");
        // one row, no mask: the decode step as generate runs it, eight steps on
        std::vector<torch::Tensor> outs[2];
        for (const bool grad : {true, false}) {
            torch::AutoGradMode mode(grad);
            KvCache cache(model->config(), 1, 16, dt, torch::kCPU);
            (void)model->forward(seq({5, 17, 3}), &cache);
            for (int64_t t = 0; t < 8; ++t) outs[grad].push_back(model->forward(seq({(t * 13 + 2) % 97}), &cache).detach());
        }
        for (size_t t = 0; t < outs[0].size(); ++t) close(outs[0][t], outs[1][t], "step " + std::to_string(t));
    }
}

TEST(Llm, CausalChangingALaterTokenLeavesEarlierLogits) {
    torch::NoGradGuard ng;
    auto model = random_llama(tiny_config(), 2, {});
    auto a = seq({1, 2, 3, 4, 5, 6, 7, 8});
    auto b = a.clone();
    b[0][5] = 50;
    const auto la = model->forward(a), lb = model->forward(b);
    EXPECT_TRUE(torch::equal(la.narrow(1, 0, 5), lb.narrow(1, 0, 5)));
    EXPECT_FALSE(torch::allclose(la.select(1, 5), lb.select(1, 5)));
}

TEST(Llm, GqaEqualsMhaWithRepeatedKvHeads) {
    torch::NoGradGuard ng;
    auto gqa = random_llama(tiny_config(2), 3, {});
    auto mha = random_llama(tiny_config(4), 4, {});
    auto gp = gqa->named_parameters(), mp = mha->named_parameters();
    for (auto& kv : mp) {
        const auto& src = gp[kv.key()];
        if (kv.key().find("k_proj") != std::string::npos || kv.key().find("v_proj") != std::string::npos) {
            // kv head j serves query heads 2j, 2j+1: duplicate each head's rows
            const auto heads = src.view({2, 8, 32});
            kv.value().copy_(heads.repeat_interleave(2, 0).reshape({32, 32}));
        } else {
            kv.value().copy_(src);
        }
    }
    const auto tokens = seq({9, 8, 7, 6, 5, 4, 3});
    EXPECT_TRUE(torch::allclose(gqa->forward(tokens), mha->forward(tokens), 1e-5, 1e-5));
}

TEST(Llm, BatchedPaddedForwardEqualsAlone) {
    torch::NoGradGuard ng;
    auto model = random_llama(tiny_config(), 5, {});
    const std::vector<std::vector<int64_t>> prompts = {{4, 8, 15}, {16, 23, 42, 4, 8, 15, 16}, {1, 2, 3, 4, 5}};
    GenerateOptions g;
    g.n_predict = 10;
    g.sampling.temperature = 0;
    g.stop_at_eos = false;
    TextTokenizer tok(kStories + "/tokenizer.model");
    tok.set_vocab(Vocab(97, 0));
    std::vector<std::vector<int64_t>> alone;
    for (const auto& p : prompts) alone.push_back(generate(model, tok, {p}, g)[0].tokens);
    const auto batched = generate(model, tok, prompts, g);
    for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(batched[i].tokens, alone[i]) << "row " << i;

    // logits too: left-padded row 0 vs alone
    auto toks = torch::zeros({2, 7}, torch::kLong);
    for (int j = 0; j < 3; ++j) toks[0][4 + j] = prompts[0][j];
    for (int j = 0; j < 7; ++j) toks[1][j] = prompts[1][j];
    auto pos = torch::zeros({2, 7}, torch::kLong);
    for (int j = 0; j < 3; ++j) pos[0][4 + j] = j;
    pos[1] = torch::arange(7);
    auto mask = torch::ones({2, 7}, torch::kBool);
    mask[0].narrow(0, 0, 4).fill_(false);
    const auto lb = model->forward(toks, nullptr, pos, mask);
    EXPECT_FALSE(lb.isnan().any().item<bool>());
    EXPECT_TRUE(torch::allclose(lb[0].narrow(0, 4, 3), model->forward(seq(prompts[0]))[0], 1e-5, 1e-5));
    EXPECT_TRUE(torch::allclose(lb[1], model->forward(seq(prompts[1]))[0], 1e-5, 1e-5));
}

TEST(Llm, SameSeedSameTokensSampled) {
    torch::NoGradGuard ng;
    auto model = random_llama(tiny_config(), 6, {});
    TextTokenizer tok(kStories + "/tokenizer.model");
    GenerateOptions g;
    g.n_predict = 20;
    g.stop_at_eos = false;
    g.sampling.temperature = 1.0f;
    g.sampling.seed = 7;
    const auto a = generate(model, tok, {{1, 2, 3}}, g)[0].tokens;
    const auto b = generate(model, tok, {{1, 2, 3}}, g)[0].tokens;
    g.sampling.seed = 8;
    const auto c = generate(model, tok, {{1, 2, 3}}, g)[0].tokens;
    EXPECT_EQ(a, b);
    EXPECT_NE(a, c);
}

TEST(Llm, Stories260KGreedyWritesTheStory) {
    auto m = load_model(kStories, {});
    EXPECT_EQ(m.model->config().num_key_value_heads, 4);
    GenerateOptions g;
    g.n_predict = 80;
    g.sampling.temperature = 0;
    const auto r = generate(m.model, *m.tokenizer, {{m.tokenizer->bos_id()}}, g);
    // llama2.c's published greedy output for stories260K
    EXPECT_EQ(r[0].text.rfind("Once upon a time, there was a little girl named Lily. She loved to play outside in the park.", 0), 0u)
        << r[0].text;
}

TEST(Llm, Stories260KBf16AgreesWithF32) {
    auto f = load_model(kStories, {torch::kFloat, torch::kCPU});
    auto h = load_model(kStories, {torch::kBFloat16, torch::kCPU});
    torch::NoGradGuard ng;
    const auto tokens = torch::tensor({1, 403, 407, 261, 378}, torch::kLong).unsqueeze(0);
    const auto lf = f.model->forward(tokens), lh = h.model->forward(tokens);
    EXPECT_TRUE(torch::equal(lf.argmax(-1), lh.argmax(-1)));
    EXPECT_LT((lf - lh).abs().max().item<float>(), 0.25f);
}

TEST(Llm, ExtendedModelKeepsTextLogitsAndRoundTrips) {
    torch::NoGradGuard ng;
    auto base = load_model(kStories, {});
    auto ext = load_model(kStories, {});
    extend_vocab(ext, 1296, 11);
    EXPECT_EQ(ext.model->config().vocab_size, 512 + 1296 + 3);
    EXPECT_TRUE(ext.model->config().tie_word_embeddings);
    const auto tokens = torch::tensor({1, 403, 407, 261}, torch::kLong).unsqueeze(0);
    const auto lb = base.model->forward(tokens), le = ext.model->forward(tokens);
    EXPECT_EQ(le.size(-1), 512 + 1299);
    EXPECT_TRUE(torch::equal(le.narrow(-1, 0, 512), lb));
    // new rows are not zero and not all equal: drawn around the mean of the old rows
    const auto w = ext.model->embed_tokens->weight;
    const auto new_rows = w.narrow(0, 512, 1299);
    EXPECT_GT(new_rows.std(0).mean().item<float>(), 0.0f);
    EXPECT_LT((new_rows.mean(0) - w.narrow(0, 0, 512).mean(0)).abs().max().item<float>(), 0.05f);

    const auto dir = temp_dir("ext");
    save_model(ext, dir.string());
    auto back = load_model(dir.string(), {});
    EXPECT_TRUE(back.vocab.extended());
    EXPECT_EQ(back.vocab.start_ecg(), 512 + 1296);
    auto pa = ext.model->named_parameters(), pb = back.model->named_parameters();
    ASSERT_EQ(pa.size(), pb.size());
    for (const auto& kv : pa) EXPECT_TRUE(torch::equal(kv.value(), pb[kv.key()])) << kv.key();
    EXPECT_TRUE(torch::equal(back.model->forward(tokens), le));
    fs::remove_all(dir);
}

// The new rows' spread: sqrt(cov_scale) x the text rows' per-dimension spread (1e-5: nearly alike; 1: as spread).
TEST(Llm, ExtendVocabCovScaleSetsTheNewRowsSpread) {
    torch::NoGradGuard ng;
    for (const double scale : {1e-5, 1.0}) {
        auto ext = load_model(kStories, {});
        extend_vocab(ext, 1296, 3, scale);
        const auto w = ext.model->embed_tokens->weight;
        const double text = w.narrow(0, 0, 512).std(0).mean().item<double>();
        const double fresh = w.narrow(0, 512, 1296).std(0).mean().item<double>();
        EXPECT_NEAR(fresh / text, std::sqrt(scale), 0.1 * std::sqrt(scale)) << "cov_scale " << scale;
    }
    auto m = load_model(kStories, {});
    EXPECT_THROW(extend_vocab(m, 16, 3, 0.0), std::invalid_argument);
}

TEST(Llm, LoadReportsEveryMismatchAtOnce) {
    auto m = load_model(kStories, {});
    const auto dir = temp_dir("bad");
    save_model(m, dir.string());
    LlmConfig wrong = m.model->config();
    wrong.intermediate_size = 100;          // 3 MLP tensors x 5 layers mis-shaped
    Llama model(wrong);
    try {
        load_weights(model, dir.string());
        FAIL() << "expected an error";
    } catch (const std::runtime_error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("15 problem(s)"), std::string::npos) << msg;
        EXPECT_NE(msg.find("model.layers.4.mlp.down_proj.weight' has shape [64, 172], expected [64, 100]"), std::string::npos) << msg;
    }
    fs::remove_all(dir);
}

TEST(Llm, Llama3RopeScaling) {
    LlmConfig c = tiny_config();
    c.hidden_size = 512;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 4;
    c.rope_theta = 500000;
    const auto plain = rope_inv_freq(c);
    c.rope_scaling.type = "llama3";
    c.rope_scaling.factor = 32;
    c.rope_scaling.low_freq_factor = 1;
    c.rope_scaling.high_freq_factor = 4;
    c.rope_scaling.original_max_position_embeddings = 8192;
    const auto scaled = rope_inv_freq(c);
    // highest frequency (wavelength 2*pi < 2048) unchanged; lowest (wavelength > 8192) divided by 32
    EXPECT_FLOAT_EQ(scaled[0].item<float>(), plain[0].item<float>());
    EXPECT_NEAR(scaled[-1].item<float>(), plain[-1].item<float>() / 32, 1e-12);
}

TEST(Linear, FastPathMatchesF32Reference) {
    torch::NoGradGuard ng;
    torch::manual_seed(0);
    if (!linear_kernel_available(LinearKernel::kAuto, torch::kFloat)) GTEST_SKIP() << "CPU has neither AVX-512F nor AVX2";
    const LinearKernel kernels[] = {LinearKernel::kAuto, LinearKernel::kRows, LinearKernel::kF32Seq,
                                    LinearKernel::kBf16Pairs, LinearKernel::kBf16Dot};
    int bf16_kernels_run = 0;
    for (const int64_t m : {1, 2, 3, 8, 11, 16}) {
        for (const int64_t k : {64, 200, 2048}) {   // 200: a tail that is not a multiple of 16 or 32
            const auto x = torch::randn({m, k}).to(torch::kBFloat16);
            const auto w = torch::randn({37, k}).to(torch::kBFloat16);   // 37 rows: a tail for every row block
            const auto ref = torch::matmul(x.to(torch::kFloat), w.to(torch::kFloat).t());
            for (const auto kernel : kernels) {
                const std::string what = std::string(linear_kernel_name(kernel)) + " " + std::to_string(m) + "x" + std::to_string(k);
                // f32 weights: no widening, compared tightly
                if (linear_kernel_available(kernel, torch::kFloat)) {
                    const auto fast32 = fast_linear(x.to(torch::kFloat), w.to(torch::kFloat), kernel);
                    EXPECT_EQ(fast32.scalar_type(), torch::kFloat);
                    EXPECT_TRUE(torch::allclose(fast32, ref, 1e-4, 1e-4)) << what;
                } else {
                    EXPECT_THROW(fast_linear(x.to(torch::kFloat), w.to(torch::kFloat), kernel), std::invalid_argument) << what;
                }
                if (!linear_kernel_available(kernel, torch::kBFloat16)) {
                    EXPECT_THROW(fast_linear(x, w, kernel), std::invalid_argument) << what;
                    continue;
                }
                const auto fast = fast_linear(x, w, kernel);
                if (kernel == LinearKernel::kAuto && auto_linear_kernel(torch::kBFloat16, m, w.numel()) == LinearKernel::kLibTorch) {
                    EXPECT_FALSE(fast.defined()) << what;   // auto hands these rows to LibTorch
                    continue;
                }
                ++bf16_kernels_run;
                EXPECT_EQ(fast.scalar_type(), torch::kBFloat16);
                // f32 accumulation, one bf16 rounding of the result
                EXPECT_TRUE(torch::allclose(fast.to(torch::kFloat), ref, 1e-2, 1e-2 * std::sqrt(double(k)))) << what;
                const auto rel = ((fast.to(torch::kFloat) - ref).abs().max() / ref.abs().max()).item<float>();
                EXPECT_LT(rel, 8e-3) << what;
            }
        }
    }
    EXPECT_GE(bf16_kernels_run, 6 * 3);   // rows runs wherever the fast path does
}

TEST(Linear, KernelNamesRoundTrip) {
    for (const auto k : {LinearKernel::kAuto, LinearKernel::kLibTorch, LinearKernel::kRows, LinearKernel::kF32Seq,
                         LinearKernel::kBf16Pairs, LinearKernel::kBf16Dot})
        EXPECT_EQ(parse_linear_kernel(linear_kernel_name(k)), k);
    EXPECT_THROW(parse_linear_kernel("fastest"), std::invalid_argument);
    EXPECT_FALSE(fast_linear(torch::randn({1, 64}), torch::randn({8, 64}), LinearKernel::kLibTorch).defined());
}

TEST(Linear, EveryKernelTakesAnEmptyBatch) {
    torch::NoGradGuard ng;
    for (const auto dt : {torch::kFloat, torch::kBFloat16}) {
        for (const auto k : {LinearKernel::kAuto, LinearKernel::kRows, LinearKernel::kF32Seq, LinearKernel::kBf16Pairs,
                             LinearKernel::kBf16Dot}) {
            if (!linear_kernel_available(k, dt)) continue;
            const auto y = fast_linear(torch::empty({0, 64}, dt), torch::randn({5, 64}).to(dt), k);
            if (!y.defined()) continue;   // auto handing the rows to LibTorch
            EXPECT_EQ(y.sizes(), (std::vector<int64_t>{0, 5})) << linear_kernel_name(k);
        }
    }
}

TEST(Linear, ParametersInHugePagesKeepValuesAndTraining) {
    Linear lin(64, 10, true);
    const auto w0 = lin->weight.detach().clone();
    const auto b0 = lin->bias.detach().clone();
    place_parameters_in_huge_pages(*lin);
    EXPECT_TRUE(torch::equal(lin->weight, w0));
    EXPECT_TRUE(torch::equal(lin->bias, b0));
    EXPECT_TRUE(lin->weight.requires_grad());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(lin->weight.data_ptr()) % (2 << 20), 0u);   // first in the 2 MiB buffer
    // parameters still train in place
    auto loss = lin(torch::randn({3, 64})).pow(2).sum();
    loss.backward();
    torch::optim::SGD opt(lin->parameters(), 0.1);
    opt.step();
    EXPECT_FALSE(torch::equal(lin->weight, w0));
}

TEST(Linear, TensorsInHugePagesKeepValues) {
    auto a = torch::randint(0, 255, {37, 90}).to(torch::kUInt8), b = torch::randn({5, 3}), none = torch::Tensor();
    const auto a0 = a.clone(), b0 = b.clone();
    place_tensors_in_huge_pages({&a, &none, &b});
    EXPECT_TRUE(torch::equal(a, a0));
    EXPECT_TRUE(torch::equal(b, b0));
    EXPECT_FALSE(none.defined());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data_ptr()) % (2 << 20), 0u);  // first in the 2 MiB buffer
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data_ptr()) - reinterpret_cast<uintptr_t>(a.data_ptr()), 3392u);  // 3330 -> 64s
}

TEST(Linear, ModuleUsesFastPathOnlyWithoutGrad) {
    Linear lin(64, 10, true);
    lin->to(torch::kBFloat16);
    const auto x = torch::randn({2, 64}).to(torch::kBFloat16);
    torch::Tensor a, b;
    {
        torch::NoGradGuard ng;
        a = lin(x).to(torch::kFloat);
    }
    b = lin(x).to(torch::kFloat);   // autograd on: LibTorch's path
    EXPECT_TRUE(b.requires_grad());
    EXPECT_TRUE(torch::allclose(a, b.detach(), 2e-2, 2e-2));
}
