// `xgrad graph`: the graph the engine records for one forward pass, as
// Graphviz DOT (train/pictures/graph.cpp). Called by the command line
// (train/cli/main.cpp) and tests/test_visualize.cpp.
#pragma once

#include <string>

namespace xgrad {

// The autograd graph of one forward pass and loss on a small batch, one DOT
// node per op (labelled with the engine's op name and shape).
void graph_dot(const std::string& checkpoint, const std::string& out_path);

}  // namespace xgrad
