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
    // The sum so far plus micro-batch first, then first + 1, ...: backward_adding's
    // additions in its order. Each parameter's sum is on one thread.
    const auto n_params = static_cast<std::ptrdiff_t>(params.size());
#pragma omp parallel for schedule(dynamic) num_threads(count)
    for (std::ptrdiff_t i = 0; i < n_params; ++i) {
        Tensor p = params[static_cast<std::size_t>(i)].second;
        Node& node = *p.node();
        for (std::size_t s = 0; s < sinks.size(); ++s) {
            Array* g = sinks[s].find(p);
            if (g == nullptr) continue;  // no backward reached p: it adds nothing
            if (first == 0 && s == 0 && !node.has_grad) {
                node.grad = std::move(*g);  // the first micro-batch's, computed from zero as backward() does
                node.has_grad = true;
                continue;
            }
            Scalar* sum = node.grad_buffer().data();
            const Scalar* add = g->data();
            const std::size_t n = p.numel();
            for (std::size_t j = 0; j < n; ++j) sum[j] = sum[j] + add[j];
        }
    }
}

}  // namespace xgrad::dist
