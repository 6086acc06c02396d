// The neural-network ops, written as forward/backward pairs by hand (as
// llm.c does) because they are hot and numerically delicate: softmax,
// log_softmax, masked_fill, embedding, layer_norm, cross_entropy, dropout.
#include "autograd/op_helpers.hpp"
#include "autograd/ops.hpp"
#include "autograd/random.hpp"

#include <xtensor/xbroadcast.hpp>
#include <xtensor/xoperation.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace xgrad {

using detail::accumulate_grad;
using detail::along_dim;
using detail::GradOnly;
using detail::kParallelElements;
using detail::normalize_dim;


Tensor softmax(const Tensor& a, int dim) {
    a.expect_defined("softmax");
    const std::size_t d = normalize_dim("softmax", dim, a.shape());
    const auto [outer, n, inner] = along_dim(a.shape(), d);
    Array y = Array::from_shape(a.shape());
    const Scalar* x = a.data().data();
    Scalar* py = y.data();
    // Each slice (o, :, k) is one softmax. Subtracting its max first keeps exp
    // from overflowing on large inputs and leaves the result unchanged. The
    // slices are independent, so threads share them out.
#pragma omp parallel for schedule(static) if (outer * n * inner > kParallelElements)
    for (std::size_t o = 0; o < outer; ++o) {
        if (inner == 1) {  // a contiguous row: the last dim, as attention uses it
            detail::softmax_row(x + o * n, py + o * n, n);
            continue;
        }
        for (std::size_t k = 0; k < inner; ++k) {
            const std::size_t base = o * n * inner + k;
            const Scalar m = detail::strided_max(x + base, n, inner);
            Scalar total = 0;
            for (std::size_t i = 0; i < n; ++i) {
                const Scalar e = std::exp(x[base + i * inner] - m);  // exp(-inf) = 0 for masked entries
                py[base + i * inner] = e;
                total += e;
            }
            const Scalar inv = Scalar(1) / total;
            for (std::size_t i = 0; i < n; ++i) py[base + i * inner] *= inv;
        }
    }
    return Tensor::from_op(std::move(y), "softmax", {a}, [a = GradOnly(a), outer = outer, n = n, inner = inner](const Node& out) {
        // y = softmax(x):  dx_i = y_i * (dy_i - sum_j dy_j y_j)
        const Scalar* y = out.data.data();
        const Scalar* dy = out.grad.data();
        const detail::GradTarget dx = detail::grad_target_over(a, out);  // maybe dy's own buffer: each row's dot comes first
#pragma omp parallel for schedule(static) if (outer * n * inner > kParallelElements)
        for (std::size_t o = 0; o < outer; ++o) {
            for (std::size_t k = 0; k < inner; ++k) {
                const std::size_t base = o * n * inner + k;
                Scalar dot = 0;
                if (inner == 1) {  // a contiguous row (attention's): the same two lines, several lanes at a time
                    const Scalar *y_row = y + base, *dy_row = dy + base;
                    Scalar* dx_row = dx.data + base;
#pragma omp simd reduction(+ : dot)
                    for (std::size_t i = 0; i < n; ++i) dot += dy_row[i] * y_row[i];
                    if (dx.add) {
#pragma omp simd
                        for (std::size_t i = 0; i < n; ++i) dx_row[i] += y_row[i] * (dy_row[i] - dot);
                    } else {
#pragma omp simd
                        for (std::size_t i = 0; i < n; ++i) dx_row[i] = y_row[i] * (dy_row[i] - dot);
                    }
                } else {
                    for (std::size_t i = 0; i < n; ++i) dot += dy[base + i * inner] * y[base + i * inner];
                    for (std::size_t i = 0; i < n; ++i) {
                        dx.put(base + i * inner, y[base + i * inner] * (dy[base + i * inner] - dot));
                    }
                }
            }
        }
    });
}

