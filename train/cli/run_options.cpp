// The options of one `xgrad train` run (run_options.hpp).
#include "train/cli/run_options.hpp"

#include "autograd/error.hpp"
#include "train/cli/presets.hpp"
#include "train/formats/checkpoint.hpp"
#include "train/loop/checkpointing.hpp"

#include <omp.h>

#include <tuple>

namespace xgrad {

namespace {

// Where the run starts: the run --resume's checkpoint recorded; an
// --init-from checkpoint's model and shape with a preset for the rest; or a
// preset (the one --preset names, or the model's own).
TrainOptions start_of_run(TrainFlags& f) {
    const TrainOptions& v = f.values;
    if (f.has("--resume")) return recorded_run(v.resume);
    const bool preset_given = f.has("--preset");
    std::string model = v.model;
    if (!f.has("--model") && preset_given) model = model_of_preset(f.preset);  // --preset head trains the head stage
    const std::string name = preset_given ? f.preset : f.has("--init-from") ? "tiny" : default_preset(model, f.has("--model"));
    TrainOptions o = preset(name);
    o.preset = name;
    o.model = model;
    if (f.has("--init-from")) std::tie(o.model, o.config) = checkpoint_model(v.init_from);
    return o;
}

// The flags given, on top of where the run starts.
void apply_given(const TrainFlags& f, TrainOptions& o) {
    const TrainOptions& v = f.values;
    o.threads = v.threads, o.out = v.out, o.log = v.log, o.init_from = v.init_from, o.profile = v.profile;
    o.grad_accum = v.grad_accum, o.thread_split = v.thread_split;
    if (f.has("--model")) o.model = v.model;
    if (f.has("--data")) o.data = v.data;
    if (f.has("--seed")) o.seed = v.seed;
    if (f.has("--sample-tokens")) o.sample_tokens = v.sample_tokens;
    if (f.has("--batch-size")) o.batch_size = v.batch_size;
    if (f.has("--max-iters")) o.max_iters = v.max_iters;
    if (f.has("--eval-interval")) o.eval_interval = v.eval_interval;
    if (f.has("--learning-rate")) o.learning_rate = v.learning_rate;
    if (f.has("--eval-iters")) o.eval_iters = v.eval_iters;
    if (f.has("--block-size")) o.config.block_size = v.config.block_size;
    if (f.has("--n-embd")) o.config.n_embd = v.config.n_embd;
    if (f.has("--n-head")) o.config.n_head = v.config.n_head;
    if (f.has("--n-layer")) o.config.n_layer = v.config.n_layer;
    if (f.has("--dropout")) o.config.dropout = v.config.dropout;
    if (f.has("--attention-scale")) {
        o.config.attention_scale = f.attention_scale == "n_embd" ? AttentionScale::n_embd : AttentionScale::head_size;
    }
}

void check_threads(const TrainFlags& f) {
    if (!f.has("--threads")) return;
    const int threads = f.values.threads, cores = omp_get_num_procs();
    if (threads == 0) throw Error("--threads must be at least 1 (leave it out to use every core)");
    if (threads > cores) {
        throw Error("--threads " + std::to_string(threads) + ": this machine has " + std::to_string(cores) +
                    " cores; more threads than cores only slow training down");
    }
}

// --resume continues the run it recorded: a flag that would change it is refused.
void refuse_changes_to_the_run(const TrainFlags& f, const TrainOptions& recorded, const TrainOptions& o) {
    const std::string& ck = f.values.resume;
    const std::string start_anew = "; to start a new run from its weights, use --init-from " + ck;
    if (f.has("--preset") && f.preset != recorded.preset) {
        throw Error("--preset " + f.preset + " contradicts the run of " + ck + " (preset " +
                    (recorded.preset.empty() ? "none" : recorded.preset) + ")" + start_anew);
    }
    const std::string differs = first_contradiction(recorded, o);
    if (!differs.empty()) {
        throw Error(differs + " contradicts the run of " + ck + "; --resume continues that run as it was started (only "
                    "--max-iters, --threads, --thread-split, --out, --log, --sample-tokens and --profile may change)" + start_anew);
    }
}

// --init-from starts from the checkpoint's weights: its model and shape (as
// start_of_run read them into `start`) stay.
void refuse_changes_to_the_weights(const TrainFlags& f, const TrainOptions& start, const TrainOptions& o) {
    TrainOptions shape = o;
    shape.model = start.model, shape.config = start.config, shape.config.dropout = o.config.dropout;  // dropout may change
    const std::string differs = first_contradiction(shape, o);
    if (!differs.empty()) {
        throw Error(differs + " contradicts the weights of " + f.values.init_from +
                    ", which --init-from starts from; drop the flag, or train a new model without --init-from");
    }
}

}  // namespace

TrainOptions run_options(TrainFlags f) {
    TrainOptions o = start_of_run(f);
    const TrainOptions recorded = o;  // where the run started: --resume's record, --init-from's model, or the preset
    check_threads(f);
    apply_given(f, o);
    if (f.has("--init-from")) refuse_changes_to_the_weights(f, recorded, o);
    if (f.has("--resume")) refuse_changes_to_the_run(f, recorded, o);
    return o;
}

}  // namespace xgrad
