#include "autograd/random.hpp"

namespace xgrad {

Generator& default_generator() {
    static Generator gen(1337);
    return gen;
}

BatchRows& current_batch_rows() {
    static BatchRows rows;
    return rows;
}

void manual_seed(std::uint64_t seed) { default_generator().seed(static_cast<Generator::result_type>(seed)); }

}  // namespace xgrad
