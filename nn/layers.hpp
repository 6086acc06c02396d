// The building blocks of the blog's model, as in torch.nn: Linear, Embedding,
// LayerNorm, Dropout, ReLU. Weights start as the lecture's _init_weights sets
// them: Linear and Embedding weights normal(0, 0.02), biases zero, LayerNorm
// weight one and bias zero.
#pragma once

#include "autograd/random.hpp"
#include "nn/module.hpp"

namespace xgrad::nn {

struct Linear : Module {
    Tensor weight;  // (out_features, in_features), as PyTorch stores it
    Tensor bias;    // (out_features), or empty with bias = false

    Linear(std::size_t in_features, std::size_t out_features, bool bias = true,
           Generator& gen = default_generator())
        : weight(normal_parameter({out_features, in_features}, 0.02, gen)),
          bias(bias ? constant_parameter({out_features}, 0.0) : Tensor()) {}

    Tensor operator()(const Tensor& x) const { return linear(x, weight, bias); }  // (..., in) -> (..., out)

    void children(Visitor& visit) const override {
        visit("weight", weight);
        visit("bias", bias);  // skipped when empty
    }
};

struct Embedding : Module {
    Tensor weight;  // (num_embeddings, embedding_dim)

    Embedding(std::size_t num_embeddings, std::size_t embedding_dim, Generator& gen = default_generator())
        : weight(normal_parameter({num_embeddings, embedding_dim}, 0.02, gen)) {}

    Tensor operator()(const Index& idx) const { return embedding(weight, idx); }  // (...) -> (..., dim)

    void children(Visitor& visit) const override { visit("weight", weight); }
};

struct LayerNorm : Module {
    Tensor weight;  // (C) ones
    Tensor bias;    // (C) zeros
    Scalar eps = Scalar(1e-5);

    explicit LayerNorm(std::size_t normalized_shape)
        : weight(constant_parameter({normalized_shape}, 1.0)), bias(constant_parameter({normalized_shape}, 0.0)) {}

    Tensor operator()(const Tensor& x) const { return layer_norm(x, weight, bias, eps); }  // (..., C) -> (..., C)

    void children(Visitor& visit) const override {
        visit("weight", weight);
        visit("bias", bias);
    }
};

struct Dropout : Module {
    Scalar p;  // active while `training` (the model's train() / eval() switch it)

    explicit Dropout(double p = 0.5) : p(static_cast<Scalar>(p)) {}

    Tensor operator()(const Tensor& x) const { return dropout(x, p, training, default_generator()); }

    void children(Visitor&) const override {}
};

struct ReLU : Module {
    Tensor operator()(const Tensor& x) const { return relu(x); }
    void children(Visitor&) const override {}
};

}  // namespace xgrad::nn
