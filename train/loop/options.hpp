// The options of one training run: the lecture's hyperparameters, plus what a
// learner on a CPU wants around them (threads, checkpoints, resuming, a log).
// Filled by the command line (train/cli/main.cpp, from a preset of
// train/cli/presets.cpp) and by the tests; checked here before train()
// (train/loop/train.hpp) does any work.
#pragma once

#include "models/config.hpp"

#include <cstdint>
#include <functional>
#include <string>

namespace xgrad {

struct TrainOptions {
    std::string data;           // corpus file; empty: the built-in toy corpus
    std::string model = "gpt";  // a stage of the series: bigram, head, ..., layernorm, gpt; or the blog's GPT, blog
    std::string preset;         // the preset the options started from (said on the first line; empty: none)
    GPTConfig config;           // vocab_size comes from the data
    std::size_t batch_size = 16;     // how many independent sequences will we process in parallel? (all ranks together)
    int grad_accum = 1;              // micro-batches per optimizer step (per rank), their gradients summed
    long long max_iters = 5000;
    long long eval_interval = 500;
    double learning_rate = 1e-3;
    long long eval_iters = 200;      // 0 skips evaluation
    std::uint64_t seed = 1337;
    int threads = 0;                 // 0: every core
    std::string thread_split = "batch";  // how the threads share a step: "batch" (side_by_side.hpp) or "ops"
    std::string out;                 // checkpoint to write at each evaluation and at the end
    std::string resume;              // checkpoint to continue from: the same run, as its .state recorded it
    std::string init_from;           // checkpoint whose weights start a new run (fresh AdamW, step 0)
    std::string data_hash;           // with resume: the corpus's hash the run recorded (checked against the text)
    std::string log;                 // JSON lines
    std::size_t sample_tokens = 300; // generated at the end
    bool profile = false;            // print where the time goes, per op
    // Called after each training step with the step and its loss (for
    // plotting live, or to simulate Ctrl-C at a given step in the tests).
    std::function<void(long long step, double loss)> on_step;
};

// Fails before any work: a flag out of range, or an output (--out, --log)
// that could not be written because its directory is missing or is not one.
void check_options(const TrainOptions& options);
// The same for any command's output: its directory exists and is writable, it is not a directory.
void check_output_path(const std::string& path, const char* flag);

// A rough upper bound of what training needs, checked before anything is
// allocated; fails when it is above 90% of the machine's memory.
void check_memory(const std::string& model_type, const GPTConfig& config, std::size_t batch_size);

// Applies --threads: OpenMP's and OpenBLAS's thread counts (0: every core).
void set_threads(int threads);

}  // namespace xgrad
