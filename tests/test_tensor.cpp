// The Tensor handle and the backward pass: accumulation, release of the
// graph, NoGradGuard, deep graphs, and the errors of misuse.
#include "autograd/error.hpp"
#include "autograd/ops.hpp"
#include "tests/check_helpers.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace xgrad;

TEST_CASE("backward of a small expression, by hand") {
    Tensor x(Array{{1, 2}, {3, 4}}, true);
    Tensor y(Array{{0.5, -1}, {2, 0}}, true);
    Tensor loss = sum(x * y + x);  // d/dx = y + 1, d/dy = x
    CHECK(loss.item() == doctest::Approx(0.5 - 2 + 6 + 0 + 10));
    loss.backward();
    XGRAD_CHECK_CLOSE("dx", x.grad(), Array({{1.5, 0}, {3, 1}}), 0);
    XGRAD_CHECK_CLOSE("dy", y.grad(), Array({{1, 2}, {3, 4}}), 0);
}

TEST_CASE("gradients accumulate across uses and across backward calls") {
    Tensor x(Array{1, 2, 3}, true);
    sum(x * Scalar(2) + x * x).backward();  // 2 + 2x
    XGRAD_CHECK_CLOSE("first", x.grad(), Array({4, 6, 8}), 0);
    sum(x).backward();  // +1, as PyTorch accumulates until zero_grad
    XGRAD_CHECK_CLOSE("second", x.grad(), Array({5, 7, 9}), 0);
    x.zero_grad();
    CHECK_FALSE(x.has_grad());
}

TEST_CASE("the graph is released after backward: no intermediate node outlives it") {
    Tensor x(Array{{1, 2}, {3, 4}}, true);
    Tensor loss;
    {
        Tensor h = tanh(x * Scalar(3));
        Tensor logits = matmul(h, h);
        loss = mean(logits);
        CHECK(loss.node()->parents.size() == 1);
    }
    // Observe an intermediate through the loss's parent link, then backward.
    std::weak_ptr<Node> logits_node = loss.node()->parents[0];
    std::weak_ptr<Node> h_node = logits_node.lock()->parents[0];
    CHECK_FALSE(logits_node.expired());
    loss.backward();
    CHECK(logits_node.expired());
    CHECK(h_node.expired());
    CHECK(loss.node()->parents.empty());
    CHECK(x.has_grad());  // the leaf keeps its gradient
}

TEST_CASE("an intermediate the user holds keeps its value but loses its history") {
    Tensor x(Array{1, 2}, true);
    Tensor h = exp(x);
    Tensor loss = sum(h * h);
    loss.backward();
    CHECK(h.node()->parents.empty());
    CHECK_FALSE(static_cast<bool>(h.node()->backward_fn));
    CHECK(h.data()(1) == doctest::Approx(std::exp(2.0f)));
}

TEST_CASE("an intermediate's values are freed when no handle is left and no backward reads them") {
    // The same loss twice: once holding every intermediate, once letting go.
    auto run = [](bool hold) {
        Tensor x(Array{{1, -2, 0.5}, {3, 4, -1}}, true);
        Tensor y = x * Scalar(2);  // mul by a scalar: its backward reads no values
        Tensor z = exp(y);         // exp's backward reads its own output, y = e^x
        Tensor loss = sum(z);      // sum's backward reads no values either
        const Node* y_node = y.node();
        const Node* z_node = z.node();
        if (!hold) {
            y = Tensor();
            z = Tensor();
            CHECK(y_node->data_released);
            CHECK(y_node->data.size() == 0);
            CHECK(y_node->shape() == Shape{2, 3});  // the grad still gets its shape
            CHECK_FALSE(z_node->data_released);     // kept only because exp's backward reads it
            CHECK(z_node->data.size() == 6);
        } else {
            CHECK_FALSE(y_node->data_released);
        }
        loss.backward();
        if (hold) CHECK(y.data()(1, 0) == doctest::Approx(6));  // a held intermediate keeps its values
        return Array(x.grad());
    };
    XGRAD_CHECK_CLOSE("same gradient", run(false), run(true), 0);
}

