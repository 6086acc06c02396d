// One thread's matrix products at the lecture's size, as a thread of
// `--threads 2` runs them (32 of the batch's 64 rows: M = 32 x 256 = 8192):
// GFLOP/s of blas::gemm for each product shape of a training step, the median
// of `reps` calls, on one OpenMP thread.
//   build/bench_gemm_shapes [reps]
// Prints one line per shape: name, M N K, GFLOP/s and the share of a layer's
// Linear FLOPs that shape carries; then the attention's batched products.
#include "autograd/blas.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

struct Shape {
    const char* name;
    bool trans_a, trans_b;
    std::size_t M, N, K;
    float beta;
    int per_layer;  // how many a layer's step runs
};

// The median of `reps` calls of product(), after one that warms up.
template <class F>
double median_seconds(int reps, F product) {
    std::vector<double> seconds;
    for (int r = 0; r <= reps; ++r) {
        const auto start = std::chrono::steady_clock::now();
        product();
        if (r > 0) seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(seconds.begin(), seconds.end());
    return seconds[seconds.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    const int reps = argc > 1 ? std::atoi(argv[1]) : 7;
    omp_set_num_threads(1);
    const std::size_t rows = 8192, C = 384, hs = 64, F = 4 * C;
    const Shape shapes[] = {
        {"forward q/k/v of a head   x @ W^T", false, true, rows, hs, C, 0.0f, 18},
        {"forward proj              x @ W^T", false, true, rows, C, C, 0.0f, 1},
        {"forward ff up             x @ W^T", false, true, rows, F, C, 0.0f, 1},
        {"forward ff down           x @ W^T", false, true, rows, C, F, 0.0f, 1},
        {"dx of q/k/v of a head  += dy @ W", false, false, rows, C, hs, 1.0f, 18},
        {"dx of proj             += dy @ W", false, false, rows, C, C, 1.0f, 1},
        {"dx of ff up            += dy @ W", false, false, rows, C, F, 1.0f, 1},
        {"dx of ff down          += dy @ W", false, false, rows, F, C, 1.0f, 1},
        {"dW of q/k/v of a head  += dy^T @ x", true, false, hs, C, rows, 1.0f, 18},
        {"dW of proj             += dy^T @ x", true, false, C, C, rows, 1.0f, 1},
        {"dW of ff up            += dy^T @ x", true, false, F, C, rows, 1.0f, 1},
        {"dW of ff down          += dy^T @ x", true, false, C, F, rows, 1.0f, 1},
    };
    double total_flop = 0, total_seconds = 0;
    for (const Shape& s : shapes) total_flop += 2.0 * s.M * s.N * s.K * s.per_layer;
    for (const Shape& s : shapes) {
        std::vector<float> a(s.M * s.K, 0.01f), b(s.K * s.N, 0.02f), c(s.M * s.N, 0.0f);
        const double t = median_seconds(reps, [&] {
            xgrad::blas::gemm(s.trans_a, s.trans_b, s.M, s.N, s.K, 1.0f, a.data(), b.data(), s.beta, c.data());
        });
        const double flop = 2.0 * s.M * s.N * s.K;
        total_seconds += t * s.per_layer;
        std::printf("%-36s %5zu %5zu %5zu  %6.1f GFLOP/s  %4.1f%% of the products\n", s.name, s.M, s.N, s.K,
                    flop / t / 1e9, 100 * flop * s.per_layer / total_flop);
    }
    std::printf("a layer's products: %.1f GFLOP in %.1f ms, %.1f GFLOP/s\n", total_flop / 1e9, total_seconds * 1e3,
                total_flop / total_seconds / 1e9);

    // The attention's products, one per batch row and head: 32 x 6 of them a layer.
    const std::size_t T = 256, batch = 32 * 6;
    const Shape attention[] = {
        {"wei = q @ k^T (k transposed first)", false, false, T, T, hs, 0.0f, 1},
        {"out = wei @ v", false, false, T, hs, T, 0.0f, 1},
        {"dwei = dout @ v^T", false, true, T, T, hs, 0.0f, 1},
        {"dv += wei^T @ dout", true, false, T, hs, T, 1.0f, 1},
        {"dq += dwei @ k", false, false, T, hs, T, 1.0f, 1},
        {"dk^T += q^T @ dwei", true, false, hs, T, T, 1.0f, 1},
    };
    for (const Shape& s : attention) {
        std::vector<float> a(batch * s.M * s.K, 0.01f), b(batch * s.K * s.N, 0.02f), c(batch * s.M * s.N, 0.0f);
        const double t = median_seconds(reps, [&] {
            xgrad::blas::gemm_batched(s.trans_a, s.trans_b, batch, s.M, s.N, s.K, a.data(), b.data(), s.beta, c.data());
        });
        const double flop = 2.0 * batch * s.M * s.N * s.K;
        std::printf("%-36s %zu x (%zu %zu %zu)  %6.1f GFLOP/s\n", s.name, batch, s.M, s.N, s.K, flop / t / 1e9);
    }
}
