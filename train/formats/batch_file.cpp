// Reads a (B, T) batch of token ids out of a safetensors file.
#include "train/formats/batch_file.hpp"

#include "autograd/error.hpp"
#include "autograd/shape_text.hpp"
#include "train/formats/safetensors.hpp"

namespace xgrad {

namespace {

const safetensors::TensorData& find_tokens(const safetensors::File& file, const std::string& name,
                                           const std::string& origin) {
    auto it = file.tensors.find(name);
    if (it == file.tensors.end()) {
        throw Error(origin + ": no tensor '" + name + "' (a batch file holds integer tensors 'x' and 'y' of shape (B, T))");
    }
    const safetensors::TensorData& t = it->second;
    if (t.dtype != safetensors::Dtype::I64 && t.dtype != safetensors::Dtype::I32) {
        throw Error(origin + ": tensor '" + name + "' has dtype " + safetensors::dtype_name(t.dtype) +
                    ", expected I64 or I32 token ids");
    }
    if (t.shape.size() != 2) {
        throw Error(origin + ": tensor '" + name + "' has shape " + shape_str(t.shape) + ", expected (B, T)");
    }
    if (t.shape[0] < 1 || t.shape[1] < 1) {
        throw Error(origin + ": tensor '" + name + "' has shape " + shape_str(t.shape) + ", B and T must be at least 1");
    }
    return t;
}

Batch batch_from_file(const safetensors::File& file, const std::string& origin) {
    const safetensors::TensorData& x = find_tokens(file, "x", origin);
    const safetensors::TensorData& y = find_tokens(file, "y", origin);
    if (x.shape != y.shape) {
        throw Error(origin + ": tensors 'x' " + shape_str(x.shape) + " and 'y' " + shape_str(y.shape) +
                    " differ in shape");
    }
    Batch batch;
    batch.B = static_cast<std::size_t>(x.shape[0]);
    batch.T = static_cast<std::size_t>(x.shape[1]);
    try {
        batch.x = safetensors::to_int64s(x, "x");
        batch.y = safetensors::to_int64s(y, "y");
    } catch (const Error& e) {
        throw Error(origin + ": " + e.what());  // cannot happen after parse(); keeps the origin if it does
    }
    return batch;
}

}  // namespace

Batch parse_batch(std::string_view bytes, const std::string& origin) {
    return batch_from_file(safetensors::parse(bytes, origin), origin);
}

Batch load_batch(const std::string& path) { return batch_from_file(safetensors::load(path), path); }

void check_batch(const Batch& batch, std::size_t vocab_size, std::size_t block_size, const std::string& origin) {
    // A hand-built Batch may disagree with itself; one from parse_batch never does.
    if (batch.x.size() != batch.B * batch.T || batch.y.size() != batch.B * batch.T) {
        throw Error(origin + ": batch holds " + std::to_string(batch.x.size()) + " and " +
                    std::to_string(batch.y.size()) + " tokens, expected B * T = " + std::to_string(batch.B) + " * " +
                    std::to_string(batch.T));
    }
    // The position embedding table has block_size rows; a longer T would index past it.
    if (batch.T > block_size) {
        throw Error(origin + ": T = " + std::to_string(batch.T) + " exceeds the model's block_size " +
                    std::to_string(block_size));
    }
    auto check = [&](const std::vector<std::int64_t>& tokens, const char* name) {
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            std::int64_t v = tokens[i];
            if (v < 0 || static_cast<std::uint64_t>(v) >= vocab_size) {
                throw Error(origin + ": tensor '" + name + "' at (b, t) = (" + std::to_string(i / batch.T) + ", " +
                            std::to_string(i % batch.T) + "): token " + std::to_string(v) +
                            " is outside the vocabulary [0, " + std::to_string(vocab_size) + ")");
            }
        }
    };
    check(batch.x, "x");
    check(batch.y, "y");
}

}  // namespace xgrad
