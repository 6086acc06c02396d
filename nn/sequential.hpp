// nn.Sequential for a mixed list of layers (the feed-forward's Linear, ReLU,
// Linear, Dropout): each layer is called in turn, and its parameters are keyed
// by position, "0.weight", "2.bias", as PyTorch does.
#pragma once

#include "nn/layers.hpp"

#include <variant>

namespace xgrad::nn {

using AnyLayer = std::variant<Linear, ReLU, Dropout, LayerNorm>;

struct Sequential {
    std::vector<AnyLayer> layers;

    Sequential(std::initializer_list<AnyLayer> list) : layers(list) {}

    Tensor operator()(Tensor x) const {
        for (const AnyLayer& layer : layers) {
            x = std::visit([&](const auto& l) { return l(x); }, layer);
        }
        return x;
    }

    void train(bool mode = true) {
        for (AnyLayer& layer : layers) {
            if (auto* d = std::get_if<Dropout>(&layer)) d->train(mode);
        }
    }

    NamedTensors named_parameters() const {
        NamedTensors out;
        for (std::size_t i = 0; i < layers.size(); ++i) {
            append(out, std::to_string(i), std::visit([](const auto& l) { return l.named_parameters(); }, layers[i]));
        }
        return out;
    }
};

}  // namespace xgrad::nn
