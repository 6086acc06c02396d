// `xgrad train`: one training run, the lecture's gpt.py from start to end,
// plus what a learner on a CPU wants around it: progress, a JSON log,
// checkpoints, resuming, and a clean stop on Ctrl-C. Called by the command
// line (train/cli/main.cpp) and the tests (tests/test_train.cpp).
#pragma once

#include "train/loop/options.hpp"

#include <iosfwd>

namespace xgrad {

// Runs the whole job; returns the process exit code (0, or 130 after Ctrl-C).
// Bad input throws xgrad::Error.
int train(const TrainOptions& options, std::ostream& out);

}  // namespace xgrad
