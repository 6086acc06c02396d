// Matrix products through blas::gemm (autograd/blas.cpp). The transposes of
// the backward are gemm's transpose flags:
//     C = A @ B   =>   dA += dC @ Bᵀ,   dB += Aᵀ @ dC
#include "autograd/blas.hpp"
#include "autograd/op_helpers.hpp"
#include "autograd/ops.hpp"

namespace xgrad {

Tensor matmul(const Tensor& a, const Tensor& b) {
    a.expect_defined("matmul");
    b.expect_defined("matmul");
    const Shape& sa = a.shape();
    const Shape& sb = b.shape();
    const std::string shapes = shape_str(sa) + " @ " + shape_str(sb);
    if (sa.size() < 2 || sb.size() < 2) throw Error("matmul: " + shapes + ": both operands need at least 2 dims");
    const std::size_t M = sa[sa.size() - 2], K = sa.back(), N = sb.back();
    if (sb[sb.size() - 2] != K) {
        throw Error("matmul: " + shapes + ": inner dims " + std::to_string(K) + " and " +
                    std::to_string(sb[sb.size() - 2]) + " differ");
    }
    // b either is one matrix shared by the whole batch, or has a's batch dims.
    const bool shared_b = sb.size() == 2;
    if (!shared_b && !std::equal(sa.begin(), sa.end() - 2, sb.begin(), sb.end() - 2)) {
        throw Error("matmul: " + shapes + ": batch dims differ");
    }
    std::size_t batch = 1;
    for (std::size_t i = 0; i + 2 < sa.size(); ++i) batch *= sa[i];

    Shape shape = sa;
    shape.back() = N;
    Array y = Array::from_shape(shape);
    if (shared_b) {  // (batch*M, K) @ (K, N): one call
        blas::gemm(false, false, batch * M, N, K, Scalar(1), a.data().data(), b.data().data(), Scalar(0), y.data());
    } else {  // one product per batch entry (in attention: per batch row and head)
        blas::gemm_batched(false, false, batch, M, N, K, a.data().data(), b.data().data(), Scalar(0), y.data());
    }

    return Tensor::from_op(std::move(y), "matmul", {a, b}, [a, b, batch, M, N, K, shared_b](const Node& out) {
        const Scalar* dy = out.grad.data();       // (batch, M, N)
        const Scalar* pa = a.data().data();       // (batch, M, K)
        const Scalar* pb = b.data().data();       // (batch, K, N) or (K, N)
        // beta 1 adds into the gradient; beta 0 writes it, on its first contribution (grad_target)
        if (const detail::GradTarget da = detail::grad_target(a)) {   // dA (M,K) += dY (M,N) @ Bᵀ (N,K)
            const Scalar beta = da.add ? Scalar(1) : Scalar(0);
            if (shared_b) {
                blas::gemm(false, true, batch * M, K, N, Scalar(1), dy, pb, beta, da.data);
            } else {
                blas::gemm_batched(false, true, batch, M, K, N, dy, pb, beta, da.data);
            }
        }
        if (const detail::GradTarget db = detail::grad_target(b)) {   // dB (K,N) += Aᵀ (K,M) @ dY (M,N)
            const Scalar beta = db.add ? Scalar(1) : Scalar(0);
            if (shared_b) {  // summed over the batch: one call over (batch*M) rows
                blas::gemm(true, false, K, N, batch * M, Scalar(1), pa, dy, beta, db.data);
            } else {
                blas::gemm_batched(true, false, batch, K, N, M, pa, dy, beta, db.data);
            }
        }
    }, /*backward_reads_output=*/false);  // it reads its inputs a and b, not its output
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
    x.expect_defined("linear");
    weight.expect_defined("linear");
    const Shape& sx = x.shape();
    const Shape& sw = weight.shape();
    if (sw.size() != 2 || sx.empty() || sx.back() != sw[1]) {
        throw Error("linear: input " + shape_str(sx) + " and weight " + shape_str(sw) +
                    ": the weight must be (out_features, in_features) with in_features = the input's last dim");
    }
    const std::size_t in = sw[1], out_features = sw[0], rows = x.numel() / std::max<std::size_t>(in, 1);
    if (bias.defined() && (bias.dim() != 1 || bias.shape()[0] != out_features)) {
        throw Error("linear: bias " + shape_str(bias.shape()) + " does not match weight " + shape_str(sw));
    }

    Shape shape = sx;
    shape.back() = out_features;
    Array y = Array::from_shape(shape);
    // y (rows, out) = x (rows, in) @ Wᵀ (in, out)
    blas::gemm(false, true, rows, out_features, in, Scalar(1), x.data().data(), weight.data().data(), Scalar(0),
               y.data());
    if (bias.defined()) {
        const Scalar* pb = bias.data().data();
        Scalar* py = y.data();
        for (std::size_t r = 0; r < rows; ++r, py += out_features) {
            for (std::size_t j = 0; j < out_features; ++j) py[j] += pb[j];
        }
    }

    return Tensor::from_op(std::move(y), "linear", {x, weight, bias},
                           [x, weight, bias = detail::GradOnly(bias), rows, in, out_features](const Node& out) {
        const Scalar* dy = out.grad.data();  // (rows, out)
        // beta 1 adds into the gradient; beta 0 writes it, on its first contribution (grad_target)
        if (const detail::GradTarget dx = detail::grad_target(x)) {  // dx (rows,in) += dy (rows,out) @ W (out,in)
            blas::gemm(false, false, rows, in, out_features, Scalar(1), dy, weight.data().data(),
                       dx.add ? Scalar(1) : Scalar(0), dx.data);
        }
        if (const detail::GradTarget dw = detail::grad_target(weight)) {  // dW (out,in) += dyᵀ (out,rows) @ x (rows,in)
            blas::gemm(true, false, out_features, in, rows, Scalar(1), dy, x.data().data(),
                       dw.add ? Scalar(1) : Scalar(0), dw.data);
        }
        if (Scalar* db = detail::grad_ptr(bias)) {       // db (out) += dy summed over rows
            for (std::size_t r = 0; r < rows; ++r, dy += out_features) {
                for (std::size_t j = 0; j < out_features; ++j) db[j] += dy[j];
            }
        }
    }, /*backward_reads_output=*/false);
}

}  // namespace xgrad
