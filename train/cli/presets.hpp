// The presets of `xgrad train --preset NAME`: the tiny preset, the lecture's
// gpt.py, and the settings of each stage of the series (bigram.py and the
// lecture's commits between it and gpt.py). Used by the command line
// (train/cli/main.cpp), where explicit flags override them.
#pragma once

#include "train/loop/options.hpp"

#include <string>

namespace xgrad {

// The options of a preset; an unknown name is an Error that lists the known ones.
TrainOptions preset(const std::string& name);

// Without --preset: the stage's own settings for --model NAME (the full
// `gpt` takes the lecture's, `blog` the blog's), else the tiny preset. The
// first line of the run says which preset it took.
std::string default_preset(const std::string& model, bool model_given);
// Without --model: the model a preset is named after (--preset head trains
// the head stage, --preset blog the blog's GPT); tiny and lecture train gpt.
std::string model_of_preset(const std::string& preset);

}  // namespace xgrad
