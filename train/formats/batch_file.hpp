// The input of `xgrad grad --batch BATCH`: a safetensors file holding integer
// tensors "x" (inputs) and "y" (targets), I64 or I32, both of shape (B, T),
// exactly what gpt.py's get_batch returns, saved with safetensors.torch.save_file.
// Read by `xgrad grad` (train/cli/commands.cpp); fuzzed by fuzz/fuzz_batch.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xgrad {

struct Batch {
    std::size_t B = 0, T = 0;
    std::vector<std::int64_t> x, y;  // (B, T) row-major: x[b * T + t]
};

// Checks presence, dtype, rank and matching shapes, B, T >= 1; errors start with origin.
// Other tensors in the file are ignored.
Batch parse_batch(std::string_view bytes, const std::string& origin);
Batch load_batch(const std::string& path);

// Checks T <= block_size and every token in [0, vocab_size); the message names
// the file, the tensor, the (b, t) position and the value. Separate from
// parsing because only the model knows its vocab_size and block_size.
void check_batch(const Batch& batch, std::size_t vocab_size, std::size_t block_size, const std::string& origin);

}  // namespace xgrad
