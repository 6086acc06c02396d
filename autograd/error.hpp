// The one exception type of xgrad. Every message names the operation (or the
// file, or the flag) and the values involved, so a learner knows what to fix:
//   matmul: (4,3) @ (5,2): inner dims 3 and 5 differ
#pragma once

#include <stdexcept>
#include <string>

namespace xgrad {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace xgrad
