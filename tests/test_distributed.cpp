// Data parallelism without MPI: the batch's split between ranks and
// micro-batches, and --grad-accum's gradients against one batch's. The runs
// on several ranks are in tests/cli/distributed.sh.
#include "autograd/error.hpp"
#include "autograd/random.hpp"
#include "train/distributed/gradients.hpp"
#include "train/distributed/side_by_side.hpp"
#include "train/distributed/slicing.hpp"
#include "train/formats/checkpoint.hpp"
#include "train/text/data.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

using namespace xgrad;

TEST_CASE("the batch's split: every row once, over N ranks x K micro-batches, for N = 1..4") {
    for (int ranks = 1; ranks <= 4; ++ranks) {
        for (int micro_steps = 1; micro_steps <= 3; ++micro_steps) {
            const std::size_t batch = static_cast<std::size_t>(ranks * micro_steps) * 3;
            std::vector<int> seen(batch, 0);
            for (int r = 0; r < ranks; ++r) {
                for (int m = 0; m < micro_steps; ++m) {
                    const BatchRows rows = dist::micro_batch_rows(batch, r, ranks, m, micro_steps);
                    CHECK(rows.count == 3);
                    REQUIRE(rows.first + rows.count <= batch);
                    // rank r's micro-batch m is micro-batch r*K + m of the whole batch: 3 rows each, in order
                    CHECK(rows.first == static_cast<std::size_t>(r * micro_steps + m) * 3);
                    for (std::size_t i = rows.first; i < rows.first + rows.count; ++i) ++seen[i];
                    // micro-batch r*K + m is the same rows as the one process's micro-batch of that number
                    const BatchRows alone = dist::micro_batch_rows(batch, 0, 1, r * micro_steps + m, ranks * micro_steps);
                    CHECK(alone.first == rows.first);
                }
            }
            INFO("ranks " << ranks << ", micro-steps " << micro_steps);
            CHECK(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));  // the union, disjoint
        }
    }
    Index batch = Index::from_shape({4, 3});
    for (std::size_t i = 0; i < batch.size(); ++i) batch.data()[i] = static_cast<std::int64_t>(i);
    const Index rows = dist::take_rows(batch, {2, 2});
    CHECK(rows.shape()[0] == 2);
    CHECK(rows(0, 0) == 6);
    CHECK(rows(1, 2) == 11);
}

namespace {

// The gradients of one training step on `batch`, in micro_steps
// micro-batches as the training loop takes them (train/loop/train.cpp);
// keyed: dropout drawn from each row's place in the whole batch.
std::vector<float> step_gradients(LanguageModel& model, const std::pair<Index, Index>& batch, int micro_steps,
                                  bool keyed = true) {
    const nn::NamedTensors params = model.named_parameters();
    nn::zero_grad(params);
    manual_seed(7);
    const Generator dropout_seeds = default_generator();
    const std::size_t rows = batch.first.shape()[0];
    for (int m = 0; m < micro_steps; ++m) {
        const BatchRows part = dist::micro_batch_rows(rows, 0, 1, m, micro_steps);
        default_generator() = dropout_seeds;
        const BatchRowsScope dropout_rows(keyed ? part : BatchRows{});
        Tensor loss = model(dist::take_rows(batch.first, part), dist::take_rows(batch.second, part)).loss;
        loss = loss / static_cast<Scalar>(micro_steps);
        dist::backward_adding(loss, params, m);
    }
    return dist::flatten_gradients(params);
}

// The same step with `side_by_side` micro-batches at once, one per thread, as
// the training loop runs them on --threads (train/distributed/side_by_side.hpp).
std::vector<float> side_by_side_gradients(LanguageModel& model, const std::pair<Index, Index>& batch, int micro_steps,
                                          int side_by_side) {
    const nn::NamedTensors params = model.named_parameters();
    nn::zero_grad(params);
    manual_seed(7);
    const Generator dropout_seeds = default_generator();
    const std::size_t rows = batch.first.shape()[0];
    for (int first = 0; first < micro_steps; first += side_by_side) {
        dist::backward_side_by_side(params, first, side_by_side, [&](int m) {
            const BatchRows part = dist::micro_batch_rows(rows, 0, 1, m, micro_steps);
            Generator mine = dropout_seeds;
            const GeneratorScope use(mine);
            const BatchRowsScope dropout_rows(part);
            Tensor loss = model(dist::take_rows(batch.first, part), dist::take_rows(batch.second, part)).loss;
            return loss / static_cast<Scalar>(micro_steps);
        });
    }
    return dist::flatten_gradients(params);
}

// A small GPT with dropout 0.2, in train mode, and a batch of 12 rows of 16 tokens.
std::pair<std::unique_ptr<LanguageModel>, std::pair<Index, Index>> model_and_batch() {
    const TextData data = prepare_data(read_corpus(""), 16);
    GPTConfig config{data.tokenizer.vocab_size(), 16, 32, 4, 2, 0.2};
    manual_seed(1337);
    auto model = make_model("gpt", config);
    model->train();
    manual_seed(3);
    auto batch = get_batch(data.train_data, 12, 16, default_generator());
    return {std::move(model), std::move(batch)};
}

double max_difference(const std::vector<float>& a, const std::vector<float>& b) {
    double worst = 0;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
    return worst;
}

}  // namespace

