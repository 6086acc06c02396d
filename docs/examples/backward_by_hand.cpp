// docs/engine.md, "Deriving a backward": the softmax and layer_norm backward
// passes of autograd/ops_nn.cpp against their full Jacobians, built entry by
// entry from the derivatives the page works out. The engine uses the short
// formula at the end of each derivation; this program uses the first line
// (the Jacobian), so it checks the algebra in between. Returns non-zero on a
// mismatch.
#include "autograd/ops.hpp"
#include "tests/random_tensors.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

using namespace xgrad;

namespace {

// max |a - b| / max |b| over two arrays of the same size
double rel_error(const Array& a, const std::vector<double>& b) {
    double diff = 0, ref = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
        diff = std::max(diff, std::abs(static_cast<double>(a.data()[i]) - b[i]));
        ref = std::max(ref, std::abs(b[i]));
    }
    return diff / std::max(ref, 1e-30);
}

}  // namespace

int main() {
    const double tolerance = sizeof(Scalar) == 8 ? 1e-12 : 1e-5;
    int failures = 0;

    // --- softmax over the last dim of (B,T,C) = (2,3,5) ------------------------------
    {
        const std::size_t C = 5, rows = 2 * 3;
        Tensor x = test::randn({2, 3, C}, 1).requires_grad_();
        const Array dy = test::randn({2, 3, C}, 2).data();  // d loss / d y, any values
        Tensor y = softmax(x, -1);
        y.backward(dy);

        // dx_k = sum_i dy_i * J_ik,  J_ik = d y_i / d x_k = y_i * (delta_ik - y_k)
        std::vector<double> dx(rows * C, 0.0);
        for (std::size_t r = 0; r < rows; ++r) {
            const Scalar* yr = y.data().data() + r * C;
            for (std::size_t k = 0; k < C; ++k) {
                for (std::size_t i = 0; i < C; ++i) {
                    const double J_ik = double(yr[i]) * ((i == k ? 1.0 : 0.0) - double(yr[k]));
                    dx[r * C + k] += double(dy.data()[r * C + i]) * J_ik;
                }
            }
        }
        const double err = rel_error(x.grad(), dx);
        std::printf("softmax:    engine vs Jacobian, max relative error %.2e\n", err);
        failures += !(err < tolerance);
    }

    // --- layer_norm over the last dim of (B,T,C) = (2,3,8) ---------------------------
    {
        const std::size_t C = 8, rows = 2 * 3;
        const double eps = 1e-5;
        Tensor x = test::randn({2, 3, C}, 3).requires_grad_();
        Tensor w = test::uniform({C}, 0.5, 1.5, 4).requires_grad_();
        Tensor b = test::randn({C}, 5).requires_grad_();
        const Array dy = test::randn({2, 3, C}, 6).data();
        Tensor y = layer_norm(x, w, b, Scalar(eps));
        y.backward(dy);

        // n_j = (x_j - mean) * r,  r = 1 / sqrt(var + eps),  y_j = n_j * w_j + b_j
        // d n_j / d x_k = r * (delta_jk - 1/C - n_j * n_k / C)
        std::vector<double> dx(rows * C, 0.0), dw(C, 0.0), db(C, 0.0);
        for (std::size_t row = 0; row < rows; ++row) {
            const Scalar* xr = x.data().data() + row * C;
            double mean = 0, var = 0;
            for (std::size_t j = 0; j < C; ++j) mean += xr[j];
            mean /= C;
            for (std::size_t j = 0; j < C; ++j) var += (xr[j] - mean) * (xr[j] - mean);
            var /= C;
            const double r = 1 / std::sqrt(var + eps);
            std::vector<double> n(C);
            for (std::size_t j = 0; j < C; ++j) n[j] = (xr[j] - mean) * r;
            for (std::size_t j = 0; j < C; ++j) {
                const double dyj = dy.data()[row * C + j];
                dw[j] += dyj * n[j];  // d y_j / d w_j = n_j
                db[j] += dyj;         // d y_j / d b_j = 1
                for (std::size_t k = 0; k < C; ++k) {
                    const double dn_dx = r * ((j == k ? 1.0 : 0.0) - 1.0 / C - n[j] * n[k] / C);
                    dx[row * C + k] += dyj * double(w.data()(j)) * dn_dx;  // d y_j / d x_k = w_j * d n_j / d x_k
                }
            }
        }
        const double ex = rel_error(x.grad(), dx), ew = rel_error(w.grad(), dw), eb = rel_error(b.grad(), db);
        std::printf("layer_norm: engine vs Jacobian, max relative error dx %.2e, dw %.2e, db %.2e\n", ex, ew, eb);
        failures += !(ex < tolerance && ew < tolerance && eb < tolerance);
    }

    std::printf("%s\n", failures ? "backward_by_hand: FAILED" : "backward_by_hand: all checks passed");
    return failures ? 1 : 0;
}
