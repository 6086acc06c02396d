// Block, as in the lecture's gpt.py and the blog's post 41: communication (attention) then computation
// (feed-forward), each with a pre-LayerNorm and a residual connection.
#pragma once

#include "models/feed_forward.hpp"
#include "models/multi_head_attention.hpp"

namespace xgrad {

struct Block : nn::Module {
    /* Transformer block: communication followed by computation */
    MultiHeadAttention sa;
    FeedForward ffwd;
    nn::LayerNorm ln1;
    nn::LayerNorm ln2;

    // n_embd: embedding dimension, n_head: the number of heads we'd like
    Block(std::size_t n_embd, std::size_t n_head, const GPTConfig& config)
        : sa(n_head, n_embd / n_head, config), ffwd(n_embd, config), ln1(n_embd), ln2(n_embd) {}

    Tensor operator()(Tensor x) const {
        x = x + sa(ln1(x));    // (B,T,C)
        x = x + ffwd(ln2(x));  // (B,T,C)
        return x;
    }

    void children(nn::Visitor& visit) const override {
        visit("sa", sa);
        visit("ffwd", ffwd);
        visit("ln1", ln1);
        visit("ln2", ln2);
    }
};

// [Block(n_embd, n_head=n_head) for _ in range(n_layer)]: the models' blocks.
inline std::vector<Block> make_blocks(const GPTConfig& config) {
    std::vector<Block> blocks;
    for (std::size_t i = 0; i < config.n_layer; ++i) blocks.emplace_back(config.n_embd, config.n_head, config);
    return blocks;
}

}  // namespace xgrad
