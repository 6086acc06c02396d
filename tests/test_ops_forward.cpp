// Forward values of every op against numbers worked out by hand.
#include "autograd/error.hpp"
#include "autograd/ops.hpp"
#include "tests/check_helpers.hpp"

#include <doctest/doctest.h>

#include <omp.h>

#include <cmath>
#include <limits>

using namespace xgrad;

namespace {
const double tol = 1e-6;
const Scalar inf = std::numeric_limits<Scalar>::infinity();
Tensor T(Array a) { return Tensor(std::move(a)); }
// Braces around a single number are ambiguous to xtensor ({2} could be a
// shape), so arrays with a dim of 1 are written flat and then shaped.
Array shaped(Array flat, Shape shape) {
    flat.reshape(shape);
    return flat;
}
}  // namespace

TEST_CASE("forward: arithmetic with broadcasting") {
    Tensor a = T({{1, 2, 3}, {4, 5, 6}}), b = T({10, 20, 30}), c = T(shaped({2, -1}, {2, 1}));
    XGRAD_CHECK_CLOSE("add", add(a, b).data(), Array({{11, 22, 33}, {14, 25, 36}}), tol);
    XGRAD_CHECK_CLOSE("sub", sub(a, c).data(), Array({{-1, 0, 1}, {5, 6, 7}}), tol);
    XGRAD_CHECK_CLOSE("mul", mul(a, c).data(), Array({{2, 4, 6}, {-4, -5, -6}}), tol);
    XGRAD_CHECK_CLOSE("div", div(b, a).data(), Array({{10, 10, 10}, {2.5, 4, 5}}), tol);
    XGRAD_CHECK_CLOSE("add scalar", (a + Scalar(1)).data(), Array({{2, 3, 4}, {5, 6, 7}}), tol);
    XGRAD_CHECK_CLOSE("mul scalar", (a * Scalar(-2)).data(), Array({{-2, -4, -6}, {-8, -10, -12}}), tol);
    XGRAD_CHECK_CLOSE("rsub", (Scalar(1) - a).data(), Array({{0, -1, -2}, {-3, -4, -5}}), tol);
    XGRAD_CHECK_CLOSE("rdiv", (Scalar(6) / a).data(), Array({{6, 3, 2}, {1.5, 1.2, 1}}), tol);
    XGRAD_CHECK_CLOSE("div scalar", (a / Scalar(2)).data(), Array({{0.5, 1, 1.5}, {2, 2.5, 3}}), tol);
    XGRAD_CHECK_CLOSE("neg", (-c).data(), shaped({-2, 1}, {2, 1}), tol);
    CHECK(add(a, b).shape() == Shape{2, 3});
}

TEST_CASE("forward: broadcasting at model sizes, against plain loops") {
    Tensor x = test::randn({4, 32, 64}, 1), pos = test::randn({32, 64}, 2), bias = test::randn({64}, 3);
    Array sum_expected = x.data(), prod_expected = x.data();
    for (std::size_t b = 0; b < 4; ++b) {
        for (std::size_t t = 0; t < 32; ++t) {
            for (std::size_t c = 0; c < 64; ++c) {
                sum_expected(b, t, c) += pos.data()(t, c);
                prod_expected(b, t, c) *= bias.data()(c);
            }
        }
    }
    XGRAD_CHECK_CLOSE("x + pos", add(x, pos).data(), sum_expected, 0);
    XGRAD_CHECK_CLOSE("x * bias", mul(x, bias).data(), prod_expected, 0);
}

TEST_CASE("forward: unary functions") {
    Tensor x = T({0.25, 1, 4});
    XGRAD_CHECK_CLOSE("pow", pow(x, 2).data(), Array({0.0625, 1, 16}), tol);
    XGRAD_CHECK_CLOSE("pow -1", pow(x, -1).data(), Array({4, 1, 0.25}), tol);
    XGRAD_CHECK_CLOSE("sqrt", sqrt(x).data(), Array({0.5, 1, 2}), tol);
    XGRAD_CHECK_CLOSE("exp", exp(T({0, 1, -1})).data(), Array({1, 2.718281828, 0.367879441}), tol);
    XGRAD_CHECK_CLOSE("log", log(T({1, 2.718281828, 0.5})).data(), Array({0, 1, -0.693147181}), tol);
    XGRAD_CHECK_CLOSE("tanh", tanh(T({0, 0.5, -2})).data(), Array({0, 0.462117157, -0.964027580}), tol);
    XGRAD_CHECK_CLOSE("relu", relu(T({-1, 0, 2.5})).data(), Array({0, 0, 2.5}), tol);
}

