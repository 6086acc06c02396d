// Gradient accumulation and the all-reduce, in a fixed order (gradients.hpp).
#include "train/distributed/gradients.hpp"

#include "train/distributed/distributed.hpp"

#include <algorithm>
#include <cstdlib>

namespace xgrad::dist {

void backward_adding(Tensor& loss, const nn::NamedTensors& params, int micro_step) {
    if (micro_step == 0) {  // the first micro-batch: nothing to add to (zero_grad ran before)
        loss.backward();
        return;
    }
    std::vector<Array> before;
    for (auto [name, p] : params) {
        before.push_back(std::move(p.grad()));
        p.zero_grad();
    }
    loss.backward();
    for (std::size_t i = 0; i < params.size(); ++i) {
        Tensor p = params[i].second;
        add_gradient(before[i], p.grad());  // the sum so far plus this micro-batch's
        p.grad() = std::move(before[i]);
    }
}

void add_gradient(Array& sum, const Array& g) {
    Scalar* s = sum.data();
    const Scalar* add = g.data();
    const std::size_t n = sum.size();
    for (std::size_t j = 0; j < n; ++j) s[j] = s[j] + add[j];
}

std::vector<float> flatten_gradients(const nn::NamedTensors& params) {
    std::vector<float> flat;
    flat.reserve(nn::count_parameters(params));
    for (auto [name, p] : params) flat.insert(flat.end(), p.grad().begin(), p.grad().end());
    return flat;
}

void unflatten_gradients(const std::vector<float>& flat, const nn::NamedTensors& params) {
    std::size_t offset = 0;
    for (auto [name, p] : params) {
        std::copy_n(flat.data() + offset, p.numel(), p.grad().data());
        offset += p.numel();
    }
}

void all_reduce_gradients(const nn::NamedTensors& params) {
    if (size() == 1) return;
    // Benchmark-only (bench/distributed.py): XGRAD_BENCH_PLAIN_ALLREDUCE=1 sums with
    // MPI_Allreduce instead, to measure what the fixed order costs; it breaks the equivalence.
    static const bool plain = std::getenv("XGRAD_BENCH_PLAIN_ALLREDUCE") != nullptr;
    std::vector<float> flat = flatten_gradients(params);
    if (plain) {
        sum_any_order(flat.data(), flat.size());
    } else {
        sum_in_rank_order(flat.data(), flat.size());
    }
    unflatten_gradients(flat, params);
}

}  // namespace xgrad::dist
