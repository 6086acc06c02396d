// FeedForward, as in the lecture's gpt.py (which spells it FeedFoward) and the blog's post 40: a
// position-wise two-layer MLP, 4x wider inside.
#pragma once

#include "models/config.hpp"
#include "nn/sequential.hpp"

namespace xgrad {

struct FeedForward : nn::Module {
    /* a simple linear layer followed by a non-linearity */
    nn::Sequential net;

    FeedForward(std::size_t n_embd, const GPTConfig& config)
        : net{nn::Linear(n_embd, 4 * n_embd), nn::ReLU(), nn::Linear(4 * n_embd, n_embd), nn::Dropout(config.dropout)} {}

    Tensor operator()(const Tensor& x) const { return net(x); }  // (B,T,C) -> (B,T,4C) -> (B,T,C)

    void children(nn::Visitor& visit) const override {
        visit("net", net);  // net.0.weight, net.0.bias, net.2.weight, net.2.bias
    }
};

}  // namespace xgrad
