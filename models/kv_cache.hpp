// Sampling from the GPT with a key/value cache.
//
// The lecture's generate() runs the whole context through the model again for
// every new token, although only the last position's logits are used, and the
// keys and values of the earlier positions come out the same every time (the
// attention is causal: a position never sees what comes after it). So keep
// them: each block keeps, for every head, the key and the value of every
// position seen so far, and a new token computes only its own row: its
// embedding, its query, key and value, its attention over the cached keys,
// the projection, the feed-forward and lm_head. One token then costs one pass
// over the weights instead of T.
//
// This is inference only: no autograd graph, dropout off (eval), plain arrays,
// each quantity computed with the same formulas as the ops (layer_norm's
// biased variance, softmax less its row's max), so the logits agree with the
// full recompute to about 1e-6 and the sampled tokens are the same (unless a
// random draw lands within about 1e-6 of the boundary between two tokens:
// docs/07-gpt.md says more).
//
// The cache holds while the sequence fits in block_size. Past it, generate()
// crops the context to its last block_size tokens: every kept token moves one
// position back, so its position embedding, and with it every key and value,
// changes. The cache is then rebuilt from the cropped window for each new
// token (one prefill of block_size positions), which costs as much as the
// lecture's forward: the big speedup is inside the window.
#pragma once

#include "models/blog_gpt.hpp"
#include "models/gpt.hpp"

namespace xgrad {

// What the cache reads of a GPT. The lecture's GPTLanguageModel and the
// blog's GPT name their members differently (token_embedding_table and
// token_embedding, lm_head and head) and are otherwise built of the same
// modules; the heads say how they scale their scores.
struct GPTParts {
    const GPTConfig& config;
    const nn::Embedding& token_embedding;
    const nn::Embedding& position_embedding;
    const std::vector<Block>& blocks;
    const nn::LayerNorm& ln_f;
    const nn::Linear& head;  // the lecture's lm_head

    static GPTParts of(const GPTLanguageModel& model);
    static GPTParts of(const GPT& model);
};

// The GPT's forward for inference, one block at a time as GPTLanguageModel's,
// keeping each block's keys and values of every position of B sequences.
class KVCachedGPT {
public:
    // The model is read, not copied: it must outlive this object, and its
    // weights must not change while it is used.
    KVCachedGPT(const GPTParts& model, std::size_t B);
    KVCachedGPT(const GPTLanguageModel& model, std::size_t B) : KVCachedGPT(GPTParts::of(model), B) {}
    KVCachedGPT(const GPT& model, std::size_t B) : KVCachedGPT(GPTParts::of(model), B) {}

    // Runs n new tokens per sequence, idx (B, n), at positions size() to
    // size() + n - 1, and adds their keys and values to the cache. Returns
    // the logits of the last of them: (B, vocab_size). A whole prompt at once
    // is the "prefill" (one matrix product per weight over the B*n rows); one
    // token is a decode step. size() + n must not exceed block_size.
    Array forward(const Index& idx);

    void clear() { T_ = 0; }                 // forget every position
    std::size_t size() const { return T_; }  // positions cached

private:
    // One Block over the new rows x (B*n, C): returns its output for the last
    // m rows of each sequence, (B*m, C).
    Array block(std::size_t layer, Array x, std::size_t n, std::size_t m);

    // Each block's weights as its products read them, transposed once when
    // the cache is built (the weights do not change while it is used): the
    // keys and values of every head side by side, (C, 2C), and the queries,
    // (C, C), so that one product computes them for all heads; proj, the
    // feed-forward's two Linears and lm_head as (in, out). A product of many
    // rows (a prefill) then reads them without copying a weight per call.
    struct Transposed {
        Array key_value, query;
        std::vector<const Scalar*> key_value_rows, query_rows;  // the same weights' rows, where they are
        Array proj, fc1, fc2;
    };
    GPTParts model_;
    std::vector<Transposed> transposed_;
    Array head_transposed_;
    std::size_t B_, T_ = 0;
    // per block: key[l] and value[l] are (B, n_head, block_size, head_size);
    // the first T_ positions are filled
    std::vector<Array> key_, value_;
};

// The lecture's generate() with the cache: prefill the (cropped) prompt, then
// one decode step per new token while the sequence fits in block_size, a
// rebuild from the cropped window per token after. Draws from `gen` exactly as
// LanguageModel::generate does, so the tokens are the same for the same seed.
Index generate_with_kv_cache(const GPTParts& model, Index idx, std::size_t max_new_tokens,
                             const SamplingOptions& options, Generator& gen);

}  // namespace xgrad
