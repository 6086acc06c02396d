// How one optimizer step's batch is shared out: --batch-size is the global
// batch; with N ranks and --grad-accum K it is cut into N x K micro-batches of
// equal size, rank r taking micro-batches r*K ... r*K + K - 1, in row order.
// So the union of every rank's rows is the one-process batch, each row once,
// and micro-batch m is the same rows whatever N and K make up N x K.
// Used by the training loop (train/loop/train.cpp); no MPI here.
#pragma once

#include "autograd/ops.hpp"
#include "autograd/random.hpp"

#include <algorithm>
#include <cstddef>

namespace xgrad::dist {

// The rows [first, first + count) of the global batch in micro-step `micro_step` of rank `rank`.
inline BatchRows micro_batch_rows(std::size_t batch_size, int rank, int ranks, int micro_step, int micro_steps) {
    const std::size_t micro_batches = static_cast<std::size_t>(ranks) * static_cast<std::size_t>(micro_steps);
    const std::size_t rows = batch_size / micro_batches;
    const std::size_t m = static_cast<std::size_t>(rank) * static_cast<std::size_t>(micro_steps) +
                          static_cast<std::size_t>(micro_step);
    return {m * rows, rows};
}

// Those rows of a (batch, block) batch of tokens; the batch itself when they are all of it.
inline Index take_rows(const Index& batch, BatchRows rows) {
    const std::size_t width = batch.shape()[1];
    if (rows.first == 0 && rows.count == batch.shape()[0]) return batch;
    Index out = Index::from_shape({rows.count, width});
    std::copy_n(batch.data() + rows.first * width, rows.count * width, out.data());
    return out;
}

}  // namespace xgrad::dist
