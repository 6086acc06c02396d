// Module conventions. A module is a plain struct whose members carry the
// PyTorch attribute names (key, query, value, proj, net, sa, ffwd, ...), called
// like a function. Parameters are listed on demand by named_parameters(), with
// PyTorch's state-dict keys ("blocks.0.sa.heads.0.key.weight"), rather than
// registered by pointer, so a module can be moved into a std::vector freely.
#pragma once

#include "autograd/ops.hpp"

#include <random>
#include <string>
#include <utility>
#include <vector>

namespace xgrad::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Appends `inner`'s entries to `out` under "prefix." (PyTorch's nesting of keys).
inline void append(NamedTensors& out, const std::string& prefix, const NamedTensors& inner) {
    for (const auto& [name, t] : inner) out.emplace_back(prefix + "." + name, t);
}

inline std::size_t count_parameters(const NamedTensors& params) {
    std::size_t n = 0;
    for (const auto& entry : params) n += entry.second.numel();
    return n;
}

inline void zero_grad(const NamedTensors& params) {
    for (auto entry : params) entry.second.zero_grad();
}

// normal(0, std), as torch.nn.init.normal_ (a parameter: requires grad).
inline Tensor normal_parameter(const Shape& shape, double std, Generator& gen) {
    std::normal_distribution<double> normal(0.0, std);
    Array a = Array::from_shape(shape);
    for (Scalar& x : a) x = static_cast<Scalar>(normal(gen));
    return Tensor(std::move(a), true);
}

inline Tensor constant_parameter(const Shape& shape, double value) {
    Array a = Array::from_shape(shape);
    a.fill(static_cast<Scalar>(value));
    return Tensor(std::move(a), true);
}

}  // namespace xgrad::nn
