// Gradient checks in double precision (this file is compiled against the
// xgrad64 build): first the checker itself, then every op and module of the
// suite (tests/gradcheck_suite.cpp), against central finite differences.
#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "tests/check_helpers.hpp"
#include "tests/gradcheck_suite.hpp"

#include <doctest/doctest.h>

#include <cmath>

using namespace xgrad;

namespace {

// A deliberately wrong op: y = 2x with a backward off by `error` relative.
Tensor wrong_double(const Tensor& x, Scalar error) {
    Array y = x.data() * Scalar(2);
    return Tensor::from_op(std::move(y), "wrong_double", {x}, [x, error](const Node& out) {
        x.node()->grad_buffer() += out.grad * Scalar(2) * (Scalar(1) + error);
    });
}

}  // namespace

TEST_CASE("the checker reports a backward that is wrong by 1e-3, 1e-4 or 1e-5 relative") {
    Tensor x = test::randn({3, 4}, 1);
    for (Scalar error : {Scalar(1e-3), Scalar(1e-4), Scalar(1e-5)}) {
        const GradcheckResult r = gradcheck("wrong", [&] { return wrong_double(x, error); }, {{"x", x}});
        INFO("error " << error << " measured " << r.max_rel_error);
        CHECK_FALSE(r.passed);
        CHECK(r.max_rel_error == doctest::Approx(error).epsilon(0.01));
    }
    const GradcheckResult right = gradcheck("right", [&] { return wrong_double(x, 0); }, {{"x", x}});
    CHECK(right.passed);
    CHECK(right.max_rel_error < 1e-8);
}

TEST_CASE("the checker fails on NaN gradients") {
    Tensor x = test::randn({2, 2}, 2);
    const GradcheckResult r = gradcheck("nan", [&] { return wrong_double(x, std::nan("")); }, {{"x", x}});
    CHECK_FALSE(r.passed);
}

TEST_CASE("every op and every module passes its gradient check") {
    const std::vector<gradcheck_suite::Row> rows = gradcheck_suite::run();
    CHECK(rows.size() >= 50);
    std::size_t modules = 0;
    for (const auto& row : rows) {
        INFO(row.name << " [" << row.shapes << "]: max relative error " << row.max_rel_error << " in " << row.worst);
        CHECK(row.passed);
        CHECK(row.max_rel_error < 1e-6);
        modules += row.group == "module";
    }
    CHECK(modules == 8);
}

namespace {

// y = 2x with a backward that overwrites its input's gradient instead of
// adding to it: right alone, wrong wherever the input has another consumer.
Tensor overwriting_double(const Tensor& x) {
    Array y = x.data() * Scalar(2);
    return Tensor::from_op(std::move(y), "overwriting_double", {x}, [x](const Node& out) {
        x.node()->grad_buffer() = out.grad * Scalar(2);
    });
}

}  // namespace

TEST_CASE("the checker fails on a backward that overwrites the gradient instead of adding to it") {
    Tensor x = test::randn({3, 4}, 3);
    const GradcheckResult r = gradcheck("overwrite", [&] { return overwriting_double(x); }, {{"x", x}});
    INFO("measured " << r.max_rel_error << " in " << r.worst);
    CHECK_FALSE(r.passed);
    CHECK(r.max_rel_error > 0.1);
    // and the inputs' gradients are left as none, as before the check
    CHECK_FALSE(x.has_grad());
}
