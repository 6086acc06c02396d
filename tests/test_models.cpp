// The modules and models: shapes, parameter counts and state-dict keys as in
// PyTorch, train/eval, a model that overfits one batch, generate.
#include "autograd/error.hpp"
#include "models/bigram.hpp"
#include "models/blog_gpt.hpp"
#include "models/gpt.hpp"
#include "nn/adamw.hpp"
#include "tests/check_helpers.hpp"

#include <doctest/doctest.h>
#include <xtensor/xview.hpp>

#include <set>

using namespace xgrad;

namespace {
const GPTConfig tiny{65, 32, 64, 4, 4, 0.0};
const GPTConfig lecture{65, 256, 384, 6, 6, 0.2};

using test::random_tokens;
}  // namespace

TEST_CASE("parameter counts match PyTorch's for the tiny and the lecture configs") {
    CHECK(nn::count_parameters(GPTLanguageModel(tiny).named_parameters()) == 209729);
    CHECK(nn::count_parameters(GPTLanguageModel(lecture).named_parameters()) == 10788929);
}

TEST_CASE("state-dict keys are the lecture's") {
    GPTLanguageModel model(GPTConfig{11, 8, 16, 2, 2, 0.0});
    std::set<std::string> keys;
    for (const auto& [name, t] : model.state_dict()) keys.insert(name);
    for (const char* k : {"token_embedding_table.weight", "position_embedding_table.weight",
                          "blocks.0.sa.heads.0.key.weight", "blocks.0.sa.heads.1.query.weight",
                          "blocks.1.sa.heads.1.value.weight", "blocks.0.sa.heads.0.tril", "blocks.0.sa.proj.weight",
                          "blocks.0.sa.proj.bias", "blocks.0.ffwd.net.0.weight", "blocks.0.ffwd.net.0.bias",
                          "blocks.0.ffwd.net.2.weight", "blocks.1.ffwd.net.2.bias", "blocks.0.ln1.weight",
                          "blocks.0.ln2.bias", "ln_f.weight", "ln_f.bias", "lm_head.weight", "lm_head.bias"}) {
        INFO(k);
        CHECK(keys.count(k) == 1);
    }
    // 2 embeddings + per block (2 heads x 3 + proj 2 + ffwd 4 + ln 4) + ln_f 2 + lm_head 2, plus 2 tril per block
    CHECK(model.named_parameters().size() == 2 + 2 * 16 + 4);
    CHECK(keys.size() == 2 + 2 * 16 + 4 + 2 * 2);
}

TEST_CASE("shapes through every module") {
    GPTConfig c{11, 8, 16, 4, 2, 0.0};
    Tensor x = test::randn({2, 5, 16}, 1);
    CHECK(Head(4, c)(x).shape() == Shape{2, 5, 4});
    CHECK(MultiHeadAttention(4, 4, c)(x).shape() == Shape{2, 5, 16});
    CHECK(FeedForward(16, c)(x).shape() == Shape{2, 5, 16});
    CHECK(Block(16, 4, c)(x).shape() == Shape{2, 5, 16});
    GPTLanguageModel model(c);
    Index idx = random_tokens(2, 5, 11, 2);
    CHECK(model(idx).logits.shape() == Shape{2, 5, 11});
    CHECK_FALSE(model(idx).loss.defined());
    auto [logits, loss] = model(idx, idx);
    CHECK(logits.shape() == Shape{10, 11});
    CHECK(loss.shape() == Shape{});
}

TEST_CASE("initialisation is the lecture's: normal(0, 0.02) weights, zero biases, LayerNorm ones") {
    manual_seed(1);
    GPTLanguageModel model(GPTConfig{65, 32, 64, 4, 4, 0.0});
    for (const auto& [name, t] : model.named_parameters()) {
        INFO(name);
        const double m = xt::mean(t.data())(), s = xt::stddev(t.data())();
        if (name.find("ln") != std::string::npos) {
            CHECK(m == doctest::Approx(name.find("weight") != std::string::npos ? 1.0 : 0.0));
            CHECK(s == 0);
        } else if (name.find("bias") != std::string::npos) {
            CHECK(m == 0);
            CHECK(s == 0);
        } else {
            CHECK(std::abs(m) < 0.003);
            CHECK(s == doctest::Approx(0.02).epsilon(0.08));
        }
    }
}

