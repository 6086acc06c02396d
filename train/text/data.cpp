// The text a run reads, its split and its batches (data.hpp).
#include "train/text/data.hpp"

#include "autograd/error.hpp"
#include "train/text/corpus.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace xgrad {

std::string read_text_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        throw Error(path + ": cannot open the corpus: " + std::strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) throw Error(path + ": is a directory, not a text file");
    if (!S_ISREG(st.st_mode)) throw Error(path + ": is not a regular file (a device or a pipe?); give a text file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open the corpus: " + std::strerror(errno));
    std::ostringstream buf;
    buf << in.rdbuf();
    std::string bytes = buf.str();
    if (bytes.empty()) throw Error(path + ": the corpus is empty");
    if (bytes.find('\0') != std::string::npos) {
        throw Error(path + ": holds NUL bytes, so it looks binary, not text (byte " +
                    std::to_string(bytes.find('\0')) + ")");
    }
    return bytes;
}

CorpusText read_corpus(const std::string& path) {
    CorpusText corpus;
    corpus.origin = path.empty() ? "built-in corpus" : path;
    corpus.name = path.empty() ? "built-in" : path;
    corpus.bytes = path.empty() ? generate_corpus() : read_text_file(path);
    return corpus;
}

TextData prepare_data(std::u32string_view text, std::size_t block_size, const std::string& origin) {
    TextData d;
    d.tokenizer = Tokenizer::from_text(text);
    const std::vector<std::int64_t> data = d.tokenizer.encode(text, origin);
    const auto n = static_cast<std::size_t>(0.9 * static_cast<double>(data.size()));  // first 90% train, rest val
    d.train_data.assign(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
    d.val_data.assign(data.begin() + static_cast<std::ptrdiff_t>(n), data.end());
    for (const auto& [name, split] : {std::pair{"training", &d.train_data}, std::pair{"validation", &d.val_data}}) {
        if (split->size() < block_size + 1) {
            throw Error(origin + ": the " + std::string(name) + " split has " + std::to_string(split->size()) +
                        " characters, fewer than block_size + 1 = " + std::to_string(block_size + 1) +
                        "; use a longer text or a smaller --block-size");
        }
    }
    return d;
}

TextData prepare_data(const CorpusText& corpus, std::size_t block_size) {
    return prepare_data(decode_utf8(corpus.bytes, corpus.origin), block_size, corpus.origin);
}

std::size_t random_below(std::size_t n, Generator& gen) {
    return static_cast<std::size_t>((static_cast<std::uint64_t>(gen()) * n) >> 32);
}

std::pair<Index, Index> get_batch(const std::vector<std::int64_t>& data, std::size_t batch_size,
                                  std::size_t block_size, Generator& gen) {
    Index x = Index::from_shape({batch_size, block_size});
    Index y = Index::from_shape({batch_size, block_size});
    for (std::size_t b = 0; b < batch_size; ++b) {
        // ix = torch.randint(len(data) - block_size, (batch_size,))
        const std::size_t i = random_below(data.size() - block_size, gen);
        std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(i), block_size, &x(b, 0));
        std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(i + 1), block_size, &y(b, 0));
    }
    return {x, y};
}

}  // namespace xgrad
