// nn.Sequential for a mixed list of layers (the feed-forward's Linear, ReLU,
// Linear, Dropout): each layer is called in turn, and its parameters are keyed
// by position, "0.weight", "2.bias", as PyTorch does.
#pragma once

#include "nn/layers.hpp"

#include <variant>

namespace xgrad::nn {

using AnyLayer = std::variant<Linear, ReLU, Dropout, LayerNorm>;

struct Sequential : Module {
    std::vector<AnyLayer> layers;

    Sequential(std::initializer_list<AnyLayer> list) : layers(list) {}

    Tensor operator()(Tensor x) const {
        for (const AnyLayer& layer : layers) {
            x = std::visit([&](const auto& l) { return l(x); }, layer);
        }
        return x;
    }

    // nn.Sequential names its layers by position: 0, 1, 2, ...
    void children(Visitor& visit) const override {
        for (std::size_t i = 0; i < layers.size(); ++i) visit(std::to_string(i), layers[i]);
    }
};

}  // namespace xgrad::nn
