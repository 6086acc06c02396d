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

void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, float alpha, const float* A,
          const float* B, float beta, float* C);
void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, double alpha, const double* A,
          const double* B, double beta, double* C);

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