Tensor log_softmax(const Tensor& a, int dim) {
    a.expect_defined("log_softmax");
    const std::size_t d = normalize_dim("log_softmax", dim, a.shape());
    const auto [outer, n, inner] = along_dim(a.shape(), d);
    Array y = Array::from_shape(a.shape());
    const Scalar* x = a.data().data();
    Scalar* py = y.data();
    // log softmax(x)_i = x_i - m - log(sum_j exp(x_j - m)),  m = max_j x_j
    for (std::size_t o = 0; o < outer; ++o) {
        for (std::size_t k = 0; k < inner; ++k) {
            const std::size_t base = o * n * inner + k;
            const Scalar m = detail::strided_max(x + base, n, inner);
            const Scalar log_total = detail::shifted_log_sum_exp(x + base, n, inner, m);  // subtracted after x - m
            for (std::size_t i = 0; i < n; ++i) py[base + i * inner] = (x[base + i * inner] - m) - log_total;
        }
    }
    return Tensor::from_op(std::move(y), "log_softmax", {a},
                           [a = GradOnly(a), outer = outer, n = n, inner = inner](const Node& out) {
        // dx_i = dy_i - softmax(x)_i * sum_j dy_j,  and softmax(x)_i = exp(y_i)
        Scalar* dx = detail::grad_ptr(a);
        const Scalar* y = out.data.data();
        const Scalar* dy = out.grad.data();
        for (std::size_t o = 0; o < outer; ++o) {
            for (std::size_t k = 0; k < inner; ++k) {
                const std::size_t base = o * n * inner + k;
                Scalar total = 0;
                for (std::size_t i = 0; i < n; ++i) total += dy[base + i * inner];
                for (std::size_t i = 0; i < n; ++i) {
                    dx[base + i * inner] += dy[base + i * inner] - std::exp(y[base + i * inner]) * total;
                }
            }
        }
    });
}

Tensor masked_fill(const Tensor& a, const Mask& mask, Scalar value) {
    a.expect_defined("masked_fill");
    // The mask must broadcast to a's shape. The causal mask (T,T) over (B,T,T)
    // is the common case: a mask whose shape is a's trailing dims repeats every
    // mask.size() elements. Any other broadcast is expanded once.
    const Shape& sa = a.shape();
    const Shape sm(mask.shape().begin(), mask.shape().end());
    bool ok = sm.size() <= sa.size();
    for (std::size_t i = 0; ok && i < sm.size(); ++i) {
        const std::size_t dm = sm[sm.size() - 1 - i], da = sa[sa.size() - 1 - i];
        ok = dm == da || dm == 1;
    }
    if (!ok) {
        throw Error("masked_fill: mask of shape " + shape_str(sm) + " does not broadcast to the input's shape " +
                    shape_str(sa));
    }
    const bool repeats = std::equal(sm.begin(), sm.end(), sa.end() - static_cast<std::ptrdiff_t>(sm.size()));
    // (xt::where with a broadcast bool mask gave wrong results with xsimd on
    // this machine, so the loops are written out.)
    Mask full = repeats ? mask : Mask(xt::broadcast(mask, sa));
    const std::size_t period = full.size(), repeat = period ? a.numel() / period : 0;
    Array y = Array::from_shape(sa);
    const Scalar* px = a.data().data();
    // The mask as floats (1 where it writes), once: GCC vectorises a select on
    // a float condition, not on a bool one (perf: masked_fill was 5% of a
    // one-thread tiny step as a branch per element). The same values.
    std::vector<Scalar> filled(period);
    for (std::size_t i = 0; i < period; ++i) filled[i] = full.data()[i] ? Scalar(1) : Scalar(0);
    const Scalar* f = filled.data();
    Scalar* py = y.data();
#pragma omp parallel for schedule(static) if (repeat > 1 && a.numel() > kParallelElements)
    for (std::size_t r = 0; r < repeat; ++r) {
        const Scalar* xr = px + r * period;
        Scalar* yr = py + r * period;
#pragma omp simd
        for (std::size_t i = 0; i < period; ++i) yr[i] = f[i] != 0 ? value : xr[i];
    }
    return Tensor::from_op(std::move(y), "masked_fill", {a},
                           [a = GradOnly(a), filled = std::move(filled), period, repeat](const Node& out) {
        // filled entries are constants: no gradient flows through them
        const Scalar* f = filled.data();
        const Scalar* pdy = out.grad.data();
        const detail::GradTarget g = detail::grad_target_over(a, out);  // maybe dy's own buffer
#pragma omp parallel for schedule(static) if (repeat > 1 && period * repeat > kParallelElements)
        for (std::size_t r = 0; r < repeat; ++r) {
            const Scalar* dy = pdy + r * period;
            Scalar* gr = g.data + r * period;
            if (g.add) {
#pragma omp simd
                for (std::size_t i = 0; i < period; ++i) gr[i] += f[i] != 0 ? Scalar(0) : dy[i];
            } else {
#pragma omp simd
                for (std::size_t i = 0; i < period; ++i) gr[i] = f[i] != 0 ? Scalar(0) : dy[i];
            }
        }
    }, /*backward_reads_output=*/false);
}