TEST_CASE("starting loss is about ln(vocab_size)") {
    manual_seed(1337);
    GPTLanguageModel model(tiny);
    const double loss = model(random_tokens(4, 32, 65, 3), random_tokens(4, 32, 65, 4)).loss.item();
    CHECK(loss == doctest::Approx(std::log(65.0)).epsilon(0.02));
}

TEST_CASE("a tiny model overfits one batch to near-zero loss") {
    manual_seed(7);
    GPTLanguageModel model(GPTConfig{12, 8, 32, 4, 2, 0.0});
    nn::AdamWOptions options;
    options.lr = 3e-3;
    nn::AdamW opt(model.named_parameters(), options);
    const Index x = random_tokens(4, 8, 12, 5), y = random_tokens(4, 8, 12, 6);
    double first = 0, last = 0;
    for (int step = 0; step < 300; ++step) {
        opt.zero_grad();
        Tensor loss = model(x, y).loss;
        if (step == 0) first = loss.item();
        last = loss.item();
        loss.backward();
        opt.step();
    }
    CHECK(first > 2.0);
    CHECK(last < 0.05);
}

TEST_CASE("dropout follows train() and eval()") {
    manual_seed(3);
    GPTLanguageModel model(GPTConfig{11, 8, 16, 2, 1, 0.5});
    const Index idx = random_tokens(2, 8, 11, 7);
    model.eval();
    const Array a = model(idx).logits.data(), b = model(idx).logits.data();
    XGRAD_CHECK_CLOSE("eval is deterministic", a, b, 0);
    model.train();
    const Array c = model(idx).logits.data();
    CHECK(xt::amax(xt::abs(c - a))() > 1e-3);
}

TEST_CASE("generate appends tokens, crops the context to block_size, and is seeded") {
    manual_seed(11);
    GPTLanguageModel model(GPTConfig{11, 4, 16, 2, 1, 0.0});
    Index start = Index::from_shape({2, 1});
    start.fill(0);
    Generator g1(5), g2(5);
    const Index a = model.generate(start, 20, {}, g1), b = model.generate(start, 20, {}, g2);
    CHECK(a.shape()[1] == 21);  // longer than block_size 4: the context was cropped
    CHECK(a == b);
    for (auto v : a) CHECK((v >= 0 && v < 11));
    // top_k = 1 is greedy: always the most likely token
    Generator g3(1), g4(2);
    CHECK(model.generate(start, 10, {1.0, 1}, g3) == model.generate(start, 10, {1.0, 1}, g4));
}

TEST_CASE("bigram model: logits straight from the table") {
    BigramLanguageModel model(GPTConfig{5, 8, 0, 0, 0, 0.0});
    Index idx = {{1, 2}};
    auto [logits, loss] = model(idx);
    XGRAD_CHECK_CLOSE("row 2", xt::xarray<Scalar>(xt::view(logits.data(), 0, 1)),
                      xt::xarray<Scalar>(xt::view(model.token_embedding_table.weight.data(), 2)), 0);
}

TEST_CASE("the loss of a model called without targets says so when used, for every model") {
    const GPTConfig c{11, 8, 16, 2, 2, 0.0};
    const Index idx = random_tokens(2, 8, 11, 3);
    GPTLanguageModel gpt(c);
    BigramLanguageModel bigram(c);
    for (const LanguageModel* model : {static_cast<const LanguageModel*>(&gpt), static_cast<const LanguageModel*>(&bigram)}) {
        auto [logits, loss] = (*model)(idx);  // the lecture's slip: targets forgotten
        CHECK(logits.shape() == Shape{2, 8, 11});
        CHECK_FALSE(loss.defined());
        CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("backward: the tensor is empty (the model was called "
                                                                 "without targets, so it computed no loss"), Error);
        CHECK_THROWS_WITH_AS(loss.item(), doctest::Contains("item: the tensor is empty (the model was called without targets"),
                             Error);
    }
}

