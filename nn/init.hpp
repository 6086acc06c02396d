// PyTorch's default initialisation, for the models that keep it (the blog's
// GPT: post 42 has no _init_weights). The modules here start as the lecture's
// _init_weights sets them (nn/layers.hpp); init_as_pytorch redraws, module by
// module, what PyTorch's constructors draw:
//   nn.Linear(in, out): weight and bias uniform in [-1/sqrt(in), 1/sqrt(in)]
//                       (kaiming_uniform_ with a = sqrt(5), and the bias's bound);
//   nn.Embedding:       weight normal(0, 1);
//   nn.LayerNorm:       weight ones, bias zeros (as already).
// The values differ from PyTorch's for the same seed (another generator);
// their distribution is the same (tests/test_parity.cpp checks the statistics
// against PyTorch's).
#pragma once

#include "nn/layers.hpp"

#include <cmath>
#include <random>

namespace xgrad::nn {

inline void init_as_pytorch(Module& model, Generator& gen = default_generator()) {
    auto uniform = [&](Tensor& t, double bound) {
        std::uniform_real_distribution<double> u(-bound, bound);
        for (Scalar& v : t.data()) v = static_cast<Scalar>(u(gen));
    };
    apply(model, [&](Module& m) {
        if (auto* linear = dynamic_cast<Linear*>(&m)) {
            const double bound = 1.0 / std::sqrt(static_cast<double>(linear->weight.shape()[1]));  // 1 / sqrt(in_features)
            uniform(linear->weight, bound);
            if (linear->bias.defined()) uniform(linear->bias, bound);
        } else if (auto* embedding = dynamic_cast<Embedding*>(&m)) {
            std::normal_distribution<double> normal(0.0, 1.0);
            for (Scalar& v : embedding->weight.data()) v = static_cast<Scalar>(normal(gen));
        }
    });
}

}  // namespace xgrad::nn
