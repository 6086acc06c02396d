// The Tensor handle and the backward pass: accumulation, release of the
// graph, NoGradGuard, deep graphs, the errors of misuse, and a gradient's
// buffer passed on in place.
#include "autograd/error.hpp"
#include "autograd/op_helpers.hpp"
#include "autograd/ops.hpp"
#include "tests/check_helpers.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <cmath>
#include <limits>
#include <memory>
#include <thread>
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

TEST_CASE("a second backward through a released graph throws; retain_graph keeps it and gets it right") {
    // h = exp(x); l1 = sum(h); l2 = sum(h * h): d(l1 + l2)/dx = e^x + 2 e^{2x}
    const Array x0 = {0.5, -1.0, 2.0};
    const Array expected = xt::exp(x0) + Scalar(2) * xt::exp(Scalar(2) * x0);
    {
        Tensor x(x0, true);
        Tensor h = exp(x);
        Tensor l1 = sum(h), l2 = sum(h * h);
        l1.backward();
        CHECK_THROWS_WITH_AS(l2.backward(), doctest::Contains("backward: the graph through 'exp' (shape (3)) was "
                                                               "already released by an earlier backward(); run the "
                                                               "forward again"), Error);
        XGRAD_CHECK_CLOSE("x.grad is l1's alone, untouched by the refused backward", x.grad(), Array(xt::exp(x0)), 0);
        CHECK_THROWS_WITH_AS(l1.backward(), doctest::Contains("already released"), Error);  // the same loss twice
    }
    {
        Tensor x(x0, true);
        Tensor h = exp(x);
        Tensor l1 = sum(h), l2 = sum(h * h);
        l1.backward(/*retain_graph=*/true);
        l2.backward();
        XGRAD_CHECK_CLOSE("x.grad with retain_graph", x.grad(), expected, 1e-6);
    }
    {  // and the same loss twice with retain_graph accumulates twice, as PyTorch does
        Tensor x(x0, true);
        Tensor l = sum(exp(x) * Scalar(3));
        l.backward(true);
        l.backward();
        XGRAD_CHECK_CLOSE("twice", x.grad(), Array(Scalar(6) * xt::exp(x0)), 1e-6);
    }
}

TEST_CASE("an empty Tensor throws an Error that names the call, never crashes") {
    Tensor empty;
    CHECK_THROWS_WITH_AS(empty.item(), doctest::Contains("item: the tensor is empty"), Error);
    CHECK_THROWS_WITH_AS(empty.shape(), doctest::Contains("shape: the tensor is empty"), Error);
    CHECK_THROWS_WITH_AS(empty.grad(), doctest::Contains("grad: the tensor is empty"), Error);
    CHECK_THROWS_WITH_AS(empty.backward(), doctest::Contains("backward: the tensor is empty"), Error);
    CHECK_THROWS_WITH_AS(empty.data(), doctest::Contains("data: the tensor is empty"), Error);
    CHECK_THROWS_WITH_AS(empty.size(-1), doctest::Contains("size: the tensor is empty"), Error);
    CHECK_THROWS_WITH_AS(empty.numel(), doctest::Contains("numel: the tensor is empty"), Error);
    CHECK_THROWS_WITH_AS(empty.zero_grad(), doctest::Contains("zero_grad: the tensor is empty"), Error);
    CHECK_THROWS_WITH_AS(empty.requires_grad_(), doctest::Contains("requires_grad_: the tensor is empty"), Error);
    CHECK_THROWS_WITH_AS(empty.detach(), doctest::Contains("detach: the tensor is empty"), Error);
    Tensor a = test::randn({2, 3}, 1);
    CHECK_THROWS_WITH_AS(a + empty, doctest::Contains("add: the tensor is empty"), Error);
    CHECK_THROWS_WITH_AS(matmul(empty, a), doctest::Contains("matmul: the tensor is empty"), Error);
    CHECK_THROWS_WITH_AS(exp(empty), doctest::Contains("exp: the tensor is empty"), Error);
    CHECK_THROWS_WITH_AS(softmax(empty, -1), doctest::Contains("softmax: the tensor is empty"), Error);
    CHECK_THROWS_WITH_AS(cat({a, empty}, 0), doctest::Contains("cat: the tensor is empty"), Error);
    CHECK_THROWS_WITH_AS(sum(empty, 0), doctest::Contains("sum: the tensor is empty"), Error);
    CHECK_THROWS_WITH_AS(empty.transpose(0, 1), doctest::Contains("transpose: the tensor is empty"), Error);
    CHECK_THROWS_WITH_AS(linear(empty, a, {}), doctest::Contains("linear: the tensor is empty"), Error);
    CHECK(linear(a, test::randn({4, 3}, 2), {}).shape() == Shape{2, 4});  // an empty bias is no bias
    const Tensor why = Tensor::none("no loss without targets");
    const Tensor copy = why;
    CHECK_THROWS_WITH_AS(copy.item(), "item: the tensor is empty (no loss without targets)", Error);
}

