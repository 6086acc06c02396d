// libFuzzer target for the safetensors reader. parse() may refuse an input
// only with xgrad::Error; any other exception, crash, leak or sanitizer report
// is a bug. Accepted files also go through the decoders and back through the
// writer, whose output must parse to the same tensors.
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
//       fuzz/fuzz_safetensors.cpp train/formats/safetensors.cpp train/formats/safetensors_parse.cpp \
//       -o /tmp/fuzz_st
//   cp -r fuzz/corpus_safetensors /tmp/corpus_st && /tmp/fuzz_st -max_total_time=120 /tmp/corpus_st
#include "autograd/error.hpp"
#include "train/formats/safetensors.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace st = xgrad::safetensors;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    st::File file;
    try {
        file = st::parse(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.safetensors");
    } catch (const xgrad::Error&) {
        return 0;
    }
    for (const auto& [name, t] : file.tensors) {
        if (t.dtype == st::Dtype::F32 || t.dtype == st::Dtype::F64) {
            if (st::to_floats(t, name).size() != t.numel()) std::abort();
        } else {
            if (st::to_int64s(t, name).size() != t.numel()) std::abort();
        }
    }
    // Names and metadata came through nlohmann's UTF-8 check, so the writer must accept them.
    st::File again = st::parse(st::serialize(file), "reserialized");
    if (again.metadata != file.metadata || again.tensors.size() != file.tensors.size()) std::abort();
    for (const auto& [name, t] : file.tensors) {
        const st::TensorData& u = again.tensors.at(name);
        if (u.dtype != t.dtype || u.shape != t.shape || u.bytes != t.bytes) std::abort();
    }
    return 0;
}
