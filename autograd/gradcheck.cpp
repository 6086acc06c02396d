#include "autograd/gradcheck.hpp"

#include "autograd/error.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace xgrad {

namespace {

// L = sum of f's output times W, in double, skipping non-finite entries (the
// -inf of a causal mask is a constant, with no gradient).
double weighted_sum(const Array& out, const std::vector<double>& w) {
    double total = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (std::isfinite(out.data()[i])) total += static_cast<double>(out.data()[i]) * w[i];
    }
    return total;
}

}  // namespace

GradcheckResult gradcheck(const std::string& name, const std::function<Tensor()>& f,
                          const std::vector<std::pair<std::string, Tensor>>& wrt, const GradcheckOptions& options) {
    GradcheckResult result;
    result.name = name;
    for (const auto& [input_name, t] : wrt) {
        result.shapes += (result.shapes.empty() ? "" : ", ") + input_name + " " + shape_str(t.shape());
    }

    // The analytic gradient: one backward pass seeded with W.
    std::vector<Tensor> inputs;
    for (const auto& entry : wrt) {
        Tensor t = entry.second;
        t.requires_grad_(true);
        t.zero_grad();
        inputs.push_back(t);
    }
    Tensor out = f();
    std::mt19937 gen(options.seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<double> w(out.numel());
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::isfinite(out.data().data()[i]) ? normal(gen) : 0.0;
    Array seed = Array::from_shape(out.shape());
    std::copy(w.begin(), w.end(), seed.begin());
    out.backward(seed);

    // The numeric gradient, element by element, compared tensor by tensor.
    NoGradGuard no_grad;
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        Tensor& t = inputs[k];
        const Array analytic = t.grad();
        double max_diff = 0, max_numeric = 0;
        for (std::size_t i = 0; i < t.numel(); ++i) {
            Scalar& x = t.data().data()[i];
            const Scalar original = x;
            x = static_cast<Scalar>(original + options.eps);
            const double plus = weighted_sum(f().data(), w);
            x = static_cast<Scalar>(original - options.eps);
            const double minus = weighted_sum(f().data(), w);
            x = original;
            const double numeric = (plus - minus) / (2 * options.eps);
            const double diff = std::abs(static_cast<double>(analytic.data()[i]) - numeric);
            max_diff = std::isnan(diff) ? INFINITY : std::max(max_diff, diff);  // std::max would drop a NaN
            max_numeric = std::max(max_numeric, std::abs(numeric));
        }
        double rel = max_diff / std::max(max_numeric, 1e-12);
        if (!std::isfinite(rel)) rel = INFINITY;  // a NaN anywhere is a failure, never a pass
        if (rel >= result.max_rel_error) {
            result.max_rel_error = rel;
            result.worst = wrt[k].first;
        }
    }
    result.passed = result.max_rel_error <= options.tolerance;
    return result;
}

}  // namespace xgrad
