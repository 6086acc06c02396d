// estimate_loss() of the lecture's gpt.py (estimate_loss.hpp).
#include "train/loop/estimate_loss.hpp"

#include "autograd/profiler.hpp"
#include "train/distributed/distributed.hpp"

#include <vector>

namespace xgrad {

Losses estimate_loss(LanguageModel& model, const TextData& data, const TrainOptions& o, Generator& gen) {
    NoGradGuard no_grad;
    const bool profiling = profiler::enabled();
    profiler::enable(false);  // the profile is of training steps
    model.eval();
    Losses out;
    for (auto [split, result] : {std::pair{&data.train_data, &out.train}, std::pair{&data.val_data, &out.val}}) {
        // Shared between ranks: batch k is evaluated by rank k % ranks, but
        // every rank draws every batch, so their generators stay the same.
        const auto n = static_cast<std::size_t>(o.eval_iters), ranks = static_cast<std::size_t>(dist::size());
        std::vector<double> mine(n, 0.0);
        for (std::size_t k = 0; k < n; ++k) {
            auto [X, Y] = get_batch(*split, o.batch_size, model.config.block_size, gen);
            if (k % ranks == static_cast<std::size_t>(dist::rank())) mine[k] = model(X, Y).loss.item();
        }
        const std::vector<double> all = dist::all_gather(mine);  // rank r's n values at r * n
        double total = 0;
        for (std::size_t k = 0; k < n; ++k) total += all[(k % ranks) * n + k];  // in batch order, as one process adds
        *result = total / static_cast<double>(o.eval_iters);
    }
    model.train();
    profiler::enable(profiling);
    return out;
}

}  // namespace xgrad
