// Sampling with a key/value cache (models/kv_cache.hpp): the cache's logits
// agree with the full forward's last position at every step, and generate()
// with the cache samples exactly the tokens of the full recompute
// (LanguageModel::generate, the lecture's), inside block_size and past it.
#include "autograd/error.hpp"
#include "models/kv_cache.hpp"
#include "tests/check_helpers.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <set>

using namespace xgrad;

namespace {

const GPTConfig small{20, 16, 32, 4, 2, 0.0};  // vocab 20, block 16, n_embd 32, 4 heads, 2 blocks

// A GPT with weights large enough that its next-token distributions are far
// from flat (the lecture's initialisation, std 0.02, gives nearly uniform
// logits, where any two paths would sample alike by luck). In eval mode.
void randomise(GPTLanguageModel& model, unsigned seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (auto [name, p] : model.named_parameters()) {
        const bool layer_norm = name.find("ln1.") != std::string::npos || name.find("ln2.") != std::string::npos ||
                                name.rfind("ln_f.", 0) == 0;
        const bool embedding = name.find("embedding") != std::string::npos;
        const bool bias = name.find("bias") != std::string::npos;
        const double fan_in = p.dim() == 2 ? static_cast<double>(p.shape()[1]) : 1.0;
        for (Scalar& v : p.data()) {
            const double z = normal(gen);
            v = static_cast<Scalar>(layer_norm ? (bias ? 0.2 * z : 1.0 + 0.2 * z)
                                    : embedding ? z
                                    : bias      ? 0.5 * z
                                                : 2.0 * z / std::sqrt(fan_in));
        }
    }
    model.eval();
}

using test::random_tokens;

// The full recompute's logits for the last position of idx (B, T): (B, V).
Array full_last_logits(const GPTLanguageModel& model, const Index& idx) {
    NoGradGuard no_grad;
    const Array logits = model(idx).logits.data();  // (B, T, V)
    const std::size_t B = idx.shape()[0], T = idx.shape()[1], V = model.config.vocab_size;
    Array last = Array::from_shape({B, V});
    for (std::size_t b = 0; b < B; ++b) std::copy_n(logits.data() + (b * T + T - 1) * V, V, last.data() + b * V);
    return last;
}

// idx (B, T) with one more column: (B, T+1)
Index append(const Index& idx, const Index& next) {
    const std::size_t B = idx.shape()[0], T = idx.shape()[1];
    Index out = Index::from_shape({B, T + 1});
    for (std::size_t b = 0; b < B; ++b) {
        std::copy_n(&idx(b, 0), T, &out(b, 0));
        out(b, T) = next(b, 0);
    }
    return out;
}

// The entropy of softmax(logits) of one row, in nats.
double entropy(const Scalar* logits, std::size_t V) {
    double m = -INFINITY, total = 0, h = 0;
    for (std::size_t i = 0; i < V; ++i) m = std::max(m, double(logits[i]));
    for (std::size_t i = 0; i < V; ++i) total += std::exp(logits[i] - m);
    for (std::size_t i = 0; i < V; ++i) {
        const double p = std::exp(logits[i] - m) / total;
        if (p > 0) h -= p * std::log(p);
    }
    return h;
}

}  // namespace

TEST_CASE("the KV cache's logits agree with the full forward at every step, for B = 1 and 2") {
    for (std::size_t B : {1, 2}) {
        for (std::size_t prompt : {1, 5}) {
            INFO("B = " << B << ", prompt of " << prompt << " tokens");
            manual_seed(3);
            GPTLanguageModel model(small);
            randomise(model, 10 + static_cast<unsigned>(B + prompt));
            KVCachedGPT cache(model, B);
            Index idx = random_tokens(B, prompt, small.vocab_size, 1);
            Array logits = cache.forward(idx);  // the prefill
            CHECK(cache.size() == prompt);
            XGRAD_CHECK_CLOSE("prefill", logits, full_last_logits(model, idx), 1e-5);
            // not flat: the test would pass by luck on a uniform distribution
            CHECK(entropy(logits.data(), small.vocab_size) < 0.8 * std::log(double(small.vocab_size)));
            // one new position at a time, up to block_size
            for (unsigned s = 0; idx.shape()[1] < small.block_size; ++s) {
                const Index next = random_tokens(B, 1, small.vocab_size, 100 + s);
                idx = append(idx, next);
                logits = cache.forward(next);
                INFO("position " << idx.shape()[1] - 1);
                XGRAD_CHECK_CLOSE("decode step", logits, full_last_logits(model, idx), 1e-5);
            }
            CHECK(cache.size() == small.block_size);
            // full: one more position does not fit; rebuilt from a slid window, it agrees again
            CHECK_THROWS_WITH_AS(cache.forward(random_tokens(B, 1, small.vocab_size, 7)),
                                 doctest::Contains("exceed block_size 16"), Error);
            Index window = append(idx, random_tokens(B, 1, small.vocab_size, 8));
            Index cropped = Index::from_shape({B, small.block_size});
            for (std::size_t b = 0; b < B; ++b) std::copy_n(&window(b, 1), small.block_size, &cropped(b, 0));
            cache.clear();
            XGRAD_CHECK_CLOSE("rebuilt window", cache.forward(cropped), full_last_logits(model, cropped), 1e-5);
        }
    }
}

