// Pictures of what the model does and learned: attention heatmaps (HTML with
// inline SVG), loss curves (SVG) and the autograd graph (Graphviz DOT).
#pragma once

#include <string>
#include <vector>

namespace xgrad {

// `xgrad attention`: one self-contained HTML page, one <svg> heatmap per head
// per layer (n_layer x n_head), the text's characters on both axes.
void attention_html(const std::string& checkpoint, const std::string& text, const std::string& out_path);

// `xgrad plot`: train and val loss against step from one or more --log files.
void plot_losses(const std::vector<std::string>& logs, const std::string& out_path);

// `xgrad graph`: the autograd graph of one forward pass and loss on a small
// batch, one DOT node per op (labelled with the engine's op name and shape).
void graph_dot(const std::string& checkpoint, const std::string& out_path);

}  // namespace xgrad
