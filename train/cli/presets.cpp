// The presets of `xgrad train` (presets.hpp), beside the hyperparameters of
// the scripts they stand for.
#include "train/cli/presets.hpp"

#include "autograd/error.hpp"

namespace xgrad {

TrainOptions preset(const std::string& name) {
    TrainOptions o;
    o.max_iters = 5000, o.eval_interval = 500, o.eval_iters = 200;
    GPTConfig& c = o.config;
    if (name == "tiny") {  // minutes on a laptop CPU
        o.batch_size = 16, c.block_size = 32, c.n_embd = 64, c.n_head = 4, c.n_layer = 4, c.dropout = 0.0;
        o.learning_rate = 1e-3;
    } else if (name == "lecture") {  // gpt.py's defaults
        o.batch_size = 64, c.block_size = 256, c.n_embd = 384, c.n_head = 6, c.n_layer = 6, c.dropout = 0.2;
        o.learning_rate = 3e-4;
    } else if (name == "bigram") {  // bigram.py
        o.batch_size = 32, c.block_size = 8, c.n_embd = 32, c.n_head = 1, c.n_layer = 0, c.dropout = 0.0;
        o.learning_rate = 1e-2, o.max_iters = 3000, o.eval_interval = 300;
    } else if (name == "blog") {  // the blog's GPT, posts 37-42: n_embd 64, block_size 64, n_layer 2, four heads; the
                                  // posts do not give dropout, batch, learning rate or steps: ours, a few minutes on a CPU
        o.batch_size = 32, c.block_size = 64, c.n_embd = 64, c.n_head = 4, c.n_layer = 2, c.dropout = 0.1;
        o.learning_rate = 1e-3;
    } else if (name == "head" || name == "multihead" || name == "feedforward" || name == "blocks" ||
               name == "layernorm") {  // the lecture's commits between bigram.py and gpt.py
        o.batch_size = 32, c.block_size = 8, c.n_embd = 32, c.n_head = name == "head" ? 1 : 4;
        c.n_layer = name == "blocks" || name == "layernorm" ? 3 : 0, c.dropout = 0.0, o.learning_rate = 1e-3;
    } else {
        throw Error("--preset: unknown preset '" + name +
                    "' (expected tiny, lecture, blog, or a stage's name: bigram, head, multihead, feedforward, blocks, "
                    "layernorm)");
    }
    return o;
}

std::string default_preset(const std::string& model, bool model_given) {
    if (!model_given) return "tiny";
    if (model == "gpt") return "lecture";
    for (const char* stage : {"bigram", "head", "multihead", "feedforward", "blocks", "layernorm", "blog"}) {
        if (model == stage) return model;
    }
    return "tiny";  // an unknown model: make_model names it
}

std::string model_of_preset(const std::string& preset) {
    for (const char* stage : {"bigram", "head", "multihead", "feedforward", "blocks", "layernorm", "blog"}) {
        if (preset == stage) return preset;
    }
    return "gpt";  // tiny and lecture are GPTs
}

}  // namespace xgrad
