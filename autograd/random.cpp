#include "autograd/random.hpp"

namespace xgrad {

namespace {
thread_local Generator* scoped = nullptr;  // a GeneratorScope's, on this thread
}

Generator& default_generator() {
    static Generator gen(1337);
    return scoped != nullptr ? *scoped : gen;
}

GeneratorScope::GeneratorScope(Generator& gen) : previous(scoped) { scoped = &gen; }
GeneratorScope::~GeneratorScope() { scoped = previous; }

BatchRows& current_batch_rows() {
    thread_local BatchRows rows;
    return rows;
}

void manual_seed(std::uint64_t seed) { default_generator().seed(static_cast<Generator::result_type>(seed)); }

}  // namespace xgrad
