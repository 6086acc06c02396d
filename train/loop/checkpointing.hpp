// Load or resume, and save: the model a run trains and its optimizer, built
// fresh from the options or continued from the --resume checkpoint (with
// AdamW's moments, the step and the random generator's state beside it), and
// written to --out at each evaluation and at the end. The file formats are in
// train/formats/checkpoint.hpp; the steps here are train()'s
// (train/loop/train.cpp).
#pragma once

#include "models/language_model.hpp"
#include "nn/adamw.hpp"
#include "train/loop/options.hpp"
#include "train/text/data.hpp"

#include <memory>
#include <string>

namespace xgrad {

// The first half, before the data is read: with --resume, the checkpoint's
// model, with its config and vocabulary, which rule the run; without, only
// the options' model type and config.
struct Resumed {
    std::unique_ptr<LanguageModel> model;  // null: not resuming
    std::string model_type;
    GPTConfig config;                      // its block_size is the one the data is prepared for
    Tokenizer vocabulary;
    long long step = -1;                   // the checkpoint's step, -1 when it does not say
};
Resumed load_or_resume(const TrainOptions& options);

// The model a run trains, and what its checkpoint is written with.
struct Trainee {
    std::unique_ptr<LanguageModel> model;
    std::string model_type;  // the checkpoint's "model": gpt, bigram or a stage
    nn::AdamW optimizer;
    long long start_iter;    // the first step to run: 0, or the step a resumed run goes on from
    std::string corpus;      // the checkpoint's "corpus": the file's path, or "built-in"
    std::string out_path;    // where save_trainee writes: --out, else the --resume file, else nowhere
};
// The second half, once the data gives vocab_size: checks the config and the
// memory, builds the model (unless resumed) and its AdamW, and when resuming
// restores the training state (the moments, the step and `gen`).
Trainee make_trainee(const TrainOptions& options, Resumed resumed, const CorpusText& corpus, const TextData& data,
                     Generator& gen);

// The checkpoint and its training state (next_iter: the step to go on from),
// the state first; nothing when out_path is empty. Refuses to replace a good
// checkpoint with weights that are no longer finite.
void save_trainee(const Trainee& trainee, const Tokenizer& tokenizer, const Generator& gen, long long next_iter);

}  // namespace xgrad
