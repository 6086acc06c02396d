// Seeing inside the model: each Head hands its attention weights to the
// AttentionCapture alive on this thread, if any, so a tool that wants them
// runs the model itself instead of a copy of its attention code.
//
//     AttentionCapture capture;
//     model(idx);                      // in eval mode: no dropout
//     capture.weights[l * n_head + h]  // softmax(wei) of block l's head h: (B, T, T)
//
// Used by the attention picture and the tests; costs nothing when no capture
// is alive (one pointer test per head). Captures nest: the innermost one
// receives the weights. One per thread, so threads serving different requests
// do not mix their weights.
#pragma once

#include "autograd/tensor.hpp"

#include <vector>

namespace xgrad {

class AttentionCapture {
public:
    AttentionCapture() : previous_(current()) { current() = this; }
    ~AttentionCapture() { current() = previous_; }
    AttentionCapture(const AttentionCapture&) = delete;
    AttentionCapture& operator=(const AttentionCapture&) = delete;

    std::vector<Tensor> weights;  // in the order the heads ran: block by block, head by head

    // Called by Head's forward with its weights after the softmax.
    static void record(const Tensor& wei) {
        if (AttentionCapture* c = current()) c->weights.push_back(wei);
    }

private:
    static AttentionCapture*& current() {
        thread_local AttentionCapture* active = nullptr;
        return active;
    }
    AttentionCapture* previous_;
};

}  // namespace xgrad
