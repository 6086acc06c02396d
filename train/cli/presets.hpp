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
// `gpt` takes the lecture's), else the tiny preset.
std::string default_preset(const std::string& model, bool model_given);

}  // namespace xgrad