Tensor embedding(const Tensor& weight, const Index& indices) {
    weight.expect_defined("embedding");
    if (weight.dim() != 2) throw Error("embedding: the weight must be 2-D (num_embeddings, dim), got " +
                                       shape_str(weight.shape()));
    const std::size_t V = weight.shape()[0], C = weight.shape()[1];
    for (std::size_t i = 0; i < indices.size(); ++i) {
        const std::int64_t ix = indices.data()[i];
        if (ix < 0 || static_cast<std::size_t>(ix) >= V) {
            throw Error("embedding: index " + std::to_string(ix) + " out of range for a table of " +
                        std::to_string(V) + " rows");
        }
    }
    Shape shape(indices.shape().begin(), indices.shape().end());
    shape.push_back(C);
    Array y = Array::from_shape(shape);
    for (std::size_t i = 0; i < indices.size(); ++i) {  // row i of the output = row indices[i] of the table
        std::copy_n(weight.data().data() + indices.data()[i] * C, C, y.data() + i * C);
    }
    return Tensor::from_op(std::move(y), "embedding", {weight}, [weight = GradOnly(weight), indices, C](const Node& out) {
        // scatter the rows back; a token that appears twice gets both gradients
        Scalar* dw = detail::grad_ptr(weight);
        for (std::size_t i = 0; i < indices.size(); ++i) {
            Scalar* row = dw + indices.data()[i] * C;
            const Scalar* dy = out.grad.data() + i * C;
            for (std::size_t j = 0; j < C; ++j) row[j] += dy[j];
        }
    }, /*backward_reads_output=*/false);
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Scalar eps) {
    x.expect_defined("layer_norm");
    weight.expect_defined("layer_norm");
    bias.expect_defined("layer_norm");
    const std::size_t C = x.dim() ? x.shape().back() : 0;
    if (C == 0 || weight.shape() != Shape{C} || bias.shape() != Shape{C}) {
        throw Error("layer_norm: input " + shape_str(x.shape()) + ", weight " + shape_str(weight.shape()) +
                    " and bias " + shape_str(bias.shape()) + ": weight and bias must be (C) with C the input's last dim");
    }
    const std::size_t N = x.numel() / C;
    Array y = Array::from_shape(x.shape());
    Array mean = Array::from_shape({N});  // (N) saved for the backward
    Array rstd = Array::from_shape({N});  // (N) 1 / sqrt(var + eps)
    detail::layer_norm_rows(x.data().data(), N, C, weight.data().data(), bias.data().data(), eps, y.data(),
                            mean.data(), rstd.data());
    return Tensor::from_op(std::move(y), "layer_norm", {x, weight, bias},
                           [x, weight, bias = GradOnly(bias), mean, rstd, N, C](const Node& out) {
        // With n = (x - mean) * rstd and y = n * w + b (docs/engine.md derives it):
        //   dw += sum_rows(dy * n),  db += sum_rows(dy),
        //   dx = rstd * (dn - mean(dn) - n * mean(dn * n)),  dn = dy * w
        Scalar* dx = detail::grad_ptr(x);
        Scalar* dw = detail::grad_ptr(weight);
        Scalar* db = detail::grad_ptr(bias);
        const Scalar* px = x.data().data();
        const Scalar* pdy = out.grad.data();
        const Scalar* w = weight.data().data();
        if (dx) {
#pragma omp parallel for schedule(static) if (N * C > kParallelElements)
            for (std::size_t r = 0; r < N; ++r) {  // each row's dx on its own
                const Scalar* row = px + r * C;
                const Scalar* dy = pdy + r * C;
                const Scalar m = mean.data()[r], s = rstd.data()[r];
                Scalar dn_mean = 0, dn_n_mean = 0;
#pragma omp simd reduction(+ : dn_mean, dn_n_mean)
                for (std::size_t j = 0; j < C; ++j) {
                    const Scalar n = (row[j] - m) * s;
                    const Scalar dn = dy[j] * w[j];
                    dn_mean += dn;
                    dn_n_mean += dn * n;
                }
                dn_mean /= static_cast<Scalar>(C);
                dn_n_mean /= static_cast<Scalar>(C);
                for (std::size_t j = 0; j < C; ++j) {
                    const Scalar n = (row[j] - m) * s;
                    dx[r * C + j] += s * (dy[j] * w[j] - dn_mean - n * dn_n_mean);
                }
            }
        }
        // dw and db sum over rows: rows in order, so the sums are the same for any thread count
        if (!dw && !db) return;
        for (std::size_t r = 0; r < N; ++r) {
            const Scalar* row = px + r * C;
            const Scalar* dy = pdy + r * C;
            const Scalar m = mean.data()[r], s = rstd.data()[r];
            if (dw) {
#pragma omp simd
                for (std::size_t j = 0; j < C; ++j) dw[j] += dy[j] * ((row[j] - m) * s);
            }
            if (db) {
#pragma omp simd
                for (std::size_t j = 0; j < C; ++j) db[j] += dy[j];
            }
        }
    }, /*backward_reads_output=*/false);
}

