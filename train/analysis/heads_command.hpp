// `xgrad heads`: reads a checkpoint and a text file, runs the analysis
// (heads.hpp), prints the table and writes the JSON and the page when asked.
// Called by the command line (train/cli/main.cpp).
#pragma once

#include "train/analysis/heads.hpp"

#include <iosfwd>
#include <string>

namespace xgrad::analysis {

struct HeadsCommand {
    std::string checkpoint, text_file, json_out, html_out;
    std::string ablate;  // "L.H,L.H"
    HeadsOptions options;
    bool subject_verb = false;
};

int run_heads(const HeadsCommand& command, std::ostream& out);

}  // namespace xgrad::analysis