TEST_CASE("--grad-accum K: the gradients of one batch to 1e-6, dropout included") {
    auto [model, batch] = model_and_batch();
    const std::vector<float> whole = step_gradients(*model, batch, 1);
    double largest = 0;
    for (const float g : whole) largest = std::max(largest, double(std::abs(g)));
    CHECK(largest > 1e-2);  // gradients that mean something
    for (const int k : {2, 3, 4, 6}) {
        INFO("--grad-accum " << k);
        CHECK(max_difference(step_gradients(*model, batch, k), whole) <= 1e-6);
    }
    // without the rows' keys each micro-batch would draw other dropout masks
    CHECK(max_difference(step_gradients(*model, batch, 2, /*keyed=*/false), whole) > 1e-4);
}

TEST_CASE("micro-batches side by side on threads: the same gradient bits as one thread taking them in turn") {
    auto [model, batch] = model_and_batch();
    double largest = 0;
    for (const float g : step_gradients(*model, batch, 1)) largest = std::max(largest, double(std::abs(g)));
    CHECK(largest > 1e-2);  // gradients that mean something
    // (micro-batches, side by side): 2 at once; 3 at once (more threads than
    // this machine may have cores); 4 as two rounds of 2, adding to the sum so far
    for (const auto& [micro_steps, side_by_side] : {std::pair{2, 2}, std::pair{3, 3}, std::pair{4, 2}, std::pair{6, 3}}) {
        INFO(micro_steps << " micro-batches, " << side_by_side << " side by side");
        const std::vector<float> in_turn = step_gradients(*model, batch, micro_steps);
        CHECK(max_difference(side_by_side_gradients(*model, batch, micro_steps, side_by_side), in_turn) == 0);
    }
}

TEST_CASE("side by side: a parameter no micro-batch reaches gets backward_adding's zeros; a worker's error comes back") {
    Tensor w(Array{1, 2}, /*requires_grad=*/true), unused(Array{5}, /*requires_grad=*/true);
    const nn::NamedTensors params = {{"w", w}, {"unused", unused}};
    const auto loss_of = [&](int m) { return sum(w * w * Tensor(Array{Scalar(m + 1), Scalar(m + 1)})); };
    for (const int side_by_side : {1, 2}) {
        INFO(side_by_side << " side by side");
        nn::zero_grad(params);
        dist::backward_side_by_side(params, 0, side_by_side, loss_of);
        if (side_by_side == 1) dist::backward_side_by_side(params, 1, 1, loss_of);
        CHECK(w.grad() == Array{6, 12});  // 2w x 1 + 2w x 2
        CHECK(unused.has_grad());         // as backward_adding leaves it for micro-batch 1: zeros
        CHECK(unused.grad() == Array{0});
    }
    // micro-batch 1 fails on its thread: the error reaches the caller, nothing was added, the scopes are closed
    nn::zero_grad(params);
    const auto failing = [&](int m) {
        const BatchRowsScope rows({std::size_t(m), 1});
        if (m == 1) throw Error("micro-batch 1 failed");
        return loss_of(m);
    };
    CHECK_THROWS_WITH_AS(dist::backward_side_by_side(params, 0, 2, failing), "micro-batch 1 failed", Error);
    CHECK_FALSE(w.has_grad());
    CHECK(LeafGradients::active() == nullptr);
    CHECK(current_batch_rows().count == 0);
    // and the next step runs as if nothing had happened
    dist::backward_side_by_side(params, 0, 2, loss_of);
    CHECK(w.grad() == Array{6, 12});
}

TEST_CASE("side_by_side_count: every thread when the micro-batch splits, else one") {
    CHECK(dist::side_by_side_count(2, 16) == 2);
    CHECK(dist::side_by_side_count(2, 5) == 1);
    CHECK(dist::side_by_side_count(3, 12) == 3);
    CHECK(dist::side_by_side_count(1, 16) == 1);
    CHECK(dist::side_by_side_count(4, 2) == 1);
}