TEST_CASE("AttentionCapture holds each Head's own weights, in the order the heads ran") {
    const GPTConfig c{11, 8, 16, 2, 3, 0.0};
    manual_seed(4);
    GPTLanguageModel model(c);
    model.eval();
    const Index idx = random_tokens(2, 6, 11, 5);
    {
        AttentionCapture capture;
        model(idx);
        REQUIRE(capture.weights.size() == 6);  // n_layer x n_head
        for (const Tensor& w : capture.weights) {
            CHECK(w.shape() == Shape{2, 6, 6});
            for (std::size_t b = 0; b < 2; ++b) {
                for (std::size_t i = 0; i < 6; ++i) {
                    double row = 0;
                    for (std::size_t j = 0; j < 6; ++j) row += w.data()(b, i, j);
                    CHECK(row == doctest::Approx(1).epsilon(1e-5));
                    for (std::size_t j = i + 1; j < 6; ++j) CHECK(w.data()(b, i, j) == 0);  // causal
                }
            }
        }
    }
    // the weights are the head's own: wei @ value(x) is the head's output
    Head& head = model.blocks[0].sa.heads[1];
    const Tensor x = test::randn({2, 6, 16}, 7);
    AttentionCapture outer;
    Tensor out;
    {
        AttentionCapture inner;  // captures nest: the innermost one receives
        out = head(x);
        REQUIRE(inner.weights.size() == 1);
        XGRAD_CHECK_CLOSE("wei @ v", matmul(inner.weights[0], head.value(x)).data(), out.data(), 1e-6);
    }
    CHECK(outer.weights.empty());
    head(x);
    CHECK(outer.weights.size() == 1);
}

TEST_CASE("train() and eval() reach every Dropout, inside heads, lists and Sequential alike") {
    GPTLanguageModel model(GPTConfig{11, 8, 16, 2, 2, 0.2});
    auto dropouts = [&] {
        std::vector<bool> modes;
        for (const Block& b : model.blocks) {
            for (const Head& h : b.sa.heads) modes.push_back(h.dropout.training);
            modes.push_back(b.sa.dropout.training);
            modes.push_back(std::get<nn::Dropout>(b.ffwd.net.layers[3]).training);
        }
        return modes;
    };
    CHECK(dropouts().size() == 8);
    model.eval();
    for (bool on : dropouts()) CHECK_FALSE(on);
    CHECK_FALSE(model.training);
    model.train();
    for (bool on : dropouts()) CHECK(on);
    // and the listing skips a missing bias, as PyTorch skips None
    nn::Linear no_bias(3, 2, /*bias=*/false);
    CHECK(no_bias.named_parameters().size() == 1);
    CHECK(model.named_buffers().size() == 4);  // one tril per head
}

TEST_CASE("the blog's GPT: its state-dict keys, its choices, and the lecture's model unchanged") {
    const GPTConfig c{11, 8, 16, 4, 2, 0.1};
    manual_seed(3);
    GPT blog(c);
    std::set<std::string> keys;
    for (const auto& [name, t] : blog.state_dict()) keys.insert(name);
    for (const char* k : {"token_embedding.weight", "position_embedding.weight", "blocks.0.sa.heads.0.key.weight",
                          "blocks.1.sa.heads.3.value.weight", "blocks.0.sa.heads.2.tril", "blocks.1.sa.proj.weight",
                          "blocks.1.sa.proj.bias", "blocks.0.ffwd.net.0.weight", "blocks.0.ffwd.net.2.bias",
                          "blocks.1.ln1.weight", "blocks.1.ln2.bias", "ln_f.weight", "ln_f.bias", "head.weight",
                          "head.bias"}) {
        CHECK_MESSAGE(keys.count(k) == 1, k);
    }
    CHECK(keys.size() == 50 + 8);  // 50 parameters and a tril per head
    CHECK(nn::count_parameters(blog.named_parameters()) == 6987);
    // the blog's choices, one named field each, and the lecture's defaults
    const Head& h = blog.blocks[0].sa.heads[0];
    CHECK(h.scale == AttentionScale::n_embd);
    CHECK(h.dropout.p == 0);                       // no dropout in the blog's Head
    CHECK(blog.blocks[0].sa.dropout.p == Scalar(0.1f));  // but after the projection, as the lecture
    GPTLanguageModel lecture(c);
    CHECK(lecture.blocks[0].sa.heads[0].scale == AttentionScale::head_size);
    CHECK(lecture.blocks[0].sa.heads[0].dropout.p == Scalar(0.1f));
    // PyTorch's default init: embeddings normal(0, 1), Linear uniform in +-1/sqrt(in)
    const Array& emb = blog.token_embedding.weight.data();
    CHECK(xt::amax(xt::abs(emb))() > 1.0);
    const Array& w = std::get<nn::Linear>(blog.blocks[0].ffwd.net.layers[2]).weight.data();  // in_features 64
    CHECK(xt::amax(xt::abs(w))() <= Scalar(1 / std::sqrt(64.0)));
    CHECK(xt::amax(xt::abs(w))() > Scalar(0.9 / std::sqrt(64.0)));
}

