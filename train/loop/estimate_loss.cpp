// estimate_loss() of the lecture's gpt.py (estimate_loss.hpp).
#include "train/loop/estimate_loss.hpp"

#include "autograd/profiler.hpp"

namespace xgrad {

Losses estimate_loss(LanguageModel& model, const TextData& data, const TrainOptions& o, Generator& gen) {
    NoGradGuard no_grad;
    const bool profiling = profiler::enabled();
    profiler::enable(false);  // the profile is of training steps
    model.eval();
    Losses out;
    for (auto [split, result] : {std::pair{&data.train_data, &out.train}, std::pair{&data.val_data, &out.val}}) {
        double total = 0;
        for (long long k = 0; k < o.eval_iters; ++k) {
            auto [X, Y] = get_batch(*split, o.batch_size, model.config.block_size, gen);
            total += model(X, Y).loss.item();
        }
        *result = total / static_cast<double>(o.eval_iters);
    }
    model.train();
    profiler::enable(profiling);
    return out;
}

}  // namespace xgrad
