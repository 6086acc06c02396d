// train(), at the bottom, reads as the steps of a run: check the options,
// load or resume, prepare the data, the loop, the final save; training_loop()
// reads beside the lecture's training loop. Each step's code is in the file of
// its concern: options.cpp, checkpointing.cpp, train/text/data.cpp,
// estimate_loss.cpp, report.cpp.
#include "train/loop/train.hpp"

#include "autograd/error.hpp"
#include "autograd/profiler.hpp"
#include "autograd/random.hpp"
#include "train/loop/checkpointing.hpp"
#include "train/loop/estimate_loss.hpp"
#include "train/loop/report.hpp"
#include "train/text/corpus.hpp"
#include "train/text/data.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <ostream>

namespace xgrad {

namespace {

volatile std::sig_atomic_t interrupted = 0;
void on_sigint(int) { interrupted = 1; }

// Restores the previous SIGINT handler when training ends.
struct SigintScope {
    void (*previous)(int);
    SigintScope() : previous(std::signal(SIGINT, on_sigint)) { interrupted = 0; }
    ~SigintScope() { std::signal(SIGINT, previous); }
};

// --threads, torch.manual_seed(seed), --profile.
void start_run(const TrainOptions& o) {
    set_threads(o.threads);
    manual_seed(o.seed);
    profiler::enable(o.profile);
    profiler::reset();
}

// The lecture's training loop, from the first step not yet run. Saves at each
// evaluation; returns false when Ctrl-C stopped it (after a step, saved).
bool training_loop(const TrainOptions& o, Trainee& t, const TextData& data, Generator& gen, Report& report) {
    LanguageModel& model = *t.model;
    const std::size_t block_size = model.config.block_size;
    for (long long iter = t.start_iter; iter < o.max_iters; ++iter) {
        // every once in a while evaluate the loss on train and val sets
        if (iter % o.eval_interval == 0 || iter == o.max_iters - 1) {
            save_trainee(t, data.tokenizer, gen, iter);
            if (o.eval_iters > 0) report.evaluation(iter, estimate_loss(model, data, o, gen));
        }

        const auto step_start = Clock::now();
        // sample a batch of data
        auto [xb, yb] = get_batch(data.train_data, o.batch_size, block_size, gen);
        if (o.profile) profiler::add("(get_batch)", seconds_since(step_start)), profiler::mark();
        // evaluate the loss
        auto [logits, loss] = model(xb, yb);
        const double loss_value = loss.item();
        if (!std::isfinite(loss_value)) {
            report.clear();
            throw Error("step " + std::to_string(iter) + ": the loss became " + (std::isnan(loss_value) ? "NaN" : "infinite") +
                        "; training stopped" + (t.out_path.empty() ? "" : " (the last good checkpoint is " + t.out_path + ")") +
                        ". Try a smaller --learning-rate.");
        }
        t.optimizer.zero_grad();
        loss.backward();
        const auto adamw_start = Clock::now();
        t.optimizer.step();
        if (o.profile) profiler::add("(adamw step)", seconds_since(adamw_start));
        report.step(iter, loss_value, seconds_since(step_start));
        if (o.on_step) o.on_step(iter, loss_value);

        if (interrupted) {
            report.clear();
            save_trainee(t, data.tokenizer, gen, iter + 1);
            report.interrupted(iter, t.out_path);
            return false;
        }
    }
    report.clear();
    return true;
}

// generate from the model: sample_tokens tokens after token 0, as the lecture
// does; on the built-in corpus, also the share of valid sentences.
void print_sample(LanguageModel& model, const Tokenizer& tokenizer, const TrainOptions& o, std::ostream& out) {
    model.eval();
    Index context = Index::from_shape({1, 1});
    context.fill(0);
    const Index sample = model.generate(context, o.sample_tokens);
    const std::string text = tokenizer.decode(std::vector<std::int64_t>(sample.begin() + 1, sample.end()));
    out << "--- sample ---\n" << text << "\n--------------\n";
    if (o.data.empty()) {
        const SentenceReport report = check_sentences(text);
        if (report.sentences > 0) {
            out << "valid sentences: " << report.valid << " of " << report.sentences << "\n";
        } else {
            out << "valid sentences: none to check (the sample holds no whole sentence)\n";
        }
    }
}

}  // namespace

int train(const TrainOptions& o, std::ostream& out) {
    // check the options
    check_options(o);
    start_run(o);
    Generator& gen = default_generator();

    // load or resume, and prepare the data (a resumed model's block_size and
    // vocabulary rule); the text is read first, so a bad --data is named first
    const CorpusText corpus = read_corpus(o.data);
    Resumed resumed = load_or_resume(o);
    const TextData data = prepare_data(corpus, resumed.config.block_size);
    Trainee t = make_trainee(o, std::move(resumed), corpus, data, gen);
    if (!o.resume.empty() && t.start_iter >= o.max_iters) {
        out << "nothing to do: " << o.resume << " is already at step " << t.start_iter << " (--max-iters is "
            << o.max_iters << "; give a larger one to train further)\n";
        return 0;
    }

    // the loop
    Report report(out, o, *t.model, t.start_iter);
    SigintScope sigint;  // until train() returns, Ctrl-C stops the loop after its step and cannot cut a save
    const bool finished = training_loop(o, t, data, gen, report);

    // the final save
    if (finished) save_trainee(t, data.tokenizer, gen, std::max(o.max_iters, t.start_iter));
    report.summary(finished);
    if (!finished) return 130;  // 128 + SIGINT, as a shell reports Ctrl-C
    if (o.sample_tokens > 0) print_sample(*t.model, data.tokenizer, o, out);
    return 0;
}

}  // namespace xgrad
