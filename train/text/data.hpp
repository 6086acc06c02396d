// The lecture's data pipeline: read the text, encode it, keep the first 90%
// for training and the rest for validation, and draw random batches.
//     data = torch.tensor(encode(text), dtype=torch.long)
//     n = int(0.9*len(data)) # first 90% will be train, rest val
// Used by the training loop (train/loop/).
#pragma once

#include "autograd/ops.hpp"
#include "train/text/tokenizer.hpp"

#include <string>
#include <utility>
#include <vector>

namespace xgrad {

// The whole file as bytes. A missing file, a directory, an unreadable or an
// empty file is an Error naming the path.
std::string read_text_file(const std::string& path);

// The text a run trains on: the file at `path`, or the built-in corpus
// (train/text/corpus.hpp) when path is empty.
struct CorpusText {
    std::string origin;  // what messages call it: the path, or "built-in corpus"
    std::string name;    // what a checkpoint records as its "corpus": the path, or "built-in"
    std::string bytes;
};
CorpusText read_corpus(const std::string& path);

struct TextData {
    Tokenizer tokenizer;
    std::vector<std::int64_t> train_data, val_data;
};

// Builds the vocabulary from `text` and splits it. Each split must hold at
// least block_size + 1 tokens (one input block and its shifted target), or an
// Error says which split is too short and what to do.
TextData prepare_data(std::u32string_view text, std::size_t block_size, const std::string& origin);
// The same on the corpus's bytes, decoded from UTF-8; errors name its origin.
TextData prepare_data(const CorpusText& corpus, std::size_t block_size);

// x, y = get_batch(split): batch_size random windows of block_size tokens, and
// the same windows shifted by one (the next token to predict at each place).
std::pair<Index, Index> get_batch(const std::vector<std::int64_t>& data, std::size_t batch_size,
                                  std::size_t block_size, Generator& gen);

// An integer in [0, n) from one 32-bit draw, the same on every platform: the
// draw scaled by n (multiply and shift), uniform up to a bias of n / 2^32.
std::size_t random_below(std::size_t n, Generator& gen);

}  // namespace xgrad
