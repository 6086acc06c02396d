// The `xgrad` command line: each subcommand and its flags, named after the
// lecture's hyperparameters. The work is elsewhere: train in train/loop/ (from
// a preset of presets.cpp), sample, grad and corpus in commands.cpp, the
// pictures (attention, plot, graph) in train/pictures/, gradcheck in
// tests/gradcheck_suite.cpp.
#include "autograd/blas.hpp"
#include "autograd/error.hpp"
#include "train/analysis/heads_command.hpp"
#include "train/cli/commands.hpp"
#include "train/cli/heap.hpp"
#include "train/cli/presets.hpp"
#include "train/cli/run_options.hpp"
#include "train/distributed/distributed.hpp"
#include "train/formats/checkpoint.hpp"
#include "train/loop/checkpointing.hpp"
#include "train/loop/train.hpp"
#include "train/pictures/attention.hpp"
#include "train/pictures/graph.hpp"
#include "train/pictures/loss_plot.hpp"
#include "train/serve/server.hpp"
#include "tests/gradcheck_suite.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <tuple>
#include <omp.h>
#include <iostream>
#include <new>

namespace {

using namespace xgrad;

// Sizes and counts cannot be negative (CLI11 would wrap -5 into a huge unsigned number).
const CLI::Validator non_negative(
    [](std::string& value) {
        return !value.empty() && value[0] == '-' ? "must not be negative, got " + value : std::string();
    },
    "NON-NEGATIVE");

void add_train(CLI::App& app, int& exit_code) {
    CLI::App* cmd = app.add_subcommand("train", "train a model and sample from it");
    static TrainFlags flags;  // filled by CLI11; run_options uses only the flags given (run_options.hpp)
    TrainOptions& v = flags.values;
    cmd->add_option("--preset", flags.preset, "tiny, lecture, blog or a stage's name (default tiny); flags below override it");
    cmd->add_option("--model", v.model,
                    "a stage of the series: bigram, head, multihead, feedforward, blocks, layernorm or gpt (default gpt), "
                    "or the blog's GPT: blog; without --preset it trains with the stage's own settings");
    cmd->add_option("--data", v.data, "corpus file, UTF-8 text (default: the built-in toy corpus)");
    cmd->add_option("--batch-size", v.batch_size, "sequences per batch")->check(non_negative);
    cmd->add_option("--block-size", v.config.block_size, "context length")->check(non_negative);
    cmd->add_option("--max-iters", v.max_iters, "training steps")->check(non_negative);
    cmd->add_option("--eval-interval", v.eval_interval, "evaluate every N steps")->check(non_negative);
    cmd->add_option("--learning-rate", v.learning_rate, "AdamW learning rate");
    cmd->add_option("--eval-iters", v.eval_iters, "batches per evaluation (0: none)")->check(non_negative);
    cmd->add_option("--n-embd", v.config.n_embd, "embedding size")->check(non_negative);
    cmd->add_option("--n-head", v.config.n_head, "attention heads per block")->check(non_negative);
    cmd->add_option("--n-layer", v.config.n_layer, "blocks")->check(non_negative);
    cmd->add_option("--dropout", v.config.dropout, "dropout probability");
    cmd->add_option("--attention-scale", flags.attention_scale,
                    "head_size (the lecture's) or n_embd (the blog's post 38); default: the model's own")
        ->check(CLI::IsMember({"head_size", "n_embd"}));
    cmd->add_option("--seed", v.seed, "random seed (default 1337)")->check(non_negative);
    cmd->add_option("--threads", v.threads,
                    "threads (default: every core); N threads train the same weights as --threads 1 --grad-accum N")
        ->check(non_negative);
    cmd->add_option("--thread-split", v.thread_split,
                    "how the threads share a step: batch (each thread its rows of the batch; the default) or ops "
                    "(every op split between them, as before; used when the batch does not split)")
        ->check(CLI::IsMember({"batch", "ops"}));
    cmd->add_option("--out", v.out, "checkpoint to write at each evaluation and at the end");
    auto* resume = cmd->add_option("--resume", v.resume, "continue the run of this checkpoint, as it was started");
    auto* init_from = cmd->add_option("--init-from", v.init_from,
                                      "start a new run (fresh AdamW, step 0) from this checkpoint's weights");
    resume->excludes(init_from);
    cmd->add_option("--log", v.log, "write JSON lines: one per evaluation and a summary");
    cmd->add_option("--grad-accum", v.grad_accum,
                    "micro-batches per step (per rank), their gradients summed: the same step in less memory "
                    "(default 1)")->check(non_negative);
    cmd->add_flag("--profile", v.profile,
                  "print where the time of a training step goes, per op (the threads then split each op: "
                  "--thread-split ops)");
    cmd->add_option("--sample-tokens", v.sample_tokens, "tokens to generate at the end (default 300)")->check(non_negative);
    cmd->callback([cmd, &exit_code] {
        for (const CLI::Option* opt : cmd->get_options()) {
            if (opt->count()) flags.given.insert(opt->get_name());
        }
        dist::init();  // under mpirun: one rank of a data-parallel run (train/distributed/)
        exit_code = train(run_options(flags), std::cout);
        dist::finalize();
    });
}

void add_sample(CLI::App& app) {
    CLI::App* cmd = app.add_subcommand("sample", "generate text from a checkpoint");
    static SampleOptions o;
    cmd->add_option("--checkpoint", o.checkpoint, "a checkpoint written by xgrad train (or from PyTorch)")->required();
    cmd->add_option("--prompt", o.prompt, "text to continue (cropped to block_size as the lecture does)");
    cmd->add_option("--tokens", o.tokens, "tokens to generate (default 500)")->check(non_negative);
    auto* temperature = cmd->add_option("--temperature", o.sampling.temperature, "> 0; below 1 is more conservative (default 1)");
    auto* top_k = cmd->add_option("--top-k", o.sampling.top_k, "sample among the k most likely tokens (default: all)")
                      ->check(non_negative);
    auto* top_p = cmd->add_option("--top-p", o.sampling.top_p,
                                  "in (0, 1]: sample among the fewest most likely tokens whose probability reaches it");
    auto* greedy = cmd->add_flag("--greedy", o.sampling.greedy, "always the most likely token (no randomness)");
    cmd->add_option("--seed", o.seed, "random seed (default 1337)")->check(non_negative);
    static bool no_kv_cache = false;
    cmd->add_flag("--no-kv-cache", no_kv_cache,
                  "recompute the whole context for every token, as the lecture's generate() (the same tokens, slower)");
    cmd->callback([=] {
        for (const CLI::Option* other : {temperature, top_k, top_p}) {
            if (greedy->count() && other->count()) {
                throw Error("--greedy takes the most likely token, so " + other->get_name() +
                            " has nothing to do; give one of the two");
            }
        }
        o.sampling.kv_cache = !no_kv_cache;
        sample(o, std::cout);
    });
}

void add_grad(CLI::App& app) {
    CLI::App* cmd = app.add_subcommand("grad", "one forward and backward pass, written as safetensors");
    static std::string checkpoint, batch, out;
    cmd->add_option("--checkpoint", checkpoint, "the model's weights")->required();
    cmd->add_option("--batch", batch, "safetensors file with integer tensors x and y, shape (B, T)")->required();
    cmd->add_option("--out", out, "where to write loss, logits and the gradients")->required();
    cmd->callback([] { grad(checkpoint, batch, out); });
}

void add_gradcheck(CLI::App& app, int& exit_code) {
    CLI::App* cmd = app.add_subcommand("gradcheck", "check every backward pass against finite differences");
    static std::string only;
    cmd->add_option("--op", only, "check only the ops/modules whose name starts with this, in any case (e.g. matmul, head)");
    static bool list = false;
    cmd->add_flag("--list", list, "list the checks' names, run none");
    cmd->callback([&exit_code] {
        if (list) {
            for (const std::string& name : gradcheck_suite::names()) std::printf("%s\n", name.c_str());
            return;
        }
        const auto rows = gradcheck_suite::run(only);
        if (rows.empty()) throw Error("--op: no check's name starts with '" + only + "' (xgrad gradcheck --list shows them all)");
        std::printf("%-52s %-34s %12s  %s\n", "check", "shapes", "max rel err", "result");
        std::size_t failed = 0;
        for (const auto& r : rows) {
            const std::string shapes = r.shapes.size() > 34 ? r.shapes.substr(0, 31) + "..." : r.shapes;
            std::printf("%-52s %-34s %12.2e  %s\n", r.name.c_str(), shapes.c_str(), r.max_rel_error,
                        r.passed ? "pass" : ("FAIL (" + r.worst + ")").c_str());
            failed += !r.passed;
        }
        const gradcheck_suite::Settings used = gradcheck_suite::settings();
        std::printf("\n%zu checks in double precision, finite differences with eps %g, tolerance %g: %zu passed, %zu failed\n",
                    rows.size(), used.eps, used.tolerance, rows.size() - failed, failed);
        if (failed) exit_code = 1;
    });
}

void add_pictures(CLI::App& app) {
    CLI::App* att = app.add_subcommand("attention", "an HTML page of attention heatmaps, one per head per layer");
    static std::string att_checkpoint, att_text = "The cat sat on the mat", att_out;
    att->add_option("--checkpoint", att_checkpoint, "a trained model")->required();
    att->add_option("--text", att_text, "the text to look at (at most block_size characters)");
    att->add_option("--out", att_out, "the HTML file to write")->required();
    static std::string att_json;
    att->add_option("--json", att_json, "also write the characters and every weight, unrounded, as JSON");
    att->callback([] { attention_html(att_checkpoint, att_text, att_out, att_json); });

    CLI::App* plot = app.add_subcommand("plot", "an SVG of train and val loss against step");
    static std::vector<std::string> logs;
    static std::string plot_out;
    plot->add_option("--log", logs, "one or more --log files of xgrad train")->required();
    plot->add_option("--out", plot_out, "the SVG file to write")->required();
    plot->callback([] { plot_losses(logs, plot_out); });

    CLI::App* graph = app.add_subcommand("graph", "the autograd graph of one forward pass, as Graphviz DOT");
    static std::string graph_checkpoint, graph_out;
    graph->add_option("--checkpoint", graph_checkpoint, "a model")->required();
    graph->add_option("--out", graph_out, "the DOT file to write")->required();
    graph->callback([] { graph_dot(graph_checkpoint, graph_out); });
}

void add_heads(CLI::App& app, int& exit_code) {
    CLI::App* cmd = app.add_subcommand("heads", "what each attention head does: scores, ablation, importance, roles");
    static analysis::HeadsCommand c;
    cmd->add_option("--checkpoint", c.checkpoint, "a model with attention heads")->required();
    cmd->add_option("--text-file", c.text_file, "the text to read (its first windows * block_size + 1 characters)")
        ->required();
    cmd->add_option("--windows", c.options.windows, "windows of block_size characters (default 8)")->check(non_negative);
    cmd->add_option("--json", c.json_out, "write every number, unrounded, as JSON");
    cmd->add_option("--html", c.html_out, "write a page: the table, each head's heatmap, the similarity");
    cmd->add_option("--ablate", c.ablate, "LAYER.HEAD[,LAYER.HEAD...]: also the loss with these heads off together");
    cmd->add_option("--seed", c.options.seed, "the induction test's random sequence (default 1337)")->check(non_negative);
    cmd->add_flag("--subject-verb", c.subject_verb,
                  "on a model of the built-in corpus: each head's attention from verbs to their subjects");
    cmd->callback([&exit_code] { exit_code = analysis::run_heads(c, std::cout); });
}

void add_serve(CLI::App& app, int& exit_code) {
    CLI::App* cmd = app.add_subcommand("serve", "explore a checkpoint in the browser: attention, ablation, heads, sampling");
    static serve::ServeOptions o;
    cmd->add_option("--checkpoint", o.checkpoint, "a trained model")->required();
    cmd->add_option("--host", o.host, "the address to listen on (default 127.0.0.1: this machine only)");
    cmd->add_option("--port", o.port, "the port (default 8000; 0: a free one, printed)")->check(CLI::Range(0, 65535));
    cmd->callback([&exit_code] { exit_code = serve::run_serve(o, std::cout); });
}

void add_corpus(CLI::App& app) {
    CLI::App* cmd = app.add_subcommand("corpus", "write the built-in toy corpus");
    static std::string out;
    cmd->add_option("--out", out, "file to write (default: standard output)");
    cmd->callback([] { write_corpus(out, std::cout); });
}

// "--max_iters" (the lecture's spelling) for "--max-iters": the flag the
// user meant, when an unknown one becomes a known one with dashes.
std::string flag_hint(CLI::App& app, int argc, char** argv) {
    if (argc < 2) return "";
    CLI::App* cmd = nullptr;
    try {
        cmd = app.get_subcommand(argv[1]);
    } catch (const CLI::Error&) {
        return "";
    }
    for (int i = 2; i < argc; ++i) {
        std::string flag = argv[i];
        if (flag.rfind("--", 0) != 0 || flag.find('_') == std::string::npos) continue;
        flag = flag.substr(0, flag.find('='));
        std::replace(flag.begin(), flag.end(), '_', '-');
        if (cmd->get_option_no_throw(flag)) return "; did you mean " + flag + "? (xgrad's flags use dashes)";
    }
    return "";
}

// An error's one line; on one rank of several, the whole job ends with it
// (the other ranks would wait for this one forever).
int fail(const std::string& message) {
    if (dist::active() && dist::size() > 1) dist::abort(message);
    std::cerr << "xgrad: error: " << message << "\n";
    dist::finalize();
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    rerun_with_huge_pages(argv);  // returns unless it re-runs the program
    keep_freed_memory();
    CLI::App app{"xgrad: a from-scratch autograd engine and the GPT of \"Let's build GPT\", on your CPU"};
    app.require_subcommand(1);
    // A flag given twice takes its last value (a script can append overrides).
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    // What the products run on: bench/run.py prints it next to PyTorch's kernel.
    app.set_version_flag("--version", [] {
        return std::string("xgrad\nfloat matrix products: libxsmm kernels for ") + xgrad::blas::float_kernel_name() +
               " (LIBXSMM_TARGET can choose another)\ndouble matrix products (gradient checks): OpenBLAS, kernel " +
               xgrad::blas::core_name() + "\nthreads: " + std::to_string(omp_get_max_threads()) + "\n" +
               huge_pages_description();
    });
    int exit_code = 0;
    add_train(app, exit_code);
    add_sample(app);
    add_grad(app);
    add_corpus(app);
    add_gradcheck(app, exit_code);
    add_pictures(app);
    add_heads(app, exit_code);
    add_serve(app, exit_code);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app.exit(e);  // --help
        std::cerr << "xgrad: error: " << e.what() << flag_hint(app, argc, argv) << " (see xgrad " << (argc > 1 ? argv[1] : "")
                  << " --help)\n";
        return e.get_exit_code();
    } catch (const xgrad::Error& e) {
        return fail(e.what());
    } catch (const std::bad_alloc&) {
        return fail("out of memory: the sizes asked for need more memory than this machine has");
    } catch (const std::exception& e) {
        return fail(e.what());
    }
    return exit_code;
}
