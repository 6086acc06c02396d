// The lecture's estimate_loss(): the mean loss over eval_iters batches of each
// split, in eval mode (no dropout) and without building a graph. Called by the
// training loop (train/loop/train.cpp) every eval_interval steps. On several
// ranks each evaluates a share of the batches: the same number as one process.
#pragma once

#include "models/language_model.hpp"
#include "train/loop/options.hpp"
#include "train/text/data.hpp"

namespace xgrad {

struct Losses {
    double train = 0, val = 0;
};
Losses estimate_loss(LanguageModel& model, const TextData& data, const TrainOptions& options, Generator& gen);

}  // namespace xgrad
