// libFuzzer target for the `xgrad grad --batch` reader: parse_batch() and
// check_batch() may refuse an input only with xgrad::Error.
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
//       fuzz/fuzz_batch.cpp train/formats/batch_file.cpp train/formats/safetensors.cpp \
//       train/formats/safetensors_parse.cpp -o /tmp/fuzz_batch
//   cp -r fuzz/corpus_batch /tmp/corpus_batch && /tmp/fuzz_batch -max_total_time=120 /tmp/corpus_batch
#include "autograd/error.hpp"
#include "train/formats/batch_file.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        xgrad::Batch batch = xgrad::parse_batch(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.batch");
        if (batch.B < 1 || batch.T < 1 || batch.x.size() != batch.B * batch.T || batch.y.size() != batch.x.size()) {
            std::abort();
        }
        // The lecture's Shakespeare stages: 65 characters, context of 8.
        xgrad::check_batch(batch, 65, 8, "fuzz.batch");
    } catch (const xgrad::Error&) {
    }
    return 0;
}
