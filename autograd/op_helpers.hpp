// Small helpers shared by the ops_*.cpp files, and loops the KV cache
// (models/kv_cache.cpp) and AdamW run exactly as the ops do (not part of the
// public API).
#pragma once

#include "autograd/error.hpp"
#include "autograd/tensor.hpp"

#include <xtensor/xnoalias.hpp>

#include <string>

namespace xgrad::detail {

// Element loops longer than this are shared out between threads: below it,
// waking the second thread costs more than it saves.
inline constexpr std::size_t kParallelElements = 1 << 16;

// Turns a PyTorch dim (negative counts from the end) into an index, or throws
// "softmax: dim 3 out of range for shape (2,3)".
std::size_t normalize_dim(const char* op, int dim, const Shape& shape);

// The shape seen by an op that works along one dim: outer x n x inner, with n
// the length of that dim. Element (o, i, k) sits at (o * n + i) * inner + k.
struct AlongDim {
    std::size_t outer = 1, n = 1, inner = 1;
};
AlongDim along_dim(const Shape& shape, std::size_t dim);

// The softmax of one contiguous row of n (y may be x): less the row's max,
// exp (exp(-inf) = 0 for masked entries), divided by the sum; several lanes
// at a time. Shared by the softmax op and the KV cache's attention, so both
// compute the same numbers.
void softmax_row(const Scalar* x, Scalar* y, std::size_t n);

// The max of n values `stride` apart (-inf for masked entries), and
// log sum_i exp(x_i - max): the shifted log-sum-exp of log_softmax and
// cross_entropy, finite for any finite row (exp never overflows). The softmax
// op uses the max for the rows that are not contiguous.
Scalar strided_max(const Scalar* x, std::size_t n, std::size_t stride);
Scalar shifted_log_sum_exp(const Scalar* x, std::size_t n, std::size_t stride, Scalar max);

// LayerNorm's forward over N rows of C: y = (x - mean) * rstd * w + b, with
// the biased variance as PyTorch's, rows shared between threads. The
// layer_norm op keeps mean and rstd (N each) for its backward; the KV cache
// passes nullptr for them.
void layer_norm_rows(const Scalar* x, std::size_t N, std::size_t C, const Scalar* w, const Scalar* b, Scalar eps,
                     Scalar* y, Scalar* mean, Scalar* rstd);

// Reduces a broadcast gradient back to an input's shape: sums over the leading
// dims the input did not have and over the dims where it had size 1.
Array sum_to(const Array& grad, const Shape& shape);

// Adds `contribution` (an xtensor expression or array) into t's gradient, if t
// wants one. Gradients accumulate: a tensor used twice gets both terms.
template <class E>
void accumulate_grad(const Tensor& t, const E& contribution) {
    if (!t.defined() || !t.requires_grad()) return;
    Array& g = t.node()->grad_buffer();
    xt::noalias(g) += contribution;
}

// The grad buffer of t when it wants one, else nullptr (for hand-written loops).
inline Scalar* grad_ptr(const Tensor& t) {
    if (!t.defined() || !t.requires_grad()) return nullptr;
    return t.node()->grad_buffer().data();
}

// What a backward closure captures of an input whose values it never reads,
// only its grad: a plain pointer to the node, not a Tensor handle, so the
// input's values can be freed early (see Node::handles). The output's parent
// links keep the node itself alive as long as the closure exists.
struct GradOnly {
    Node* node = nullptr;  // null when the input wants no grad
    Shape shape;
    explicit GradOnly(const Tensor& t) {
        if (t.defined()) shape = t.shape();
        if (t.defined() && t.requires_grad()) node = t.node();
    }
};

inline Scalar* grad_ptr(const GradOnly& t) { return t.node ? t.node->grad_buffer().data() : nullptr; }

// Where a backward that writes every element of an input's gradient puts it:
// `data` (null when the input wants no grad) and whether to add into it or
// write it (its first contribution: Node::grad_buffer_to_write). The loops
// test `add` once and run one of two plain loops: a helper taking the value
// as a lambda did not vectorise inside OpenMP's outlined loop (perf: relu's
// backward became a branch per element, 18% of a tiny step).
struct GradTarget {
    Scalar* data = nullptr;
    bool add = true;
    explicit operator bool() const { return data != nullptr; }
    // data[i] = v, or data[i] += v once another contribution is there
    void put(std::size_t i, Scalar v) const { add ? data[i] += v : data[i] = v; }
};

inline GradTarget grad_target(Node* node) {
    GradTarget g;
    if (node) g.data = node->grad_buffer_to_write(g.add).data();
    return g;
}
inline GradTarget grad_target(const Tensor& t) {
    return t.defined() && t.requires_grad() ? grad_target(t.node()) : GradTarget{};
}
inline GradTarget grad_target(const GradOnly& t) { return grad_target(t.node); }

// grad_target for a backward that writes t's gradient from out.grad, each
// dx_i needing only dy values read before dx_i's slot is written (relu,
// dropout, masked_fill, softmax, and through add_reduced_grad add, sub, neg
// and the scalar forms): out.grad's own buffer, written over in place, when
// the engine can spare it (Node::take_grad_of). Take out.grad's data pointer
// and size before calling this.
inline GradTarget grad_target_over(const GradOnly& t, const Node& out) {
    if (t.node) {
        if (Scalar* taken = t.node->take_grad_of(out)) return GradTarget{taken, false};
    }
    return grad_target(t.node);
}

template <class E>
void accumulate_grad(const GradOnly& t, const E& contribution) {
    if (!t.node) return;
    Array& g = t.node->grad_buffer();
    xt::noalias(g) += contribution;
}

}  // namespace xgrad::detail
