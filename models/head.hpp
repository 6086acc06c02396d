// Head, as in the lecture's gpt.py and the blog's post 38: one head of
// self-attention (where the two differ, a named choice: see GPTConfig).
#pragma once

#include "models/hooks.hpp"
#include "models/config.hpp"
#include "nn/layers.hpp"

#include <cmath>
#include <limits>

namespace xgrad {

// A lower-triangular matrix of ones, torch.tril(torch.ones(n, n)).
inline Tensor tril_ones(std::size_t n) {
    if (nn::ShapesOnly::on()) return Tensor::hollow({n, n});
    Array a = xt::zeros<Scalar>({n, n});
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j <= i; ++j) a(i, j) = 1;
    }
    return Tensor(std::move(a));
}

// `t == 0` for the causal mask: true where tril is zero (the future).
inline Mask equal_zero(const Tensor& t) { return xt::equal(t.data(), Scalar(0)); }

struct Head : nn::Module {
    /* one head of self-attention */
    nn::Linear key;
    nn::Linear query;
    nn::Linear value;
    Tensor tril;  // a buffer, not a parameter: (block_size, block_size)
    nn::Dropout dropout;
    AttentionScale scale;  // head_size ** -0.5 (gpt.py, the default) or C ** -0.5 (the blog's post 38): see GPTConfig

    Head(std::size_t head_size, const GPTConfig& config)
        : key(config.n_embd, head_size, /*bias=*/false),
          query(config.n_embd, head_size, /*bias=*/false),
          value(config.n_embd, head_size, /*bias=*/false),
          tril(tril_ones(config.block_size)),
          dropout(config.head_dropout ? config.dropout : 0.0),  // the blog's Head has none: p = 0
          scale(config.attention_scale == AttentionScale::n_embd ? AttentionScale::n_embd : AttentionScale::head_size) {}

    Tensor operator()(const Tensor& x) const {
        // input of size (batch, time-step, channels)
        // output of size (batch, time-step, head size)
        const std::size_t T = x.size(1);
        Tensor k = key(x);    // (B,T,hs)
        Tensor q = query(x);  // (B,T,hs)
        // compute attention scores ("affinities")
        const std::size_t d = scale == AttentionScale::head_size ? k.size(-1) : x.size(-1);  // hs, or the blog's C
        Tensor wei = matmul(q, k.transpose(-2, -1)) * std::pow(Scalar(d), Scalar(-0.5));  // (B, T, hs) @ (B, hs, T) -> (B, T, T)
        Tensor tril_T = slice(slice(tril, 0, 0, T), 1, 0, T);                     // self.tril[:T, :T]
        wei = wei.masked_fill(equal_zero(tril_T), -std::numeric_limits<Scalar>::infinity());  // (B, T, T)
        wei = softmax(wei, -1);  // (B, T, T)
        AttentionCapture::record(wei);  // for the tools that look inside (models/hooks.hpp)
        wei = dropout(wei);
        // perform the weighted aggregation of the values
        Tensor v = value(x);          // (B,T,hs)
        Tensor out = matmul(wei, v);  // (B, T, T) @ (B, T, hs) -> (B, T, hs)
        return out;
    }

    void children(nn::Visitor& visit) const override {
        visit("key", key);
        visit("query", query);
        visit("value", value);
        visit("tril", nn::buffer(tril));
        visit("dropout", dropout);
    }
};

}  // namespace xgrad
