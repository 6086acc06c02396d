// "(2,3,4)": how xgrad prints a shape in its messages, for tensors
// (autograd/tensor.hpp's shape_str) and for a file's tensors alike. A hostile
// file's shape shows its first 8 dims, then "...". Header-only and free of
// xtensor, so the file readers (and their fuzz targets) use it without the engine.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xgrad {

template <class Dims>
std::string dims_text(const Dims& shape) {
    std::string s = "(";
    for (std::size_t i = 0; i < shape.size() && i < 8; ++i) s += (i ? "," : "") + std::to_string(shape[i]);
    if (shape.size() > 8) s += ",...";
    return s + ")";
}

inline std::string shape_str(const std::vector<std::int64_t>& shape) { return dims_text(shape); }

}  // namespace xgrad
