// Seeded random inputs for the tests and the gradient-check suite.
#pragma once

#include "autograd/tensor.hpp"

#include <random>

namespace xgrad::test {

inline Tensor randn(const Shape& shape, unsigned seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    Array a = Array::from_shape(shape);
    for (Scalar& x : a) x = static_cast<Scalar>(normal(gen));
    return Tensor(a);
}

inline Tensor uniform(const Shape& shape, double lo, double hi, unsigned seed) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<double> u(lo, hi);
    Array a = Array::from_shape(shape);
    for (Scalar& x : a) x = static_cast<Scalar>(u(gen));
    return Tensor(a);
}

// Values in [-2, -0.1] or [0.1, 2]: far from relu's kink at 0.
inline Tensor away_from_zero(const Shape& shape, unsigned seed) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<double> u(0.1, 2.0);
    Array a = Array::from_shape(shape);
    for (Scalar& x : a) x = static_cast<Scalar>(gen() % 2 ? u(gen) : -u(gen));
    return Tensor(a);
}

// (B, T) token ids uniform in [0, V).
inline Index random_tokens(std::size_t B, std::size_t T, std::size_t V, unsigned seed) {
    std::mt19937 gen(seed);
    Index idx = Index::from_shape({B, T});
    for (auto& v : idx) v = static_cast<std::int64_t>(gen() % V);
    return idx;
}

}  // namespace xgrad::test
