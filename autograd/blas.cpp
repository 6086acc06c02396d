// Kept apart from every xtensor header on purpose: OpenBLAS's <cblas.h> and
// xtensor-blas's declarations conflict when both are included in one file.
#include "autograd/blas.hpp"

#include <cblas.h>
#include <libxsmm.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <vector>

namespace xgrad::blas {

namespace {
// Leading dimensions of row-major matrices: the length of a stored row.
// A is stored (M,K), or (K,M) when transposed; B is (K,N), or (N,K).
blasint lda(bool trans_a, std::size_t M, std::size_t K) { return static_cast<blasint>(trans_a ? M : K); }
blasint ldb(bool trans_b, std::size_t N, std::size_t K) { return static_cast<blasint>(trans_b ? K : N); }

// ---------------------------------------------------------------------------
// The float products run in libxsmm's kernels: machine code written at run
// time for one (M, N, K) and the widest vector instructions this CPU has
// (AVX-512 on this project's machine, whatever OPENBLAS_CORETYPE says), with
// no packing and no call overhead to speak of. Measured against OpenBLAS's
// Haswell kernel on one core: (512x64)@(64x16) 4.4 us against 10.8,
// (4096x384)@(384x1536) 21 ms against 41 (docs/performance.md).
//
// libxsmm is column-major, and a row-major matrix is its transpose seen
// column-major, so row-major  C = op(A) @ op(B)  is column-major
// Cᵀ = op(B)ᵀ @ op(A)ᵀ: the operands swap places. Its kernels take
// alpha = 1 only, beta 0 or 1, and can transpose their second operand
// (our A) but not their first (our B): a transposed B is copied first.

// How many float products libxsmm has run (the tests check it is used).
std::atomic<std::size_t> xsmm_products{0};

// B stored (N,K), copied to (K,N) by libxsmm's transposition (seen
// column-major: a (K,N) matrix into an (N,K) one). It runs several times
// faster than a plain tiled loop, which took a third of the time of a
// sampling run without the cache at the lecture's size (perf).
void transpose_into(const float* B, std::size_t N, std::size_t K, std::vector<float>& out) {
    out.resize(N * K);
    libxsmm_otrans(out.data(), B, sizeof(float), static_cast<libxsmm_blasint>(K), static_cast<libxsmm_blasint>(N),
                   static_cast<libxsmm_blasint>(K), static_cast<libxsmm_blasint>(N));
}

// C is cut into tiles of up to (256 rows, 512 columns), shared out between
// the threads; a tile's K runs in chunks of 256 when K is long, so the slices
// of A and B it reads stay in the cache. The tile sizes were measured on this
// machine (2 threads): 400-480 GFLOP/s on the lecture's products, against
// 220-240 with OpenBLAS's Haswell kernel. A weight's gradient, (out, in)
// summed over 16,384 rows, ran at 120 GFLOP/s without the K chunks.
constexpr std::size_t kTileRows = 256, kTileCols = 512, kChunk = 256;

std::size_t ceil_div(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

// Whether libxsmm can take the product at all: K > 0, beta 0 or 1, and every
// size and stored matrix within its int range.
bool libxsmm_takes(std::size_t M, std::size_t N, std::size_t K, float beta) {
    return K > 0 && (beta == 0.0f || beta == 1.0f) && M <= INT_MAX && N <= INT_MAX && K <= INT_MAX &&
           M * K <= INT_MAX && N * K <= INT_MAX && M * N <= INT_MAX;
}

// The kernel for one piece of the product C (M,N) = op(A) @ B, B as (K,N):
// `rows` x `cols` of C over `depth` of K, with the leading dimensions of the
// whole matrices; column-major, so B comes first. nullptr if libxsmm has none.
libxsmm_smmfunction kernel_for(bool trans_a, std::size_t M, std::size_t N, std::size_t K, std::size_t rows,
                               std::size_t cols, std::size_t depth, float beta) {
    const libxsmm_blasint ld_b = static_cast<libxsmm_blasint>(N);                // B, column-major (N,K)
    const libxsmm_blasint ld_a = static_cast<libxsmm_blasint>(trans_a ? M : K);  // A, column-major (K,M) or (M,K)
    const libxsmm_blasint ld_c = static_cast<libxsmm_blasint>(N);
    const int flags = (trans_a ? LIBXSMM_GEMM_FLAG_TRANS_B : 0) | (beta == 0.0f ? LIBXSMM_GEMM_FLAG_BETA_0 : 0);
    const int no_prefetch = LIBXSMM_GEMM_PREFETCH_NONE;  // the kernels are called without prefetch addresses
    const float one = 1.0f;
    return libxsmm_smmdispatch(static_cast<libxsmm_blasint>(cols), static_cast<libxsmm_blasint>(rows),
                               static_cast<libxsmm_blasint>(depth), &ld_b, &ld_a, &ld_c, &one, &beta, &flags,
                               &no_prefetch);
}

bool xsmm_gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, const float* A,
               const float* B, float beta, float* C) {
    if (!libxsmm_takes(M, N, K, beta)) return false;

    thread_local std::vector<float> b_copy;
    const float* Bn = B;  // B as (K,N)
    if (trans_b) {
        transpose_into(B, N, K, b_copy);
        Bn = b_copy.data();
    }

    // Inside a parallel loop (one attention product per thread) or for a
    // small product: one thread, the tiles in turn.
    const bool parallel = !omp_in_parallel() && M * N * K >= kParallelWork && omp_get_max_threads() > 1;
    const std::size_t threads = parallel ? static_cast<std::size_t>(omp_get_max_threads()) : 1;
    // On one thread, C is cut into bands of kTileCols columns: one kernel over
    // a wide C is slow (measured, one thread: (256 x 384) @ (384 x 1536) at
    // 81 GFLOP/s whole, 133-149 in bands). Its rows stay whole: cutting them
    // changes the last bits of some products (lm_head's 65 columns at tiny,
    // checked), and with them the tiny preset's loss on one thread.
    std::size_t tile_rows = parallel ? kTileRows : M, tile_cols = kTileCols;
    // Few rows (a weight's gradient): narrower tiles, so every thread has some.
    while (parallel && ceil_div(M, tile_rows) * ceil_div(N, tile_cols) < 2 * threads && tile_cols > 64) tile_cols /= 2;
    tile_rows = std::min(tile_rows, M);
    tile_cols = std::min(tile_cols, N);
    const std::size_t chunk = K <= 2 * kChunk ? K : kChunk;
    const std::size_t tiles_down = ceil_div(M, tile_rows), tiles_across = ceil_div(N, tile_cols);

    // Every kernel a tile will need, written (or found) before any thread
    // starts: full or edge tile, rows and columns; full or last chunk; the
    // first chunk with beta, the others adding (beta 1). Only the ones used
    // are looked up: a lookup costs about what a tiny product does.
    const std::size_t chunks = ceil_div(K, chunk);
    const std::size_t rows_of[2] = {tile_rows, M - (tiles_down - 1) * tile_rows};
    const std::size_t cols_of[2] = {tile_cols, N - (tiles_across - 1) * tile_cols};
    const std::size_t chunk_of[2] = {chunk, K - (chunks - 1) * chunk};
    libxsmm_smmfunction kernels[2][2][2][2] = {};  // [edge row][edge col][last chunk][adding]
    for (int r = tiles_down == 1; r < 2; ++r) {
        for (int c = tiles_across == 1; c < 2; ++c) {
            for (std::size_t k : {std::size_t(0), std::size_t(1), chunks - 1}) {  // first, second, last chunk
                if (k >= chunks) continue;
                const int last = k + 1 == chunks, add = k > 0;
                if (kernels[r][c][last][add] != nullptr) continue;
                kernels[r][c][last][add] =
                    kernel_for(trans_a, M, N, K, rows_of[r], cols_of[c], chunk_of[last], add ? 1.0f : beta);
                if (kernels[r][c][last][add] == nullptr) return false;
            }
        }
    }

    auto run_tile = [&](std::size_t t) {
        const std::size_t i = t / tiles_across, j = t % tiles_across;
        const std::size_t r0 = i * tile_rows, c0 = j * tile_cols;
        for (std::size_t k0 = 0; k0 < K; k0 += chunk) {
            // Rows r0.. and columns k0.. of op(A): A + r0*K + k0, or in the
            // stored (K,M), row k0 and column r0.
            const float* a = trans_a ? A + k0 * M + r0 : A + r0 * K + k0;
            kernels[i + 1 == tiles_down][j + 1 == tiles_across][k0 + chunk >= K][k0 > 0](Bn + k0 * N + c0, a,
                                                                                          C + r0 * N + c0);
        }
    };
    const std::size_t tiles = tiles_down * tiles_across;
    if (!parallel || tiles == 1) {
        for (std::size_t t = 0; t < tiles; ++t) run_tile(t);
    } else {
#pragma omp parallel for schedule(static) num_threads(static_cast<int>(threads))
        for (std::size_t t = 0; t < tiles; ++t) run_tile(t);
    }
    xsmm_products.fetch_add(1, std::memory_order_relaxed);
    return true;
}

// Runs product(i) for i in [0, batch), one product per thread when there is
// enough work (kParallelWork, as for one product's tiles). A batch too small to
// share out runs outside any OpenMP construct: inside an `omp parallel
// if (false)` region a product no longer sees a parallel region and splits
// itself again; OpenBLAS's did so by starting a second, nested thread pool
// that spun against the first (measured: sampling at the lecture config 3-4x
// slower on 2 threads than on 1).
template <class F>
void for_each_product(std::size_t batch, std::size_t work, F product) {
    if (batch > 1 && batch * work >= kParallelWork && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
        for (std::size_t i = 0; i < batch; ++i) product(i);
    } else {
        for (std::size_t i = 0; i < batch; ++i) product(i);
    }
}
}  // namespace

std::size_t libxsmm_products() { return xsmm_products.load(std::memory_order_relaxed); }

void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, float alpha, const float* A,
          const float* B, float beta, float* C) {
    if (M == 0 || N == 0) return;
    if (alpha == 1.0f && xsmm_gemm(trans_a, trans_b, M, N, K, A, B, beta, C)) return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                static_cast<blasint>(M), static_cast<blasint>(N), static_cast<blasint>(K), alpha, A, lda(trans_a, M, K),
                B, ldb(trans_b, N, K), beta, C, static_cast<blasint>(N));
}

