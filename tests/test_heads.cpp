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
