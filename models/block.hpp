// Block, as in the blog's gpt.py: communication (attention) then computation
// (feed-forward), each with a pre-LayerNorm and a residual connection.
#pragma once

#include "models/feed_forward.hpp"
#include "models/multi_head_attention.hpp"

namespace xgrad {

struct Block {
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

    void train(bool mode = true) {
        sa.train(mode);
        ffwd.train(mode);
    }
    nn::NamedTensors named_parameters() const {
        nn::NamedTensors out;
        nn::append(out, "sa", sa.named_parameters());
        nn::append(out, "ffwd", ffwd.named_parameters());
        nn::append(out, "ln1", ln1.named_parameters());
        nn::append(out, "ln2", ln2.named_parameters());
        return out;
    }
    nn::NamedTensors named_buffers() const {
        nn::NamedTensors out;
        nn::append(out, "sa", sa.named_buffers());
        return out;
    }
};

}  // namespace xgrad