TEST_CASE("forward: reductions") {
    Tensor a = T({{{1, 2}, {3, 4}, {5, 6}}, {{-1, 8}, {0, 0}, {2, -7}}});  // (2,3,2)
    CHECK(sum(a).item() == doctest::Approx(23));
    CHECK(mean(a).item() == doctest::Approx(23.0 / 12));
    CHECK(sum(a).shape() == Shape{});
    XGRAD_CHECK_CLOSE("sum 1", sum(a, 1).data(), Array({{9, 12}, {1, 1}}), tol);
    CHECK(sum(a, 1).shape() == Shape{2, 2});
    XGRAD_CHECK_CLOSE("sum -1 keep", sum(a, -1, true).data(), shaped({3, 7, 11, 7, 0, -5}, {2, 3, 1}), tol);
    CHECK(sum(a, -1, true).shape() == Shape{2, 3, 1});
    XGRAD_CHECK_CLOSE("mean 0", mean(a, 0).data(), Array({{0, 5}, {1.5, 2}, {3.5, -0.5}}), tol);
    XGRAD_CHECK_CLOSE("max 1", max(a, 1).data(), Array({{5, 6}, {2, 8}}), tol);
    XGRAD_CHECK_CLOSE("max -1 keep", max(a, -1, true).data(), shaped({2, 4, 6, 8, 0, 2}, {2, 3, 1}), tol);
}

TEST_CASE("forward: shape ops") {
    Tensor a = T(shaped({1, 2, 3, 4, 5, 6}, {1, 2, 3}));
    Tensor v = a.view({3, -1});
    CHECK(v.shape() == Shape{3, 2});
    XGRAD_CHECK_CLOSE("view", v.data(), Array({{1, 2}, {3, 4}, {5, 6}}), tol);
    XGRAD_CHECK_CLOSE("reshape", reshape(a, {6}).data(), Array({1, 2, 3, 4, 5, 6}), tol);
    Tensor t = a.transpose(-2, -1);
    CHECK(t.shape() == Shape{1, 3, 2});
    XGRAD_CHECK_CLOSE("transpose", t.data(), shaped({1, 4, 2, 5, 3, 6}, {1, 3, 2}), tol);
    Tensor c = cat({a, T(shaped({7, 8}, {1, 2, 1}))}, -1);
    XGRAD_CHECK_CLOSE("cat -1", c.data(), shaped({1, 2, 3, 7, 4, 5, 6, 8}, {1, 2, 4}), tol);
    XGRAD_CHECK_CLOSE("cat 1", cat({a, a}, 1).data(), shaped({1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6}, {1, 4, 3}), tol);
    XGRAD_CHECK_CLOSE("slice", slice(a, -1, 1, 3).data(), shaped({2, 3, 5, 6}, {1, 2, 2}), tol);
    CHECK(slice(a, 1, 1, 1).shape() == Shape{1, 0, 3});
}

