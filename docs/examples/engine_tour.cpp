// docs/engine.md, "A tour of the engine": a tiny expression, its graph, its
// backward pass, and the gradients worked out by hand. Returns non-zero if any
// of what the page says stops being true.
#include "autograd/ops.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>

using namespace xgrad;

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
    std::printf("%s  %s\n", ok ? "ok  " : "FAIL", what);
    failures += !ok;
}

bool close(const Array& a, const Array& b) {
    if (a.shape() != b.shape()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::abs(a.data()[i] - b.data()[i]) > 1e-6) return false;
    }
    return true;
}

}  // namespace

int main() {
    // --- 1. the forward pass records a graph ----------------------------------
    Tensor a(Array{2, -3}, /*requires_grad=*/true);  // (2)
    Tensor b(Array{4, 5}, /*requires_grad=*/true);   // (2)
    Tensor c = a * b;   // mul: (8, -15)
    Tensor d = c + a;   // add: (10, -18), a is used twice
    Tensor L = sum(d);  // sum: -8, shape ()

    expect(L.item() == -8, "L = sum(a * b + a) = -8");
    expect(std::strcmp(L.op(), "sum") == 0 && std::strcmp(d.op(), "add") == 0 && std::strcmp(c.op(), "mul") == 0,
           "each node knows its op: sum <- add <- mul");
    expect(L.node()->parents.size() == 1 && d.node()->parents.size() == 2 && c.node()->parents.size() == 2,
           "and its parents: sum has 1, add and mul have 2");
    expect(std::strcmp(a.op(), "leaf") == 0 && a.node()->parents.empty(), "a is a leaf: no parents");

    // --- 2. backward() fills the leaves' grads ----------------------------------
    L.backward();
    // dL/da = b + 1 (through mul, then straight through add), dL/db = a
    expect(close(a.grad(), Array{5, 6}), "dL/da = b + 1 = (5, 6)");
    expect(close(b.grad(), Array{2, -3}), "dL/db = a = (2, -3)");

    // --- 3. then releases the graph ---------------------------------------------
    expect(L.node()->parents.empty() && !L.node()->backward_fn, "after backward, L has no parents and no backward_fn");
    expect(d.node()->parents.empty() && c.node()->parents.empty(), "nor do the intermediate nodes");
    expect(c.data()(0) == 8, "the values are still there");

    // --- 4. gradients accumulate until zero_grad() -------------------------------
    sum(a * b + a).backward();                 // a second forward and backward
    expect(close(a.grad(), Array{10, 12}), "a second backward adds: dL/da = (10, 12)");
    a.zero_grad();
    b.zero_grad();
    expect(!a.has_grad() && !b.has_grad(), "zero_grad() drops the gradients");

    // --- 5. NoGradGuard records nothing ------------------------------------------
    {
        NoGradGuard no_grad;
        Tensor e = a * b;
        expect(!e.requires_grad() && e.node()->parents.empty(), "under NoGradGuard, a * b is a plain leaf");
    }
    expect(grad_enabled(), "and recording resumes when the guard goes out of scope");

    std::printf("%s\n", failures ? "engine_tour: FAILED" : "engine_tour: all checks passed");
    return failures ? 1 : 0;
}
