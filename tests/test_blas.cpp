// The float products run in libxsmm's kernels, cut into tiles and K chunks
// (autograd/blas.cpp). Every way of cutting is checked here against a plain
// triple loop in double: edge tiles, the last short chunk, narrow tiles for
// few rows, both transposes, beta 0 (C's old values, NaN here, never read)
// and 1, one thread, two, and inside a parallel loop (one product per thread).
#include "autograd/blas.hpp"

#include <doctest/doctest.h>

#include <omp.h>

#include <cmath>
#include <limits>
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
            double sum = beta == 0 ? 0.0 : beta * C0[i * c.N + j], mag = std::fabs(sum);
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

std::vector<float> normal_floats(std::size_t n, std::mt19937& gen) {
    std::normal_distribution<float> normal;
    std::vector<float> v(n);
    for (float& x : v) x = normal(gen);
    return v;
}

}  // namespace

TEST_CASE("blas::gemm: every tiling against a plain loop, one thread and two") {
    const Case cases[] = {
        {3, 5, 7},        // one small tile
        {512, 16, 64},    // a head's key at the tiny config
        {700, 600, 530},  // edge tiles down and across, a short last K chunk
        {40, 384, 2100},  // few rows: narrow tiles; many K chunks (a weight's gradient)
        {64, 96, 2048},   // K a multiple of the chunk: every chunk full
        {600, 1, 300},    // one column
    };
    std::mt19937 gen(3);
    const int threads = omp_get_max_threads();
    for (const Case& c : cases) {
        const std::vector<float> A = normal_floats(c.M * c.K, gen), B = normal_floats(c.K * c.N, gen),
                                 C0 = normal_floats(c.M * c.N, gen);
        for (int ta = 0; ta < 2; ++ta) {
            for (int tb = 0; tb < 2; ++tb) {
                for (float beta : {0.0f, 1.0f}) {
                    const std::string name = std::to_string(c.M) + "x" + std::to_string(c.N) + "x" +
                                             std::to_string(c.K) + (ta ? " Aᵀ" : "") + (tb ? " Bᵀ" : "") +
                                             " beta " + std::to_string(int(beta));
                    CAPTURE(name);
                    std::vector<double> want, bound;
                    reference(ta, tb, c, A, B, beta, C0, want, bound);
                    const std::vector<float> start =
                        beta == 0 ? std::vector<float>(C0.size(), std::numeric_limits<float>::quiet_NaN()) : C0;
                    std::vector<float> one = start, two = start, inside_0 = start, inside_1 = start;
                    const std::size_t before = xgrad::blas::libxsmm_products();
                    auto product = [&](std::vector<float>& C) {
                        xgrad::blas::gemm(ta, tb, c.M, c.N, c.K, 1.0f, A.data(), B.data(), beta, C.data());
                    };
                    omp_set_num_threads(1);
                    product(one);
                    omp_set_num_threads(2);
                    product(two);
#pragma omp parallel num_threads(2)
                    product(omp_get_thread_num() == 0 ? inside_0 : inside_1);
                    omp_set_num_threads(threads);
                    CHECK(xgrad::blas::libxsmm_products() - before == 4);  // none fell back on OpenBLAS
                    std::size_t wrong = 0, differ = 0;
                    for (std::size_t i = 0; i < want.size(); ++i) {
                        wrong += !(std::fabs(one[i] - want[i]) <= bound[i]);
                        differ += one[i] != two[i] || one[i] != inside_0[i] || one[i] != inside_1[i];
                    }
                    CHECK(wrong == 0);
                    // The same bits on one thread, two, or inside a parallel loop:
                    // libxsmm sums each element's K in one order whatever the
                    // tile's shape, on this machine's kernels. Checked, not assumed.
                    CHECK(differ == 0);
                }
            }
        }
    }
}

TEST_CASE("blas::gemm: alpha other than 1 (OpenBLAS's path) and an empty K") {
    const std::size_t before = xgrad::blas::libxsmm_products();
    const std::vector<float> A = {1, 2, 3, 4}, B = {5, 6, 7, 8};  // (2,2) each
    std::vector<float> C = {1, 1, 1, 1};
    xgrad::blas::gemm(false, false, 2, 2, 2, 0.5f, A.data(), B.data(), 1.0f, C.data());
    CHECK(C == std::vector<float>{10.5f, 12.0f, 22.5f, 26.0f});
    std::vector<float> D = {7, 7, 7, 7};
    xgrad::blas::gemm(false, false, 2, 2, 0, 1.0f, A.data(), B.data(), 0.0f, D.data());
    CHECK(D == std::vector<float>{0, 0, 0, 0});
    CHECK(xgrad::blas::libxsmm_products() == before);
}

TEST_CASE("blas::gemm_batched: each product as gemm computes it, one kernel for the batch") {
    // Attention's shapes at the tiny config: 64 products of (32,16) @ (16,32),
    // and the backward's transposed ones; then M, N and K all different, so
    // that a stride or a transposition that mixes them up cannot pass.
    struct Shape3 {
        std::size_t batch, M, N, K;
    };
    for (const auto [batch, M, N, K] : {Shape3{64, 32, 32, 16}, Shape3{6, 20, 36, 12}}) {
        CAPTURE(M);
        CAPTURE(N);
        std::mt19937 gen(5);
        const std::vector<float> A = normal_floats(batch * M * K, gen), B = normal_floats(batch * K * N, gen),
                                 C0 = normal_floats(batch * M * N, gen);
        for (int ta = 0; ta < 2; ++ta) {
            for (int tb = 0; tb < 2; ++tb) {
                for (float beta : {0.0f, 1.0f}) {
                    CAPTURE(ta);
                    CAPTURE(tb);
                    CAPTURE(beta);
                    std::vector<float> batched = C0, each = C0;
                    const std::size_t before = xgrad::blas::libxsmm_products();
                    xgrad::blas::gemm_batched(ta, tb, batch, M, N, K, A.data(), B.data(), beta, batched.data());
                    CHECK(xgrad::blas::libxsmm_products() - before == batch);
                    for (std::size_t i = 0; i < batch; ++i) {
                        xgrad::blas::gemm(ta, tb, M, N, K, 1.0f, A.data() + i * M * K, B.data() + i * K * N, beta,
                                          each.data() + i * M * N);
                    }
                    std::size_t differ = 0;
                    for (std::size_t i = 0; i < each.size(); ++i) differ += batched[i] != each[i];
                    CHECK(differ == 0);
                }
            }
        }
    }
}
