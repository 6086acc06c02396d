// The model's hyperparameters, gathered in one struct instead of the
// globals of the lecture's gpt.py and the blog's posts. The defaults are the
// lecture's.
#pragma once

#include <cstddef>

namespace xgrad {

// How Head scales its attention scores: by head_size ** -0.5 (the lecture's
// gpt.py), or by C ** -0.5 with C = n_embd, the input's channels (the blog's
// post 38, as the lecture's video first wrote it); model_default is each
// model's own (head_size for the lecture's models, n_embd for the blog's).
enum class AttentionScale { model_default, head_size, n_embd };

struct GPTConfig {
    std::size_t vocab_size = 65;
    std::size_t block_size = 256;  // what is the maximum context length for predictions?
    std::size_t n_embd = 384;
    std::size_t n_head = 6;
    std::size_t n_layer = 6;
    double dropout = 0.2;

    // Where the blog's modules differ from the lecture's, one named choice
    // each (the blog's GPT, models/blog_gpt.hpp, sets the blog's; the rest
    // of the config is the same for both):
    AttentionScale attention_scale = AttentionScale::model_default;  // xgrad train --attention-scale overrides it
    bool head_dropout = true;       // gpt.py drops out Head's attention weights; the blog's Head has no dropout
    bool proj_from_n_embd = false;  // the blog's proj is Linear(n_embd, n_embd); gpt.py's Linear(head_size * num_heads, n_embd)
};

}  // namespace xgrad
