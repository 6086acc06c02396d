// Elementwise ops. Each forward computes its output with an xtensor
// expression, or a plain loop on every core where that was faster (add of
// equal shapes, relu, the scalar forms); its backward (the lambda right
// below) applies the chain rule,
//     d loss / d input = d loss / d out * d out / d input,
// and for broadcasting ops sums the gradient back to the input's shape.
#include "autograd/op_helpers.hpp"
#include "autograd/ops.hpp"

#include <xtensor/xmath.hpp>
#include <xtensor/xoperation.hpp>

#include <algorithm>

namespace xgrad {

using detail::accumulate_grad;
using detail::GradOnly;
using detail::kParallelElements;
using detail::sum_to;

namespace {

// y = f(x) element by element, on every core for large tensors.
template <class F>
Array map(const Array& x, F f) {
    Array y = Array::from_shape(x.shape());
    const Scalar* px = x.data();
    Scalar* py = y.data();
    const std::size_t n = x.size();
#pragma omp parallel for simd schedule(static) if (parallel : n > kParallelElements)
    for (std::size_t i = 0; i < n; ++i) py[i] = f(px[i]);
    return y;
}

// Adds sign * out.grad, summed down to t's shape when t was broadcast, into
// t's grad. The common same-shape case (a residual connection) is one loop
// with no copy; with `last` (no later reader of out.grad in this backward) it
// may run in place over out.grad's own buffer (grad_target_over).
void add_reduced_grad(const GradOnly& t, const Node& out, Scalar sign = 1, bool last = false) {
    if (!t.node) return;
    const Array& grad = out.grad;
    if (grad.shape() != t.shape) {
        accumulate_grad(t, sign * sum_to(grad, t.shape));
        return;
    }
    const Scalar* dy = grad.data();
    const std::size_t n = grad.size();
    const detail::GradTarget target = last ? detail::grad_target_over(t, out) : detail::grad_target(t);
    Scalar* g = target.data;
    if (target.add) {
#pragma omp parallel for simd schedule(static) if (parallel : n > kParallelElements)
        for (std::size_t i = 0; i < n; ++i) g[i] += sign * dy[i];
    } else {
#pragma omp parallel for simd schedule(static) if (parallel : n > kParallelElements)
        for (std::size_t i = 0; i < n; ++i) g[i] = sign * dy[i];
    }
}

// The backward of a + b (sign_b 1) and a - b (sign_b -1): each input's share
// of out.grad. The one served last may take out.grad's buffer: b, unless b
// wants no grad or was broadcast (a bias, summed first; then a).
void add_reduced_grads(const GradOnly& a, const GradOnly& b, const Node& out, Scalar sign_b) {
    if (b.node && b.shape == out.grad.shape()) {
        add_reduced_grad(a, out);
        add_reduced_grad(b, out, sign_b, /*last=*/true);
    } else {
        add_reduced_grad(b, out, sign_b);
        add_reduced_grad(a, out, 1, /*last=*/true);
    }
}

// Checks that two shapes broadcast as in NumPy: aligned at the right, each pair
// of dims equal or one of them 1.
void check_broadcast(const char* op, const Shape& a, const Shape& b) {
    const std::size_t n = std::max(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
        const std::size_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
        if (da != db && da != 1 && db != 1) {
            throw Error(std::string(op) + ": shapes " + shape_str(a) + " and " + shape_str(b) +
                        " cannot broadcast (dims " + std::to_string(da) + " and " + std::to_string(db) + ")");
        }
    }
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
    a.expect_defined("add");
    b.expect_defined("add");
    check_broadcast("add", a.shape(), b.shape());
    Array y;
    if (a.shape() == b.shape()) {  // the residual connections: one parallel loop
        y = Array::from_shape(a.shape());
        const Scalar *pa = a.data().data(), *pb = b.data().data();
        Scalar* py = y.data();
        const std::size_t n = y.size();
#pragma omp parallel for simd schedule(static) if (parallel : n > kParallelElements)
        for (std::size_t i = 0; i < n; ++i) py[i] = pa[i] + pb[i];
    } else {
        y = a.data() + b.data();
    }
    return Tensor::from_op(std::move(y), "add", {a, b}, [a = GradOnly(a), b = GradOnly(b)](const Node& out) {
        add_reduced_grads(a, b, out, 1);
    }, /*backward_reads_output=*/false);
}

Tensor sub(const Tensor& a, const Tensor& b) {
    a.expect_defined("sub");
    b.expect_defined("sub");
    check_broadcast("sub", a.shape(), b.shape());
    Array y = a.data() - b.data();
    return Tensor::from_op(std::move(y), "sub", {a, b}, [a = GradOnly(a), b = GradOnly(b)](const Node& out) {
        add_reduced_grads(a, b, out, Scalar(-1));
    }, /*backward_reads_output=*/false);
}

Tensor mul(const Tensor& a, const Tensor& b) {
    a.expect_defined("mul");
    b.expect_defined("mul");
    check_broadcast("mul", a.shape(), b.shape());
    Array y = a.data() * b.data();
    return Tensor::from_op(std::move(y), "mul", {a, b}, [a, b](const Node& out) {
        if (a.requires_grad()) accumulate_grad(a, sum_to(out.grad * b.data(), a.shape()));
        if (b.requires_grad()) accumulate_grad(b, sum_to(out.grad * a.data(), b.shape()));
    }, /*backward_reads_output=*/false);
}

Tensor div(const Tensor& a, const Tensor& b) {
    a.expect_defined("div");
    b.expect_defined("div");
    check_broadcast("div", a.shape(), b.shape());
    Array y = a.data() / b.data();
    // y = a / b:  dy/da = 1 / b,  dy/db = -a / b^2 = -y / b (the numerator's values are never read)
    return Tensor::from_op(std::move(y), "div", {a, b}, [a = GradOnly(a), b](const Node& out) {
        if (a.node) accumulate_grad(a, sum_to(out.grad / b.data(), a.shape));
        if (b.requires_grad()) accumulate_grad(b, sum_to(-out.grad * out.data / b.data(), b.shape()));
    });
}

Tensor add(const Tensor& a, Scalar s) {
    a.expect_defined("add");
    Array y = map(a.data(), [s](Scalar x) { return x + s; });
    return Tensor::from_op(std::move(y), "add", {a}, [a = GradOnly(a)](const Node& out) {
        add_reduced_grad(a, out, 1, /*last=*/true);
    }, /*backward_reads_output=*/false);
}

Tensor mul(const Tensor& a, Scalar s) {
    a.expect_defined("mul");
    Array y = map(a.data(), [s](Scalar x) { return x * s; });
    return Tensor::from_op(std::move(y), "mul", {a}, [a = GradOnly(a), s](const Node& out) {
        add_reduced_grad(a, out, s, /*last=*/true);
    }, /*backward_reads_output=*/false);
}

Tensor rsub(const Tensor& a, Scalar s) {
    a.expect_defined("rsub");
    Array y = s - a.data();
    return Tensor::from_op(std::move(y), "rsub", {a}, [a = GradOnly(a)](const Node& out) {
        add_reduced_grad(a, out, Scalar(-1), /*last=*/true);
    }, /*backward_reads_output=*/false);
}

Tensor rdiv(const Tensor& a, Scalar s) {
    a.expect_defined("rdiv");
    Array y = s / a.data();
    // y = s / a:  dy/da = -s / a^2 = -y / a
    return Tensor::from_op(std::move(y), "rdiv", {a},
                           [a](const Node& out) { accumulate_grad(a, -out.grad * out.data / a.data()); });
}

Tensor neg(const Tensor& a) {
    a.expect_defined("neg");
    Array y = -a.data();
    return Tensor::from_op(std::move(y), "neg", {a}, [a = GradOnly(a)](const Node& out) {
        add_reduced_grad(a, out, Scalar(-1), /*last=*/true);
    }, /*backward_reads_output=*/false);
}

Tensor pow(const Tensor& a, Scalar exponent) {
    a.expect_defined("pow");
    Array y = xt::pow(a.data(), exponent);
    // y = a^p:  dy/da = p * a^(p-1)
    return Tensor::from_op(std::move(y), "pow", {a}, [a, exponent](const Node& out) {
        accumulate_grad(a, out.grad * exponent * xt::pow(a.data(), exponent - 1));
    }, /*backward_reads_output=*/false);
}

Tensor exp(const Tensor& a) {
    a.expect_defined("exp");
    Array y = xt::exp(a.data());
    // y = e^a:  dy/da = y
    return Tensor::from_op(std::move(y), "exp", {a},
                           [a = GradOnly(a)](const Node& out) { accumulate_grad(a, out.grad * out.data); });
}

Tensor log(const Tensor& a) {
    a.expect_defined("log");
    Array y = xt::log(a.data());
    return Tensor::from_op(std::move(y), "log", {a}, [a](const Node& out) { accumulate_grad(a, out.grad / a.data()); },
                           /*backward_reads_output=*/false);
}

Tensor sqrt(const Tensor& a) {
    a.expect_defined("sqrt");
    Array y = xt::sqrt(a.data());
    // y = a^(1/2):  dy/da = 1 / (2 y)
    return Tensor::from_op(std::move(y), "sqrt", {a},
                           [a = GradOnly(a)](const Node& out) { accumulate_grad(a, out.grad / (Scalar(2) * out.data)); });
}

Tensor tanh(const Tensor& a) {
    a.expect_defined("tanh");
    Array y = xt::tanh(a.data());
    // dy/da = 1 - y^2
    return Tensor::from_op(std::move(y), "tanh", {a}, [a = GradOnly(a)](const Node& out) {
        accumulate_grad(a, out.grad * (Scalar(1) - out.data * out.data));
    });
}

Tensor relu(const Tensor& a) {
    a.expect_defined("relu");
    Array y = map(a.data(), [](Scalar x) { return x < 0 ? Scalar(0) : x; });  // NaN stays NaN, as in PyTorch
    // dy/da = 1 where the input was positive (where the output is), else 0
    return Tensor::from_op(std::move(y), "relu", {a}, [a = GradOnly(a)](const Node& out) {
        const Scalar* y = out.data.data();
        const Scalar* dy = out.grad.data();
        const std::size_t n = out.grad.size();
        const detail::GradTarget target = detail::grad_target_over(a, out);  // maybe dy's own buffer
        Scalar* g = target.data;
        if (target.add) {
#pragma omp parallel for simd schedule(static) if (parallel : n > kParallelElements)
            for (std::size_t i = 0; i < n; ++i) g[i] += y[i] > 0 ? dy[i] : Scalar(0);
        } else {
#pragma omp parallel for simd schedule(static) if (parallel : n > kParallelElements)
            for (std::size_t i = 0; i < n; ++i) g[i] = y[i] > 0 ? dy[i] : Scalar(0);
        }
    });
}

}  // namespace xgrad
