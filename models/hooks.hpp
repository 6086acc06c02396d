// Seeing inside the model, and changing it, without copying its code: the
// two places a tool can hook into, each a no-op (one pointer test) unless a
// hook object is alive on this thread, as PyTorch's forward hooks.
//
// AttentionCapture: each Head hands it its attention weights.
//
//     AttentionCapture capture;
//     model(idx);                      // in eval mode: no dropout
//     capture.weights[l * n_head + h]  // softmax(wei) of block l's head h: (B, T, T)
//
// HeadGates: MultiHeadAttention multiplies each head's output by a gate
// before the concatenation (Michel et al., 2019, "Are Sixteen Heads Really
// Better than One?"): a gate of 0 switches the head off (ablation), and the
// gradient of the loss with respect to a gate of 1 says how much the model
// leans on that head (its importance).
//
//     HeadGates gates(n_layer * n_head);  // every gate 1, requiring grad
//     gates.gate[l * n_head + h].data()(0) = 0;
//     model(idx, targets).loss.backward();
//
// Heads are counted in the order they run: block by block, head by head, so
// one forward of the whole model is one pass over the list. Hooks nest (the
// innermost one sees the heads) and are per thread, so threads serving
// different requests do not mix. Used by xgrad attention, xgrad heads and the
// tests.
#pragma once

#include "autograd/error.hpp"
#include "autograd/ops.hpp"

#include <vector>

namespace xgrad {

namespace detail {
// The hook of type H alive on this thread, if any, and a way to install one.
template <class H>
struct ActiveHook {
    static H*& current() {
        thread_local H* active = nullptr;
        return active;
    }
};
}  // namespace detail

class AttentionCapture {
public:
    AttentionCapture() : previous_(Active::current()) { Active::current() = this; }
    ~AttentionCapture() { Active::current() = previous_; }
    AttentionCapture(const AttentionCapture&) = delete;
    AttentionCapture& operator=(const AttentionCapture&) = delete;

    std::vector<Tensor> weights;  // in the order the heads ran: block by block, head by head

    // Called by Head's forward with its weights after the softmax.
    static void record(const Tensor& wei) {
        if (AttentionCapture* c = Active::current()) c->weights.push_back(wei);
    }

private:
    using Active = detail::ActiveHook<AttentionCapture>;
    AttentionCapture* previous_;
};

class HeadGates {
public:
    // One gate per head of the model (n_layer * n_head), each 1 and requiring grad.
    explicit HeadGates(std::size_t heads) : previous_(Active::current()) {
        for (std::size_t i = 0; i < heads; ++i) gate.emplace_back(Array{Scalar(1)}, /*requires_grad=*/true);
        Active::current() = this;
    }
    ~HeadGates() { Active::current() = previous_; }
    HeadGates(const HeadGates&) = delete;
    HeadGates& operator=(const HeadGates&) = delete;

    std::vector<Tensor> gate;  // shape (1) each: a head's output is multiplied by it

    // Called by MultiHeadAttention with each head's output (B, T, hs): out * gate.
    static Tensor apply(const Tensor& out) {
        HeadGates* g = Active::current();
        if (!g) return out;
        if (g->next_ >= g->gate.size()) {
            throw Error("HeadGates: the model ran more heads than the " + std::to_string(g->gate.size()) + " gates given");
        }
        return out * g->gate[g->next_++];
    }
    void restart() { next_ = 0; }  // before another forward of the same model

private:
    using Active = detail::ActiveHook<HeadGates>;
    HeadGates* previous_;
    std::size_t next_ = 0;
};

}  // namespace xgrad
