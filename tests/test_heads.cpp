// xgrad heads: each score on hand-built attention patterns whose values are
// known exactly (train/analysis/head_scores.hpp).
#include "autograd/error.hpp"
#include "train/analysis/head_scores.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <functional>

using namespace xgrad;
using namespace xgrad::analysis;

namespace {

// A (T,T) pattern with a single 1 per row, at column col(i) <= i.
Array one_per_row(std::size_t T, const std::function<std::size_t(std::size_t)>& col) {
    Array A = xt::zeros<Scalar>({T, T});
    for (std::size_t i = 0; i < T; ++i) A(i, col(i)) = 1;
    return A;
}

const double exact = 1e-6;

}  // namespace

TEST_CASE("heads: scores of the identity, shift-by-one, first-token and uniform patterns") {
    const std::size_t T = 8;
    const double n = T, n1 = T - 1;
    const Array identity = one_per_row(T, [](std::size_t i) { return i; });
    CHECK(previous_token(identity) == doctest::Approx(0).epsilon(exact));
    CHECK(first_token(identity) == doctest::Approx(0).epsilon(exact));
    CHECK(self(identity) == doctest::Approx(1).epsilon(exact));
    CHECK(mean_distance(identity) == doctest::Approx(0).epsilon(exact));
    CHECK(entropy(identity) == doctest::Approx(0).epsilon(exact));

    const Array shift = one_per_row(T, [](std::size_t i) { return i == 0 ? 0 : i - 1; });
    CHECK(previous_token(shift) == doctest::Approx(1).epsilon(exact));
    CHECK(first_token(shift) == doctest::Approx(1 / n1).epsilon(exact));  // only row 1's previous token is token 0
    CHECK(self(shift) == doctest::Approx(1 / n).epsilon(exact));          // only row 0 looks at itself
    CHECK(mean_distance(shift) == doctest::Approx(n1 / n).epsilon(exact));
    CHECK(entropy(shift) == doctest::Approx(0).epsilon(exact));

    const Array first = one_per_row(T, [](std::size_t) { return std::size_t(0); });
    CHECK(first_token(first) == doctest::Approx(1).epsilon(exact));
    CHECK(previous_token(first) == doctest::Approx(1 / n1).epsilon(exact));
    CHECK(mean_distance(first) == doctest::Approx(n1 / 2).epsilon(exact));  // mean of 0..T-1

    const Array uniform = uniform_attention(T);
    double prev = 0, self_sum = 0;
    for (std::size_t i = 1; i < T; ++i) prev += 1.0 / double(i + 1);
    for (std::size_t i = 0; i < T; ++i) self_sum += 1.0 / double(i + 1);
    CHECK(previous_token(uniform) == doctest::Approx(prev / n1).epsilon(exact));
    CHECK(first_token(uniform) == doctest::Approx(prev / n1).epsilon(exact));
    CHECK(self(uniform) == doctest::Approx(self_sum / n).epsilon(exact));
    CHECK(mean_distance(uniform) == doctest::Approx(n1 / 4).epsilon(exact));  // mean over i of i / 2
    CHECK(entropy(uniform) == doctest::Approx(1).epsilon(exact));
}

TEST_CASE("heads: word_start, induction and the similarity of two heads") {
    // "ab cde f": words start at 0, 3 and 7; inside a word: 1 (ab), 4, 5 (cde)
    const std::vector<bool> space = {false, false, true, false, false, false, true, false};
    const std::vector<std::size_t> start = {0, 0, 2, 3, 3, 3, 6, 7};
    const Array word_head = one_per_row(8, [&](std::size_t i) { return start[i]; });
    CHECK(word_start(word_head, space) == doctest::Approx(1).epsilon(exact));
    const Array shift = one_per_row(8, [](std::size_t i) { return i == 0 ? 0 : i - 1; });
    // shift puts its weight on the word's start at 1 (-> 0) and 4 (-> 3), not at 5 (-> 4)
    CHECK(word_start(shift, space) == doctest::Approx(2.0 / 3.0).epsilon(exact));
    CHECK(std::isnan(word_start(shift, std::vector<bool>(8, true))));  // no position inside a word

    // a perfect induction head on R = 4 tokens repeated: i looks at i - R + 1
    const std::size_t R = 4;
    const Array induction_head = one_per_row(8, [&](std::size_t i) { return i >= R ? i - R + 1 : i; });
    CHECK(induction(induction_head, R) == doctest::Approx(1).epsilon(exact));
    CHECK(induction(shift, R) == doctest::Approx(0).epsilon(exact));
    CHECK_THROWS_AS(induction(shift, 5), Error);

    // disjoint rows: one bit apart; a head and itself: none
    const Array identity = one_per_row(8, [](std::size_t i) { return i; });
    CHECK(js_divergence(identity, shift) == doctest::Approx(1).epsilon(exact));
    CHECK(js_divergence(shift, shift) == doctest::Approx(0).epsilon(exact));
    // identity against uniform: row i has -> (1/2)(log2(2(i+1)/(i+2))) + ... (checked against a direct sum)
    const Array uniform = uniform_attention(8);
    double expected = 0;
    for (std::size_t i = 1; i < 8; ++i) {
        const double u = 1.0 / double(i + 1);
        const double m_self = (1 + u) / 2, m_other = u / 2;
        double js = 0.5 * std::log2(1 / m_self) + 0.5 * (u * std::log2(u / m_self) + double(i) * u * std::log2(u / m_other));
        expected += js;
    }
    CHECK(js_divergence(identity, uniform) == doctest::Approx(expected / 7).epsilon(exact));
    CHECK_THROWS_WITH_AS(self(Array::from_shape({2, 3})), doctest::Contains("expected a square (T,T)"), Error);
}

