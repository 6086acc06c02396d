// BigramLanguageModel, the lecture's starting point (bigram.py): each token
// reads the logits for the next token straight from a lookup table.
#pragma once

#include "models/language_model.hpp"
#include "nn/layers.hpp"

namespace xgrad {

struct BigramLanguageModel : LanguageModel {
    nn::Embedding token_embedding_table;  // (vocab_size, vocab_size)

    explicit BigramLanguageModel(const GPTConfig& config)
        : LanguageModel(config), token_embedding_table(config.vocab_size, config.vocab_size) {}

    Output operator()(const Index& idx, const std::optional<Index>& targets = std::nullopt) const override {
        const std::size_t B = idx.shape()[0], T = idx.shape()[1];
        // idx and targets are both (B,T) tensor of integers
        Tensor logits = token_embedding_table(idx);  // (B,T,C)

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

    void children(nn::Visitor& visit) const override { visit("token_embedding_table", token_embedding_table); }
};

}  // namespace xgrad