Tensor cross_entropy(const Tensor& logits, const Index& targets) {
    logits.expect_defined("cross_entropy");
    if (logits.dim() != 2 || targets.dimension() != 1 || targets.shape()[0] != logits.shape()[0]) {
        throw Error("cross_entropy: logits " + shape_str(logits.shape()) + " and targets " +
                    shape_str(Shape(targets.shape().begin(), targets.shape().end())) +
                    ": need logits (N,V) and targets (N)");
    }
    const std::size_t N = logits.shape()[0], V = logits.shape()[1];
    if (N == 0) throw Error("cross_entropy: empty batch (N = 0)");
    Array row_max = Array::from_shape({N});  // (N) max of each row, saved for the backward
    Array lse = Array::from_shape({N});      // (N) log sum exp(row - max) of each row, saved for the backward
    Scalar total = 0;
    for (std::size_t r = 0; r < N; ++r) {
        const std::int64_t t = targets.data()[r];
        if (t < 0 || static_cast<std::size_t>(t) >= V) {
            throw Error("cross_entropy: target " + std::to_string(t) + " at row " + std::to_string(r) +
                        " out of range for " + std::to_string(V) + " classes");
        }
        const Scalar* row = logits.data().data() + r * V;
        const Scalar m = detail::strided_max(row, V, 1);
        row_max.data()[r] = m;
        lse.data()[r] = detail::shifted_log_sum_exp(row, V, 1, m);
        total += lse.data()[r] - (row[t] - m);  // -log softmax(row)[t]
    }
    Array loss = Array(total / static_cast<Scalar>(N));
    return Tensor::from_op(std::move(loss), "cross_entropy", {logits},
                           [logits, targets, row_max, lse, N, V](const Node& out) {
        // d loss / d logits = (softmax(row) - onehot(target)) / N
        Scalar* dx = detail::grad_ptr(logits);
        const Scalar scale = out.grad() / static_cast<Scalar>(N);
        for (std::size_t r = 0; r < N; ++r) {
            const Scalar* row = logits.data().data() + r * V;
            Scalar* drow = dx + r * V;
            for (std::size_t j = 0; j < V; ++j) drow[j] += scale * std::exp((row[j] - row_max.data()[r]) - lse.data()[r]);
            drow[targets.data()[r]] -= scale;
        }
    }, /*backward_reads_output=*/false);
}

