// estimate_loss() of the lecture's gpt.py (estimate_loss.hpp).
#include "train/loop/estimate_loss.hpp"

#include "autograd/profiler.hpp"
#include "train/distributed/distributed.hpp"

#include <omp.h>

#include <exception>
#include <utility>
#include <vector>

namespace xgrad {

namespace {

// The largest batch (batch x block x n_embd) evaluated side by side: small's 32 x 64 x 128 is, the lecture's 8 x 256 x 384 not.
constexpr std::size_t kSideBySideEvaluation = std::size_t(1) << 19;

// mine[k] = the loss of batch k, for each (k, batch) of `round`, one batch per thread.
// On `threads` threads a lone batch (the last round) runs on one of them too,
// so that every batch's loss is one thread's; with threads 1 the ops share
// out the threads OpenMP has.
void evaluate_side_by_side(LanguageModel& model, const std::vector<std::pair<std::size_t, std::pair<Index, Index>>>& round,
                           std::size_t threads, std::vector<double>& mine) {
    const auto count = static_cast<int>(round.size());
    if (count <= 1) {
        struct OneThread {  // until the end of the scope, when on
            int all = omp_get_max_threads();
            explicit OneThread(bool on) { if (on) omp_set_num_threads(1); }
            ~OneThread() { omp_set_num_threads(all); }
        } one_thread(threads > 1);
        for (const auto& [k, batch] : round) mine[k] = model(batch.first, batch.second).loss.item();
        return;
    }
    std::vector<std::exception_ptr> errors(round.size());
#pragma omp parallel for schedule(static, 1) num_threads(count)
    for (int i = 0; i < count; ++i) {
        const auto& [k, batch] = round[static_cast<std::size_t>(i)];
        try {
            const NoGradGuard no_grad;  // grad mode is per thread
            mine[k] = model(batch.first, batch.second).loss.item();
        } catch (...) {
            errors[static_cast<std::size_t>(i)] = std::current_exception();
        }
    }
    for (const std::exception_ptr& e : errors) {
        if (e) std::rethrow_exception(e);
    }
}

}  // namespace

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
        // On T threads (--thread-split batch), T batches at once, each whole on
        // one thread: the same numbers as one thread evaluating them in turn.
        // Only for small batches: at the lecture's width one batch's ops split
        // well between the threads, and two whole batches at once were slower
        // (measured, 2 threads: 2.02 against 1.81 s a batch of 64 x 256 x 384,
        // 5-17% slower at 8 to 32 rows; tiny 1.95x and small 1.19x faster).
        const std::size_t batch_floats = o.batch_size * model.config.block_size * model.config.n_embd;
        const std::size_t threads = o.thread_split == "batch" && batch_floats <= kSideBySideEvaluation
                                        ? static_cast<std::size_t>(omp_get_max_threads())
                                        : 1;
        std::vector<double> mine(n, 0.0);
        std::vector<std::pair<std::size_t, std::pair<Index, Index>>> round;  // (k, batch k)
        for (std::size_t k = 0; k < n; ++k) {
            auto batch = get_batch(*split, o.batch_size, model.config.block_size, gen);
            if (k % ranks == static_cast<std::size_t>(dist::rank())) round.emplace_back(k, std::move(batch));
            if (round.size() < threads && k + 1 < n) continue;  // a round is full, or this was the last batch
            evaluate_side_by_side(model, round, threads, mine);
            round.clear();
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