TEST_CASE("one attention head keeps two of its five (B,T,T) arrays for the backward") {
    // Head's forward with plain ops: q @ kᵀ, scale, causal mask, softmax, dropout, @ v.
    const std::size_t B = 2, T = 5, hs = 3;
    Generator gen(3);
    std::normal_distribution<Scalar> normal;
    auto randn = [&](Shape shape) {
        Array a = Array::from_shape(shape);
        for (Scalar& v : a) v = normal(gen);
        return Tensor(a, true);
    };
    Tensor q = randn({B, T, hs}), k = randn({B, T, hs}), v = randn({B, T, hs});
    Mask future = Mask::from_shape({T, T});
    for (std::size_t i = 0; i < T; ++i) {
        for (std::size_t j = 0; j < T; ++j) future(i, j) = j > i;
    }
    Tensor out;
    {
        Tensor wei = matmul(q, k.transpose(-2, -1)) * Scalar(0.5);
        wei = wei.masked_fill(future, -std::numeric_limits<Scalar>::infinity());
        wei = softmax(wei, -1);
        wei = dropout(wei, Scalar(0.2), true, gen);
        out = matmul(wei, v);
    }
    // Walk the graph and list which (B,T,T) nodes still hold values.
    std::vector<std::string> kept, freed;
    std::vector<const Node*> todo{out.node()};
    while (!todo.empty()) {
        const Node* n = todo.back();
        todo.pop_back();
        if (n->shape() == Shape{B, T, T}) (n->data_released ? freed : kept).push_back(n->op);
        for (const auto& p : n->parents) todo.push_back(p.get());
    }
    std::sort(kept.begin(), kept.end());
    std::sort(freed.begin(), freed.end());
    CHECK(kept == std::vector<std::string>{"dropout", "softmax"});
    CHECK(freed == std::vector<std::string>{"masked_fill", "matmul", "mul"});
    sum(out).backward();  // and the backward still runs on what is left
    CHECK(q.has_grad());
    CHECK(std::isfinite(xt::sum(q.grad())()));
}

TEST_CASE("NoGradGuard builds no graph") {
    Tensor x(Array{1, 2}, true);
    {
        NoGradGuard no_grad;
        CHECK_FALSE(grad_enabled());
        Tensor y = exp(x) * x;
        CHECK_FALSE(y.requires_grad());
        CHECK(y.node()->parents.empty());
        CHECK(std::string(y.op()) == "mul");
        CHECK_THROWS_AS(sum(y).backward(), Error);
    }
    CHECK(grad_enabled());
    CHECK(sum(x * x).requires_grad());
}

TEST_CASE("ops on tensors that need no grad record nothing") {
    Tensor a(Array{1, 2}), b(Array{3, 4});
    Tensor c = a * b;
    CHECK_FALSE(c.requires_grad());
    CHECK(c.node()->parents.empty());
}

TEST_CASE("a deep graph neither overflows the stack in backward nor when freed") {
    Tensor x(Array{0.5}, true);
    Tensor h = x;
    for (int i = 0; i < 200000; ++i) h = h * Scalar(1);
    sum(h).backward();
    CHECK(x.grad()(0) == doctest::Approx(1));

    Tensor g = x;  // and a deep graph dropped without backward
    for (int i = 0; i < 200000; ++i) g = g + Scalar(0);
    g = Tensor();
    CHECK_FALSE(g.defined());
}

TEST_CASE("detach and item") {
    Tensor x(Array{3}, true);
    Tensor d = (x * Scalar(2)).detach();
    CHECK_FALSE(d.requires_grad());
    CHECK(d.item() == 6);
    CHECK_THROWS_WITH_AS(Tensor(Array{1, 2}).item(), doctest::Contains("item: needs a tensor with one element"),
                         Error);
}

TEST_CASE("errors name the op and the shapes") {
    Tensor a = test::randn({4, 3}, 1), b = test::randn({5, 2}, 2);
    CHECK_THROWS_WITH_AS(matmul(a, b), "matmul: (4,3) @ (5,2): inner dims 3 and 5 differ", Error);
    CHECK_THROWS_WITH_AS(sum(a * Scalar(1), 0).backward(), doctest::Contains("backward: needs a tensor with one element"),
                         Error);
    CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("add: shapes (4,3) and (5,2) cannot broadcast"), Error);
    CHECK_THROWS_WITH_AS(softmax(a, 2), "softmax: dim 2 out of range for shape (4,3)", Error);
    CHECK_THROWS_WITH_AS(a.transpose(-3, 0), doctest::Contains("transpose: dim -3 out of range"), Error);
    CHECK_THROWS_WITH_AS(cat({a, b}, 0), doctest::Contains("cat: tensor 1 has shape (5,2) but tensor 0 has (4,3)"),
                         Error);
    CHECK_THROWS_WITH_AS(embedding(a, Index{0, 4}), "embedding: index 4 out of range for a table of 4 rows", Error);
    CHECK_THROWS_WITH_AS(cross_entropy(a, Index{0, 1, 2, 3}),
                         doctest::Contains("cross_entropy: target 3 at row 3 out of range for 3 classes"), Error);
    CHECK_THROWS_WITH_AS(a.view({5, -1}), doctest::Contains("view: shape (5,-1) is invalid for a tensor of shape (4,3)"),
                         Error);
    CHECK_THROWS_WITH_AS(slice(a, 0, 2, 9), doctest::Contains("slice: range [2, 9) out of range"), Error);
    CHECK_THROWS_WITH_AS(linear(a, b, {}), doctest::Contains("linear: input (4,3) and weight (5,2)"), Error);
    CHECK_THROWS_WITH_AS(masked_fill(a, Mask::from_shape({3, 3}), 0), doctest::Contains("masked_fill: mask of shape (3,3)"),
                         Error);
    CHECK_THROWS_WITH_AS(a.size(2), doctest::Contains("size: dim 2 out of range"), Error);
}