void gemm_batched(bool trans_a, bool trans_b, std::size_t batch, std::size_t M, std::size_t N, std::size_t K,
                  const float* A, const float* B, float beta, float* C) {
    if (batch == 0 || M == 0 || N == 0) return;
    // One kernel for every product, each whole. Without one, each product
    // goes through gemm().
    const libxsmm_smmfunction kernel = libxsmm_takes(M, N, K, beta) ? kernel_for(trans_a, M, N, K, M, N, K, beta)
                                                                    : nullptr;
    for_each_product(batch, M * N * K, [&](std::size_t i) {
        const float* a = A + i * M * K;
        const float* b = B + i * K * N;
        float* c = C + i * M * N;
        if (kernel == nullptr) {
            gemm(trans_a, trans_b, M, N, K, 1.0f, a, b, beta, c);
            return;
        }
        thread_local std::vector<float> b_copy;  // each thread its own
        if (trans_b) {
            transpose_into(b, N, K, b_copy);
            b = b_copy.data();
        }
        kernel(b, a, c);
    });
    if (kernel != nullptr) xsmm_products.fetch_add(batch, std::memory_order_relaxed);
}

void gemm_batched(bool trans_a, bool trans_b, std::size_t batch, std::size_t M, std::size_t N, std::size_t K,
                  const double* A, const double* B, double beta, double* C) {
    for_each_product(batch, M * N * K, [&](std::size_t i) {
        gemm(trans_a, trans_b, M, N, K, 1.0, A + i * M * K, B + i * K * N, beta, C + i * M * N);
    });
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
const char* float_kernel_name() { return libxsmm_get_target_arch(); }

}  // namespace xgrad::blas