TEST_CASE("forward: matmul and linear") {
    Tensor a = T({{1, 2}, {3, 4}}), b = T({{5, 6, 7}, {8, 9, 10}});
    XGRAD_CHECK_CLOSE("2d", matmul(a, b).data(), Array({{21, 24, 27}, {47, 54, 61}}), tol);
    Tensor a3 = T({{{1, 2}, {3, 4}}, {{0, 1}, {1, 0}}});  // (2,2,2)
    Tensor b3 = T({{{1, 0}, {0, 1}}, {{2, 3}, {4, 5}}});
    XGRAD_CHECK_CLOSE("3d", matmul(a3, b3).data(), Array({{{1, 2}, {3, 4}}, {{4, 5}, {2, 3}}}), tol);
    XGRAD_CHECK_CLOSE("3d @ 2d", matmul(a3, a).data(), Array({{{7, 10}, {15, 22}}, {{3, 4}, {1, 2}}}), tol);
    Tensor a4 = T(xt::reshape_view(a3.data(), {1, 2, 2, 2}));
    Tensor b4 = T(xt::reshape_view(b3.data(), {1, 2, 2, 2}));
    XGRAD_CHECK_CLOSE("4d", matmul(a4, b4).data(), shaped({1, 2, 3, 4, 4, 5, 2, 3}, {1, 2, 2, 2}), tol);
    // linear: x @ Wᵀ + b with W stored (out, in)
    Tensor W = T({{1, 0}, {0, 1}, {1, 1}}), bias = T({0.5, -0.5, 0});
    XGRAD_CHECK_CLOSE("linear", linear(a, W, bias).data(), Array({{1.5, 1.5, 3}, {3.5, 3.5, 7}}), tol);
    XGRAD_CHECK_CLOSE("linear no bias", linear(a, W, {}).data(), Array({{1, 2, 3}, {3, 4, 7}}), tol);
}

TEST_CASE("forward: softmax and log_softmax, stable") {
    const double e = std::exp(1.0), z = 1 + e + e * e;
    Tensor x = T({{0, 1, 2}, {1000, 1001, 1002}});  // the second row would overflow a naive exp
    const Array expected = {{1 / z, e / z, e * e / z}, {1 / z, e / z, e * e / z}};
    XGRAD_CHECK_CLOSE("softmax", softmax(x, -1).data(), expected, tol);
    // near 1000 a float's spacing is 6e-5, so the log-sum-exp 1002.41 is rounded that finely
    XGRAD_CHECK_CLOSE("log_softmax", log_softmax(x, -1).data(), Array(xt::log(expected)), 5e-5);
    XGRAD_CHECK_CLOSE("softmax dim 0", softmax(T({{0, 5}, {0, 5}}), 0).data(), Array({{0.5, 0.5}, {0.5, 0.5}}), tol);
    // a row that is -inf except one entry
    XGRAD_CHECK_CLOSE("masked row", softmax(T(shaped({3, -inf, -inf}, {1, 3})), -1).data(), shaped({1, 0, 0}, {1, 3}), tol);
}

TEST_CASE("forward: masked_fill with a broadcast mask") {
    Tensor x = T({{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}});
    Mask causal = {{false, true}, {false, false}};
    XGRAD_CHECK_CLOSE("masked_fill", x.masked_fill(causal, -inf).data(),
                      Array({{{1, -inf}, {3, 4}}, {{5, -inf}, {7, 8}}}), 0);
}

TEST_CASE("forward: masked_fill at attention sizes, against a plain loop") {
    // large enough for the vectorised paths (a broadcast bool mask once went wrong there)
    for (std::size_t T : {8, 31, 32, 64}) {
        Tensor x = test::randn({4, T, T}, 3);
        Mask causal = Mask::from_shape({T, T});
        for (std::size_t i = 0; i < T; ++i) {
            for (std::size_t j = 0; j < T; ++j) causal(i, j) = j > i;
        }
        Array expected = x.data();
        for (std::size_t b = 0; b < 4; ++b) {
            for (std::size_t i = 0; i < T; ++i) {
                for (std::size_t j = i + 1; j < T; ++j) expected(b, i, j) = -inf;
            }
        }
        XGRAD_CHECK_CLOSE("causal T=" + std::to_string(T), x.masked_fill(causal, -inf).data(), expected, 0);
        Mask column = Mask::from_shape({1, T});  // broadcast over rows too
        for (std::size_t j = 0; j < T; ++j) column(0, j) = j % 3 == 0;
        Array expected2 = x.data();
        for (std::size_t b = 0; b < 4; ++b) {
            for (std::size_t i = 0; i < T; ++i) {
                for (std::size_t j = 0; j < T; j += 3) expected2(b, i, j) = 0;
            }
        }
        XGRAD_CHECK_CLOSE("column mask", x.masked_fill(column, 0).data(), expected2, 0);
    }
}

