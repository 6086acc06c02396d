// The default random generator, as torch.manual_seed(1337) seeds PyTorch's:
// weight initialisation, dropout masks, batches and sampling all draw from it
// unless given another, so one seed reproduces a whole run.
#pragma once

#include "autograd/ops.hpp"

#include <cstdint>

namespace xgrad {

Generator& default_generator();
void manual_seed(std::uint64_t seed);

}  // namespace xgrad
