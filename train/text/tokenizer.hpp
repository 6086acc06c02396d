// The lecture's character-level tokenizer: the vocabulary is the sorted set of
// the corpus's characters, here Unicode code points, every one kept as it is
// (tabs, a byte-order mark in mid-text, no normalisation), so any UTF-8 text
// works.
//     chars = sorted(list(set(text)))
//     stoi = { ch:i for i,ch in enumerate(chars) }
//     encode = lambda s: [stoi[c] for c in s]
//     decode = lambda l: ''.join([itos[i] for i in l])
// Used by the data (data.hpp), the checkpoints, which store the vocabulary
// (train/formats/checkpoint.hpp), sampling and the pictures.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace xgrad {

// UTF-8 bytes -> code points. Invalid UTF-8 (a bad byte, a truncated or
// overlong sequence, a surrogate) is an Error naming `origin`, the byte
// offset, the line and the column.
std::u32string decode_utf8(std::string_view bytes, const std::string& origin);
std::string encode_utf8(std::u32string_view text);

class Tokenizer {
public:
    Tokenizer() = default;
    static Tokenizer from_text(std::u32string_view text);   // the sorted set of its characters
    static Tokenizer from_vocab(std::u32string_view chars);  // the characters in token order (a checkpoint's "vocab")

    std::size_t vocab_size() const { return itos_.size(); }
    // Characters outside the vocabulary are an Error naming the first one, as `origin` says.
    std::vector<std::int64_t> encode(std::u32string_view text, const std::string& origin = "text") const;
    std::string decode(const std::vector<std::int64_t>& ids) const;  // to UTF-8
    std::u32string chars() const { return itos_; }

private:
    std::u32string itos_;                 // token id -> character
    std::map<char32_t, std::int64_t> stoi_;  // character -> token id
};

// A code point as a learner would want to read it in an error: 'x' or U+00E9.
std::string describe_char(char32_t c);

}  // namespace xgrad
