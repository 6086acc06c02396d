// The float products run in libxsmm's kernels, cut into tiles and K chunks
// (autograd/blas.cpp). Every way of cutting is checked here against a plain
// triple loop in double: edge tiles, the last short chunk, narrow tiles for
// few rows, both transposes, beta 0 and 1, one thread and two.
#include "autograd/blas.hpp"

#include <doctest/doctest.h>

#include <omp.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace {

struct Case {
    std::size_t M, N, K;
};

// C (M,N) = op(A) @ op(B) + beta * C0, in double, with the bound of a float
// sum's rounding for each element: sum over k of |a||b|, times K float epsilons.
void reference(bool ta, bool tb, const Case& c, const std::vector<float>& A, const std::vector<float>& B, float beta,
               const std::vector<float>& C0, std::vector<double>& C, std::vector<double>& bound) {
    C.assign(c.M * c.N, 0.0);
    bound.assign(c.M * c.N, 0.0);
    for (std::size_t i = 0; i < c.M; ++i) {
        for (std::size_t j = 0; j < c.N; ++j) {
            double sum = beta * C0[i * c.N + j], mag = std::fabs(sum);
            for (std::size_t k = 0; k < c.K; ++k) {
                const double a = ta ? A[k * c.M + i] : A[i * c.K + k];
                const double b = tb ? B[j * c.K + k] : B[k * c.N + j];
                sum += a * b;
                mag += std::fabs(a * b);
            }
            C[i * c.N + j] = sum;
            bound[i * c.N + j] = mag * 1.2e-7 * static_cast<double>(c.K + 1) + 1e-30;
        }
    }
}

}  // namespace

TEST_CASE("blas::gemm: every tiling against a plain loop, one thread and two") {
    const Case cases[] = {
        {3, 5, 7},        // one small tile
        {512, 16, 64},    // a head's key at the tiny config
        {700, 600, 530},  // edge tiles down and across, a short last K chunk
        {40, 384, 2100},  // few rows: narrow tiles; many K chunks (a weight's gradient)
        {600, 1, 300},    // one column
    };
    std::mt19937 gen(3);
    std::normal_distribution<float> normal;
    const int threads = omp_get_max_threads();
    for (const Case& c : cases) {
        std::vector<float> A(c.M * c.K), B(c.K * c.N), C0(c.M * c.N);
        for (float& v : A) v = normal(gen);
        for (float& v : B) v = normal(gen);
        for (float& v : C0) v = normal(gen);
        for (int ta = 0; ta < 2; ++ta) {
            for (int tb = 0; tb < 2; ++tb) {
                for (float beta : {0.0f, 1.0f}) {
                    const std::string name = std::to_string(c.M) + "x" + std::to_string(c.N) + "x" +
                                             std::to_string(c.K) + (ta ? " Aᵀ" : "") + (tb ? " Bᵀ" : "") +
                                             " beta " + std::to_string(int(beta));
                    CAPTURE(name);
                    std::vector<double> want, bound;
                    reference(ta, tb, c, A, B, beta, C0, want, bound);
                    std::vector<float> one = C0, two = C0;
                    omp_set_num_threads(1);
                    xgrad::blas::gemm(ta, tb, c.M, c.N, c.K, 1.0f, A.data(), B.data(), beta, one.data());
                    omp_set_num_threads(2);
                    xgrad::blas::gemm(ta, tb, c.M, c.N, c.K, 1.0f, A.data(), B.data(), beta, two.data());
                    omp_set_num_threads(threads);
                    std::size_t wrong = 0, differ = 0;
                    for (std::size_t i = 0; i < want.size(); ++i) {
                        wrong += !(std::fabs(one[i] - want[i]) <= bound[i]);
                        differ += one[i] != two[i];
                    }
                    CHECK(wrong == 0);
                    CHECK(differ == 0);  // the same bits whatever the thread count
                }
            }
        }
    }
}

TEST_CASE("blas::gemm: alpha other than 1 (OpenBLAS's path) and an empty K") {
    const std::vector<float> A = {1, 2, 3, 4}, B = {5, 6, 7, 8};  // (2,2) each
    std::vector<float> C = {1, 1, 1, 1};
    xgrad::blas::gemm(false, false, 2, 2, 2, 0.5f, A.data(), B.data(), 1.0f, C.data());
    CHECK(C == std::vector<float>{10.5f, 12.0f, 22.5f, 26.0f});
    std::vector<float> D = {7, 7, 7, 7};
    xgrad::blas::gemm(false, false, 2, 2, 0, 1.0f, A.data(), B.data(), 0.0f, D.data());
    CHECK(D == std::vector<float>{0, 0, 0, 0});
}
