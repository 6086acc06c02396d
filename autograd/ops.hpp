// Every differentiable operation of xgrad, with PyTorch's names and argument
// order. Each is defined in one of the ops_*.cpp files, its backward right
// below its forward. Dims may be negative (-1 is the last), as in PyTorch.
#pragma once

#include "autograd/tensor.hpp"

#include <random>
#include <vector>

namespace xgrad {

// The random generator of dropout, batches and initialisation.
using Generator = std::mt19937;

// --- arithmetic (ops_elementwise.cpp): NumPy/PyTorch broadcasting ----------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, Scalar s);
Tensor mul(const Tensor& a, Scalar s);
Tensor rsub(const Tensor& a, Scalar s);  // s - a
Tensor rdiv(const Tensor& a, Scalar s);  // s / a
Tensor neg(const Tensor& a);
Tensor pow(const Tensor& a, Scalar exponent);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor relu(const Tensor& a);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, Scalar s) { return add(a, s); }
inline Tensor operator+(Scalar s, const Tensor& a) { return add(a, s); }
inline Tensor operator-(const Tensor& a, Scalar s) { return add(a, -s); }
inline Tensor operator-(Scalar s, const Tensor& a) { return rsub(a, s); }
inline Tensor operator*(const Tensor& a, Scalar s) { return mul(a, s); }
inline Tensor operator*(Scalar s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, Scalar s) { return mul(a, Scalar(1) / s); }
inline Tensor operator/(Scalar s, const Tensor& a) { return rdiv(a, s); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

// --- reductions (ops_reduce.cpp) --------------------------------------------
Tensor sum(const Tensor& a);                                   // all elements: shape ()
Tensor sum(const Tensor& a, int dim, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, int dim, bool keepdim = false);
Tensor max(const Tensor& a, int dim, bool keepdim = false);   // values (torch.max(a, dim).values)

// --- shape (ops_shape.cpp) ----------------------------------------------------
Tensor view(const Tensor& a, std::vector<std::ptrdiff_t> shape);  // one entry may be -1
Tensor reshape(const Tensor& a, std::vector<std::ptrdiff_t> shape);
Tensor transpose(const Tensor& a, int dim0, int dim1);
Tensor cat(const std::vector<Tensor>& tensors, int dim);
Tensor slice(const Tensor& a, int dim, std::size_t start, std::size_t end);  // a[..., start:end, ...]

// --- matrix products (ops_matmul.cpp) -----------------------------------------
// a @ b: (M,K) @ (K,N); batched (...,M,K) @ (...,K,N) with equal batch dims;
// (...,M,K) @ (K,N) with the 2-D right operand shared by the whole batch.
Tensor matmul(const Tensor& a, const Tensor& b);
// x @ weight.T + bias, weight stored (out, in) as in PyTorch; bias may be empty.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// --- neural-network ops (ops_nn.cpp) ---------------------------------------------
Tensor softmax(const Tensor& a, int dim);
Tensor log_softmax(const Tensor& a, int dim);
Tensor masked_fill(const Tensor& a, const Mask& mask, Scalar value);  // mask broadcasts to a
Tensor embedding(const Tensor& weight, const Index& indices);           // (V,C), (...) -> (...,C)
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Scalar eps = Scalar(1e-5));
Tensor cross_entropy(const Tensor& logits, const Index& targets);      // (N,V), (N) -> mean loss ()
Tensor dropout(const Tensor& x, Scalar p, bool training, Generator& gen);

}  // namespace xgrad
