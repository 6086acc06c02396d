// The GPT's forward for sampling with a key/value cache (see kv_cache.hpp),
// written as plain loops and matrix products over row-major buffers. Each
// step says which line of the model (gpt.hpp, block.hpp, head.hpp, ...) it
// computes; every formula is that op's (autograd/ops_nn.cpp), so the logits
// agree with the full recompute.
#include "models/kv_cache.hpp"

#include "autograd/blas.hpp"
#include "autograd/error.hpp"
#include "autograd/op_helpers.hpp"

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace xgrad {

namespace {

using blas::kParallelWork;

// sum_i a[i] * b[i], several lanes at a time.
Scalar dot(const Scalar* a, const Scalar* b, std::size_t n) {
    using Batch = xsimd::batch<Scalar>;
    constexpr std::size_t W = Batch::size;
    Batch s0(Scalar(0)), s1(Scalar(0));
    std::size_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        s0 = xsimd::fma(Batch::load_unaligned(a + i), Batch::load_unaligned(b + i), s0);
        s1 = xsimd::fma(Batch::load_unaligned(a + i + W), Batch::load_unaligned(b + i + W), s1);
    }
    Scalar s = xsimd::hadd(s0 + s1);
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

// Y (M,N) = X (M,K) @ Wᵀ, with W stored (N,K) as a Linear's weight, and Wt
// the same weight stored transposed, (K,N), with rows ld_wt apart (nullptr:
// none). A decode step has a few rows (M = B): then one dot product per
// output, each row of W read once for all M rows. A product call goes over
// all of W first even for one row (blas::gemm copies Wᵀ for libxsmm;
// OpenBLAS's sgemm packed it: 3.0 ms per token at the lecture config against
// 1.2 ms for the dot products, one thread, this machine). A prefill has many
// rows: blas::gemm, on the transposed copy when there is one (the same
// kernel on the same numbers as the copy gemm makes, so the same bits).
void matmul_wt(std::size_t M, std::size_t N, std::size_t K, const Scalar* X, const Scalar* W, Scalar* Y,
               const Scalar* Wt = nullptr) {
    if (M > 4) {
        if (Wt != nullptr) {
            blas::gemm(false, false, M, N, K, Scalar(1), X, Wt, Scalar(0), Y);
        } else {
            blas::gemm(false, true, M, N, K, Scalar(1), X, W, Scalar(0), Y);
        }
        return;
    }
#pragma omp parallel for schedule(static) if (M * N * K > kParallelWork)
    for (std::size_t o = 0; o < N; ++o) {
        for (std::size_t r = 0; r < M; ++r) Y[r * N + o] = dot(X + r * K, W + o * K, K);
    }
}

// The weights ws (each (n_i, K), row-major) side by side and transposed:
// (K, sum n_i), column block i holding ws[i]ᵀ.
Array transposed_side_by_side(const std::vector<const Array*>& ws) {
    const std::size_t K = ws.at(0)->shape()[1];
    std::size_t N = 0;
    for (const Array* w : ws) N += w->shape()[0];
    Array t = Array::from_shape({K, N});
    std::size_t col = 0;
    for (const Array* w : ws) {
        const std::size_t n = w->shape()[0];
        for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t k = 0; k < K; ++k) t(k, col + i) = (*w)(i, k);
        }
        col += n;
    }
    return t;
}

// y = x @ Wᵀ for the weight W whose rows are w_rows (its rows of C) and whose
// transpose is wt, (C, N), over `rows` rows of x: as matmul_wt, with the
// weight's rows gathered from several Linears (the heads' keys, values,
// queries). The same dot products or the same kernel as each head's own.
Array project(const Array& x, std::size_t rows, const std::vector<const Scalar*>& w_rows, const Array& wt) {
    const std::size_t K = wt.shape()[0], N = wt.shape()[1];
    Array y = Array::from_shape({rows, N});
    const Scalar* px = x.data();
    Scalar* py = y.data();
    if (rows > 4) {
        blas::gemm(false, false, rows, N, K, Scalar(1), px, wt.data(), Scalar(0), py);
        return y;
    }
#pragma omp parallel for schedule(static) if (rows * N * K > kParallelWork)
    for (std::size_t o = 0; o < N; ++o) {
        for (std::size_t r = 0; r < rows; ++r) py[r * N + o] = dot(px + r * K, w_rows[o], K);
    }
    return y;
}

