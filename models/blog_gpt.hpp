// GPT, as the blog's post 42 writes it ("GPT Model: The Full Picture"):
// token and position embeddings, n_layer Blocks, a final LayerNorm and the
// head. It is built from the same Block, MultiHeadAttention, Head and
// FeedForward as the lecture's GPTLanguageModel; where the blog's modules
// differ, its config says so, one named choice each (GPTConfig):
//   - Head scales the scores by C ** -0.5, C = n_embd (post 38), not head_size ** -0.5;
//   - Head has no dropout on the attention weights (post 38);
//   - MultiHeadAttention's proj is Linear(n_embd, n_embd) (post 39);
// and the weights keep PyTorch's default initialisation (post 42 has no
// _init_weights). The member names are the blog's, so are the state-dict
// keys: token_embedding.weight, blocks.0.sa.heads.0.key.weight, head.bias.
#pragma once

#include "models/block.hpp"
#include "models/gpt.hpp"
#include "models/language_model.hpp"
#include "nn/init.hpp"

namespace xgrad {

// The blog's choices on top of the settings it shares with the lecture (the
// scale unless a run asked for the other, xgrad train --attention-scale).
inline GPTConfig blog_config(GPTConfig c) {
    if (c.attention_scale == AttentionScale::model_default) c.attention_scale = AttentionScale::n_embd;
    c.head_dropout = false;
    c.proj_from_n_embd = true;
    return c;
}

struct GPT : LanguageModel {
    nn::Embedding token_embedding;
    nn::Embedding position_embedding;
    std::vector<Block> blocks;  // nn.Sequential(*[Block() for _ in range(n_layer)])
    nn::LayerNorm ln_f;
    nn::Linear head;

    explicit GPT(const GPTConfig& config)
        : LanguageModel(config),  // as given: the checkpoint records only what a run chose (blog_config's choices
                                  // follow from the model type); the modules are built with blog_config(config)
          token_embedding(config.vocab_size, config.n_embd),
          position_embedding(config.block_size, config.n_embd),
          blocks(make_blocks(blog_config(config))),
          ln_f(config.n_embd),
          head(config.n_embd, config.vocab_size) {
        nn::init_as_pytorch(*this);  // no custom init: every Linear and Embedding as PyTorch makes them
    }

    Output operator()(const Index& idx, const std::optional<Index>& targets = std::nullopt) const override {
        const std::size_t B = idx.shape()[0], T = idx.shape()[1];

        Tensor tok_emb = token_embedding(idx);          // (B,T,C)
        Tensor pos_emb = position_embedding(arange(T));  // (T,C)
        Tensor x = tok_emb + pos_emb;                    // (B,T,C)

        for (const Block& block : blocks) x = block(x);  // x = self.blocks(x): (B,T,C)
        x = ln_f(x);                                     // (B,T,C)
        Tensor logits = head(x);                         // (B,T,vocab_size)

        if (!targets) return {logits, Tensor()};  // return logits, None

        const auto C = static_cast<std::ptrdiff_t>(logits.size(-1));
        logits = logits.view({static_cast<std::ptrdiff_t>(B * T), C});  // (B*T, C)
        Index flat = *targets;
        flat.reshape({B * T});  // targets.view(B*T)

        Tensor loss = cross_entropy(logits, flat);
        return {logits, loss};
    }

    // Post 42's generate(): crop to block_size, the last position's logits,
    // softmax, multinomial; with a key/value cache unless options.kv_cache is
    // false (models/kv_cache.hpp), the same tokens either way.
    Index generate(Index idx, std::size_t max_new_tokens, const SamplingOptions& options = {},
                   Generator& gen = default_generator()) const override;

    void children(nn::Visitor& visit) const override {
        visit("token_embedding", token_embedding);
        visit("position_embedding", position_embedding);
        visit("blocks", blocks);
        visit("ln_f", ln_f);
        visit("head", head);
    }
};

}  // namespace xgrad
