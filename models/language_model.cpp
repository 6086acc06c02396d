#include "models/language_model.hpp"

#include "autograd/error.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace xgrad {

nn::NamedTensors LanguageModel::state_dict() const {
    nn::NamedTensors out = named_parameters();
    for (auto& entry : named_buffers()) out.push_back(entry);
    return out;
}

namespace {
// A uniform double in [0, 1) from 53 random bits (the same on every platform,
// unlike std::uniform_real_distribution).
double uniform01(Generator& gen) {
    const std::uint64_t a = gen() >> 5, b = gen() >> 6;  // 27 and 26 bits
    return static_cast<double>(a * 67108864 + b) / 9007199254740992.0;
}
}  // namespace

std::int64_t sample_token(const Scalar* logits, std::size_t V, const SamplingOptions& options, Generator& gen) {
    if (!(options.temperature > 0)) throw Error("sample: temperature must be > 0");
    if (!(options.top_p > 0 && options.top_p <= 1)) {
        throw Error("sample: top_p must be in (0, 1], got " + std::to_string(options.top_p));
    }
    if (options.greedy) {  // the first of the largest logits, as torch.argmax
        return static_cast<std::int64_t>(std::max_element(logits, logits + V) - logits);
    }
    std::vector<double> z(logits, logits + V);
    for (double& v : z) v /= options.temperature;
    if (options.top_k > 0 && options.top_k < V) {
        // keep the k largest logits: everything below the k-th goes to -inf
        std::vector<double> sorted = z;
        std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(options.top_k - 1), sorted.end(),
                         std::greater<>());
        const double kth = sorted[options.top_k - 1];
        for (double& v : z) {
            if (v < kth) v = -INFINITY;
        }
    }
    // probs = softmax(z) (unnormalised: exp(z - max), summed in `total`)
    const double m = *std::max_element(z.begin(), z.end());
    double total = 0;
    for (double& v : z) total += (v = std::exp(v - m));
    if (options.top_p < 1) {
        // top-p: the most likely tokens, in order (ties by index), until their
        // probability reaches top_p; the rest get none
        std::vector<std::size_t> order(V);
        std::iota(order.begin(), order.end(), std::size_t(0));
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return z[a] > z[b]; });
        double kept = 0;
        std::size_t n = 0;
        while (n < V && kept < options.top_p * total) kept += z[order[n++]];
        for (std::size_t i = n; i < V; ++i) z[order[i]] = 0;
        total = kept;
    }
    // idx_next = multinomial(probs, 1)
    double u = uniform01(gen) * total;
    for (std::size_t i = 0; i < V; ++i) {
        if (u < z[i]) return static_cast<std::int64_t>(i);
        u -= z[i];
    }
    // rounding left u past the end: the last token with any mass
    for (std::size_t i = V; i-- > 0;) {
        if (z[i] > 0) return static_cast<std::int64_t>(i);
    }
    return 0;
}

void check_context(const Index& idx) {
    if (idx.dimension() != 2 || idx.shape()[1] == 0) {
        throw Error("generate: idx must be (B, T) with T >= 1 (start from token 0 for an empty prompt)");
    }
}

Index crop_context(const Index& idx, std::size_t block_size) {
    const std::size_t B = idx.shape()[0], T = idx.shape()[1], start = T > block_size ? T - block_size : 0;
    Index out = Index::from_shape({B, T - start});
    for (std::size_t b = 0; b < B; ++b) std::copy_n(&idx(b, start), T - start, &out(b, 0));
    return out;
}

Index append_sampled(const Index& idx, const Array& last_logits, const SamplingOptions& options, Generator& gen) {
    const std::size_t B = idx.shape()[0], T = idx.shape()[1], V = last_logits.shape()[1];
    Index next = Index::from_shape({B, T + 1});
    for (std::size_t b = 0; b < B; ++b) {
        std::copy_n(&idx(b, 0), T, &next(b, 0));
        next(b, T) = sample_token(last_logits.data() + b * V, V, options, gen);
    }
    return next;
}

Index LanguageModel::generate(Index idx, std::size_t max_new_tokens, const SamplingOptions& options,
                              Generator& gen) const {
    check_context(idx);
    NoGradGuard no_grad;
    const std::size_t B = idx.shape()[0], V = config.vocab_size;
    // idx is (B, T) array of indices in the current context
    for (std::size_t step = 0; step < max_new_tokens; ++step) {
        // crop idx to the last block_size tokens
        const Index idx_cond = crop_context(idx, config.block_size);
        // get the predictions
        const Tensor logits = (*this)(idx_cond).logits;  // (B, T, C)
        // focus only on the last time step: (B, C)
        const std::size_t T = idx_cond.shape()[1];
        Array last = Array::from_shape({B, V});
        for (std::size_t b = 0; b < B; ++b) std::copy_n(logits.data().data() + (b * T + T - 1) * V, V, &last(b, 0));
        // sample from the distribution and append sampled index to the running sequence: (B, T+1)
        idx = append_sampled(idx, last, options, gen);
    }
    return idx;
}

}  // namespace xgrad
