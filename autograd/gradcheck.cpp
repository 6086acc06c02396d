#include "autograd/gradcheck.hpp"

#include "autograd/error.hpp"
#include "autograd/ops.hpp"

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

Array normal_array(const Shape& shape, std::mt19937& gen) {
    std::normal_distribution<double> normal(0.0, 1.0);
    Array a = Array::from_shape(shape);
    for (Scalar& x : a) x = static_cast<Scalar>(normal(gen));
    return a;
}

// |analytic - expected| / max |expected| over one input; NaN anywhere is a
// failure (infinite), never a pass.
double relative_error(const Array& analytic, const std::vector<double>& expected) {
    double max_diff = 0, max_expected = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const double diff = std::abs(static_cast<double>(analytic.data()[i]) - expected[i]);
        max_diff = std::isnan(diff) ? INFINITY : std::max(max_diff, diff);  // std::max would drop a NaN
        max_expected = std::max(max_expected, std::abs(expected[i]));
    }
    const double rel = max_diff / std::max(max_expected, 1e-12);
    return std::isfinite(rel) ? rel : INFINITY;
}

}  // namespace

GradcheckResult gradcheck(const std::string& name, const std::function<Tensor()>& f,
                          const std::vector<std::pair<std::string, Tensor>>& wrt, const GradcheckOptions& options) {
    GradcheckResult result;
    result.name = name;
    for (const auto& [input_name, t] : wrt) {
        result.shapes += (result.shapes.empty() ? "" : ", ") + input_name + " " + shape_str(t.shape());
    }
    std::vector<Tensor> inputs;
    for (const auto& entry : wrt) {
        Tensor t = entry.second;
        t.requires_grad_(true);
        inputs.push_back(t);
    }
    std::mt19937 gen(options.seed);

    // W, drawn once from the output's shape; zero where the output is not finite.
    std::vector<double> w;
    {
        NoGradGuard no_grad;
        const Tensor probe = f();
        std::normal_distribution<double> normal(0.0, 1.0);
        for (const Scalar v : probe.data()) w.push_back(std::isfinite(v) ? normal(gen) : 0.0);
    }

    // One analytic pass: every input's grad starts as random numbers (a
    // backward must add to them, never overwrite), `uses` calls of f feed one
    // backward seeded with W, and the result is what the backward added.
    auto analytic_pass = [&](int uses) {
        std::vector<Array> before;
        for (Tensor& t : inputs) {
            t.zero_grad();
            t.grad() = normal_array(t.shape(), gen);
            before.push_back(t.grad());
        }
        Tensor out = f();
        for (int k = 1; k < uses; ++k) out = add(out, f());  // each input now feeds `uses` consumers
        Array seed = Array::from_shape(out.shape());
        std::copy(w.begin(), w.end(), seed.begin());
        out.backward(seed);
        std::vector<Array> added;
        for (std::size_t k = 0; k < inputs.size(); ++k) added.push_back(inputs[k].grad() - before[k]);
        return added;
    };
    const std::vector<Array> once = analytic_pass(1);
    const std::vector<Array> twice = analytic_pass(2);

    // The numeric gradient, element by element, compared tensor by tensor:
    // one call of f must have added it once, two calls twice.
    NoGradGuard no_grad;
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        Tensor& t = inputs[k];
        std::vector<double> numeric(t.numel()), numeric2(t.numel());
        for (std::size_t i = 0; i < t.numel(); ++i) {
            Scalar& x = t.data().data()[i];
            const Scalar original = x;
            x = static_cast<Scalar>(original + options.eps);
            const double plus = weighted_sum(f().data(), w);
            x = static_cast<Scalar>(original - options.eps);
            const double minus = weighted_sum(f().data(), w);
            x = original;
            numeric[i] = (plus - minus) / (2 * options.eps);
            numeric2[i] = 2 * numeric[i];
        }
        for (const auto& [rel, where] : {std::pair{relative_error(once[k], numeric), wrt[k].first},
                                         std::pair{relative_error(twice[k], numeric2), wrt[k].first + " (used twice)"}}) {
            if (rel >= result.max_rel_error) {
                result.max_rel_error = rel;
                result.worst = where;
            }
        }
    }
    for (Tensor& t : inputs) t.zero_grad();
    result.passed = result.max_rel_error <= options.tolerance;
    return result;
}

}  // namespace xgrad