TEST_CASE("forward: embedding gathers rows") {
    Tensor table = T({{0, 1}, {10, 11}, {20, 21}});
    Tensor e = embedding(table, Index{{2, 0}, {2, 2}});
    CHECK(e.shape() == Shape{2, 2, 2});
    XGRAD_CHECK_CLOSE("embedding", e.data(), Array({{{20, 21}, {0, 1}}, {{20, 21}, {20, 21}}}), 0);
}

TEST_CASE("forward: layer_norm") {
    // row (1,2,3,4): mean 2.5, biased variance 1.25
    Tensor x = T(shaped({1, 2, 3, 4}, {1, 4})), w = T({1, 1, 2, 2}), b = T({0, 1, 0, 1});
    const double s = 1 / std::sqrt(1.25 + 1e-5);
    XGRAD_CHECK_CLOSE("layer_norm", layer_norm(x, w, b).data(),
                      shaped({-1.5 * s, -0.5 * s + 1, 2 * 0.5 * s, 2 * 1.5 * s + 1}, {1, 4}), tol);
}

TEST_CASE("forward: cross_entropy") {
    // row 0: uniform over 4 -> ln 4; row 1: target logit 2 of (0, 2): ln(1 + e^2) - 2
    Tensor logits = T({{1, 1, 1, 1}, {0, 2, -inf, -inf}});
    const double expected = (std::log(4.0) + std::log(1 + std::exp(2.0)) - 2) / 2;
    CHECK(cross_entropy(logits, Index{3, 1}).item() == doctest::Approx(expected).epsilon(1e-6));
    CHECK(cross_entropy(logits, Index{3, 1}).shape() == Shape{});
}

TEST_CASE("forward: dropout keeps 1-p of the entries, scaled by 1/(1-p)") {
    Tensor x(xt::ones<Scalar>({100000}));
    Generator gen(1);
    Tensor y = dropout(x, Scalar(0.2), true, gen);
    std::size_t kept = 0;
    for (Scalar v : y.data()) {
        CHECK((v == 0 || v == doctest::Approx(1.25)));
        kept += v != 0;
    }
    CHECK(double(kept) / 100000 == doctest::Approx(0.8).epsilon(0.01));
    CHECK(dropout(x, Scalar(0.2), false, gen).node() == x.node());  // identity in eval
    Generator g1(5), g2(5);
    XGRAD_CHECK_CLOSE("same seed same mask", dropout(x, Scalar(0.5), true, g1).data(),
                      dropout(x, Scalar(0.5), true, g2).data(), 0);
    CHECK_THROWS_AS(dropout(x, Scalar(1), true, gen), Error);
}

TEST_CASE("forward: dropout's mask does not depend on the thread count, and its coins are independent") {
    Tensor x(xt::ones<Scalar>({300001}));  // long enough for the parallel loop, odd for the last pair
    const int threads = omp_get_max_threads();
    Generator g1(9), g2(9);
    omp_set_num_threads(1);
    const Array one = dropout(x, Scalar(0.3), true, g1).data();
    omp_set_num_threads(2);
    const Array two = dropout(x, Scalar(0.3), true, g2).data();
    omp_set_num_threads(threads);
    XGRAD_CHECK_CLOSE("1 thread vs 2", one, two, 0);
    // The two coins drawn from one hash (elements 2i and 2i+1) and neighbours
    // in general must not be correlated: both kept happens (1-p)^2 of the time.
    std::size_t kept = 0, both = 0;
    for (std::size_t i = 0; i + 1 < one.size(); ++i) {
        kept += one(i) != 0;
        both += one(i) != 0 && one(i + 1) != 0;
    }
    const double n = static_cast<double>(one.size() - 1);
    CHECK(kept / n == doctest::Approx(0.7).epsilon(0.006));   // 4 standard deviations: 0.0034 relative
    CHECK(both / n == doctest::Approx(0.49).epsilon(0.008));  // 4 standard deviations: 0.0073 relative
    // Two calls draw different masks.
    Generator g3(9);
    const Array first = dropout(x, Scalar(0.3), true, g3).data();
    const Array second = dropout(x, Scalar(0.3), true, g3).data();
    CHECK(xt::sum(xt::equal(first, second))() < 0.7 * static_cast<double>(first.size()));
}