// The rows of the weights ws, one after another: row pointers.
std::vector<const Scalar*> rows_of(const std::vector<const Array*>& ws) {
    std::vector<const Scalar*> rows;
    for (const Array* w : ws) {
        const std::size_t n = w->shape()[0], K = w->shape()[1];
        for (std::size_t i = 0; i < n; ++i) rows.push_back(w->data() + i * K);
    }
    return rows;
}

// y = x @ weight.T + bias over `rows` rows of plain arrays, as the linear
// op computes it: the product, then the bias added. (No graph: the ops'
// linear and layer_norm take Tensors.) `wt` is the weight transposed.
Array linear_rows(const Array& x, std::size_t rows, const nn::Linear& layer, const Array& wt) {
    const Array& w = layer.weight.data();
    const std::size_t out = w.shape()[0], in = w.shape()[1];
    Array y = Array::from_shape({rows, out});
    matmul_wt(rows, out, in, x.data(), w.data(), y.data(), wt.data());
    if (layer.bias.defined()) {
        const Scalar* b = layer.bias.data().data();
        Scalar* py = y.data();
#pragma omp parallel for schedule(static) if (rows * out > detail::kParallelElements)
        for (std::size_t r = 0; r < rows; ++r) {
            for (std::size_t j = 0; j < out; ++j) py[r * out + j] += b[j];
        }
    }
    return y;
}

// The loops between the products, on every core for a prefill's many rows: a
// loop left to one thread keeps the other waiting (perf, sampling past the
// window at the lecture config: 11% of the samples were a thread spinning in
// libgomp while the other added a bias through xtensor's y(r, j)).
void add_into(Array& y, const Array& x) {  // y += x, the same shapes
    Scalar* py = y.data();
    const Scalar* px = x.data();
    const std::size_t n = y.size();
#pragma omp parallel for simd schedule(static) if (n > detail::kParallelElements)
    for (std::size_t i = 0; i < n; ++i) py[i] += px[i];
}

void relu_in_place(Array& f) {
    Scalar* p = f.data();
    const std::size_t n = f.size();
#pragma omp parallel for simd schedule(static) if (n > detail::kParallelElements)
    for (std::size_t i = 0; i < n; ++i) {
        const Scalar v = p[i];
        p[i] = v < 0 ? Scalar(0) : v;  // relu's own select: std::max here became a branch per element (perf)
    }
}

// layer_norm over each row of x (rows, C): the op's own forward loop.
Array layer_norm_of_rows(const Array& x, std::size_t rows, const nn::LayerNorm& ln) {
    const std::size_t C = x.shape()[1];
    Array y = Array::from_shape({rows, C});
    detail::layer_norm_rows(x.data(), rows, C, ln.weight.data().data(), ln.bias.data().data(), ln.eps, y.data(),
                            nullptr, nullptr);
    return y;
}

// x (B*n, C): the last m of each sequence's n rows, (B*m, C).
Array last_rows(const Array& x, std::size_t B, std::size_t n, std::size_t m) {
    if (m == n) return x;
    const std::size_t C = x.shape()[1];
    Array y = Array::from_shape({B * m, C});
    for (std::size_t b = 0; b < B; ++b) std::copy_n(x.data() + (b * n + n - m) * C, m * C, y.data() + b * m * C);
    return y;
}

}  // namespace

namespace {

// The cache computes each block as gpt.py's Block is written: n_head heads of
// n_embd / n_head without biases, a FeedForward of Linear, ReLU, Linear (and
// Dropout, off in eval). A model built otherwise gets an Error, not a wrong
// answer or a bad_variant_access.
void check_structure(const GPTParts& model) {
    const GPTConfig& c = model.config;
    const std::size_t hs = c.n_head ? c.n_embd / c.n_head : 0;
    auto refuse = [](std::size_t l, const std::string& what) {
        throw Error("KV cache: block " + std::to_string(l) + " " + what +
                    "; the cache computes gpt.py's Block only (sample with --no-kv-cache)");
    };
    for (std::size_t l = 0; l < model.blocks.size(); ++l) {
        const Block& blk = model.blocks[l];
        if (blk.sa.heads.size() != c.n_head) {
            refuse(l, "has " + std::to_string(blk.sa.heads.size()) + " heads, the config " + std::to_string(c.n_head));
        }
        for (const Head& h : blk.sa.heads) {
            for (const nn::Linear* lin : {&h.key, &h.query, &h.value}) {
                if (lin->bias.defined() || lin->weight.shape() != Shape{hs, c.n_embd}) {
                    refuse(l, "has a head whose key, query or value is not Linear(" + std::to_string(c.n_embd) + ", " +
                                  std::to_string(hs) + ", bias=False)");
                }
            }
        }
        const auto& net = blk.ffwd.net.layers;
        const bool mlp = (net.size() == 3 || (net.size() == 4 && std::holds_alternative<nn::Dropout>(net[3]))) &&
                         std::holds_alternative<nn::Linear>(net[0]) && std::holds_alternative<nn::ReLU>(net[1]) &&
                         std::holds_alternative<nn::Linear>(net[2]);
        if (!mlp) refuse(l, "has a FeedForward that is not Linear, ReLU, Linear, Dropout");
    }
}

}  // namespace

