// Reductions: sum and mean (of everything, or along one dim), max along a dim.
// Along a dim, a tensor is seen as (outer, n, inner) and reduced over n with
// plain loops, which beat xtensor's axis reducers by a wide margin.
#include "autograd/op_helpers.hpp"
#include "autograd/ops.hpp"

namespace xgrad {

using detail::accumulate_grad;
using detail::along_dim;
using detail::GradOnly;
using detail::normalize_dim;

namespace {

// The output shape of a reduction along `dim`.
Shape reduced_shape(const Shape& shape, std::size_t dim, bool keepdim) {
    Shape out = shape;
    if (keepdim) {
        out[dim] = 1;
    } else {
        out.erase(out.begin() + static_cast<std::ptrdiff_t>(dim));
    }
    return out;
}

// Sum along `dim`, times `scale` (1 for sum, 1/n for mean).
Tensor sum_along(const char* op, const Tensor& a, int dim, bool keepdim, bool average) {
    a.expect_defined(op);
    const std::size_t d = normalize_dim(op, dim, a.shape());
    const auto [outer, n, inner] = along_dim(a.shape(), d);
    const Scalar scale = average ? Scalar(1) / static_cast<Scalar>(n) : Scalar(1);
    Array y = xt::zeros<Scalar>(reduced_shape(a.shape(), d, keepdim));
    const Scalar* x = a.data().data();
    Scalar* py = y.data();
    for (std::size_t o = 0; o < outer; ++o) {
        for (std::size_t i = 0; i < n; ++i) {
            const Scalar* row = x + (o * n + i) * inner;
            for (std::size_t k = 0; k < inner; ++k) py[o * inner + k] += row[k];
        }
    }
    y *= scale;
    return Tensor::from_op(std::move(y), op, {a}, [a = GradOnly(a), outer = outer, n = n, inner = inner, scale](const Node& out) {
        // every input element along the dim receives its output's grad (times 1/n for a mean)
        Scalar* g = detail::grad_ptr(a);
        const Scalar* dy = out.grad.data();
        for (std::size_t o = 0; o < outer; ++o) {
            for (std::size_t i = 0; i < n; ++i) {
                Scalar* row = g + (o * n + i) * inner;
                for (std::size_t k = 0; k < inner; ++k) row[k] += scale * dy[o * inner + k];
            }
        }
    }, /*backward_reads_output=*/false);
}

}  // namespace

Tensor sum(const Tensor& a) {
    a.expect_defined("sum");
    Array y = Array(xt::sum(a.data())());
    return Tensor::from_op(std::move(y), "sum", {a}, [a = GradOnly(a)](const Node& out) { accumulate_grad(a, out.grad()); },
                           /*backward_reads_output=*/false);
}

Tensor mean(const Tensor& a) {
    a.expect_defined("mean");
    const Scalar n = static_cast<Scalar>(a.numel());
    Array y = Array(xt::sum(a.data())() / n);
    return Tensor::from_op(std::move(y), "mean", {a},
                           [a = GradOnly(a), n](const Node& out) { accumulate_grad(a, out.grad() / n); },
                           /*backward_reads_output=*/false);
}

Tensor sum(const Tensor& a, int dim, bool keepdim) { return sum_along("sum", a, dim, keepdim, false); }
Tensor mean(const Tensor& a, int dim, bool keepdim) { return sum_along("mean", a, dim, keepdim, true); }

Tensor max(const Tensor& a, int dim, bool keepdim) {
    a.expect_defined("max");
    const std::size_t d = normalize_dim("max", dim, a.shape());
    const auto [outer, n, inner] = along_dim(a.shape(), d);
    if (n == 0) throw Error("max: dim " + std::to_string(dim) + " of shape " + shape_str(a.shape()) + " is empty");
    Array y = Array::from_shape(reduced_shape(a.shape(), d, keepdim));
    std::vector<std::size_t> argmax(outer * inner, 0);  // which i won, for the backward
    const Scalar* x = a.data().data();
    for (std::size_t o = 0; o < outer; ++o) {
        for (std::size_t k = 0; k < inner; ++k) {
            std::size_t best = 0;
            for (std::size_t i = 1; i < n; ++i) {
                if (x[(o * n + i) * inner + k] > x[(o * n + best) * inner + k]) best = i;
            }
            argmax[o * inner + k] = best;
            y.data()[o * inner + k] = x[(o * n + best) * inner + k];
        }
    }
    return Tensor::from_op(std::move(y), "max", {a},
                           [a = GradOnly(a), argmax = std::move(argmax), outer = outer, n = n, inner = inner](const Node& out) {
        // only the winning element of each slice receives the gradient
        Scalar* g = detail::grad_ptr(a);
        for (std::size_t o = 0; o < outer; ++o) {
            for (std::size_t k = 0; k < inner; ++k) {
                g[(o * n + argmax[o * inner + k]) * inner + k] += out.grad.data()[o * inner + k];
            }
        }
    }, /*backward_reads_output=*/false);
}

}  // namespace xgrad
