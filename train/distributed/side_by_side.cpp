// Micro-batches side by side (side_by_side.hpp).
#include "train/distributed/side_by_side.hpp"

#include "train/distributed/gradients.hpp"

#include <omp.h>

#include <exception>
#include <vector>

namespace xgrad::dist {

int side_by_side_count(int threads, std::size_t micro_batch_rows) {
    if (threads <= 1 || micro_batch_rows % static_cast<std::size_t>(threads) != 0) return 1;
    return threads;
}

void backward_side_by_side(const nn::NamedTensors& params, int first, int count,
                           const std::function<Tensor(int m)>& forward_loss) {
    if (count == 1) {
        Tensor loss = forward_loss(first);
        backward_adding(loss, params, first);
        return;
    }
    // Each thread's leaf gradients go into its own sink (autograd/tensor.hpp);
    // inside the parallel region every op's own OpenMP loop runs on its one thread.
    std::vector<LeafGradients> sinks(static_cast<std::size_t>(count));
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(count));
#pragma omp parallel for schedule(static, 1) num_threads(count)
    for (int s = 0; s < count; ++s) {
        try {
            const LeafGradients::Scope into(sinks[static_cast<std::size_t>(s)]);
            Tensor loss = forward_loss(first + s);
            loss.backward();
        } catch (...) {
            errors[static_cast<std::size_t>(s)] = std::current_exception();
        }
    }
    for (const std::exception_ptr& e : errors) {
        if (e) std::rethrow_exception(e);
    }
    // The sum so far plus micro-batch first, then first + 1, ...: what
    // backward_adding does for each in turn (micro-batch 0's gradient is its
    // backward's own; each later one is added to the sum, which is zeros for
    // a parameter no micro-batch reached). Each parameter's sum is on one thread.
    const auto n_params = static_cast<std::ptrdiff_t>(params.size());
#pragma omp parallel for schedule(dynamic) num_threads(count)
    for (std::ptrdiff_t i = 0; i < n_params; ++i) {
        Tensor p = params[static_cast<std::size_t>(i)].second;
        Node& node = *p.node();
        for (std::size_t s = 0; s < sinks.size(); ++s) {
            Array* g = sinks[s].find(p);
            if (first + static_cast<int>(s) == 0) {  // backward() alone: its gradient, or none
                if (g == nullptr) continue;
                if (node.has_grad) {
                    add_gradient(node.grad, *g);
                } else {
                    node.grad = std::move(*g);
                    node.has_grad = true;
                }
                continue;
            }
            Array& sum = node.grad_buffer();  // zeros if nothing was added yet, as backward_adding's p.grad()
            if (g != nullptr) add_gradient(sum, *g);
        }
    }
}

}  // namespace xgrad::dist
