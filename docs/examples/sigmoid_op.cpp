// docs/adding-an-op.md: a new op, sigmoid, added in the page's steps. The op
// lives here rather than in autograd/, and the tests' helpers have small
// stand-ins below, so that every line the page shows is exactly the line you
// would paste into the real file. Build it against the double engine
// (xgrad_engine64), as the test suite's gradient checks are; in float it
// also runs, with the looser float tolerances of GradcheckOptions.
// Returns non-zero if the forward values or the gradient check are wrong.
#include "autograd/gradcheck.hpp"
#include "autograd/op_helpers.hpp"
#include "autograd/ops.hpp"
#include "tests/random_tensors.hpp"

#include <xtensor/xmath.hpp>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace xgrad {

using detail::accumulate_grad;
using detail::GradOnly;

// Step 1: declare it in autograd/ops.hpp, beside tanh and relu.
Tensor sigmoid(const Tensor& a);

// Step 2: forward and backward in autograd/ops_elementwise.cpp, after relu.
Tensor sigmoid(const Tensor& a) {
    Array y = Scalar(1) / (Scalar(1) + xt::exp(-a.data()));
    // y = 1 / (1 + e^-a):  dy/da = y * (1 - y)
    return Tensor::from_op(std::move(y), "sigmoid", {a}, [a = GradOnly(a)](const Node& out) {
        accumulate_grad(a, out.grad * out.data * (Scalar(1) - out.data));
    });
}

}  // namespace xgrad

using namespace xgrad;

namespace {

int failures = 0;

// --- stand-ins for tests/test_ops_forward.cpp's helpers (doctest there) ------------
const double tol = 1e-6;
Tensor T(Array a) { return Tensor(std::move(a)); }
void check_close(const char* name, const Array& actual, const Array& expected, double tolerance) {
    bool ok = actual.shape() == expected.shape();
    for (std::size_t i = 0; ok && i < actual.size(); ++i) ok = std::abs(actual.data()[i] - expected.data()[i]) <= tolerance;
    std::printf("%s  forward %s\n", ok ? "ok  " : "FAIL", name);
    failures += !ok;
}
#define XGRAD_CHECK_CLOSE(name, actual, expected, tolerance) check_close(name, actual, expected, tolerance)

void forward_test() {
    // Step 3: a forward test in tests/test_ops_forward.cpp ("forward: unary
    // functions"), with numbers worked out by hand: sigmoid(0) = 1/2, and
    // sigmoid(ln 3) = 1 / (1 + 1/3) = 3/4, sigmoid(-ln 3) = 1 / (1 + 3) = 1/4.
    XGRAD_CHECK_CLOSE("sigmoid", sigmoid(T({0, 1.0986123, -1.0986123})).data(), Array({0.5, 0.75, 0.25}), tol);
}

// --- a stand-in for tests/gradcheck_suite.cpp's list of checks ---------------------
struct Check {
    std::string name;
    std::function<GradcheckResult()> run;
};
std::vector<Check> checks() {
    std::vector<Check> all;
    auto op = [&](const std::string& name, std::function<GradcheckResult()> f) { all.push_back({name, f}); };

    // Step 4: its gradient check in tests/gradcheck_suite.cpp, under "unary functions".
    op("sigmoid", [] {
        Tensor x = test::uniform({3, 4}, -4, 4, 15);
        return gradcheck("sigmoid", [&] { return sigmoid(x); }, {{"x", x}});
    });
    return all;
}

}  // namespace

int main() {
    forward_test();

    // The backward at the same points, by hand: dy/da = y * (1 - y) = 1/4, 3/16, 3/16.
    Tensor x = T({0, 1.0986123, -1.0986123}).requires_grad_();
    sum(sigmoid(x)).backward();
    check_close("sigmoid'(x) = y (1 - y)", x.grad(), Array({0.25, 0.1875, 0.1875}), tol);

    for (const Check& c : checks()) {
        const GradcheckResult r = c.run();
        std::printf("%s  gradcheck %s [%s]: max relative error %.2e (tolerance %.0e)\n", r.passed ? "ok  " : "FAIL",
                    c.name.c_str(), r.shapes.c_str(), r.max_rel_error, GradcheckOptions().tolerance);
        failures += !r.passed;
    }
    std::printf("%s\n", failures ? "sigmoid_op: FAILED" : "sigmoid_op: all checks passed");
    return failures ? 1 : 0;
}
