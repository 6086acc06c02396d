// Gradient checks for every op, in double precision (this file is compiled
// against the xgrad64 build). Each case compares the engine's backward with
// central finite differences; GradcheckOptions' tolerance (1e-6 relative)
// catches a gradient that is off by 1e-4 by two orders of magnitude, and the
// first test below proves the checker has that power.
#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "tests/check_helpers.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using namespace xgrad;

namespace {

const Scalar inf = std::numeric_limits<Scalar>::infinity();

void require_pass(const GradcheckResult& r) {
    INFO(r.name << " [" << r.shapes << "]: max relative error " << r.max_rel_error << " in " << r.worst);
    CHECK(r.passed);
}

// The causal mask: true above the diagonal (where tril == 0).
Mask causal_mask(std::size_t T) {
    Mask m = Mask::from_shape({T, T});
    for (std::size_t i = 0; i < T; ++i) {
        for (std::size_t j = 0; j < T; ++j) m(i, j) = j > i;
    }
    return m;
}

// A deliberately wrong op: y = 2x with a backward off by `error` relative.
Tensor wrong_double(const Tensor& x, Scalar error) {
    Array y = x.data() * Scalar(2);
    return Tensor::from_op(std::move(y), "wrong_double", {x}, [x, error](const Node& out) {
        x.node()->grad_buffer() += out.grad * Scalar(2) * (Scalar(1) + error);
    });
}

}  // namespace

TEST_CASE("the checker reports a backward that is wrong by 1e-3, 1e-4 or 1e-5 relative") {
    Tensor x = test::randn({3, 4}, 1);
    for (Scalar error : {Scalar(1e-3), Scalar(1e-4), Scalar(1e-5)}) {
        const GradcheckResult r = gradcheck("wrong", [&] { return wrong_double(x, error); }, {{"x", x}});
        INFO("error " << error << " measured " << r.max_rel_error);
        CHECK_FALSE(r.passed);
        CHECK(r.max_rel_error == doctest::Approx(error).epsilon(0.01));
    }
    const GradcheckResult right = gradcheck("right", [&] { return wrong_double(x, 0); }, {{"x", x}});
    CHECK(right.passed);
    CHECK(right.max_rel_error < 1e-8);
}

TEST_CASE("the checker fails on NaN gradients") {
    Tensor x = test::randn({2, 2}, 2);
    const GradcheckResult r = gradcheck("nan", [&] { return wrong_double(x, std::nan("")); }, {{"x", x}});
    CHECK_FALSE(r.passed);
}

TEST_CASE("gradcheck: arithmetic with broadcasting") {
    Tensor a = test::randn({2, 3, 4}, 3), b = test::randn({4}, 4), c = test::randn({1, 3, 1}, 5);
    Tensor d = test::uniform({3, 1}, 0.5, 2.0, 6), e = test::randn({2, 1, 4}, 7);
    require_pass(gradcheck("add", [&] { return add(a, b); }, {{"a", a}, {"b", b}}));
    require_pass(gradcheck("sub", [&] { return sub(e, d); }, {{"a", e}, {"b", d}}));
    require_pass(gradcheck("mul", [&] { return mul(a, c); }, {{"a", a}, {"b", c}}));
    require_pass(gradcheck("div", [&] { return div(a, d); }, {{"a", a}, {"b", d}}));
    require_pass(gradcheck("add scalar", [&] { return a + Scalar(2.5); }, {{"a", a}}));
    require_pass(gradcheck("mul scalar", [&] { return a * Scalar(-1.5); }, {{"a", a}}));
    require_pass(gradcheck("rsub", [&] { return Scalar(1) - a; }, {{"a", a}}));
    require_pass(gradcheck("rdiv", [&] { return Scalar(2) / d; }, {{"a", d}}));
    require_pass(gradcheck("neg", [&] { return -a; }, {{"a", a}}));
}

TEST_CASE("gradcheck: a tensor used twice accumulates both gradients") {
    Tensor a = test::randn({3, 4}, 8);
    require_pass(gradcheck("a*a + a", [&] { return a * a + a; }, {{"a", a}}));
    Tensor w = test::randn({5, 4}, 9);
    // one input feeding three "heads", as in multi-head attention
    require_pass(gradcheck("shared input", [&] { return cat({linear(a, w, {}), relu(a), exp(a)}, -1); },
                           {{"a", a}, {"w", w}}));
}

