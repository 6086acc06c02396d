// The finite-difference gradient check, shared by the test suite and by
// `xgrad gradcheck`, so what a learner runs is what CI proves.
//
// For a function f of some tensors, it compares the engine's gradient of
//     L = sum(f() * W)        (W: fixed random weights, so no entry is special)
// with the central difference (L(x + eps) - L(x - eps)) / (2 eps), one
// element at a time. In double precision (the xgrad64 build) the difference is
// accurate to about 1e-9, so a backward that is wrong by 1e-4 relative stands
// out by five orders of magnitude.
//
// Gradients accumulate, so the check also proves that every backward adds:
// each input's grad starts as random numbers, and what the backward added to
// them must be the numeric gradient; then f is called twice in one graph (each
// input feeding two consumers, as a residual or a tied weight does) and the
// backward must add it twice. A backward that writes `=` instead of `+=` fails.
#pragma once

#include "autograd/tensor.hpp"

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace xgrad {

struct GradcheckResult {
    std::string name;       // "matmul", "head", ...
    std::string shapes;     // "x (2,3,4), y (4,5)"
    double max_rel_error = 0;  // over all inputs: max |analytic - numeric| / max |numeric|
    std::string worst;      // the input with the largest error
    bool passed = false;
};

struct GradcheckOptions {
    double eps = sizeof(Scalar) == 8 ? 1e-6 : 1e-2;
    double tolerance = sizeof(Scalar) == 8 ? 1e-6 : 2e-2;
    unsigned seed = 42;
};

// `f` rebuilds the output from the tensors in `wrt`, whose data the check
// perturbs in place (the tensors are handles, so f sees the change).
GradcheckResult gradcheck(const std::string& name, const std::function<Tensor()>& f,
                          const std::vector<std::pair<std::string, Tensor>>& wrt,
                          const GradcheckOptions& options = GradcheckOptions());

}  // namespace xgrad