TEST_CASE("the blog's scale: C ** -0.5 gives other attention than head_size ** -0.5, and the cache follows it") {
    const GPTConfig c{11, 8, 16, 4, 1, 0.0};
    manual_seed(8);
    GPT blog(c);
    blog.eval();
    const Index idx = random_tokens(1, 8, 11, 2);
    AttentionCapture by_c;
    const Array logits_c = blog(idx).logits.data();
    for (Block& b : blog.blocks) {
        for (Head& h : b.sa.heads) h.scale = AttentionScale::head_size;
    }
    const Array logits_hs = blog(idx).logits.data();
    CHECK(xt::amax(xt::abs(logits_c - logits_hs))() > 1e-3);
    REQUIRE(by_c.weights.size() == 2 * 4);
    // softmax(s * 0.5) against softmax(s * 0.25): the larger scale is sharper (a larger max weight)
    CHECK(xt::amax(by_c.weights[4].data())() > xt::amax(by_c.weights[0].data())() - 1e-6);
    for (Block& b : blog.blocks) {
        for (Head& h : b.sa.heads) h.scale = AttentionScale::n_embd;
    }
    Generator g1(4), g2(4);
    SamplingOptions cached, full;
    full.kv_cache = false;
    CHECK(blog.generate(idx, 20, cached, g1) == blog.generate(idx, 20, full, g2));
}

TEST_CASE("sample_token: greedy, top-p, top-k and temperature on hand-made logits") {
    // probabilities 0.5, 0.3, 0.15, 0.05 (logits are their logs, shifted)
    const std::vector<Scalar> logits = {std::log(0.5f) + 3, std::log(0.3f) + 3, std::log(0.15f) + 3, std::log(0.05f) + 3};
    auto counts = [&](const SamplingOptions& o) {
        Generator gen(11);
        std::vector<int> n(4, 0);
        for (int i = 0; i < 20000; ++i) ++n[static_cast<std::size_t>(sample_token(logits.data(), 4, o, gen))];
        return n;
    };
    SamplingOptions greedy;
    greedy.greedy = true;
    CHECK(counts(greedy) == std::vector<int>{20000, 0, 0, 0});
    const std::vector<Scalar> tie = {1, 5, 5, 2};
    Generator gen(1);
    CHECK(sample_token(tie.data(), 4, greedy, gen) == 1);  // the first of equal maxima, as torch.argmax

    SamplingOptions p;
    p.top_p = 0.6;  // 0.5 < 0.6 <= 0.5 + 0.3: the two most likely, renormalised to 0.625 and 0.375
    std::vector<int> n = counts(p);
    CHECK(n[2] == 0);
    CHECK(n[3] == 0);
    CHECK(n[0] / 20000.0 == doctest::Approx(0.625).epsilon(0.03));
    p.top_p = 0.5;  // the first token alone reaches 0.5
    CHECK(counts(p) == std::vector<int>{20000, 0, 0, 0});
    p.top_p = 1.0;  // everything
    n = counts(p);
    CHECK(n[3] / 20000.0 == doctest::Approx(0.05).epsilon(0.1));

    SamplingOptions k;
    k.top_k = 3;
    CHECK(counts(k)[3] == 0);
    SamplingOptions cold;
    cold.temperature = 0.05;  // probabilities ^ 20: almost always the first
    CHECK(counts(cold)[0] > 19990);

    for (double bad : {0.0, -0.1, 1.5}) {
        SamplingOptions o;
        o.top_p = bad;
        CHECK_THROWS_WITH_AS(sample_token(logits.data(), 4, o, gen), doctest::Contains("top_p must be in (0, 1]"), Error);
    }
}

TEST_CASE("greedy and top-p sampling: the KV cache gives the full recompute's tokens") {
    const GPTConfig c{11, 8, 16, 2, 2, 0.0};
    manual_seed(12);
    GPTLanguageModel model(c);
    model.eval();
    const Index start = random_tokens(2, 3, 11, 9);
    for (int mode = 0; mode < 2; ++mode) {
        SamplingOptions cached;
        cached.greedy = mode == 0;
        if (mode == 1) cached.top_p = 0.7;
        SamplingOptions full = cached;
        full.kv_cache = false;
        Generator g1(5), g2(5);
        CHECK(model.generate(start, 20, cached, g1) == model.generate(start, 20, full, g2));  // past block_size too
    }
}
