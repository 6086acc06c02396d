#include "train/loop/trainer.hpp"

#include "autograd/blas.hpp"
#include "autograd/error.hpp"
#include "autograd/profiler.hpp"
#include "autograd/random.hpp"
#include "nn/adamw.hpp"
#include "train/formats/checkpoint.hpp"
#include "train/text/corpus.hpp"
#include "train/text/data.hpp"
#include "train/formats/safetensors.hpp"

#include <nlohmann/json.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace xgrad {

void set_threads(int threads) {
    const int n = threads > 0 ? threads : omp_get_num_procs();
    omp_set_num_threads(n);
    blas::set_num_threads(n);
}

namespace {

volatile std::sig_atomic_t interrupted = 0;
void on_sigint(int) { interrupted = 1; }

// Restores the previous SIGINT handler when training ends.
struct SigintScope {
    void (*previous)(int);
    SigintScope() : previous(std::signal(SIGINT, on_sigint)) { interrupted = 0; }
    ~SigintScope() { std::signal(SIGINT, previous); }
};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string format_duration(double s) {
    const long long total = std::llround(std::max(0.0, s));
    std::ostringstream o;
    if (total >= 3600) o << total / 3600 << "h";
    if (total >= 60) o << std::setw(total >= 3600 ? 2 : 1) << std::setfill('0') << (total / 60) % 60 << "m";
    o << std::setw(total >= 60 ? 2 : 1) << std::setfill('0') << total % 60 << "s";
    return o.str();
}

// The --profile table: per op, calls, forward and backward milliseconds per
// step, and the share of the step.
void print_profile(std::ostream& out, long long steps, double train_seconds) {
    if (steps == 0) return;
    std::vector<std::pair<std::string, profiler::OpTime>> rows(profiler::table().begin(), profiler::table().end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
        return a.second.forward_s + a.second.backward_s > b.second.forward_s + b.second.backward_s;
    });
    const double per_step = 1000 * train_seconds / static_cast<double>(steps);
    out << "--- profile: " << std::setprecision(2) << per_step << " ms per step ---\n";
    char line[160];
    std::snprintf(line, sizeof line, "%-16s %10s %12s %12s %8s\n", "op", "calls/step", "forward ms", "backward ms",
                  "share");
    out << line;
    for (const auto& [name, t] : rows) {
        const double f = 1000 * t.forward_s / steps, b = 1000 * t.backward_s / steps;
        std::snprintf(line, sizeof line, "%-16s %10.1f %12.3f %12.3f %7.1f%%\n", name.c_str(),
                      static_cast<double>(t.calls) / steps, f, b, 100 * (f + b) / per_step);
        out << line;
    }
}

// estimate_loss(): the mean loss over eval_iters batches of each split, in
// eval mode (no dropout) and without building a graph.
struct Losses {
    double train = 0, val = 0;
};
Losses estimate_loss(LanguageModel& model, const TextData& data, const TrainOptions& o, Generator& gen) {
    NoGradGuard no_grad;
    const bool profiling = profiler::enabled();
    profiler::enable(false);  // the profile is of training steps
    model.eval();
    Losses out;
    for (auto [split, result] : {std::pair{&data.train_data, &out.train}, std::pair{&data.val_data, &out.val}}) {
        double total = 0;
        for (long long k = 0; k < o.eval_iters; ++k) {
            auto [X, Y] = get_batch(*split, o.batch_size, model.config.block_size, gen);
            total += model(X, Y).loss.item();
        }
        *result = total / static_cast<double>(o.eval_iters);
    }
    model.train();
    profiler::enable(profiling);
    return out;
}

// Shows how training goes between evaluations: a live bar on a terminal,
// plain lines every few seconds otherwise (a log file, CI).
class Progress {
public:
    Progress(std::ostream& out, long long total, std::size_t tokens_per_iter)
        : out_(out), total_(total), tokens_(tokens_per_iter), tty_(::isatty(STDOUT_FILENO) && &out == &std::cout) {}