TEST_CASE("every op frees the inputs its backward does not read once their handles go") {
    // Each input is an intermediate (leaf * 1) whose handle is dropped after
    // the op; the graph still links it. What the backward needs (by the
    // op's derivative) must stay; everything else must be freed. The output
    // is followed by one more op so that it too is an intermediate.
    using Inputs = std::vector<Tensor>;
    struct Case {
        const char* op;
        std::vector<Shape> shapes;
        std::function<Tensor(const Inputs&)> f;
        std::vector<bool> input_freed;  // per input: its backward never reads its values
        bool output_freed;              // the backward never reads the output
    };
    Generator gen(5);
    const Index idx = {{0, 2, 1}};
    const Index targets = {1, 0, 3};
    Mask upper = Mask::from_shape({3, 3});
    for (std::size_t i = 0; i < 9; ++i) upper.data()[i] = i % 3 > i / 3;
    const std::vector<Case> cases = {
        {"add", {{3, 4}, {3, 4}}, [](const Inputs& x) { return x[0] + x[1]; }, {true, true}, true},
        {"add broadcast", {{3, 4}, {4}}, [](const Inputs& x) { return x[0] + x[1]; }, {true, true}, true},
        {"sub", {{3, 4}, {3, 4}}, [](const Inputs& x) { return x[0] - x[1]; }, {true, true}, true},
        {"mul", {{3, 4}, {3, 4}}, [](const Inputs& x) { return x[0] * x[1]; }, {false, false}, true},
        {"div", {{3, 4}, {3, 4}}, [](const Inputs& x) { return x[0] / x[1]; }, {true, false}, false},
        {"add scalar", {{3, 4}}, [](const Inputs& x) { return x[0] + Scalar(2); }, {true}, true},
        {"mul scalar", {{3, 4}}, [](const Inputs& x) { return x[0] * Scalar(2); }, {true}, true},
        {"rsub", {{3, 4}}, [](const Inputs& x) { return Scalar(2) - x[0]; }, {true}, true},
        {"rdiv", {{3, 4}}, [](const Inputs& x) { return Scalar(2) / x[0]; }, {false}, false},
        {"neg", {{3, 4}}, [](const Inputs& x) { return -x[0]; }, {true}, true},
        {"pow", {{3, 4}}, [](const Inputs& x) { return pow(x[0], Scalar(1.5)); }, {false}, true},
        {"exp", {{3, 4}}, [](const Inputs& x) { return exp(x[0]); }, {true}, false},
        {"log", {{3, 4}}, [](const Inputs& x) { return log(x[0]); }, {false}, true},
        {"sqrt", {{3, 4}}, [](const Inputs& x) { return sqrt(x[0]); }, {true}, false},
        {"tanh", {{3, 4}}, [](const Inputs& x) { return tanh(x[0]); }, {true}, false},
        {"relu", {{3, 4}}, [](const Inputs& x) { return relu(x[0]); }, {true}, false},
        {"sum", {{3, 4}}, [](const Inputs& x) { return sum(x[0]); }, {true}, true},
        {"mean", {{3, 4}}, [](const Inputs& x) { return mean(x[0]); }, {true}, true},
        {"sum dim", {{3, 4}}, [](const Inputs& x) { return sum(x[0], 1); }, {true}, true},
        {"mean dim", {{3, 4}}, [](const Inputs& x) { return mean(x[0], 0, true); }, {true}, true},
        {"max dim", {{3, 4}}, [](const Inputs& x) { return max(x[0], 1); }, {true}, true},
        {"view", {{3, 4}}, [](const Inputs& x) { return x[0].view({4, 3}); }, {true}, true},
        {"reshape", {{3, 4}}, [](const Inputs& x) { return reshape(x[0], {-1}); }, {true}, true},
        {"transpose last two", {{2, 3, 4}}, [](const Inputs& x) { return x[0].transpose(-2, -1); }, {true}, true},
        {"transpose", {{2, 3, 4}}, [](const Inputs& x) { return x[0].transpose(0, 1); }, {true}, true},
        {"cat", {{3, 4}, {2, 4}}, [](const Inputs& x) { return cat({x[0], x[1]}, 0); }, {true, true}, true},
        {"slice", {{3, 4}}, [](const Inputs& x) { return slice(x[0], 1, 1, 3); }, {true}, true},
        {"matmul", {{3, 4}, {4, 2}}, [](const Inputs& x) { return matmul(x[0], x[1]); }, {false, false}, true},
        {"linear", {{3, 4}, {2, 4}, {2}}, [](const Inputs& x) { return linear(x[0], x[1], x[2]); },
         {false, false, true}, true},
        {"softmax", {{3, 4}}, [](const Inputs& x) { return softmax(x[0], -1); }, {true}, false},
        {"log_softmax", {{3, 4}}, [](const Inputs& x) { return log_softmax(x[0], 0); }, {true}, false},
        {"masked_fill", {{3, 3}}, [&](const Inputs& x) { return masked_fill(x[0], upper, Scalar(0)); }, {true}, true},
        {"embedding", {{4, 3}}, [&](const Inputs& x) { return embedding(x[0], idx); }, {true}, true},
        {"layer_norm", {{3, 4}, {4}, {4}}, [](const Inputs& x) { return layer_norm(x[0], x[1], x[2]); },
         {false, false, true}, true},
        {"cross_entropy", {{3, 4}}, [&](const Inputs& x) { return cross_entropy(x[0], targets); }, {false}, true},
        {"dropout", {{3, 4}}, [&](const Inputs& x) { return dropout(x[0], Scalar(0.5), true, gen); }, {true}, true},
    };
    for (const Case& c : cases) {
        INFO("op " << c.op);
        std::vector<Tensor> leaves;
        for (std::size_t i = 0; i < c.shapes.size(); ++i) {
            leaves.push_back(test::uniform(c.shapes[i], 0.5, 2.0, static_cast<unsigned>(10 + i)));
            leaves.back().requires_grad_();
        }
        Tensor loss;
        std::vector<const Node*> inputs;
        const Node* output = nullptr;
        {
            Inputs xs;
            for (const Tensor& leaf : leaves) xs.push_back(leaf * Scalar(1));
            for (const Tensor& x : xs) inputs.push_back(x.node());
            const Tensor out = c.f(xs);
            output = out.node();
            loss = sum(out * Scalar(1));
        }  // every handle to the inputs and the output goes here
        for (std::size_t i = 0; i < inputs.size(); ++i) {
            INFO("input " << i);
            CHECK(inputs[i]->data_released == c.input_freed[i]);
        }
        CHECK(output->data_released == c.output_freed);
        loss.backward();  // and the backward runs on what was kept
        for (Tensor& leaf : leaves) CHECK(std::isfinite(xt::sum(leaf.grad())()));
    }
}