// ---------------------------------------------------------------------------
// The analysis on a model: three routes to the same ablation, determinism.

#include "models/gpt.hpp"
#include "tests/random_tensors.hpp"
#include "models/hooks.hpp"
#include "train/analysis/heads.hpp"
#include "train/loop/options.hpp"
#include "train/text/corpus.hpp"

TEST_CASE("heads: ablation is the same by the gate, by zeroing the head's value weights, and by zeroing its columns of proj") {
    const GPTConfig c{11, 8, 16, 4, 2, 0.0};
    manual_seed(21);
    GPTLanguageModel model(c);
    for (auto [name, p] : model.named_parameters()) p.data() = p.data() * Scalar(8);  // far from uniform attention
    model.eval();
    const Index x = test::random_tokens(3, 8, 11, 1), y = test::random_tokens(3, 8, 11, 2);
    const std::vector<HeadScores> heads = list_heads(model);
    REQUIRE(heads.size() == 8);
    const double base = loss_with_gates(model, x, y, {});
    double largest_effect = 0;
    for (std::size_t k = 0; k < heads.size(); ++k) {
        INFO("head " << heads[k].name);
        std::vector<Scalar> gates(heads.size(), 1);
        gates[k] = 0;
        const double by_gate = loss_with_gates(model, x, y, gates);

        Head& head = model.blocks[heads[k].layer].sa.heads[heads[k].head];
        const Array value = head.value.weight.data();
        head.value.weight.data().fill(0);  // wei @ v with v = 0
        const double by_value = loss_with_gates(model, x, y, {});
        head.value.weight.data() = value;

        nn::Linear& proj = model.blocks[heads[k].layer].sa.proj;
        const Array w = proj.weight.data();  // (n_embd, n_head * hs): this head's output meets columns [h hs, (h+1) hs)
        const std::size_t hs = 4;
        for (std::size_t r = 0; r < 16; ++r) {
            for (std::size_t col = heads[k].head * hs; col < (heads[k].head + 1) * hs; ++col) proj.weight.data()(r, col) = 0;
        }
        const double by_proj = loss_with_gates(model, x, y, {});
        proj.weight.data() = w;

        CHECK(by_gate == doctest::Approx(by_value).epsilon(1e-6));
        CHECK(by_gate == doctest::Approx(by_proj).epsilon(1e-6));
        largest_effect = std::max(largest_effect, std::abs(by_gate - base));
    }
    CHECK(largest_effect > 1e-3);  // the heads matter: the three routes agree on something that is not nothing
}

TEST_CASE("heads: the same numbers twice, and for one thread or two") {
    const GPTConfig c{11, 8, 16, 2, 2, 0.0};
    manual_seed(22);
    GPTLanguageModel model(c);
    Tokenizer tokenizer = Tokenizer::from_text(U"abcdefghij ");
    std::u32string text;
    for (int i = 0; i < 100; ++i) text += U"abcdefghij "[(i * 7) % 11];
    HeadsOptions options;
    options.windows = 4;
    set_threads(1);
    const std::string once = report_json(analyse_heads(model, tokenizer, text, options), "m").dump();
    const std::string twice = report_json(analyse_heads(model, tokenizer, text, options), "m").dump();
    set_threads(2);
    const std::string two_threads = report_json(analyse_heads(model, tokenizer, text, options), "m").dump();
    set_threads(0);
    CHECK(once == twice);
    CHECK(once == two_threads);
}

TEST_CASE("heads --subject-verb: with attention made uniform, a verb's weight on its subject is the uniform baseline") {
    const GPTConfig c{0, 32, 16, 2, 2, 0.0};
    const CorpusLabels sample = generate_labelled_corpus(50000, 5);
    Tokenizer tokenizer = Tokenizer::from_text(decode_utf8(sample.text, "corpus"));
    GPTConfig config = c;
    config.vocab_size = tokenizer.vocab_size();
    manual_seed(23);
    GPTLanguageModel model(config);
    const SubjectVerbScores learned = subject_verb(model, tokenizer, 64, 7);
    CHECK(learned.pairs > 20);
    for (Block& b : model.blocks) {
        for (Head& h : b.sa.heads) h.key.weight.data().fill(0);  // every score 0: every row uniform
    }
    const SubjectVerbScores uniform = subject_verb(model, tokenizer, 64, 7);
    CHECK(uniform.pairs == learned.pairs);
    for (const auto& h : uniform.heads) {
        CHECK(h.subject == doctest::Approx(h.uniform).epsilon(1e-6));
        CHECK(h.subject > 0);
        CHECK(h.subject < 1);
    }
}
