// The blog's hyperparameters of the model, gathered in one struct instead of
// gpt.py's globals. The defaults are the lecture's.
#pragma once

#include <cstddef>

namespace xgrad {

struct GPTConfig {
    std::size_t vocab_size = 65;
    std::size_t block_size = 256;  // what is the maximum context length for predictions?
    std::size_t n_embd = 384;
    std::size_t n_head = 6;
    std::size_t n_layer = 6;
    double dropout = 0.2;
};

}  // namespace xgrad