GPTParts GPTParts::of(const GPTLanguageModel& m) {
    return {m.config, m.token_embedding_table, m.position_embedding_table, m.blocks, m.ln_f, m.lm_head};
}
GPTParts GPTParts::of(const GPT& m) {
    return {m.config, m.token_embedding, m.position_embedding, m.blocks, m.ln_f, m.head};
}

KVCachedGPT::KVCachedGPT(const GPTParts& model, std::size_t B) : model_(model), B_(B) {
    check_structure(model);
    const GPTConfig& c = model.config;
    const std::size_t hs = c.n_head ? c.n_embd / c.n_head : 0;
    for (std::size_t l = 0; l < model.blocks.size(); ++l) {
        key_.push_back(Array::from_shape({B, c.n_head, c.block_size, hs}));
        value_.push_back(Array::from_shape({B, c.n_head, c.block_size, hs}));
        const Block& blk = model.blocks[l];
        std::vector<const Array*> kv, q;
        for (const Head& h : blk.sa.heads) kv.push_back(&h.key.weight.data());
        for (const Head& h : blk.sa.heads) kv.push_back(&h.value.weight.data());
        for (const Head& h : blk.sa.heads) q.push_back(&h.query.weight.data());
        auto t = [](const nn::AnyLayer& layer) { return transposed_side_by_side({&std::get<nn::Linear>(layer).weight.data()}); };
        transposed_.push_back({transposed_side_by_side(kv), transposed_side_by_side(q), rows_of(kv), rows_of(q),
                               transposed_side_by_side({&blk.sa.proj.weight.data()}), t(blk.ffwd.net.layers[0]),
                               t(blk.ffwd.net.layers[2])});
    }
    head_transposed_ = transposed_side_by_side({&model.head.weight.data()});
}

Array KVCachedGPT::forward(const Index& idx) {
    const GPTConfig& c = model_.config;
    if (idx.dimension() != 2 || idx.shape()[0] != B_ || idx.shape()[1] == 0) {
        throw Error("KV cache: expected new tokens of shape (" + std::to_string(B_) + ", n) with n >= 1, got " +
                    shape_str(Shape(idx.shape().begin(), idx.shape().end())));
    }
    const std::size_t n = idx.shape()[1], C = c.n_embd, V = c.vocab_size;
    if (T_ + n > c.block_size) {
        throw Error("KV cache: " + std::to_string(T_) + " cached positions + " + std::to_string(n) +
                    " new ones exceed block_size " + std::to_string(c.block_size) + " (crop the context first)");
    }
    // tok_emb = token_embedding_table(idx), pos_emb = position_embedding_table(arange(T)), x = tok_emb + pos_emb
    const Scalar* tok = model_.token_embedding.weight.data().data();
    const Scalar* pos = model_.position_embedding.weight.data().data();
    Array x = Array::from_shape({B_ * n, C});  // (B*n, C)
    for (std::size_t b = 0; b < B_; ++b) {
        for (std::size_t i = 0; i < n; ++i) {
            const std::int64_t t = idx(b, i);
            if (t < 0 || static_cast<std::size_t>(t) >= V) {
                throw Error("KV cache: token " + std::to_string(t) + " out of range for a vocabulary of " +
                            std::to_string(V));
            }
            const Scalar* te = tok + t * C;
            const Scalar* pe = pos + (T_ + i) * C;
            Scalar* row = x.data() + (b * n + i) * C;
            for (std::size_t j = 0; j < C; ++j) row[j] = te[j] + pe[j];
        }
    }
    // x = blocks(x): only the last position's logits are wanted, so the last
    // block (which must still cache every row's key and value) runs the rest
    // for the last row alone
    std::size_t rows = n;  // rows per sequence in x
    for (std::size_t l = 0; l < model_.blocks.size(); ++l) {
        const std::size_t m = l + 1 == model_.blocks.size() ? 1 : n;
        x = block(l, std::move(x), n, m);
        rows = m;
    }
    x = last_rows(x, B_, rows, 1);                  // (B, C)
    x = layer_norm_of_rows(x, B_, model_.ln_f);             // x = ln_f(x)
    Array logits = linear_rows(x, B_, model_.head, head_transposed_);  // logits = lm_head(x): (B, vocab_size)
    T_ += n;
    return logits;
}

