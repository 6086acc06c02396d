// `xgrad plot`: how the loss fell, as an SVG of train and val loss against
// step, read from the --log files of xgrad train (train/pictures/loss_plot.cpp).
// Called by the command line (train/cli/main.cpp) and tests/test_visualize.cpp.
#pragma once

#include <string>
#include <vector>

namespace xgrad {

// Train and val loss against step from one or more --log files.
void plot_losses(const std::vector<std::string>& logs, const std::string& out_path);

}  // namespace xgrad
