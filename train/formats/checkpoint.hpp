// Checkpoints are safetensors files that PyTorch reads as they are: the tensor
// names are the lecture model's state-dict keys (each head's `tril` buffer
// included, Linear weights stored (out, in)), and __metadata__ holds
//     "config": {"vocab_size":65,"block_size":32,"n_embd":64,"n_head":4,"n_layer":4,"dropout":0.0}
//     "vocab":  the vocabulary's characters concatenated in token order
//     "model":  "gpt" (absent in files PyTorch wrote: then "gpt"), "bigram", or a stage of the series
//     "corpus": what it was trained on ("built-in" for the toy corpus, else the file's name)
// so `model.load_state_dict(load_file(path), strict=True)` works in PyTorch.
//
// The optimizer's moments, the step and the random generator's state go in a
// second file, CKPT.state, so `xgrad train --resume CKPT` continues the run.
//
// Written and read by training (train/loop/checkpointing.cpp); read by every
// command that takes a model: sample and grad (train/cli/commands.cpp), the
// attention page and the graph (train/pictures/).
#pragma once

#include "models/language_model.hpp"
#include "nn/adamw.hpp"
#include "train/text/tokenizer.hpp"

#include <memory>
#include <string>

namespace xgrad {

// The models the command line can build by name: "gpt", "bigram", ...
std::unique_ptr<LanguageModel> make_model(const std::string& type, const GPTConfig& config);
// The state dict's names and shapes of that model, built hollow (no values:
// nn::ShapesOnly), and their number of floats: what loading a checkpoint
// checks before it allocates, and what training's memory estimate counts.
nn::NamedTensors expected_state(const std::string& type, const GPTConfig& config);
std::size_t state_size(const nn::NamedTensors& state);
std::string config_to_json(const GPTConfig& config);
// Parses and checks a config (all sizes positive integers, n_embd divisible by
// n_head, dropout in [0, 1)); errors start with `origin`.
GPTConfig config_from_json(const std::string& text, const std::string& origin);
// Throws an Error naming `origin` if the config cannot build a model.
void check_config(const GPTConfig& config, const std::string& origin);

// `step` (metadata "step", when >= 0) ties the checkpoint to its training state.
void save_checkpoint(const LanguageModel& model, const std::string& model_type, const Tokenizer& tokenizer,
                     const std::string& corpus, const std::string& path, long long step = -1);

struct LoadedCheckpoint {
    std::unique_ptr<LanguageModel> model;
    std::string model_type;
    Tokenizer tokenizer;
    std::string corpus;  // empty when the file does not say
    long long step = -1; // the training step it was saved at, -1 when the file does not say
};
// Checks everything against the config before building the model: each
// expected tensor present, no unexpected one, F32 with the right shape, finite
// values, tril buffers that are the causal mask, a vocabulary of vocab_size.
LoadedCheckpoint load_checkpoint(const std::string& path);
// Only a checkpoint's config and model type (its metadata), checked as load_checkpoint checks them.
std::pair<std::string, GPTConfig> checkpoint_model(const std::string& path);

// The training state beside a checkpoint: AdamW's moments and step, the next
// iteration, and the random generator's state.
struct TrainState {
    long long iter = 0;  // the next iteration to run
};
std::string state_path(const std::string& checkpoint_path);           // CKPT.state
std::string previous_state_path(const std::string& checkpoint_path);  // CKPT.state.prev, only while a save is under way
// `run`: what the run was started with (train/loop/checkpointing.hpp's run_record), for --resume.
void save_train_state(const nn::AdamW& optimizer, long long next_iter, const Generator& gen, const std::string& path,
                      const std::string& run = "");
// The checkpoint and its training state, as a pair that survives a kill at
// any moment: --resume always finds the state of the checkpoint's step.
void save_checkpoint_and_state(const LanguageModel& model, const std::string& model_type, const Tokenizer& tokenizer,
                               const std::string& corpus, const nn::AdamW& optimizer, const Generator& gen,
                               const std::string& path, long long step, const std::string& run = "");
// Loads the state of CKPT's step (checkpoint_step, or whatever CKPT.state
// holds when the checkpoint does not say): CKPT.state, or CKPT.state.prev
// when a kill fell between the two writes of a save.
TrainState load_train_state(nn::AdamW& optimizer, Generator& gen, const std::string& checkpoint_path,
                            long long checkpoint_step);

}  // namespace xgrad
