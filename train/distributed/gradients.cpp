// Gradient accumulation and the all-reduce, in a fixed order (gradients.hpp).
#include "train/distributed/gradients.hpp"

#include "train/distributed/distributed.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdlib>

namespace xgrad::dist {

void backward_adding(Tensor& loss, const nn::NamedTensors& params, int micro_step) {
    std::vector<LeafGradients> sink(1);
    {
        const LeafGradients::Scope into(sink[0]);
        loss.backward();
    }
    add_micro_batch_gradients(params, micro_step, sink);
}

void add_gradient(Array& sum, const Array& g) {
    Scalar* s = sum.data();
    const Scalar* add = g.data();
    const std::size_t n = sum.size();
    for (std::size_t j = 0; j < n; ++j) s[j] = s[j] + add[j];
}

void add_micro_batch_gradients(const nn::NamedTensors& params, int first, std::vector<LeafGradients>& sinks,
                               int threads) {
    // Each thread sums its run of the parameters (the cut AdamW's step uses too)
    const std::vector<std::size_t> first_of = nn::split_by_size(params, threads);
#pragma omp parallel num_threads(threads) if (threads > 1)
    nn::for_this_threads_runs(first_of, [&](std::size_t i) {
        Tensor p = params[i].second;
        Node& node = *p.node();
        for (std::size_t s = 0; s < sinks.size(); ++s) {
            Array* g = sinks[s].find(p);
            if (first + static_cast<int>(s) == 0) {  // micro-batch 0: its gradient, or none
                if (g == nullptr) continue;
                if (node.has_grad) {
                    add_gradient(node.grad, *g);
                } else {
                    node.grad = std::move(*g);  // computed from zero, as a plain backward() would
                    node.has_grad = true;
                }
                continue;
            }
            Array& sum = node.grad_buffer();  // zeros if nothing was added yet
            if (g != nullptr) add_gradient(sum, *g);
        }
    });
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
