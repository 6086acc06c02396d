// Micro-batches side by side, one on each thread: how --threads share a
// training step by default (--thread-split batch). Each thread runs its own
// micro-batch's forward and backward with every op on that thread alone, and
// the gradients are added in micro-batch order, so
//     --threads N        gives the same bits as   --threads 1 --grad-accum N
// (and --threads N --grad-accum K as --threads 1 --grad-accum N*K): the ranks'
// trick of train/distributed/, inside one process. At small sizes it beats
// splitting every op between the threads (--thread-split ops), whose fork and
// join costs more than half an op's work; docs/performance.md has the figures.
// Used by the training loop (train/loop/train.cpp).
#pragma once

#include "nn/module.hpp"

#include <functional>

namespace xgrad::dist {

// Runs forward_loss(m) for m = first, ..., first + count - 1 and the backward
// of each loss it returns, each m on its own thread, and adds their gradients
// into `params` in the order of m: the same bits as
//     for m in turn: backward_adding(forward_loss(m), params, m)
// on one thread (gradients.hpp), which is what it does when count is 1. The
// parameters' grads must be empty before m = 0 (optimizer.zero_grad()).
// forward_loss runs on the worker threads: each call may read shared state
// and write only its own slots (micro-batch m's loss), nothing another call writes.
void backward_side_by_side(const nn::NamedTensors& params, int first, int count,
                           const std::function<Tensor(int m)>& forward_loss);

// How many micro-batches run side by side on `threads` threads: all of them
// when each of the `micro_batch_rows` rows splits evenly into them, else 1 (and
// the ops share out their work between the threads instead).
int side_by_side_count(int threads, std::size_t micro_batch_rows);

}  // namespace xgrad::dist
