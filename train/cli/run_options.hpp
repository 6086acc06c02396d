// The options of one `xgrad train` run from its flags: where a run starts
// (the run a --resume checkpoint recorded, the model of an --init-from
// checkpoint, or a preset), the flags given on top, and the refusals (a flag
// that contradicts the resumed run or the weights it starts from, a thread
// count the machine cannot use). Called by the command line (main.cpp).
#pragma once

#include "train/loop/options.hpp"

#include <set>
#include <string>

namespace xgrad {

struct TrainFlags {
    TrainOptions values;          // what CLI11 parsed, for the flags given
    std::string preset = "tiny";  // --preset
    std::string attention_scale;  // --attention-scale: head_size or n_embd
    std::set<std::string> given;  // the flags on the command line: "--batch-size", "--resume", ...
    bool has(const char* flag) const { return given.count(flag) != 0; }
};

TrainOptions run_options(TrainFlags flags);

}  // namespace xgrad