Tensor dropout(const Tensor& x, Scalar p, bool training, Generator& gen) {
    x.expect_defined("dropout");
    if (!(p >= 0 && p < 1)) throw Error("dropout: p must be in [0, 1), got " + std::to_string(p));
    if (!training || p == 0) return x;  // identity: no node at all
    // Inverted dropout: keep each element with probability 1 - p and scale it
    // by 1 / (1 - p), so the expected value is unchanged and eval needs nothing.
    // The coins: one 64-bit seed from the generator per call, then element i
    // compares the high half of SplitMix64's i-th number from that seed with
    // p * 2^32. Each coin depends only on its index, so the loop vectorises,
    // threads share it, and the mask is the same for any thread count. The
    // mask is kept as one byte per element for the backward.
    const auto threshold = static_cast<std::uint32_t>(p * 4294967296.0);  // p * 2^32
    const Scalar scale = Scalar(1) / (Scalar(1) - p);
    const std::uint64_t high = gen(), low = gen();  // one declarator after the other: a fixed order
    const std::uint64_t seed = (high << 32) | low;
    const std::size_t n = x.numel();
    // A slice of the whole batch (random.hpp's BatchRows) starts at its first row's index.
    const BatchRows rows = current_batch_rows();
    if (rows.count > 0 && n % rows.count != 0)  // not a slice of the batch: its coins would not be the whole batch's
        throw Error("dropout: a tensor of shape " + shape_str(x.shape()) + " is not " + std::to_string(rows.count) +
                    " rows of the batch (BatchRows); give dropout a tensor whose first axis is the batch's");
    const std::uint64_t first = rows.count > 0 ? rows.first * (n / rows.count) : 0;
    std::vector<std::uint8_t> keep(n);
    Array y = Array::from_shape(x.shape());
    const Scalar* px = x.data().data();
    Scalar* py = y.data();
    std::uint8_t* pk = keep.data();
#pragma omp parallel for simd schedule(static) if (parallel : n > kParallelElements)
    for (std::size_t i = 0; i < n; ++i) {
        const bool kept = static_cast<std::uint32_t>(splitmix64_at(seed, first + i) >> 32) >= threshold;
        pk[i] = kept;
        py[i] = px[i] * (kept ? scale : Scalar(0));  // x * 0 keeps a NaN, as in PyTorch
    }
    return Tensor::from_op(std::move(y), "dropout", {x}, [x = GradOnly(x), keep = std::move(keep), scale](const Node& out) {
        const Scalar* dy = out.grad.data();
        const detail::GradTarget target = detail::grad_target_over(x, out);  // maybe dy's own buffer
        Scalar* g = target.data;
        const std::uint8_t* pk = keep.data();
        const std::size_t n = keep.size();
        const Scalar s = scale;  // a local, not the closure's member: the loop then vectorises
        if (target.add) {
#pragma omp parallel for simd schedule(static) if (parallel : n > kParallelElements)
            for (std::size_t i = 0; i < n; ++i) g[i] += dy[i] * (pk[i] ? s : Scalar(0));
        } else {
#pragma omp parallel for simd schedule(static) if (parallel : n > kParallelElements)
            for (std::size_t i = 0; i < n; ++i) g[i] = dy[i] * (pk[i] ? s : Scalar(0));
        }
    }, /*backward_reads_output=*/false);
}

}  // namespace xgrad