TEST_CASE("LeafGradients: under a scope a backward adds leaves' gradients into the sink, not into the leaves") {
    Tensor w(Array{1, 2, 3}, /*requires_grad=*/true);
    LeafGradients sink;
    {
        const LeafGradients::Scope into(sink);
        CHECK(LeafGradients::active() == &sink);
        sum(w * w).backward();
        sum(w * w).backward();  // a second backward adds to the sink's buffer
    }
    CHECK(LeafGradients::active() == nullptr);
    CHECK_FALSE(w.has_grad());  // the leaf itself got nothing
    REQUIRE(sink.find(w) != nullptr);
    CHECK(*sink.find(w) == Array{4, 8, 12});  // 2 * (2 w)
    Tensor other(Array{5}, true);
    CHECK(sink.find(other) == nullptr);
    // outside the scope the leaf's own grad, as always
    sum(w * w).backward();
    CHECK(w.grad() == Array{2, 4, 6});
    // two threads at once through the same leaf, each into its own sink
    LeafGradients a, b;
    std::thread ta([&] {
        const LeafGradients::Scope into(a);
        for (int i = 0; i < 200; ++i) sum(w * Tensor(Array{1, 1, 1})).backward();
    });
    std::thread tb([&] {
        const LeafGradients::Scope into(b);
        for (int i = 0; i < 100; ++i) sum(w * w).backward();
    });
    ta.join(), tb.join();
    CHECK(*a.find(w) == Array{200, 200, 200});
    CHECK(*b.find(w) == Array{200, 400, 600});
    CHECK(w.grad() == Array{2, 4, 6});
}

