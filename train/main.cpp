// The `xgrad` command line: train, sample, grad, corpus. Each subcommand's
// flags are named after the lecture's hyperparameters.
#include "autograd/error.hpp"
#include "train/commands.hpp"
#include "train/trainer.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <new>

namespace {

using namespace xgrad;

// The presets of `xgrad train --preset`: explicit flags override them.
TrainOptions preset(const std::string& name) {
    TrainOptions o;
    if (name == "tiny") {  // minutes on a laptop CPU
        o.batch_size = 16, o.config.block_size = 32, o.config.n_embd = 64, o.config.n_head = 4, o.config.n_layer = 4;
        o.config.dropout = 0.0, o.learning_rate = 1e-3, o.max_iters = 5000, o.eval_interval = 500, o.eval_iters = 200;
    } else if (name == "lecture") {  // gpt.py's defaults
        o.batch_size = 64, o.config.block_size = 256, o.config.n_embd = 384, o.config.n_head = 6, o.config.n_layer = 6;
        o.config.dropout = 0.2, o.learning_rate = 3e-4, o.max_iters = 5000, o.eval_interval = 500, o.eval_iters = 200;
    } else {
        throw Error("--preset: unknown preset '" + name + "' (expected tiny or lecture)");
    }
    return o;
}

void add_train(CLI::App& app, int& exit_code) {
    CLI::App* cmd = app.add_subcommand("train", "train a model and sample from it");
    static std::string preset_name = "tiny";
    static TrainOptions flags;  // filled by CLI11; only flags given on the command line are used
    cmd->add_option("--preset", preset_name, "tiny or lecture (default tiny); flags below override it");
    cmd->add_option("--model", flags.model, "gpt or bigram (default gpt)");
    cmd->add_option("--data", flags.data, "corpus file, UTF-8 text (default: the built-in toy corpus)");
    auto* batch = cmd->add_option("--batch-size", flags.batch_size, "sequences per batch");
    auto* block = cmd->add_option("--block-size", flags.config.block_size, "context length");
    auto* iters = cmd->add_option("--max-iters", flags.max_iters, "training steps");
    auto* interval = cmd->add_option("--eval-interval", flags.eval_interval, "evaluate every N steps");
    auto* lr = cmd->add_option("--learning-rate", flags.learning_rate, "AdamW learning rate");
    auto* eval_iters = cmd->add_option("--eval-iters", flags.eval_iters, "batches per evaluation (0: none)");
    auto* n_embd = cmd->add_option("--n-embd", flags.config.n_embd, "embedding size");
    auto* n_head = cmd->add_option("--n-head", flags.config.n_head, "attention heads per block");
    auto* n_layer = cmd->add_option("--n-layer", flags.config.n_layer, "blocks");
    auto* drop = cmd->add_option("--dropout", flags.config.dropout, "dropout probability");
    cmd->add_option("--seed", flags.seed, "random seed (default 1337)");
    cmd->add_option("--threads", flags.threads, "threads (default: every core; 1 is deterministic)");
    cmd->add_option("--out", flags.out, "checkpoint to write at each evaluation and at the end");
    cmd->add_option("--resume", flags.resume, "checkpoint to continue from");
    cmd->add_option("--log", flags.log, "write JSON lines: one per evaluation and a summary");
    cmd->add_option("--sample-tokens", flags.sample_tokens, "tokens to generate at the end (default 300)");
    cmd->callback([=, &exit_code] {
        TrainOptions o = preset(preset_name);
        o.model = flags.model, o.data = flags.data, o.seed = flags.seed, o.threads = flags.threads;
        o.out = flags.out, o.resume = flags.resume, o.log = flags.log, o.sample_tokens = flags.sample_tokens;
        if (batch->count()) o.batch_size = flags.batch_size;
        if (block->count()) o.config.block_size = flags.config.block_size;
        if (iters->count()) o.max_iters = flags.max_iters;
        if (interval->count()) o.eval_interval = flags.eval_interval;
        if (lr->count()) o.learning_rate = flags.learning_rate;
        if (eval_iters->count()) o.eval_iters = flags.eval_iters;
        if (n_embd->count()) o.config.n_embd = flags.config.n_embd;
        if (n_head->count()) o.config.n_head = flags.config.n_head;
        if (n_layer->count()) o.config.n_layer = flags.config.n_layer;
        if (drop->count()) o.config.dropout = flags.config.dropout;
        exit_code = train(o, std::cout);
    });
}

void add_sample(CLI::App& app) {
    CLI::App* cmd = app.add_subcommand("sample", "generate text from a checkpoint");
    static SampleOptions o;
    cmd->add_option("--checkpoint", o.checkpoint, "a checkpoint written by xgrad train (or from PyTorch)")->required();
    cmd->add_option("--prompt", o.prompt, "text to continue (cropped to block_size as the lecture does)");
    cmd->add_option("--tokens", o.tokens, "tokens to generate (default 500)");
    cmd->add_option("--temperature", o.sampling.temperature, "> 0; below 1 is more conservative (default 1)");
    cmd->add_option("--top-k", o.sampling.top_k, "sample among the k most likely tokens (default: all)");
    cmd->add_option("--seed", o.seed, "random seed (default 1337)");
    cmd->callback([] { sample(o, std::cout); });
}

void add_grad(CLI::App& app) {
    CLI::App* cmd = app.add_subcommand("grad", "one forward and backward pass, written as safetensors");
    static std::string checkpoint, batch, out;
    cmd->add_option("--checkpoint", checkpoint, "the model's weights")->required();
    cmd->add_option("--batch", batch, "safetensors file with integer tensors x and y, shape (B, T)")->required();
    cmd->add_option("--out", out, "where to write loss, logits and the gradients")->required();
    cmd->callback([] { grad(checkpoint, batch, out); });
}

void add_corpus(CLI::App& app) {
    CLI::App* cmd = app.add_subcommand("corpus", "write the built-in toy corpus");
    static std::string out;
    cmd->add_option("--out", out, "file to write (default: standard output)");
    cmd->callback([] { write_corpus(out, std::cout); });
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"xgrad: a from-scratch autograd engine and the GPT of \"Let's build GPT\", on your CPU"};
    app.require_subcommand(1);
    int exit_code = 0;
    add_train(app, exit_code);
    add_sample(app);
    add_grad(app);
    add_corpus(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const xgrad::Error& e) {
        std::cerr << "xgrad: error: " << e.what() << "\n";
        return 1;
    } catch (const std::bad_alloc&) {
        std::cerr << "xgrad: error: out of memory: the sizes asked for need more memory than this machine has\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "xgrad: error: " << e.what() << "\n";
        return 1;
    }
    return exit_code;
}