    void update(long long iter, double loss, double train_seconds, long long iters_done) {
        const double its = iters_done / std::max(train_seconds, 1e-9);
        const double left = (total_ - iter - 1) / std::max(its, 1e-9);
        if (tty_) {
            const int width = 30, filled = static_cast<int>(width * (iter + 1) / std::max(total_, 1LL));
            out_ << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << iter + 1 << "/"
                 << total_ << "  loss " << std::fixed << std::setprecision(4) << loss << "  " << std::setprecision(1)
                 << its << " it/s  " << std::setprecision(0) << its * tokens_ << " tok/s  " << format_duration(left)
                 << " left   " << std::flush;
            dirty_ = true;
        } else if (seconds_since(last_) >= 10) {
            out_ << "iter " << iter + 1 << "/" << total_ << ": loss " << std::fixed << std::setprecision(4) << loss
                 << ", " << std::setprecision(1) << its << " it/s, " << std::setprecision(0) << its * tokens_
                 << " tokens/s, " << format_duration(left) << " left\n"
                 << std::flush;
            last_ = Clock::now();
        }
    }
    // Ends the live bar's line before other output.
    void clear() {
        if (dirty_) out_ << "\r" << std::string(100, ' ') << "\r" << std::flush;
        dirty_ = false;
    }

private:
    std::ostream& out_;
    long long total_;
    std::size_t tokens_;
    bool tty_;
    bool dirty_ = false;
    Clock::time_point last_ = Clock::now();
};

void check_options(const TrainOptions& o) {
    auto positive = [](const char* flag, long long v) {
        if (v <= 0) throw Error(std::string(flag) + " must be at least 1, got " + std::to_string(v));
    };
    positive("--batch-size", static_cast<long long>(o.batch_size));
    positive("--eval-interval", o.eval_interval);
    if (o.max_iters < 0) throw Error("--max-iters must be at least 0, got " + std::to_string(o.max_iters));
    if (o.eval_iters < 0) throw Error("--eval-iters must be at least 0, got " + std::to_string(o.eval_iters));
    if (!(o.learning_rate > 0) || !std::isfinite(o.learning_rate)) {
        throw Error("--learning-rate must be a positive number, got " + std::to_string(o.learning_rate));
    }
    if (o.batch_size > (1u << 20)) throw Error("--batch-size is too large: " + std::to_string(o.batch_size));
}

// Fails before any work when an output could not be written: its directory
// is missing or is not a directory.
void check_output_path(const std::string& path, const char* flag) {
    if (path.empty()) return;
    const std::size_t slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        throw Error(std::string(flag) + " " + path + ": is a directory; give a file name");
    }
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        throw Error(std::string(flag) + " " + path + ": the directory " + dir + " does not exist");
    }
    if (::access(dir.c_str(), W_OK) != 0) {
        throw Error(std::string(flag) + " " + path + ": cannot write into " + dir + " (permission denied)");
    }
}

// A rough upper bound of what training needs, checked before anything is
// allocated: the weights with their gradients and AdamW's two moments, and
// the activations kept for the backward pass (per token and layer: about 20
// vectors of n_embd and 4 attention rows of T per head, twice with their
// gradients). Linux would otherwise kill the process when the memory runs out.
void check_memory(const GPTConfig& c, std::size_t batch_size) {
    const double C = static_cast<double>(c.n_embd), L = static_cast<double>(c.n_layer);
    const double T = static_cast<double>(c.block_size), V = static_cast<double>(c.vocab_size);
    const double weights = 12 * L * C * C + C * V + T * C + V * C;
    const double per_token = L * (20 * C + 4 * static_cast<double>(c.n_head) * T) + 2 * C + 3 * V;
    const double bytes = 4 * (4 * weights + 2 * static_cast<double>(batch_size) * T * per_token);
    const double physical = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGE_SIZE));
    if (bytes > 0.9 * physical) {
        std::ostringstream msg;
        msg << std::setprecision(3) << "out of memory: this model and batch need about " << bytes / 1e9
            << " GB and the machine has " << physical / 1e9
            << " GB; use smaller --n-embd, --n-layer, --block-size or --batch-size";
        throw Error(msg.str());
    }
}

}  // namespace

