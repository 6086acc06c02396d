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
    // micro-batch first's gradients, then first + 1's, ...: backward_adding's order (gradients.hpp)
    add_micro_batch_gradients(params, first, sinks, count);
    // Each sink's buffers freed on the thread that allocated them, back into
    // that thread's buffer cache (autograd/buffer_cache.hpp): freed here,
    // thread 1's would fill this thread's cache while thread 1 went to the
    // heap for new ones every step.
#pragma omp parallel for schedule(static, 1) num_threads(count)
    for (int s = 0; s < count; ++s) sinks[static_cast<std::size_t>(s)] = LeafGradients();
}

}  // namespace xgrad::dist
