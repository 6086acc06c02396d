#include "autograd/op_helpers.hpp"

#include <xtensor/xreducer.hpp>
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace xgrad::detail {

// xsimd's vectorised exp, several lanes at a time (exp(-inf) = 0 for the
// masked entries), then the scalar tail. A chunk of lanes that is all -inf
// (half of a causal attention's row, on average) is written as zeros without
// the exp: the same bits, since adding those zeros to the sum changes nothing.
void softmax_row(const Scalar* x, Scalar* y, std::size_t n) {
    using Batch = xsimd::batch<Scalar>;
    constexpr std::size_t W = Batch::size;
    const Batch minus_inf(-std::numeric_limits<Scalar>::infinity());
    // The max, a chunk of lanes at a time (GCC left `omp simd reduction(max)`
    // over std::max as one vmaxss after another: 80% of this function in perf).
    Batch chunk_max = minus_inf;
    std::size_t i = 0;
    for (; i + W <= n; i += W) chunk_max = xsimd::max(chunk_max, Batch::load_unaligned(x + i));
    alignas(64) Scalar lanes[W];
    chunk_max.store_aligned(lanes);
    Scalar m = lanes[0];
    for (std::size_t k = 1; k < W; ++k) m = std::max(m, lanes[k]);  // (xsimd 8 has no reduce_max)
    for (; i < n; ++i) m = std::max(m, x[i]);
    Batch sum(Scalar(0));
    i = 0;
    for (; i + W <= n; i += W) {
        const Batch xi = Batch::load_unaligned(x + i);
        if (xsimd::all(xi == minus_inf)) {  // a chunk wholly masked (a causal row's future): exp would give zeros
            Batch(Scalar(0)).store_unaligned(y + i);
            continue;
        }
        const Batch e = xsimd::exp(xi - Batch(m));
        e.store_unaligned(y + i);
        sum += e;
    }
    Scalar total = xsimd::hadd(sum);
    for (; i < n; ++i) total += (y[i] = std::exp(x[i] - m));
    const Scalar inv = Scalar(1) / total;
#pragma omp simd
    for (std::size_t j = 0; j < n; ++j) y[j] *= inv;
}

Scalar strided_max(const Scalar* x, std::size_t n, std::size_t stride) {
    Scalar m = -std::numeric_limits<Scalar>::infinity();
    for (std::size_t i = 0; i < n; ++i) m = std::max(m, x[i * stride]);
    return m;
}

Scalar shifted_log_sum_exp(const Scalar* x, std::size_t n, std::size_t stride, Scalar max) {
    Scalar total = 0;
    for (std::size_t i = 0; i < n; ++i) total += std::exp(x[i * stride] - max);
    return std::log(total);
}

std::size_t normalize_dim(const char* op, int dim, const Shape& shape) {
    const int rank = static_cast<int>(shape.size());
    const int d = dim < 0 ? dim + rank : dim;
    if (d < 0 || d >= rank) {
        throw Error(std::string(op) + ": dim " + std::to_string(dim) + " out of range for shape " + shape_str(shape));
    }
    return static_cast<std::size_t>(d);
}

void layer_norm_rows(const Scalar* x, std::size_t N, std::size_t C, const Scalar* w, const Scalar* b, Scalar eps,
                     Scalar* y, Scalar* mean, Scalar* rstd) {
#pragma omp parallel for schedule(static) if (N * C > kParallelElements)
    for (std::size_t r = 0; r < N; ++r) {  // rows are independent
        const Scalar* row = x + r * C;
        Scalar m = 0;  // the sums in several lanes (omp simd): a fixed order, not the loop's
#pragma omp simd reduction(+ : m)
        for (std::size_t j = 0; j < C; ++j) m += row[j];
        m /= static_cast<Scalar>(C);
        Scalar v = 0;  // biased variance, as PyTorch's layer_norm
#pragma omp simd reduction(+ : v)
        for (std::size_t j = 0; j < C; ++j) v += (row[j] - m) * (row[j] - m);
        v /= static_cast<Scalar>(C);
        const Scalar s = Scalar(1) / std::sqrt(v + eps);
        for (std::size_t j = 0; j < C; ++j) y[r * C + j] = (row[j] - m) * s * w[j] + b[j];
        if (mean) mean[r] = m;
        if (rstd) rstd[r] = s;
    }
}

AlongDim along_dim(const Shape& shape, std::size_t dim) {
    AlongDim a;
    for (std::size_t i = 0; i < dim; ++i) a.outer *= shape[i];
    a.n = shape[dim];
    for (std::size_t i = dim + 1; i < shape.size(); ++i) a.inner *= shape[i];
    return a;
}

Array sum_to(const Array& grad, const Shape& shape) {
    if (grad.shape() == shape) return grad;

    // The common case, a bias broadcast over rows: `shape` is the trailing
    // part of grad's shape, so grad is (rows, n) and we add up its rows. A loop
    // over rows is much faster than an xtensor axis reduction.
    const std::size_t lead = grad.dimension() - shape.size();
    if (std::equal(shape.begin(), shape.end(), grad.shape().begin() + lead)) {
        Array out = xt::zeros<Scalar>(shape);
        const std::size_t n = out.size(), rows = grad.size() / std::max<std::size_t>(n, 1);
        const Scalar* g = grad.data();
        Scalar* o = out.data();
        for (std::size_t r = 0; r < rows; ++r, g += n) {
            for (std::size_t j = 0; j < n; ++j) o[j] += g[j];
        }
        return out;
    }

    // General case: sum over the leading dims and over the dims where the
    // input had size 1, keeping dims, then drop the leading ones.
    std::vector<std::size_t> axes;
    for (std::size_t i = 0; i < grad.dimension(); ++i) {
        if (i < lead || shape[i - lead] == 1) axes.push_back(i);
    }
    Array summed = xt::sum(grad, axes, xt::keep_dims | xt::evaluation_strategy::immediate);
    summed.reshape(shape);
    return summed;
}

}  // namespace xgrad::detail
