// GPTLanguageModel, as in the lecture's gpt.py: token and position embeddings,
// n_layer Blocks, a final LayerNorm and the language-model head.
#pragma once

#include "models/block.hpp"
#include "models/language_model.hpp"

namespace xgrad {

// torch.arange(T) as token positions.
inline Index arange(std::size_t T) {
    Index pos = Index::from_shape({T});
    for (std::size_t t = 0; t < T; ++t) pos(t) = static_cast<std::int64_t>(t);
    return pos;
}

struct GPTLanguageModel : LanguageModel {
    nn::Embedding token_embedding_table;
    nn::Embedding position_embedding_table;
    std::vector<Block> blocks;  // nn.Sequential(*[Block(...) for _ in range(n_layer)])
    nn::LayerNorm ln_f;         // final layer norm
    nn::Linear lm_head;

    explicit GPTLanguageModel(const GPTConfig& config)
        : LanguageModel(config),
          token_embedding_table(config.vocab_size, config.n_embd),
          position_embedding_table(config.block_size, config.n_embd),
          blocks(make_blocks(config)),
          ln_f(config.n_embd),
          lm_head(config.n_embd, config.vocab_size) {}

    Output operator()(const Index& idx, const std::optional<Index>& targets = std::nullopt) const override {
        const std::size_t B = idx.shape()[0], T = idx.shape()[1];
        // idx and targets are both (B,T) tensors of integers
        Tensor tok_emb = token_embedding_table(idx);          // (B,T,C)
        Tensor pos_emb = position_embedding_table(arange(T));  // (T,C)
        Tensor x = tok_emb + pos_emb;                          // (B,T,C)
        for (const Block& block : blocks) x = block(x);        // (B,T,C)
        x = ln_f(x);                                           // (B,T,C)
        Tensor logits = lm_head(x);                            // (B,T,vocab_size)

        Tensor loss;
        if (targets) {
            const auto C = static_cast<std::ptrdiff_t>(logits.size(-1));
            logits = logits.view({static_cast<std::ptrdiff_t>(B * T), C});
            Index flat = *targets;
            flat.reshape({B * T});
            loss = cross_entropy(logits, flat);
        }
        return {logits, loss};
    }

    // The lecture's generate(), with a key/value cache unless
    // options.kv_cache is false (models/kv_cache.hpp): the same tokens,
    // without running the whole context again for every new one.
    Index generate(Index idx, std::size_t max_new_tokens, const SamplingOptions& options = {},
                   Generator& gen = default_generator()) const override;

    void children(nn::Visitor& visit) const override {
        visit("token_embedding_table", token_embedding_table);
        visit("position_embedding_table", position_embedding_table);
        visit("blocks", blocks);
        visit("ln_f", ln_f);
        visit("lm_head", lm_head);
    }
};

}  // namespace xgrad
