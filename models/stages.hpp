// The stages of the series between the bigram model and the full GPT, as the
// lecture built them commit by commit. Each adds one idea to the one before
// and reuses the modules of the full model (Head, MultiHeadAttention,
// FeedForward, Block). Trained by `xgrad train --model NAME`; docs/ has a
// page per stage.
#pragma once

#include "models/block.hpp"
#include "models/gpt.hpp"
#include "models/language_model.hpp"

namespace xgrad {

// The part every stage shares: embeddings in, lm_head out, the lecture's loss.
struct StageModel : LanguageModel {
    nn::Embedding token_embedding_table;
    nn::Embedding position_embedding_table;
    nn::Linear lm_head;

    explicit StageModel(const GPTConfig& config)
        : LanguageModel(config),
          token_embedding_table(config.vocab_size, config.n_embd),
          position_embedding_table(config.block_size, config.n_embd),
          lm_head(config.n_embd, config.vocab_size) {}

    // What the stage does between the embeddings and lm_head: (B,T,C) -> (B,T,C)
    virtual Tensor body(const Tensor& x) const = 0;
    // The stage's own members, registered between the embeddings and lm_head.
    virtual void body_children(nn::Visitor& visit) const = 0;

    Output operator()(const Index& idx, const std::optional<Index>& targets = std::nullopt) const override {
        const std::size_t B = idx.shape()[0], T = idx.shape()[1];
        Tensor tok_emb = token_embedding_table(idx);           // (B,T,C)
        Tensor pos_emb = position_embedding_table(arange(T));  // (T,C)
        Tensor x = tok_emb + pos_emb;                          // (B,T,C)
        x = body(x);                                           // (B,T,C)
        Tensor logits = lm_head(x);                            // (B,T,vocab_size)
        Tensor loss;
        if (targets) {
            logits = logits.view({static_cast<std::ptrdiff_t>(B * T), -1});
            Index flat = *targets;
            flat.reshape({B * T});
            loss = cross_entropy(logits, flat);
        }
        return {logits, loss};
    }
    void children(nn::Visitor& visit) const override {
        visit("token_embedding_table", token_embedding_table);
        visit("position_embedding_table", position_embedding_table);
        body_children(visit);
        visit("lm_head", lm_head);
    }
};

// Stage 2, `head`: one self-attention head of size n_embd.
struct HeadStage : StageModel {
    Head sa_head;

    explicit HeadStage(const GPTConfig& config) : StageModel(config), sa_head(config.n_embd, config) {}

    Tensor body(const Tensor& x) const override { return HeadGates::apply(sa_head(x)); }  // apply one head of self-attention. (B,T,C)
    void body_children(nn::Visitor& visit) const override { visit("sa_head", sa_head); }
};

// Stage 3, `multihead`: n_head heads of size n_embd / n_head side by side,
// concatenated on the last dim (no projection yet).
struct MultiHeadStage : StageModel {
    std::vector<Head> sa_heads;

    explicit MultiHeadStage(const GPTConfig& config) : StageModel(config) {
        for (std::size_t i = 0; i < config.n_head; ++i) sa_heads.emplace_back(config.n_embd / config.n_head, config);
    }

    Tensor body(const Tensor& x) const override {
        std::vector<Tensor> outs;  // each (B,T,hs)
        for (const Head& h : sa_heads) outs.push_back(HeadGates::apply(h(x)));  // (the gate: models/hooks.hpp)
        return cat(outs, -1);  // (B,T,C)
    }
    void body_children(nn::Visitor& visit) const override { visit("sa_heads", sa_heads); }
};

// Stage 4, `feedforward`: after the heads, a Linear(n_embd, n_embd) and a
// ReLU, so each token can think about what it gathered.
struct FeedForwardStage : MultiHeadStage {
    nn::Sequential ffwd;

    explicit FeedForwardStage(const GPTConfig& config)
        : MultiHeadStage(config), ffwd{nn::Linear(config.n_embd, config.n_embd), nn::ReLU()} {}

    Tensor body(const Tensor& x) const override {
        return ffwd(MultiHeadStage::body(x));  // (B,T,C)
    }
    void body_children(nn::Visitor& visit) const override {
        MultiHeadStage::body_children(visit);
        visit("ffwd", ffwd);
    }
};

// Stage 5, `blocks`: n_layer Blocks of attention (with its projection) and
// the 4x feed-forward, each on a residual connection; no LayerNorm yet.
struct ResidualBlock : nn::Module {
    MultiHeadAttention sa;
    FeedForward ffwd;

    ResidualBlock(std::size_t n_embd, std::size_t n_head, const GPTConfig& config)
        : sa(n_head, n_embd / n_head, config), ffwd(n_embd, config) {}

    Tensor operator()(Tensor x) const {
        x = x + sa(x);    // (B,T,C)
        x = x + ffwd(x);  // (B,T,C)
        return x;
    }

    void children(nn::Visitor& visit) const override {
        visit("sa", sa);
        visit("ffwd", ffwd);
    }
};

struct BlocksStage : StageModel {
    std::vector<ResidualBlock> blocks;

    explicit BlocksStage(const GPTConfig& config) : StageModel(config) {
        for (std::size_t i = 0; i < config.n_layer; ++i) blocks.emplace_back(config.n_embd, config.n_head, config);
    }

    Tensor body(const Tensor& x) const override {
        Tensor h = x;
        for (const ResidualBlock& block : blocks) h = block(h);  // (B,T,C)
        return h;
    }
    void body_children(nn::Visitor& visit) const override { visit("blocks", blocks); }
};

// Stage 6, `layernorm`, is the full GPTLanguageModel at the small settings
// (pre-LayerNorm in each Block and ln_f), and stage 7, `gpt`, the same model
// at the lecture's size with dropout.

}  // namespace xgrad
