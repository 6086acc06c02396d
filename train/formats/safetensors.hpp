// Reading and writing the safetensors format, so weights travel to and from
// PyTorch / the lecture's gpt.py and the blog's model. The layout (https://github.com/huggingface/safetensors):
//   8 bytes   little-endian u64 N, the header length
//   N bytes   JSON object: {"__metadata__": {"k": "v"}, "name": {"dtype": "F32",
//             "shape": [2, 3], "data_offsets": [begin, end]}, ...}, maybe space-padded
//   rest      the data buffer; offsets are relative to its start, little-endian, row-major
//
// parse() treats its input as hostile (it is fuzzed): any malformed file becomes
// one xgrad::Error "<origin>: <what is wrong>", never a crash, a hang or an
// out-of-bounds read. Tensor bytes are copied only after every offset is checked
// and no two tensors overlap, so they never exceed the file. The JSON header
// (at most 100 MB) costs up to about 25x its size while nlohmann holds it.
//
// Used by the checkpoints and batch files (train/formats/), `xgrad grad`, and
// for write_file_atomic by every picture (train/pictures/) and `xgrad corpus`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace xgrad::safetensors {

// Only the dtypes xgrad computes with; F16, BF16, U8, ... are rejected by name.
enum class Dtype { F32, F64, I32, I64 };

const char* dtype_name(Dtype dtype);    // "F32", as written in the header
std::size_t dtype_size(Dtype dtype);    // bytes per element

struct TensorData {
    Dtype dtype = Dtype::F32;
    std::vector<std::int64_t> shape;
    std::vector<unsigned char> bytes;   // raw little-endian, row-major
    // Product of shape; throws Error on a negative dimension or overflow.
    std::size_t numel() const;
};

TensorData from_floats(std::vector<std::int64_t> shape, const float* data);  // F32
TensorData from_int64s(std::vector<std::int64_t> shape, const std::int64_t* data);  // I64
// F32 as is, F64 narrowed; any other dtype throws an Error naming the tensor and its dtype.
std::vector<float> to_floats(const TensorData& tensor, const std::string& name);
// I64 as is, I32 widened; any other dtype throws.
std::vector<std::int64_t> to_int64s(const TensorData& tensor, const std::string& name);

struct File {
    std::map<std::string, std::string> metadata;  // "__metadata__", strings only
    std::map<std::string, TensorData> tensors;
};

// origin (usually the file name) starts every error message.
File parse(std::string_view bytes, const std::string& origin);
// Reads the whole (regular) file; a missing, unreadable or non-regular file is an Error naming the path.
File load(const std::string& path);

// Tensors in name order, contiguous; header space-padded to a multiple of 8 like Python's writer.
std::string serialize(const File& file);
// Atomic: see write_file_atomic.
void save(const File& file, const std::string& path);

// Writes path + ".tmp.<pid>", fsyncs it, renames it over path, so a reader (or a
// crash) sees the old file or the new one, never half of one. On failure the
// temp file is removed and the Error names the path and the reason.
void write_file_atomic(const std::string& path, std::string_view contents);

}  // namespace xgrad::safetensors
