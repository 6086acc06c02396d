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

// What a run was started with, recorded in its checkpoints' training state so
// that --resume CKPT alone continues exactly that run: the model, the
// preset, every hyperparameter, the config, the seed, the corpus's path and
// a hash of its text (FNV-1a, 64 bits). As JSON, one key per flag.
std::string run_record(const TrainOptions& options, const std::string& corpus_bytes);
// The run record's hash of a corpus's text: FNV-1a, 64 bits, as 16 hex digits
// (also how `xgrad serve` knows a corpus file is still the one trained on).
std::string fnv1a64(const std::string& bytes);
// The options recorded in CKPT's training state; an Error that says what is
// missing (and offers --init-from) when there is no state beside CKPT.
TrainOptions recorded_run(const std::string& checkpoint);
// The first flag of `given` that differs from `recorded` among those that
// define the run (not --max-iters, --threads, --out, --log, --sample-tokens,
// --profile), as "--batch-size 32 (the run has 16)"; empty when none.
std::string first_contradiction(const TrainOptions& recorded, const TrainOptions& given);

// The model a run trains, and what its checkpoint is written with.
struct Trainee {
    std::unique_ptr<LanguageModel> model;
    std::string model_type;  // the checkpoint's "model": gpt, bigram or a stage
    nn::AdamW optimizer;
    long long start_iter;    // the first step to run: 0, or the step a resumed run goes on from
    std::string corpus;      // the checkpoint's "corpus": the file's path, or "built-in"
    std::string out_path;    // where save_trainee writes: --out, else the --resume file, else nowhere
    std::string run;         // run_record(options, corpus): written into each training state
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