TEST_CASE("gradcheck: unary functions") {
    Tensor pos = test::uniform({3, 4}, 0.5, 2.0, 10), x = test::uniform({3, 4}, -3, 3, 11);
    require_pass(gradcheck("pow 3", [&] { return pow(pos, 3); }, {{"x", pos}}));
    require_pass(gradcheck("pow 0.5", [&] { return pow(pos, 0.5); }, {{"x", pos}}));
    require_pass(gradcheck("pow -2", [&] { return pow(pos, -2); }, {{"x", pos}}));
    require_pass(gradcheck("exp", [&] { return exp(x); }, {{"x", x}}));
    require_pass(gradcheck("log", [&] { return log(pos); }, {{"x", pos}}));
    require_pass(gradcheck("sqrt", [&] { return sqrt(pos); }, {{"x", pos}}));
    require_pass(gradcheck("tanh", [&] { return tanh(x); }, {{"x", x}}));
    Tensor away = test::away_from_zero({3, 4}, 12);  // relu has a kink at 0
    require_pass(gradcheck("relu", [&] { return relu(away); }, {{"x", away}}));
}

TEST_CASE("gradcheck: reductions") {
    Tensor a = test::randn({2, 3, 4}, 13);
    require_pass(gradcheck("sum", [&] { return sum(a); }, {{"x", a}}));
    require_pass(gradcheck("sum dim 1", [&] { return sum(a, 1); }, {{"x", a}}));
    require_pass(gradcheck("sum dim -1 keepdim", [&] { return sum(a, -1, true); }, {{"x", a}}));
    require_pass(gradcheck("mean", [&] { return mean(a); }, {{"x", a}}));
    require_pass(gradcheck("mean dim 0", [&] { return mean(a, 0); }, {{"x", a}}));
    require_pass(gradcheck("mean dim -1 keepdim", [&] { return mean(a, -1, true); }, {{"x", a}}));
    require_pass(gradcheck("max dim 1", [&] { return max(a, 1); }, {{"x", a}}));
    require_pass(gradcheck("max dim -1 keepdim", [&] { return max(a, -1, true); }, {{"x", a}}));
}

TEST_CASE("gradcheck: shape ops") {
    Tensor a = test::randn({2, 3, 4}, 14), b = test::randn({2, 3, 2}, 15), c = test::randn({2, 5, 3}, 16);
    require_pass(gradcheck("view", [&] { return a.view({4, 6}); }, {{"x", a}}));
    require_pass(gradcheck("view -1", [&] { return a.view({-1, 2}); }, {{"x", a}}));
    require_pass(gradcheck("transpose -2 -1", [&] { return a.transpose(-2, -1); }, {{"x", a}}));
    require_pass(gradcheck("transpose 0 1", [&] { return a.transpose(0, 1); }, {{"x", a}}));
    require_pass(gradcheck("cat -1", [&] { return cat({a, b}, -1); }, {{"a", a}, {"b", b}}));
    require_pass(gradcheck("cat 0", [&] { return cat({a, a}, 0); }, {{"a", a}}));
    require_pass(gradcheck("slice", [&] { return slice(c, 1, 1, 4); }, {{"x", c}}));
    require_pass(gradcheck("slice last", [&] { return slice(c, -1, 0, 2); }, {{"x", c}}));
}

TEST_CASE("gradcheck: matmul, 2-D and batched") {
    Tensor a2 = test::randn({3, 4}, 17), b2 = test::randn({4, 5}, 18);
    Tensor a3 = test::randn({2, 3, 4}, 19), b3 = test::randn({2, 4, 5}, 20);
    Tensor a4 = test::randn({2, 2, 3, 4}, 21), b4 = test::randn({2, 2, 4, 3}, 22);
    require_pass(gradcheck("matmul 2d", [&] { return matmul(a2, b2); }, {{"a", a2}, {"b", b2}}));
    require_pass(gradcheck("matmul 3d", [&] { return matmul(a3, b3); }, {{"a", a3}, {"b", b3}}));
    require_pass(gradcheck("matmul 3d @ 2d", [&] { return matmul(a3, b2); }, {{"a", a3}, {"b", b2}}));
    require_pass(gradcheck("matmul 4d", [&] { return matmul(a4, b4); }, {{"a", a4}, {"b", b4}}));
    require_pass(gradcheck("matmul a @ a.T", [&] { return matmul(a3, a3.transpose(-2, -1)); }, {{"a", a3}}));
}