Array KVCachedGPT::block(std::size_t layer, Array x, std::size_t n, std::size_t m) {
    const Block& blk = model_.blocks[layer];
    const std::size_t C = model_.config.n_embd, H = blk.sa.heads.size(), hs = C / H;
    const std::size_t block_size = model_.config.block_size, t0 = T_, Tn = T_ + n, B = B_;
    const Head& first = blk.sa.heads.at(0);  // every head of a block is built alike
    const Scalar scale = std::pow(Scalar(first.scale == AttentionScale::head_size ? hs : C), Scalar(-0.5));  // as Head

    const Transposed& wt = transposed_[layer];

    // x = x + sa(ln1(x)), for the last m rows
    const Array h = layer_norm_of_rows(x, B * n, blk.ln1);  // (B*n, C)
    // k = key(x), v = value(x) of the new rows for every head, one product:
    // (B*n, C) @ (C, 2C), head hd's key in columns hd*hs.., its value in C + hd*hs..
    const Array kv = project(h, B * n, wt.key_value_rows, wt.key_value);
    // q = query(x) of the last m rows of each sequence, every head: (B*m, C)
    const Array q_all = m == n ? project(h, B * n, wt.query_rows, wt.query)  // (no copy of h when every row is wanted)
                               : project(last_rows(h, B, n, m), B * m, wt.query_rows, wt.query);
    Array att = Array::from_shape({B * m, C});      // cat([h(x) for h in heads], -1)
    auto one_head = [&](std::size_t hd) {
        // each thread's buffers, kept from token to token: no allocation and
        // no zero fill per head (every element is written before it is read)
        thread_local std::vector<Scalar> q, wei, out;
        q.resize(m * hs), wei.resize(m * Tn), out.resize(m * hs);
        for (std::size_t b = 0; b < B; ++b) {
            // this head's keys and values of the new rows, into the cache
            Scalar* K = key_[layer].data() + (b * H + hd) * block_size * hs;  // cached keys (block_size, hs)
            Scalar* V = value_[layer].data() + (b * H + hd) * block_size * hs;  // cached values (block_size, hs)
            for (std::size_t i = 0; i < n; ++i) {
                const Scalar* row = kv.data() + (b * n + i) * 2 * C;
                std::copy_n(row + hd * hs, hs, K + (t0 + i) * hs);
                std::copy_n(row + C + hd * hs, hs, V + (t0 + i) * hs);
            }
            // q = query(x) of the last m rows: (m, hs)
            for (std::size_t r = 0; r < m; ++r) std::copy_n(q_all.data() + (b * m + r) * C + hd * hs, hs, q.data() + r * hs);
            // wei = q @ k.transpose(-2, -1) * hs**-0.5 over every cached key: (m, Tn)
            matmul_wt(m, Tn, hs, q.data(), K, wei.data());
            for (std::size_t r = 0; r < m; ++r) {
                Scalar* row = wei.data() + r * Tn;
                for (std::size_t j = 0; j < Tn; ++j) row[j] *= scale;
                // masked_fill(tril == 0, -inf): row r is position t0 + n - m + r
                for (std::size_t j = t0 + n - m + r + 1; j < Tn; ++j) row[j] = -std::numeric_limits<Scalar>::infinity();
                detail::softmax_row(row, row, Tn);  // wei = softmax(wei, -1)
            }
            // out = wei @ v: (m, Tn) @ (Tn, hs) -> (m, hs)
            if (m > 4) {
                blas::gemm(false, false, m, hs, Tn, Scalar(1), wei.data(), V, Scalar(0), out.data());
            } else {
                std::fill(out.begin(), out.end(), Scalar(0));
                for (std::size_t r = 0; r < m; ++r) {
                    Scalar* o = out.data() + r * hs;
                    for (std::size_t j = 0; j < Tn; ++j) {
                        const Scalar w = wei[r * Tn + j];
                        const Scalar* v = V + j * hs;
                        for (std::size_t d = 0; d < hs; ++d) o[d] += w * v[d];
                    }
                }
            }
            for (std::size_t r = 0; r < m; ++r) std::copy_n(out.data() + r * hs, hs, att.data() + (b * m + r) * C + hd * hs);
        }
    };
    // The heads are independent until the cat: one per thread when there is
    // enough work. (Not `omp parallel for if (...)`: a gemm inside a region
    // that runs on one thread does not see it and splits itself again, see
    // for_each_product in autograd/blas.cpp.)
    if (H > 1 && B * C * 2 * m * Tn > kParallelWork) {
#pragma omp parallel for schedule(static)
        for (std::size_t hd = 0; hd < H; ++hd) one_head(hd);
    } else {
        for (std::size_t hd = 0; hd < H; ++hd) one_head(hd);
    }
    Array y = m == n ? std::move(x) : last_rows(x, B, n, m);  // (B*m, C): the rows whose output is wanted
    add_into(y, linear_rows(att, B * m, blk.sa.proj, wt.proj));  // out = proj(out), x + out
    // x = x + ffwd(ln2(x)): Linear, ReLU, Linear
    const nn::Linear& fc1 = std::get<nn::Linear>(blk.ffwd.net.layers[0]);
    const nn::Linear& fc2 = std::get<nn::Linear>(blk.ffwd.net.layers[2]);
    Array f = linear_rows(layer_norm_of_rows(y, B * m, blk.ln2), B * m, fc1, wt.fc1);  // (B*m, 4C)
    relu_in_place(f);                                               // relu
    add_into(y, linear_rows(f, B * m, fc2, wt.fc2));
    return y;
}

