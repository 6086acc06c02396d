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
    virtual nn::NamedTensors body_parameters() const = 0;
    virtual nn::NamedTensors body_buffers() const = 0;

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
    nn::NamedTensors named_parameters() const override {
        nn::NamedTensors out;
        nn::append(out, "token_embedding_table", token_embedding_table.named_parameters());
        nn::append(out, "position_embedding_table", position_embedding_table.named_parameters());
        for (auto& entry : body_parameters()) out.push_back(entry);
        nn::append(out, "lm_head", lm_head.named_parameters());
        return out;
    }
    nn::NamedTensors named_buffers() const override { return body_buffers(); }
};

// Stage 2, `head`: one self-attention head of size n_embd.
struct HeadStage : StageModel {
    Head sa_head;

    explicit HeadStage(const GPTConfig& config) : StageModel(config), sa_head(config.n_embd, config) {}

    Tensor body(const Tensor& x) const override { return sa_head(x); }  // apply one head of self-attention. (B,T,C)
    void train(bool mode = true) override { sa_head.train(mode); }
    nn::NamedTensors body_parameters() const override { return prefixed("sa_head", sa_head.named_parameters()); }
    nn::NamedTensors body_buffers() const override { return prefixed("sa_head", sa_head.named_buffers()); }

    static nn::NamedTensors prefixed(const std::string& p, const nn::NamedTensors& in) {
        nn::NamedTensors out;
        nn::append(out, p, in);
        return out;
    }
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
        for (const Head& h : sa_heads) outs.push_back(h(x));
        return cat(outs, -1);  // (B,T,C)
    }
    void train(bool mode = true) override {
        for (Head& h : sa_heads) h.train(mode);
    }
    nn::NamedTensors body_parameters() const override {
        nn::NamedTensors out;
        for (std::size_t i = 0; i < sa_heads.size(); ++i) nn::append(out, "sa_heads." + std::to_string(i), sa_heads[i].named_parameters());
        return out;
    }
    nn::NamedTensors body_buffers() const override {
        nn::NamedTensors out;
        for (std::size_t i = 0; i < sa_heads.size(); ++i) nn::append(out, "sa_heads." + std::to_string(i), sa_heads[i].named_buffers());
        return out;
    }
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
    void train(bool mode = true) override {
        MultiHeadStage::train(mode);
        ffwd.train(mode);
    }
    nn::NamedTensors body_parameters() const override {
        nn::NamedTensors out = MultiHeadStage::body_parameters();
        nn::append(out, "ffwd", ffwd.named_parameters());
        return out;
    }
};

// Stage 5, `blocks`: n_layer Blocks of attention (with its projection) and
// the 4x feed-forward, each on a residual connection; no LayerNorm yet.
struct ResidualBlock {
    MultiHeadAttention sa;
    FeedForward ffwd;

    ResidualBlock(std::size_t n_embd, std::size_t n_head, const GPTConfig& config)
        : sa(n_head, n_embd / n_head, config), ffwd(n_embd, config) {}

    Tensor operator()(Tensor x) const {
        x = x + sa(x);    // (B,T,C)
        x = x + ffwd(x);  // (B,T,C)
        return x;
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
    void train(bool mode = true) override {
        for (ResidualBlock& block : blocks) {
            block.sa.train(mode);
            block.ffwd.train(mode);
        }
    }
    nn::NamedTensors body_parameters() const override {
        nn::NamedTensors out;
        for (std::size_t i = 0; i < blocks.size(); ++i) {
            nn::append(out, "blocks." + std::to_string(i) + ".sa", blocks[i].sa.named_parameters());
            nn::append(out, "blocks." + std::to_string(i) + ".ffwd", blocks[i].ffwd.named_parameters());
        }
        return out;
    }
    nn::NamedTensors body_buffers() const override {
        nn::NamedTensors out;
        for (std::size_t i = 0; i < blocks.size(); ++i) nn::append(out, "blocks." + std::to_string(i) + ".sa", blocks[i].sa.named_buffers());
        return out;
    }
};

// Stage 6, `layernorm`, is the full GPTLanguageModel at the small settings
// (pre-LayerNorm in each Block and ln_f), and stage 7, `gpt`, the same model
// at the lecture's size with dropout.

}  // namespace xgrad
