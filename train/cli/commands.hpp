// The commands of the `xgrad` program other than `train` (train/loop/train.hpp)
// and the pictures (train/pictures/): sample, grad, corpus. main.cpp only
// parses flags; each command here does one job. tests/test_parity.cpp runs
// grad against PyTorch's gradients.
#pragma once

#include "models/language_model.hpp"

#include <iosfwd>
#include <string>

namespace xgrad {

struct SampleOptions {
    std::string checkpoint;
    std::string prompt;             // empty: start from token 0, as the lecture does
    std::size_t tokens = 500;
    SamplingOptions sampling;
    std::uint64_t seed = 1337;
};
// Prints the prompt and the generated continuation; on a model of the
// built-in corpus, also the share of valid sentences.
void sample(const SampleOptions& options, std::ostream& out);

// `xgrad grad`: one forward and backward pass (dropout off, no update) on the
// batch file's x and y, written to `out_path` as safetensors: loss, logits
// (B,T,vocab_size) and each parameter's gradient under its own name.
void grad(const std::string& checkpoint, const std::string& batch_path, const std::string& out_path);

// `xgrad corpus`: the built-in corpus, to a file (atomically) or to `out`.
void write_corpus(const std::string& out_path, std::ostream& out);

}  // namespace xgrad
