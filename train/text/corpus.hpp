// The built-in toy corpus of `xgrad corpus`: English-like sentences in the spirit of the blog's "The cat sat on the
// mat", generated from a small grammar (written out at the top of grammar.hpp), and a checker that tells whether a
// sentence is valid under that grammar. The grammar has structure a character model can only learn by looking
// further back than the last few characters:
//   The cats that the dog sees sleep on the mat.      (the verb agrees with "cats", not with the nearer "dog")
//   The queen asks, "Does the fox sleep?"             (the quote closes; "asks" wants a question inside it)
// `xgrad sample` runs check_sentences on what a trained model wrote and reports the share of valid sentences.
// Used by `xgrad corpus` and `xgrad sample` (train/cli/commands.cpp), by training (train/text/data.cpp reads it when
// no --data is given; train/loop/train.cpp checks the sample it writes at the end) and by tests/test_corpus.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xgrad {

// The corpus: whole sentences, one to three per line, plain ASCII, until the text holds at least min_bytes.
// The same (min_bytes, seed) gives the same text on every compiler and platform: it uses its own PRNG
// (splitmix64), never std:: distributions, whose output is implementation-defined.
std::string generate_corpus(std::size_t min_bytes = 1'100'000, std::uint64_t seed = 1337);

// The same text with the grammar's knowledge of who does what: for every
// verb the noun it agrees with, its subject, across relative clauses
// ("The cats that the dog sees sleep": sees <- dog, sleep <- cats), as
// character spans [begin, end) of the text; and every noun. A conjoined
// subject ("the cat and the dog") labels no one noun. Used by
// `xgrad heads --subject-verb`; tested in tests/test_corpus.cpp.
struct CorpusLabels {
    struct Span {
        std::size_t begin = 0, end = 0;
    };
    struct Agreement {
        Span verb, subject;
    };
    std::string text;  // generate_corpus(min_bytes, seed), byte for byte
    std::vector<Agreement> agreements;
    std::vector<Span> nouns;
};
CorpusLabels generate_labelled_corpus(std::size_t min_bytes, std::uint64_t seed = 1337);

// Whether one sentence is valid under the grammar. The sentence is trimmed (no surrounding whitespace) and keeps
// its end punctuation and, for quoted speech, its closing quote. Layout counts: words are separated by one space,
// there is no space before , . ! ? or a closing quote, and only the first word (and the first word inside the
// quote) is capitalised, exactly as generate_corpus writes it.
bool is_valid_sentence(std::string_view sentence);

struct SentenceReport {
    std::size_t sentences = 0;  // sentences found
    std::size_t valid = 0;      // of those, valid under the grammar
};

// Splits text into sentences (each ends at . ! or ?, taking a closing quote right after it), ignores a trailing
// unfinished fragment, and counts how many are valid. Stops after max_sentences sentences.
SentenceReport check_sentences(std::string_view text, std::size_t max_sentences = SIZE_MAX);

}  // namespace xgrad