namespace {
// An op that passes its gradient straight back (dx = dy) and notes where it
// received it and where it wrote it: what the ops around it did with the
// buffers. `receive` is out.grad's address; `write` the one it wrote into.
struct GradTrace {
    const Scalar* receive = nullptr;
    const Scalar* write = nullptr;
};
Tensor traced(const Tensor& a, GradTrace& trace) {
    return Tensor::from_op(a.data(), "traced", {a}, [a = detail::GradOnly(a), &trace](const Node& out) {
        trace.receive = out.grad.data();
        const detail::GradTarget g = detail::grad_target(a);
        trace.write = g.data;
        for (std::size_t i = 0; i < out.grad.size(); ++i) g.put(i, out.grad.data()[i]);
    }, /*backward_reads_output=*/false);
}
}  // namespace

TEST_CASE("an element-wise backward writes its input's gradient over out.grad's buffer when nothing else holds it") {
    const Array values{{-1.5, 2, 0.5}, {3, -0.25, 1}};
    // before -> relu -> after: relu's backward receives after's buffer and,
    // its input having no gradient yet, writes before's gradient into it
    Tensor x(values, true);
    GradTrace before, after;
    Tensor y = traced(relu(traced(x, before)), after);
    sum(y * y).backward();  // d/dx = 2 relu(x) where x > 0, else 0
    REQUIRE(after.write != nullptr);
    CHECK(before.receive == after.write);  // the same buffer, passed on in place
    XGRAD_CHECK_CLOSE("relu in place", x.grad(), Array({{0, 4, 1}, {6, 0, 2}}), 0);

    // The same for the others that may take the buffer: each one's result
    // equals the one computed into a fresh buffer (by a graph where the input
    // already has a gradient, so it adds instead of taking).
    const Mask mask = Mask({{false, true, false}, {true, false, false}});
    const std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> ops = {
        {"relu", [](const Tensor& t) { return relu(t); }},
        {"softmax", [](const Tensor& t) { return softmax(t, -1); }},
        {"masked_fill", [&](const Tensor& t) { return masked_fill(t, mask, Scalar(0)); }},
        {"mul by a scalar", [](const Tensor& t) { return t * Scalar(-3); }},
        {"add a scalar", [](const Tensor& t) { return t + Scalar(2); }},
        {"add, first operand", [&](const Tensor& t) { return t + Tensor(values); }},
        {"add, second operand", [&](const Tensor& t) { return Tensor(values) + t; }},
        {"add, broadcast second", [&](const Tensor& t) { return t + Tensor(Array{1, 2, 3}, true); }},
        {"neg", [](const Tensor& t) { return -t; }},
        {"sub, second operand", [&](const Tensor& t) { return Tensor(values) - t; }},
        {"sub, first operand", [&](const Tensor& t) { return t - Tensor(values); }},
        {"dropout", [&](const Tensor& t) { Generator g(11); return dropout(t, Scalar(0.5), true, g); }},
    };
    for (const auto& [name, op] : ops) {
        CAPTURE(name);
        const Array weights{{1, -2, 3}, {0.5, 4, -1}};
        Tensor a(values, true), b(values, true);
        GradTrace in_a, out_a, in_b, out_b;
        sum(traced(op(traced(a, in_a)), out_a) * Tensor(weights)).backward();
        // b's path: the traced node's output also feeds a second consumer that
        // ran first, so the op adds into a gradient that is already there
        Tensor tb = traced(b, in_b);
        sum(traced(op(tb), out_b) * Tensor(weights) + tb * Scalar(0)).backward();
        CHECK(in_a.receive == out_a.write);
        CHECK(in_b.receive != out_b.write);
        // the same values; not compared bit for bit, since b's path adds into a
        // +0 that turns a written -0 (0 times a negative dy) into +0
        CHECK(a.grad() == b.grad());
    }

    // A leaf under a LeafGradients sink never takes the buffer: its gradient
    // goes into the sink, as every leaf's does there (the threads' sums).
    Tensor w(values, true);
    LeafGradients sink;
    {
        const LeafGradients::Scope into(sink);
        sum(relu(w) * Tensor(Array{{1, 2, 3}, {4, 5, 6}})).backward();
    }
    CHECK_FALSE(w.has_grad());
    REQUIRE(sink.find(w) != nullptr);
    CHECK(*sink.find(w) == Array({{0, 2, 3}, {4, 0, 6}}));
}