TEST_CASE("gradcheck: linear, layer_norm, embedding, cross_entropy") {
    Tensor x = test::randn({2, 3, 4}, 23), w = test::randn({5, 4}, 24), b = test::randn({5}, 25);
    require_pass(gradcheck("linear", [&] { return linear(x, w, b); }, {{"x", x}, {"weight", w}, {"bias", b}}));
    require_pass(gradcheck("linear no bias", [&] { return linear(x, w, {}); }, {{"x", x}, {"weight", w}}));

    Tensor h = test::randn({2, 3, 8}, 26), g = test::uniform({8}, 0.5, 1.5, 27), beta = test::randn({8}, 28);
    h.data() = h.data() * Scalar(3) + Scalar(5);  // rows far from zero mean and unit variance
    require_pass(gradcheck("layer_norm", [&] { return layer_norm(h, g, beta); },
                           {{"x", h}, {"weight", g}, {"bias", beta}}));

    Tensor table = test::randn({7, 3}, 29);
    Index idx = {{1, 3, 1, 6, 1}, {0, 3, 3, 2, 6}};  // repeated indices
    require_pass(gradcheck("embedding", [&] { return embedding(table, idx); }, {{"weight", table}}));

    Tensor logits = test::randn({6, 5}, 30);
    Index targets = {0, 4, 2, 2, 1, 3};
    require_pass(gradcheck("cross_entropy", [&] { return cross_entropy(logits, targets); }, {{"logits", logits}}));
    Tensor big = test::randn({6, 5}, 31);
    big.data() *= Scalar(50);
    require_pass(gradcheck("cross_entropy large", [&] { return cross_entropy(big, targets); }, {{"logits", big}}));
}

TEST_CASE("gradcheck: softmax and log_softmax, stable on awkward rows") {
    Tensor a = test::randn({2, 3, 5}, 32);
    require_pass(gradcheck("softmax -1", [&] { return softmax(a, -1); }, {{"x", a}}));
    require_pass(gradcheck("softmax 1", [&] { return softmax(a, 1); }, {{"x", a}}));
    require_pass(gradcheck("log_softmax -1", [&] { return log_softmax(a, -1); }, {{"x", a}}));
    require_pass(gradcheck("log_softmax 0", [&] { return log_softmax(a, 0); }, {{"x", a}}));

    Tensor large = test::randn({2, 6}, 33);
    large.data() = large.data() + Scalar(1000);  // exp would overflow without the max shift
    require_pass(gradcheck("softmax large", [&] { return softmax(large, -1); }, {{"x", large}}));
    require_pass(gradcheck("log_softmax large", [&] { return log_softmax(large, -1); }, {{"x", large}}));

    // After the causal mask the first row is -inf except one entry.
    Tensor s = test::randn({4, 4}, 34);
    require_pass(gradcheck("masked softmax", [&] { return softmax(masked_fill(s, causal_mask(4), -inf), -1); },
                           {{"x", s}}));
}

TEST_CASE("gradcheck: masked_fill with a broadcast causal mask and -inf") {
    Tensor a = test::randn({2, 4, 4}, 35);
    require_pass(gradcheck("masked_fill", [&] { return masked_fill(a, causal_mask(4), -inf); }, {{"x", a}}));
    require_pass(gradcheck("masked_fill 0", [&] { return a.masked_fill(causal_mask(4), 0); }, {{"x", a}}));
}

TEST_CASE("gradcheck: dropout with a fixed mask") {
    Tensor a = test::randn({4, 8}, 36);
    // The same seed each call, so every evaluation of f draws the same mask.
    require_pass(gradcheck("dropout", [&] {
        Generator gen(7);
        return dropout(a, Scalar(0.3), true, gen);
    }, {{"x", a}}));
}

TEST_CASE("gradcheck: one attention head, composed from the ops") {
    // wei = softmax(masked_fill(q @ kᵀ * hs^-0.5, causal, -inf)) ; out = wei @ v
    const std::size_t T = 5, hs = 3;
    Tensor q = test::randn({2, T, hs}, 37), k = test::randn({2, T, hs}, 38), v = test::randn({2, T, hs}, 39);
    auto head = [&] {
        Tensor wei = matmul(q, k.transpose(-2, -1)) * Scalar(1.0 / std::sqrt(double(hs)));
        wei = wei.masked_fill(causal_mask(T), -inf);
        wei = softmax(wei, -1);
        return matmul(wei, v);
    };
    require_pass(gradcheck("attention", head, {{"q", q}, {"k", k}, {"v", v}}));
}
