// What every model of the series shares: the bigram model, the stage models
// and the full GPT each map token ids (B,T) to logits over the next token,
// and generate text the same way. The trainer and the command line work with
// any of them through this interface.
#pragma once

#include "autograd/random.hpp"
#include "models/config.hpp"
#include "nn/module.hpp"

#include <optional>

namespace xgrad {

// How a token is drawn from the logits, as the blog's post 33 lists the
// ways: greedy (always the most likely), temperature, top-k and top-p.
struct SamplingOptions {
    double temperature = 1.0;  // divides the logits: < 1 sharper, > 1 flatter
    std::size_t top_k = 0;     // keep only the k most likely tokens (0: all)
    double top_p = 1.0;        // nucleus: keep the fewest most likely tokens whose probability reaches top_p (1: all)
    bool greedy = false;       // the most likely token, no randomness (the others are then unused)
    // The GPTs (the lecture's GPTLanguageModel and the blog's GPT) sample with
    // a key/value cache (models/kv_cache.hpp), the same tokens as recomputing
    // the whole context; false recomputes it for every token, as the
    // lecture's generate(). The other models always do.
    bool kv_cache = true;
};

struct LanguageModel : nn::Module {
    GPTConfig config;

    explicit LanguageModel(const GPTConfig& c) : config(c) {}
    virtual ~LanguageModel() = default;

    // logits, loss = model(idx, targets): logits (B,T,vocab_size), or
    // (B*T, vocab_size) when targets are given (the lecture's view before
    // cross_entropy); loss is empty without targets.
    struct Output {
        Tensor logits;
        Tensor loss;  // PyTorch's None without targets: using it throws an Error that says so
        Output(Tensor logits_, Tensor loss_)
            : logits(std::move(logits_)),
              loss(loss_.defined() ? std::move(loss_)
                                   : Tensor::none("the model was called without targets, so it computed no loss; "
                                                  "call model(idx, targets)")) {}
    };
    virtual Output operator()(const Index& idx, const std::optional<Index>& targets = std::nullopt) const = 0;

    // parameters and buffers under PyTorch's state-dict keys (named_parameters,
    // named_buffers and train come from nn::Module, through children())
    nn::NamedTensors state_dict() const;

    // Appends max_new_tokens sampled tokens to idx (B,T), as the lecture's
    // generate(): crop to the last block_size tokens, predict, sample, append.
    // (GPTLanguageModel overrides it with a key/value cache: models/kv_cache.hpp.)
    virtual Index generate(Index idx, std::size_t max_new_tokens, const SamplingOptions& options = {},
                           Generator& gen = default_generator()) const;
};

// Draws one token from logits (V): the argmax when greedy, else after
// temperature, top-k and top-p, from the softmax of what is left.
std::int64_t sample_token(const Scalar* logits, std::size_t V, const SamplingOptions& options, Generator& gen);

// What both generate paths (the full recompute and the KV cache) share, so
// they crop and draw alike:
// throws unless idx is (B, T) with T >= 1;
void check_context(const Index& idx);
// idx[:, -block_size:], the context the lecture's generate() feeds the model;
Index crop_context(const Index& idx, std::size_t block_size);
// one token per sequence drawn from last_logits (B, V), sequence by sequence,
// appended to idx: (B, T) -> (B, T+1).
Index append_sampled(const Index& idx, const Array& last_logits, const SamplingOptions& options, Generator& gen);

}  // namespace xgrad
