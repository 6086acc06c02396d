// Kept apart from every xtensor header on purpose: OpenBLAS's <cblas.h> and
// xtensor-blas's declarations conflict when both are included in one file.
#include "autograd/blas.hpp"

#include <cblas.h>

namespace xgrad::blas {

namespace {
// Leading dimensions of row-major matrices: the length of a stored row.
// A is stored (M,K), or (K,M) when transposed; B is (K,N), or (N,K).
blasint lda(bool trans_a, std::size_t M, std::size_t K) { return static_cast<blasint>(trans_a ? M : K); }
blasint ldb(bool trans_b, std::size_t N, std::size_t K) { return static_cast<blasint>(trans_b ? K : N); }
}  // namespace

void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, float alpha, const float* A,
          const float* B, float beta, float* C) {
    if (M == 0 || N == 0) return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                static_cast<blasint>(M), static_cast<blasint>(N), static_cast<blasint>(K), alpha, A, lda(trans_a, M, K),
                B, ldb(trans_b, N, K), beta, C, static_cast<blasint>(N));
}

void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, double alpha, const double* A,
          const double* B, double beta, double* C) {
    if (M == 0 || N == 0) return;
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                static_cast<blasint>(M), static_cast<blasint>(N), static_cast<blasint>(K), alpha, A, lda(trans_a, M, K),
                B, ldb(trans_b, N, K), beta, C, static_cast<blasint>(N));
}

void set_num_threads(int n) { openblas_set_num_threads(n); }
const char* core_name() { return openblas_get_corename(); }

}  // namespace xgrad::blas