int train(const TrainOptions& o, std::ostream& out) {
    check_options(o);
    check_output_path(o.out, "--out");
    check_output_path(o.log, "--log");
    set_threads(o.threads);
    manual_seed(o.seed);
    profiler::enable(o.profile);
    profiler::reset();
    Generator& gen = default_generator();

    // The data: the file, or the built-in corpus.
    const std::string origin = o.data.empty() ? "built-in corpus" : o.data;
    const std::string corpus_name = o.data.empty() ? "built-in" : o.data;
    const std::string bytes = o.data.empty() ? generate_corpus() : read_text_file(o.data);
    GPTConfig config = o.config;

    // A fresh model, or the one we resume (its config and vocabulary rule).
    std::unique_ptr<LanguageModel> model;
    std::string model_type = o.model;
    Tokenizer resumed_vocab;
    long long resumed_step = -1;
    if (!o.resume.empty()) {
        LoadedCheckpoint ck = load_checkpoint(o.resume);
        model = std::move(ck.model);
        model_type = ck.model_type;
        config = model->config;
        resumed_vocab = ck.tokenizer;
        resumed_step = ck.step;
    }
    const TextData data = prepare_data(decode_utf8(bytes, origin), config.block_size, origin);
    if (!o.resume.empty() && data.tokenizer.chars() != resumed_vocab.chars()) {
        throw Error(o.resume + ": the checkpoint's vocabulary differs from " + origin +
                    "'s; resume with the corpus it was trained on");
    }
    config.vocab_size = data.tokenizer.vocab_size();
    check_config(config, "model config");
    check_memory(config, o.batch_size);
    if (!model) model = make_model(model_type, config);
    model->train();

    // create a PyTorch optimizer
    nn::AdamWOptions adamw;
    adamw.lr = o.learning_rate;
    nn::AdamW optimizer(model->named_parameters(), adamw);
    long long start_iter = 0;
    if (!o.resume.empty()) {
        start_iter = load_train_state(optimizer, gen, state_path(o.resume)).iter;
        if (resumed_step >= 0 && resumed_step != start_iter) {
            throw Error(o.resume + ": the checkpoint is from step " + std::to_string(resumed_step) + " but " +
                        state_path(o.resume) + " from step " + std::to_string(start_iter) +
                        " (a write was interrupted between the two); the checkpoint still works for sampling");
        }
    }

    const std::size_t params = nn::count_parameters(model->named_parameters());
    // print the number of parameters in the model
    out << std::fixed << std::setprecision(6) << static_cast<double>(params) / 1e6 << " M parameters\n";
    if (start_iter > 0) out << "resuming " << o.resume << " at step " << start_iter << "\n";

    const std::string out_path = o.out.empty() ? o.resume : o.out;
    auto save = [&](long long next_iter) {
        if (out_path.empty()) return;
        // Never replace a good checkpoint with broken weights.
        for (const auto& [name, p] : model->named_parameters()) {
            for (const Scalar v : p.data()) {
                if (!std::isfinite(v)) {
                    throw Error("step " + std::to_string(next_iter) + ": parameter " + name + " became " +
                                (std::isnan(v) ? "NaN" : "infinite") + "; training stopped, the last good checkpoint " +
                                out_path + " is kept. Try a smaller --learning-rate.");
                }
            }
        }
        // the training state first: a checkpoint always has a state at least as new
        save_train_state(optimizer, next_iter, gen, state_path(out_path));
        save_checkpoint(*model, model_type, data.tokenizer, corpus_name, out_path, next_iter);
    };
    std::ofstream log;
    if (!o.log.empty()) {
        log.open(o.log, start_iter > 0 ? std::ios::app : std::ios::trunc);
        if (!log) throw Error(o.log + ": cannot write the log file");
    }

    const std::size_t tokens_per_iter = o.batch_size * config.block_size;
    Progress progress(out, o.max_iters, tokens_per_iter);
    SigintScope sigint;
    double train_seconds = 0;
    long long steps_done = 0;
    double last_train = NAN, last_val = NAN;
    const auto run_start = Clock::now();
    int exit_code = 0;

    for (long long iter = start_iter; iter < o.max_iters; ++iter) {
        // every once in a while evaluate the loss on train and val sets
        if (iter % o.eval_interval == 0 || iter == o.max_iters - 1) {
            save(iter);
            if (o.eval_iters > 0) {
                const Losses losses = estimate_loss(*model, data, o, gen);
                last_train = losses.train, last_val = losses.val;
                progress.clear();
                out << "step " << iter << ": train loss " << std::setprecision(4) << losses.train << ", val loss "
                    << losses.val << "\n"
                    << std::flush;
                if (log) {
                    log << nlohmann::json{{"step", iter}, {"train_loss", losses.train}, {"val_loss", losses.val},
                                          {"elapsed_s", seconds_since(run_start)},
                                          {"tokens_per_s", steps_done ? tokens_per_iter * steps_done / train_seconds : 0.0}}
                               .dump()
                        << "\n" << std::flush;
                }
            }
        }

        const auto step_start = Clock::now();
        // sample a batch of data
        auto [xb, yb] = get_batch(data.train_data, o.batch_size, config.block_size, gen);
        if (o.profile) profiler::add("(get_batch)", seconds_since(step_start)), profiler::mark();
        // evaluate the loss
        auto [logits, loss] = (*model)(xb, yb);
        const double loss_value = loss.item();
        if (!std::isfinite(loss_value)) {
            progress.clear();
            throw Error("step " + std::to_string(iter) + ": the loss became " + (std::isnan(loss_value) ? "NaN" : "infinite") +
                        "; training stopped" + (out_path.empty() ? "" : " (the last good checkpoint is " + out_path + ")") +
                        ". Try a smaller --learning-rate.");
        }
        optimizer.zero_grad();
        loss.backward();
        const auto adamw_start = Clock::now();
        optimizer.step();
        if (o.profile) profiler::add("(adamw step)", seconds_since(adamw_start));
        train_seconds += seconds_since(step_start);
        ++steps_done;
        progress.update(iter, loss_value, train_seconds, steps_done);
        if (o.on_step) o.on_step(iter, loss_value);

        if (interrupted) {
            progress.clear();
            save(iter + 1);
            out << "interrupted after step " << iter
                << (out_path.empty() ? "" : "; checkpoint written to " + out_path + " (continue with --resume " + out_path + ")")
                << "\n";
            exit_code = 130;
            break;
        }
    }
    progress.clear();
    if (exit_code == 0) save(std::max(o.max_iters, start_iter));

    const double tokens_per_s = steps_done ? tokens_per_iter * steps_done / train_seconds : 0.0;
    if (log) {
        log << nlohmann::json{{"event", "done"}, {"steps", steps_done}, {"train_seconds", train_seconds},
                              {"train_tokens_per_s", tokens_per_s}, {"final_train_loss", last_train},
                              {"final_val_loss", last_val}, {"params", params}}
                   .dump()
            << "\n";
    }
    if (o.profile) print_profile(out, steps_done, train_seconds);
    if (exit_code != 0) return exit_code;
    out << "trained " << steps_done << " steps in " << format_duration(train_seconds) << " ("
        << std::setprecision(0) << tokens_per_s << " tokens/s)\n";

    // generate from the model
    if (o.sample_tokens > 0) {
        model->eval();
        Index context = Index::from_shape({1, 1});
        context.fill(0);
        const Index sample = model->generate(context, o.sample_tokens);
        const std::string text = data.tokenizer.decode(std::vector<std::int64_t>(sample.begin() + 1, sample.end()));
        out << "--- sample ---\n" << text << "\n--------------\n";
        if (o.data.empty()) {
            const SentenceReport report = check_sentences(text);
            out << "valid sentences: " << report.valid << " of " << report.sentences << "\n";
        }
    }
    return 0;
}

}  // namespace xgrad
