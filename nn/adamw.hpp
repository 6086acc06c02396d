// AdamW with PyTorch's defaults and PyTorch's exact order of operations
// (torch.optim.AdamW, single-tensor path), so weights match it step for step:
//     p  = p * (1 - lr * weight_decay)
//     m  = beta1 * m + (1 - beta1) * g
//     v  = beta2 * v + (1 - beta2) * g^2
//     p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
#pragma once

#include "nn/module.hpp"

namespace xgrad::nn {

struct AdamWOptions {
    double lr = 1e-3;
    double beta1 = 0.9, beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.01;  // on every parameter, as AdamW(model.parameters()) does
};

class AdamW {
public:
    AdamW(NamedTensors params, AdamWOptions options = {});

    void step();       // one update from the parameters' current gradients
    void zero_grad();  // drops every gradient (PyTorch's set_to_none=True)

    AdamWOptions options;
    // The optimizer's state, saved beside a checkpoint so training can resume.
    long long step_count = 0;
    NamedTensors params;
    std::vector<Array> exp_avg, exp_avg_sq;  // m and v, one per parameter
};

}  // namespace xgrad::nn
