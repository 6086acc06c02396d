// The one matrix product the engine needs, on raw row-major buffers:
//     C (M,N) = alpha * op(A) @ op(B) + beta * C
// where op(A) is A (M,K), or A stored as (K,M) and transposed when trans_a.
// beta = 1 accumulates into C, which is how a backward adds into a gradient.
// The float products run in libxsmm's kernels, tiled over the threads
// (blas.cpp says how and what it measured); the double build of the gradient
// checks, and any product libxsmm has no kernel for, in OpenBLAS's gemm.
#pragma once

#include <cstddef>

namespace xgrad::blas {

// Work (multiply-adds) below which a product, or a loop of dot products,
// stays on one thread: waking the second costs about a microsecond, and 250k
// multiply-adds take about two on one core. (Element loops have their own
// threshold, in elements: detail::kParallelElements.)
inline constexpr std::size_t kParallelWork = std::size_t(1) << 18;

void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, float alpha, const float* A,
          const float* B, float beta, float* C);
void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, double alpha, const double* A,
          const double* B, double beta, double* C);

// The same product for `batch` matrices stored one after another: A_i at
// A + i*M*K, B_i at B + i*K*N, C_i at C + i*M*N (attention's products, one
// per batch entry and head). alpha is 1. The products are shared out between
// the threads, each computed whole on one; float ones run one libxsmm kernel,
// looked up once for the whole batch.
void gemm_batched(bool trans_a, bool trans_b, std::size_t batch, std::size_t M, std::size_t N, std::size_t K,
                  const float* A, const float* B, float beta, float* C);
void gemm_batched(bool trans_a, bool trans_b, std::size_t batch, std::size_t M, std::size_t N, std::size_t K,
                  const double* A, const double* B, double beta, double* C);

// OpenBLAS's own thread count (our loops use OpenMP's).
void set_num_threads(int n);
// "Haswell", "SkylakeX", ...: the kernel OpenBLAS chose on this machine.
const char* core_name();
// "hsw", "skx", "cpx", ...: the instruction set libxsmm writes the float
// products' kernels for (LIBXSMM_TARGET can force one).
const char* float_kernel_name();
// How many float products have run in libxsmm's kernels so far (the others
// fell back on OpenBLAS): for the tests.
std::size_t libxsmm_products();

}  // namespace xgrad::blas
