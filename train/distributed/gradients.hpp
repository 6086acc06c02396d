// The gradients of one optimizer step over several micro-batches (--grad-accum)
// and several ranks, every addition in a fixed order: micro-batch m's
// gradient is computed alone, from zero, and added to the sum of the ones
// before it; the ranks' sums are added in rank order (distributed.hpp). So
// N ranks give the same bits as one process with --grad-accum N, which adds
// the same numbers in the same order. Used by train/loop/train.cpp.
#pragma once

#include "nn/module.hpp"

namespace xgrad::dist {

// loss.backward(), its gradients added to those of the micro-batches before
// (micro_step > 0) rather than accumulated into them inside the backward pass:
// the backward runs into a LeafGradients sink, then add_micro_batch_gradients.
void backward_adding(Tensor& loss, const nn::NamedTensors& params, int micro_step);

// The parameters' gradients of micro-batches first, first + 1, ... (sinks[0],
// sinks[1], ..., each filled by one backward pass under its LeafGradients
// scope), added into the parameters' grads in that order: micro-batch 0's
// becomes the parameter's own, each later one is added to the sum so far
// (zeros where no micro-batch reached the parameter). The parameters are
// shared out between `threads` threads; each one's additions stay in order.
void add_micro_batch_gradients(const nn::NamedTensors& params, int first, std::vector<LeafGradients>& sinks,
                               int threads = 1);

// sum = sum + g, element by element: one micro-batch's gradient added to the sum of those before it.
void add_gradient(Array& sum, const Array& g);

// Each parameter's gradient summed over the ranks, in rank order, on every rank.
void all_reduce_gradients(const nn::NamedTensors& params);

// The gradients as one buffer and back: what the reduction sends.
std::vector<float> flatten_gradients(const nn::NamedTensors& params);
void unflatten_gradients(const std::vector<float>& flat, const nn::NamedTensors& params);

}  // namespace xgrad::dist
