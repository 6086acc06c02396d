// docs/engine.md, "How the gradient checks work": gradcheck() on softmax, a
// backward that is wrong by 1e-4, and a wrong backward that only the weighted
// sum catches. Built against the double engine (xgrad_engine64: XGRAD_DOUBLE,
// namespace xgrad64), like the test suite's checks. Returns non-zero if the
// checker stops behaving as the page says.
#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "tests/random_tensors.hpp"

#include <cmath>
#include <cstdio>

using namespace xgrad;

static_assert(sizeof(Scalar) == 8, "build this example against the double engine: -DXGRAD_DOUBLE -Dxgrad=xgrad64");

namespace {

int failures = 0;

void report(const GradcheckResult& r, bool expect_pass) {
    const bool ok = r.passed == expect_pass;
    std::printf("%s  %-34s max relative error %.2e -> %s (expected %s)\n", ok ? "ok  " : "FAIL", r.name.c_str(),
                r.max_rel_error, r.passed ? "pass" : "fail", expect_pass ? "pass" : "fail");
    failures += !ok;
}

// y = 2x, with a backward that is off by `error` relative: 2 * (1 + error).
Tensor twice_off_by(const Tensor& x, Scalar error) {
    Array y = x.data() * Scalar(2);
    return Tensor::from_op(std::move(y), "twice_off_by", {x}, [x, error](const Node& out) {
        x.node()->grad_buffer() += out.grad * Scalar(2) * (Scalar(1) + error);
    });
}

// Softmax over the last dim with a wrong backward that forgets the factor y_i:
//     right: dx_i = y_i * (dy_i - sum_j dy_j y_j)
//     wrong: dx_i =        dy_i - sum_j dy_j y_j
Tensor softmax_forgetting_y(const Tensor& x) {
    Array y;
    {
        NoGradGuard no_grad;
        y = softmax(x, -1).data();
    }
    const std::size_t n = x.shape().back();
    return Tensor::from_op(std::move(y), "softmax_forgetting_y", {x}, [x, n](const Node& out) {
        Scalar* dx = x.node()->grad_buffer().data();
        const Scalar* y = out.data.data();
        const Scalar* dy = out.grad.data();
        for (std::size_t row = 0; row < out.data.size() / n; ++row) {
            Scalar dot = 0;
            for (std::size_t i = 0; i < n; ++i) dot += dy[row * n + i] * y[row * n + i];
            for (std::size_t i = 0; i < n; ++i) dx[row * n + i] += dy[row * n + i] - dot;
        }
    });
}

// The same comparison as gradcheck(), but on L = sum(f()) (every weight 1), and
// absolute: the largest |analytic - numeric| over x.
double plain_sum_difference(const std::function<Tensor()>& f, Tensor x) {
    x.requires_grad_(true);
    x.zero_grad();
    Tensor out = f();
    out.backward(xt::ones<Scalar>(out.shape()));
    const Array analytic = x.grad();
    NoGradGuard no_grad;
    const double eps = 1e-6;
    double max_diff = 0;
    for (std::size_t i = 0; i < x.numel(); ++i) {
        Scalar& xi = x.data().data()[i];
        const Scalar original = xi;
        xi = original + eps;
        const double plus = xt::sum(f().data())();
        xi = original - eps;
        const double minus = xt::sum(f().data())();
        xi = original;
        const double numeric = (plus - minus) / (2 * eps);
        max_diff = std::max(max_diff, std::abs(analytic.data()[i] - numeric));
    }
    return max_diff;
}

}  // namespace

int main() {
    // 1. A right backward: the error is rounding noise, far below the tolerance.
    Tensor x = test::randn({2, 3, 5}, 1);
    report(gradcheck("softmax", [&] { return softmax(x, -1); }, {{"x", x}}), true);

    // 2. A backward wrong by 1e-4 relative: measured as 1e-4, a hundred times the tolerance.
    Tensor a = test::randn({3, 4}, 2);
    const GradcheckResult off = gradcheck("2x, backward off by 1e-4", [&] { return twice_off_by(a, 1e-4); }, {{"x", a}});
    report(off, false);
    failures += !(std::abs(off.max_rel_error - 1e-4) < 1e-6);

    // 3. Why the weighted sum: sum(softmax(x)) is always 1, so with every weight
    //    1 the true gradient is zero, the wrong backward gives zero too, and
    //    the two agree to rounding: the plain sum cannot see the bug.
    const double plain = plain_sum_difference([&] { return softmax_forgetting_y(x); }, x);
    std::printf("%s  %-34s max |analytic - numeric| %.2e -> the bug is invisible\n", plain < 1e-8 ? "ok  " : "FAIL",
                "forgetting y_i, L = sum(y)", plain);
    failures += !(plain < 1e-8);
    report(gradcheck("forgetting y_i, L = sum(y * W)", [&] { return softmax_forgetting_y(x); }, {{"x", x}}), false);

    std::printf("%s\n", failures ? "gradcheck_tour: FAILED" : "gradcheck_tour: all checks passed");
    return failures ? 1 : 0;
}
