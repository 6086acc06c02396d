// The default random generator, as torch.manual_seed(1337) seeds PyTorch's:
// weight initialisation, dropout masks, batches and sampling all draw from it
// unless given another, so one seed reproduces a whole run.
#pragma once

#include "autograd/ops.hpp"

#include <cstddef>
#include <cstdint>

namespace xgrad {

// The generator every draw without an explicit one uses: the process's one,
// or on a thread with an open GeneratorScope, that scope's generator.
Generator& default_generator();
void manual_seed(std::uint64_t seed);

// Makes `gen` this thread's default_generator() until the end of the scope:
// threads that run micro-batches side by side (train/distributed/side_by_side.cpp)
// each draw their dropout seeds from their own copy of the same state, as one
// thread running the micro-batches in turn draws them from the same state again.
struct GeneratorScope {
    explicit GeneratorScope(Generator& gen);
    ~GeneratorScope();
    GeneratorScope(const GeneratorScope&) = delete;
    GeneratorScope& operator=(const GeneratorScope&) = delete;
    Generator* previous;
};

// SplitMix64 (Steele, Lea and Flood, 2014): a few lines, good statistics, and
// the same numbers on every platform (std:: distributions are not). Each step
// adds the increment (the golden ratio in 64 bits) to the state and mixes it,
// so the i-th number is also reachable directly: dropout draws element i's
// coin from splitmix64_at(seed, i), the built-in corpus walks the sequence.
inline constexpr std::uint64_t kSplitMix64Gamma = 0x9e3779b97f4a7c15ULL;

inline std::uint64_t splitmix64_mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// The i-th number (from 0) of the sequence seeded with `seed`.
inline std::uint64_t splitmix64_at(std::uint64_t seed, std::uint64_t i) {
    return splitmix64_mix(seed + (i + 1) * kSplitMix64Gamma);
}

// The rows of the whole batch that a forward pass computes, for dropout: a
// micro-batch (--grad-accum) or one rank's slice (train/distributed/) draws
// each element's coin from its index in the whole batch, so the masks do not
// depend on how the batch is split. count 0: the forward pass is the whole batch.
struct BatchRows {
    std::size_t first = 0, count = 0;
};
BatchRows& current_batch_rows();  // this thread's
// Sets current_batch_rows() until the end of the scope, on this thread.
struct BatchRowsScope {
    BatchRows previous;
    explicit BatchRowsScope(BatchRows rows) : previous(current_batch_rows()) { current_batch_rows() = rows; }
    ~BatchRowsScope() { current_batch_rows() = previous; }
};

struct SplitMix64 {
    std::uint64_t state;
    std::uint64_t next() { return splitmix64_mix(state += kSplitMix64Gamma); }
};

}  // namespace xgrad
