// `xgrad attention`: what each attention head of a trained GPT looks at, as
// one self-contained HTML page of SVG heatmaps (train/pictures/attention.cpp).
// Called by the command line (train/cli/main.cpp) and tests/test_visualize.cpp.
#pragma once

#include <string>

namespace xgrad {

// One <svg> heatmap per head per layer (n_layer x n_head), the text's
// characters on both axes.
void attention_html(const std::string& checkpoint, const std::string& text, const std::string& out_path);

}  // namespace xgrad