namespace {

// Would the model's forward draw dropout masks? (model.train() with p > 0)
bool dropout_active(const GPTParts& model) {
    auto on = [](const nn::Dropout& d) { return d.training && d.p > 0; };
    for (const Block& blk : model.blocks) {
        if (on(blk.sa.dropout)) return true;
        for (const Head& h : blk.sa.heads) {
            if (on(h.dropout)) return true;
        }
        for (const nn::AnyLayer& layer : blk.ffwd.net.layers) {
            if (const auto* d = std::get_if<nn::Dropout>(&layer); d && on(*d)) return true;
        }
    }
    return false;
}

}  // namespace

Index generate_with_kv_cache(const GPTParts& model, Index idx, std::size_t max_new_tokens,
                             const SamplingOptions& options, Generator& gen) {
    check_context(idx);
    if (max_new_tokens == 0) return idx;
    const std::size_t B = idx.shape()[0], block_size = model.config.block_size;
    KVCachedGPT cache(model, B);
    Array logits = cache.forward(crop_context(idx, block_size));  // prefill: the prompt, cropped as the lecture does
    for (std::size_t step = 0;; ++step) {
        // sample from the last position's logits (B, V), as LanguageModel::generate does
        idx = append_sampled(idx, logits, options, gen);  // (B, T+1)
        if (step + 1 == max_new_tokens) break;
        const std::size_t T = idx.shape()[1];
        if (T <= block_size) {
            Index next = Index::from_shape({B, 1});
            for (std::size_t b = 0; b < B; ++b) next(b, 0) = idx(b, T - 1);
            logits = cache.forward(next);  // one new position, attending to the cached ones
        } else {
            // The window slid: every kept token moved one position back, so
            // its position embedding and all its keys and values changed.
            // Rebuild the cache from the cropped context (exact, and as costly
            // as the lecture's forward).
            cache.clear();
            logits = cache.forward(crop_context(idx, block_size));
        }
    }
    return idx;
}

namespace {

// Both GPTs' generate(). The cache computes the model in eval mode; with
// dropout on (model.train()), only the full forward draws the masks the
// lecture's generate() would.
Index generate_gpt(const LanguageModel& model, const GPTParts& parts, Index idx, std::size_t max_new_tokens,
                   const SamplingOptions& options, Generator& gen) {
    if (!options.kv_cache || dropout_active(parts)) {
        return model.LanguageModel::generate(std::move(idx), max_new_tokens, options, gen);
    }
    return generate_with_kv_cache(parts, std::move(idx), max_new_tokens, options, gen);
}

}  // namespace

Index GPTLanguageModel::generate(Index idx, std::size_t max_new_tokens, const SamplingOptions& options,
                                 Generator& gen) const {
    return generate_gpt(*this, GPTParts::of(*this), std::move(idx), max_new_tokens, options, gen);
}

Index GPT::generate(Index idx, std::size_t max_new_tokens, const SamplingOptions& options, Generator& gen) const {
    return generate_gpt(*this, GPTParts::of(*this), std::move(idx), max_new_tokens, options, gen);
}

}  // namespace xgrad
