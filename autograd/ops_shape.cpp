// Shape ops: view/reshape, transpose, cat, slice. Each output owns a fresh
// contiguous copy (xt::xarray has no shared storage), so every other op can
// assume row-major contiguous data.
#include "autograd/op_helpers.hpp"
#include "autograd/ops.hpp"

#include <xtensor/xmanipulation.hpp>

#include <algorithm>
#include <cstring>

namespace xgrad {

using detail::accumulate_grad;
using detail::along_dim;
using detail::GradOnly;
using detail::normalize_dim;

namespace {

// Resolves a requested shape with at most one -1 against numel elements.
Shape resolve_view_shape(const char* op, const Shape& from, const std::vector<std::ptrdiff_t>& to) {
    Shape shape(to.size());
    std::size_t known = 1;
    std::ptrdiff_t infer = -1;
    std::string asked = "(";
    for (std::size_t i = 0; i < to.size(); ++i) asked += (i ? "," : "") + std::to_string(to[i]);
    asked += ")";
    for (std::size_t i = 0; i < to.size(); ++i) {
        if (to[i] == -1 && infer < 0) {
            infer = static_cast<std::ptrdiff_t>(i);
        } else if (to[i] < 0) {
            throw Error(std::string(op) + ": invalid shape " + asked + " for a tensor of shape " + shape_str(from));
        } else {
            shape[i] = static_cast<std::size_t>(to[i]);
            known *= shape[i];
        }
    }
    std::size_t numel = 1;
    for (std::size_t d : from) numel *= d;
    if (infer >= 0) {
        if (known == 0 || numel % known != 0) {
            throw Error(std::string(op) + ": shape " + asked + " is invalid for a tensor of shape " + shape_str(from));
        }
        shape[static_cast<std::size_t>(infer)] = numel / known;
        known *= shape[static_cast<std::size_t>(infer)];
    }
    if (known != numel) {
        throw Error(std::string(op) + ": shape " + asked + " is invalid for a tensor of shape " + shape_str(from) +
                    " (" + std::to_string(numel) + " elements)");
    }
    return shape;
}

Tensor view_as(const char* op, const Tensor& a, const std::vector<std::ptrdiff_t>& to) {
    a.expect_defined(op);
    Array y = a.data();
    y.reshape(resolve_view_shape(op, a.shape(), to));
    return Tensor::from_op(std::move(y), op, {a}, [a = GradOnly(a)](const Node& out) {
        // same elements in the same order: the grad just takes the input's shape back
        Scalar* g = detail::grad_ptr(a);
        const Scalar* dy = out.grad.data();
        for (std::size_t i = 0, n = out.grad.size(); i < n; ++i) g[i] += dy[i];
    }, /*backward_reads_output=*/false);
}

// (..., M, N) -> (..., N, M), one matrix at a time, in tiles of 16 x 16: a
// tile's 16 output rows stay in the L1 cache while its columns are written.
// Element by element across whole rows, each write touched another cache line
// (the lecture's (256, 64) keys took 2.1 ns an element; tiled, 1.0).
template <bool Add>
void transpose_matrices(const Scalar* in, Scalar* out, std::size_t batch, std::size_t M, std::size_t N) {
    constexpr std::size_t tile = 16;
#pragma omp parallel for schedule(static) if (batch > 1 && batch * M * N > detail::kParallelElements)
    for (std::size_t b = 0; b < batch; ++b) {
        const Scalar* x = in + b * M * N;
        Scalar* y = out + b * M * N;
        for (std::size_t i0 = 0; i0 < M; i0 += tile) {
            const std::size_t i1 = std::min(M, i0 + tile);
            for (std::size_t j0 = 0; j0 < N; j0 += tile) {
                const std::size_t j1 = std::min(N, j0 + tile);
                for (std::size_t i = i0; i < i1; ++i) {
                    for (std::size_t j = j0; j < j1; ++j) {
                        if constexpr (Add) {
                            y[j * M + i] += x[i * N + j];
                        } else {
                            y[j * M + i] = x[i * N + j];
                        }
                    }
                }
            }
        }
    }
}

Tensor transpose_last_two(const Tensor& a) {
    a.expect_defined("transpose_last_two");
    const Shape& s = a.shape();
    const std::size_t M = s[s.size() - 2], N = s.back(), batch = a.numel() / std::max<std::size_t>(M * N, 1);
    Shape shape = s;
    std::swap(shape[s.size() - 2], shape[s.size() - 1]);
    Array y = Array::from_shape(shape);
    transpose_matrices<false>(a.data().data(), y.data(), batch, M, N);
    return Tensor::from_op(std::move(y), "transpose", {a}, [a = GradOnly(a), batch, M, N](const Node& out) {
        // the gradient of a transpose is the transpose of the gradient
        const detail::GradTarget g = detail::grad_target(a);
        if (g.add) {
            transpose_matrices<true>(out.grad.data(), g.data, batch, N, M);
        } else {
            transpose_matrices<false>(out.grad.data(), g.data, batch, N, M);
        }
    }, /*backward_reads_output=*/false);
}

}  // namespace

Tensor view(const Tensor& a, std::vector<std::ptrdiff_t> shape) { return view_as("view", a, shape); }
Tensor reshape(const Tensor& a, std::vector<std::ptrdiff_t> shape) { return view_as("reshape", a, shape); }

Tensor transpose(const Tensor& a, int dim0, int dim1) {
    a.expect_defined("transpose");
    const std::size_t d0 = normalize_dim("transpose", dim0, a.shape());
    const std::size_t d1 = normalize_dim("transpose", dim1, a.shape());
    const std::size_t rank = a.dim();
    if (rank >= 2 && std::min(d0, d1) == rank - 2 && std::max(d0, d1) == rank - 1) {
        return transpose_last_two(a);  // k.transpose(-2, -1): the common case, as plain loops
    }
    std::vector<std::size_t> perm(rank);  // (0, 1, ..., d1, ..., d0, ...)
    for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = i;
    std::swap(perm[d0], perm[d1]);
    Array y = xt::transpose(a.data(), perm);
    // swapping the same two dims again undoes it
    return Tensor::from_op(std::move(y), "transpose", {a},
                           [a = GradOnly(a), perm](const Node& out) { accumulate_grad(a, xt::transpose(out.grad, perm)); },
                           /*backward_reads_output=*/false);
}

Tensor cat(const std::vector<Tensor>& tensors, int dim) {
    for (const Tensor& t : tensors) t.expect_defined("cat");
    if (tensors.empty()) throw Error("cat: needs at least one tensor");
    const Shape& first = tensors[0].shape();
    const std::size_t d = normalize_dim("cat", dim, first);
    Shape shape = first;
    shape[d] = 0;
    for (std::size_t t = 0; t < tensors.size(); ++t) {
        const Shape& s = tensors[t].shape();
        bool same = s.size() == first.size();
        for (std::size_t i = 0; same && i < s.size(); ++i) same = i == d || s[i] == first[i];
        if (!same) {
            throw Error("cat: tensor " + std::to_string(t) + " has shape " + shape_str(s) + " but tensor 0 has " +
                        shape_str(first) + "; all dims but dim " + std::to_string(dim) + " must match");
        }
        shape[d] += s[d];
    }

    // Seen as (outer, n, inner), each input fills a band [offset, offset + n_t) of the output's n.
    Array y = Array::from_shape(shape);
    const auto [outer, n_out, inner] = along_dim(shape, d);
    std::size_t offset = 0;
    for (const Tensor& t : tensors) {
        const std::size_t band = t.shape()[d] * inner;
        for (std::size_t o = 0; o < outer; ++o) {
            std::copy_n(t.data().data() + o * band, band, y.data() + (o * n_out + offset) * inner);
        }
        offset += t.shape()[d];
    }
    std::vector<GradOnly> inputs(tensors.begin(), tensors.end());
    return Tensor::from_op(std::move(y), "cat", tensors,
                           [inputs = std::move(inputs), d, outer = outer, n_out = n_out, inner = inner](const Node& out) {
        // each input gets back its own band of the gradient
        std::size_t offset = 0;
        for (const GradOnly& t : inputs) {
            const std::size_t band = t.shape[d] * inner;
            if (const detail::GradTarget g = detail::grad_target(t)) {
                for (std::size_t o = 0; o < outer; ++o) {
                    const Scalar* dy = out.grad.data() + (o * n_out + offset) * inner;
                    Scalar* go = g.data + o * band;
                    if (g.add) {
                        for (std::size_t j = 0; j < band; ++j) go[j] += dy[j];
                    } else {
                        std::copy_n(dy, band, go);
                    }
                }
            }
            offset += t.shape[d];
        }
    }, /*backward_reads_output=*/false);
}

Tensor slice(const Tensor& a, int dim, std::size_t start, std::size_t end) {
    a.expect_defined("slice");
    const std::size_t d = normalize_dim("slice", dim, a.shape());
    if (start > end || end > a.shape()[d]) {
        throw Error("slice: range [" + std::to_string(start) + ", " + std::to_string(end) + ") out of range for dim " +
                    std::to_string(dim) + " of shape " + shape_str(a.shape()));
    }
    const auto [outer, n, inner] = along_dim(a.shape(), d);
    Shape shape = a.shape();
    shape[d] = end - start;
    Array y = Array::from_shape(shape);
    const std::size_t band = (end - start) * inner;
    for (std::size_t o = 0; o < outer; ++o) {
        std::copy_n(a.data().data() + (o * n + start) * inner, band, y.data() + o * band);
    }
    return Tensor::from_op(std::move(y), "slice", {a},
                           [a = GradOnly(a), start, band, outer = outer, n = n, inner = inner](const Node& out) {
        Scalar* g = detail::grad_ptr(a);
        for (std::size_t o = 0; o < outer; ++o) {
            Scalar* row = g + (o * n + start) * inner;
            const Scalar* dy = out.grad.data() + o * band;
            for (std::size_t j = 0; j < band; ++j) row[j] += dy[j];
        }
    }, /*backward_reads_output=*/false);
}

Tensor Tensor::transpose(int dim0, int dim1) const { return xgrad::transpose(*this, dim0, dim1); }
Tensor Tensor::view(std::vector<std::ptrdiff_t> shape) const { return xgrad::view(*this, std::move(shape)); }
Tensor Tensor::masked_fill(const Mask& mask, Scalar value) const { return xgrad::masked_fill(*this, mask, value); }

}  // namespace xgrad
