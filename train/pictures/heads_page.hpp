// The page of `xgrad heads --html`: one self-contained HTML document (no
// script, nothing fetched) with the table of scores, each head's heatmap on
// the first window, and the heads' similarity matrix. Written by the
// command (train/analysis/heads_command.cpp); tested in tests/test_heads.cpp.
#pragma once

#include "train/analysis/heads.hpp"

#include <string>

namespace xgrad {

std::string heads_html(const analysis::HeadsReport& report, const std::string& checkpoint,
                       const std::u32string& first_window);

}  // namespace xgrad