TEST_CASE("sampling with the KV cache gives the full recompute's tokens, past block_size too") {
    struct Case {
        std::size_t B, prompt;
        SamplingOptions options;
    };
    const SamplingOptions plain{1.0, 0}, sharp{0.8, 5};
    std::size_t runs = 0;
    for (unsigned seed : {1u, 2u, 3u, 4u}) {
        manual_seed(seed);
        GPTLanguageModel model(small);
        randomise(model, seed);
        for (const Case& c : {Case{1, 1, plain}, Case{1, 5, plain}, Case{2, 1, plain}, Case{2, 5, sharp},
                              Case{1, 20, sharp}, Case{2, 20, plain}}) {
            INFO("model seed " << seed << ", B = " << c.B << ", prompt of " << c.prompt << " tokens, temperature "
                               << c.options.temperature << ", top_k " << c.options.top_k);
            // a prompt of one token is the lecture's context = zeros((1, 1))
            const Index prompt = c.prompt == 1 ? Index(xt::zeros<std::int64_t>({c.B, std::size_t(1)}))
                                               : random_tokens(c.B, c.prompt, small.vocab_size, seed + 50);
            SamplingOptions full_options = c.options;
            full_options.kv_cache = false;
            Generator g1(seed * 7), g2(seed * 7), g3(seed * 7);
            const Index cached = model.generate(prompt, 40, c.options, g1);
            const Index full = model.LanguageModel::generate(prompt, 40, c.options, g2);
            REQUIRE(cached.shape() == full.shape());
            CHECK(cached.shape()[1] == c.prompt + 40);  // past block_size 16
            CHECK(cached == full);
            CHECK(model.generate(prompt, 40, full_options, g3) == full);  // kv_cache = false is the full recompute
            // a varied sequence, not one token repeated
            const std::set<std::int64_t> distinct(cached.begin() + static_cast<std::ptrdiff_t>(c.prompt), cached.end());
            CHECK(distinct.size() >= 3);
            ++runs;
        }
    }
    CHECK(runs == 24);
}

TEST_CASE("generate with the KV cache: no new tokens, and dropout on falls back to the full recompute") {
    manual_seed(4);
    GPTConfig config = small;
    config.dropout = 0.3;
    GPTLanguageModel model(config);
    randomise(model, 4);
    const Index start = xt::zeros<std::int64_t>({std::size_t(1), std::size_t(1)});
    Generator g0(1);
    CHECK(model.generate(start, 0, {}, g0) == start);

    Generator g1(5), g2(5), g3(5);
    const Index eval_tokens = model.generate(start, 30, {}, g1);  // eval: dropout off, the cache
    model.train();  // dropout draws masks from the default generator: only the full forward can
    manual_seed(9);
    const Index a = model.generate(start, 30, {}, g2);
    manual_seed(9);
    const Index b = model.LanguageModel::generate(start, 30, {}, g3);
    CHECK(a == b);
    CHECK(a != eval_tokens);  // the masks changed the samples: the comparison above could fail
}

TEST_CASE("the KV cache names what is wrong with its input") {
    manual_seed(5);
    GPTLanguageModel model(small);
    model.eval();
    KVCachedGPT cache(model, 2);
    CHECK_THROWS_WITH_AS(cache.forward(random_tokens(1, 3, 20, 1)), doctest::Contains("expected new tokens of shape (2, n)"),
                         Error);
    CHECK_THROWS_WITH_AS(cache.forward(random_tokens(2, 17, 20, 1)), doctest::Contains("exceed block_size 16"), Error);
    Index bad = random_tokens(2, 3, 20, 1);
    bad(1, 2) = 20;
    CHECK_THROWS_WITH_AS(cache.forward(bad), doctest::Contains("token 20 out of range for a vocabulary of 20"), Error);
    CHECK(cache.size() == 0);  // nothing was added
}

TEST_CASE("the KV cache refuses a model whose blocks are not gpt.py's, with an Error") {
    manual_seed(6);
    {
        GPTLanguageModel model(small);
        model.blocks[1].ffwd.net.layers[1] = nn::Dropout(0.0);  // Linear, Dropout, Linear: not the MLP it computes
        CHECK_THROWS_WITH_AS(KVCachedGPT(model, 1),
                             doctest::Contains("KV cache: block 1 has a FeedForward that is not Linear, ReLU, Linear"),
                             Error);
    }
    {
        GPTLanguageModel model(small);
        model.blocks[0].ffwd.net.layers.pop_back();  // no Dropout: still the same computation in eval
        model.eval();
        CHECK_NOTHROW(KVCachedGPT(model, 1));
        model.blocks[0].sa.heads.pop_back();
        CHECK_THROWS_WITH_AS(KVCachedGPT(model, 1), doctest::Contains("block 0 has 3 heads, the config 4"), Error);
    }
    {
        GPTLanguageModel model(small);
        model.blocks[0].sa.heads[2].query = nn::Linear(32, 8, /*bias=*/true);
        CHECK_THROWS_WITH_AS(KVCachedGPT(model, 1), doctest::Contains("key, query or value is not Linear(32, 8, bias=False)"),
                             Error);
    }
}
