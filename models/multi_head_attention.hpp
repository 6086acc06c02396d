// MultiHeadAttention, as in the lecture's gpt.py and the blog's post 39: the heads side by side, their
// outputs concatenated on the last dim, then a projection and dropout.
#pragma once

#include "models/head.hpp"

#include <vector>

namespace xgrad {

struct MultiHeadAttention : nn::Module {
    /* multiple heads of self-attention in parallel */
    std::vector<Head> heads;  // nn.ModuleList
    nn::Linear proj;
    nn::Dropout dropout;

    MultiHeadAttention(std::size_t num_heads, std::size_t head_size, const GPTConfig& config)
        : heads(make_heads(num_heads, head_size, config)),
          proj(config.proj_from_n_embd ? config.n_embd : head_size * num_heads, config.n_embd),
          dropout(config.dropout) {}

    Tensor operator()(const Tensor& x) const {
        std::vector<Tensor> outs;  // [h(x) for h in self.heads]: each (B, T, hs)
        for (const Head& h : heads) outs.push_back(HeadGates::apply(h(x)));  // (the gate: models/hooks.hpp)
        Tensor out = cat(outs, -1);  // (B, T, num_heads * hs)
        out = dropout(proj(out));    // (B, T, n_embd)
        return out;
    }

    void children(nn::Visitor& visit) const override {
        visit("heads", heads);
        visit("proj", proj);
        visit("dropout", dropout);
    }

private:
    static std::vector<Head> make_heads(std::size_t num_heads, std::size_t head_size, const GPTConfig& config) {
        std::vector<Head> heads;
        for (std::size_t i = 0; i < num_heads; ++i) heads.emplace_back(head_size, config);
        return heads;
    }
};

}  // namespace xgrad
