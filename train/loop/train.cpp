// train(), at the bottom, reads as the steps of a run: check the options,
// load or resume, prepare the data, the loop, the final save; training_loop()
// reads beside the lecture's training loop, with nanoGPT's gradient
// accumulation and DDP's all-reduce (on several ranks under mpirun; see
// docs/09-distributed.md). Each step's code is in the file of its concern:
// options.cpp, checkpointing.cpp, train/text/data.cpp, estimate_loss.cpp,
// report.cpp, train/distributed/.
#include "train/loop/train.hpp"

#include "autograd/error.hpp"
#include "autograd/profiler.hpp"
#include "autograd/random.hpp"
#include "train/distributed/distributed.hpp"
#include "train/distributed/gradients.hpp"
#include "train/distributed/side_by_side.hpp"
#include "train/distributed/slicing.hpp"
#include "train/loop/checkpointing.hpp"
#include "train/loop/estimate_loss.hpp"
#include "train/loop/report.hpp"
#include "train/text/corpus.hpp"
#include "train/text/data.hpp"

#include <nlohmann/json.hpp>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <sstream>

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

// Test-only (tests/cli/distributed.sh): XGRAD_TEST_FAIL_AT_STEP=RANK:STEP
// makes that rank fail at that step with an error, or die by SIGKILL with
// RANK:STEP:kill, to check that the whole job ends. Never set it otherwise.
void injected_fault(long long iter) {
    static const char* spec = std::getenv("XGRAD_TEST_FAIL_AT_STEP");
    int rank = -1;
    long long step = -1;
    char how[8] = "";
    if (!spec || std::sscanf(spec, "%d:%lld:%7s", &rank, &step, how) < 2 || rank != dist::rank() || step != iter) return;
    if (std::string(how) == "kill") std::raise(SIGKILL);
    throw Error("step " + std::to_string(iter) + ": failing as XGRAD_TEST_FAIL_AT_STEP asks (a test)");
}

// The mean loss of the whole batch: every rank's micro-batches, added in order.
double mean_loss(const std::vector<double>& my_micro_losses) {
    const std::vector<double> all = dist::all_gather(my_micro_losses);
    double total = 0;
    for (const double loss : all) total += loss;
    return total / static_cast<double>(all.size());
}

// --threads N runs N micro-batches side by side, one on each thread, when
// each rank's micro-batch splits into N (train/distributed/side_by_side.hpp).
int micro_batches_side_by_side(const TrainOptions& o) {
    if (o.thread_split != "batch" || o.profile) return 1;  // the profile is of one thread's ops
    const std::size_t rows = o.batch_size / static_cast<std::size_t>(dist::size() * o.grad_accum);
    return dist::side_by_side_count(omp_get_max_threads(), rows);
}

// The lecture's training loop, from the first step not yet run, with
// nanoGPT's gradient accumulation and DDP's all-reduce. Saves at each
// evaluation; returns false when Ctrl-C stopped it (after a step, saved).
bool training_loop(const TrainOptions& o, Trainee& t, const TextData& data, Generator& gen, Report& report) {
    LanguageModel& model = *t.model;
    const std::size_t block_size = model.config.block_size;
    const int side_by_side = micro_batches_side_by_side(o);
    const int micro_steps = o.grad_accum * side_by_side;  // on this rank
    const int micro_batches = dist::size() * micro_steps;  // of the whole batch, on all ranks together
    for (long long iter = t.start_iter; iter < o.max_iters; ++iter) {
        // every once in a while evaluate the loss on train and val sets
        if (iter % o.eval_interval == 0 || iter == o.max_iters - 1) {
            save_trainee(t, data.tokenizer, gen, iter);
            if (o.eval_iters > 0) report.evaluation(iter, estimate_loss(model, data, o, gen));
        }
        injected_fault(iter);

        const auto step_start = Clock::now();
        // sample a batch of data: the whole batch, the same on every rank (one seed)
        auto [xb, yb] = get_batch(data.train_data, o.batch_size, block_size, gen);
        if (o.profile) profiler::add("(get_batch)", seconds_since(step_start)), profiler::mark();
        t.optimizer.zero_grad();
        const Generator dropout_seeds = gen;  // each micro-batch's dropout: its rows' numbers of the whole batch's
        Generator after_dropout = gen;        // every micro-batch draws as many, and the run goes on from there
        std::vector<double> micro_losses(static_cast<std::size_t>(micro_steps));
        // micro-batch m's loss: its rows of the batch, their dropout masks (on a worker thread: it writes only slot m)
        const auto micro_batch_loss = [&](int m) {
            const BatchRows rows = dist::micro_batch_rows(o.batch_size, dist::rank(), dist::size(), m, micro_steps);
            Generator dropout_gen = dropout_seeds;
            const GeneratorScope use(dropout_gen);
            const BatchRowsScope dropout_rows(rows);
            // evaluate the loss
            auto [logits, loss] = model(dist::take_rows(xb, rows), dist::take_rows(yb, rows));
            micro_losses[static_cast<std::size_t>(m)] = loss.item();
            if (m == 0) after_dropout = dropout_gen;
            return loss / static_cast<Scalar>(micro_batches);  // scale the loss to account for gradient accumulation
        };
        // on one thread: for each micro_step, loss = micro_batch_loss(micro_step); loss.backward(), adding
        for (int micro_step = 0; micro_step < micro_steps; micro_step += side_by_side) {
            // micro-batches micro_step, ..., micro_step + side_by_side - 1, each on its own thread
            dist::backward_side_by_side(t.optimizer.params, micro_step, side_by_side, micro_batch_loss);
        }
        gen = after_dropout;
        // the sum of every rank's gradients, on every rank (DDP's all-reduce)
        const auto reduce_start = Clock::now();
        dist::all_reduce_gradients(t.optimizer.params);
        if (o.profile && dist::size() > 1) profiler::add("(all-reduce)", seconds_since(reduce_start));
        const double loss_value = mean_loss(micro_losses);
        if (!std::isfinite(loss_value)) {
            report.clear();
            throw Error("step " + std::to_string(iter) + ": the loss became " + (std::isnan(loss_value) ? "NaN" : "infinite") +
                        "; training stopped" + (t.out_path.empty() ? "" : " (the last good checkpoint is " + t.out_path + ")") +
                        ". Try a smaller --learning-rate.");
        }
        const auto adamw_start = Clock::now();
        t.optimizer.step();
        if (o.profile) profiler::add("(adamw step)", seconds_since(adamw_start));
        report.step(iter, loss_value, seconds_since(step_start));
        if (o.on_step) o.on_step(iter, loss_value);

        if (dist::any(interrupted)) {  // Ctrl-C on any rank stops every rank after the same step
            report.clear();
            save_trainee(t, data.tokenizer, gen, iter + 1);
            report.interrupted(iter, t.out_path);
            return false;
        }
    }
    report.clear();
    return true;
}

// The first line of a run on several ranks: ranks, hosts, threads and cores.
// Each rank's threads default to its cores over the ranks that share them.
void say_how_it_runs(TrainOptions& o, std::ostream& out) {
    const dist::Placement where = dist::placement();
    if (o.threads == 0) o.threads = where.threads_per_rank;
    if (dist::is_master()) out << dist::describe(where, o.threads) << "\n" << std::flush;
}

// What must be the same on every rank, as "key value" lines: the run
// (options and the corpus's hash), what it starts from, and the build.
std::vector<std::string> what_every_rank_agrees_on(const TrainOptions& o, const CorpusText& corpus) {
    std::vector<std::string> lines = {"build " __DATE__ " " __TIME__};
    const nlohmann::json run = nlohmann::json::parse(run_record(o, corpus.bytes));
    for (const auto& [key, value] : run.items()) {
        lines.push_back(key + " " + value.dump());
    }
    lines.push_back("grad_accum " + std::to_string(o.grad_accum));
    // every rank must run as many micro-batches (their losses are gathered one per micro-batch)
    lines.push_back("micro-batches side by side " + std::to_string(micro_batches_side_by_side(o)));
    lines.push_back("resume " + o.resume);
    lines.push_back("init_from " + o.init_from);
    return lines;
}

// Rank 0's parameters, AdamW's moments and step, the generator and the first
// step on every rank, before the first step (DDP broadcasts the parameters
// when it wraps the model).
void start_from_rank0(Trainee& t, Generator& gen) {
    if (dist::size() == 1) return;
    nn::AdamW& adamw = t.optimizer;
    for (auto [name, p] : adamw.params) dist::broadcast(p.data().data(), p.numel());
    for (Array& m : adamw.exp_avg) dist::broadcast(m.data(), m.size());
    for (Array& v : adamw.exp_avg_sq) dist::broadcast(v.data(), v.size());
    dist::broadcast(adamw.step_count);
    dist::broadcast(t.start_iter);
    std::ostringstream state;
    state << gen;
    std::string text = state.str();
    dist::broadcast(text);
    std::istringstream(text) >> gen;
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

int train(const TrainOptions& given, std::ostream& out) {
    // check the options
    TrainOptions o = given;
    if (!dist::is_master()) o.out.clear(), o.log.clear();  // only the master process writes checkpoints and the log
    check_options(o);
    if (dist::active()) say_how_it_runs(o, out);
    start_run(o);
    Generator& gen = default_generator();

    // load or resume, and prepare the data (a resumed model's block_size and
    // vocabulary rule); the text is read first, so a bad --data is named first
    const CorpusText corpus = read_corpus(o.data);
    if (dist::size() > 1) dist::check_agreement(what_every_rank_agrees_on(o, corpus));
    Resumed resumed = load_or_resume(o);
    const TextData data = prepare_data(corpus, resumed.config.block_size);
    Trainee t = make_trainee(o, std::move(resumed), corpus, data, gen);
    start_from_rank0(t, gen);
    if (!dist::is_master()) t.out_path.clear();  // not even into the --resume file
    if (!o.resume.empty() && t.start_iter >= o.max_iters) {
        if (dist::is_master()) {
            out << "nothing to do: " << o.resume << " is already at step " << t.start_iter << " (--max-iters is "
                << o.max_iters << "; give a larger one to train further)\n";
        }
        return 0;
    }

    // the loop; only the master process prints
    std::ostream nowhere(nullptr);
    Report report(dist::is_master() ? out : nowhere, o, *t.model, t.start_iter);
    SigintScope sigint;  // until train() returns, Ctrl-C stops the loop after its step and cannot cut a save
    const bool finished = training_loop(o, t, data, gen, report);

    // the final save
    if (finished) save_trainee(t, data.tokenizer, gen, std::max(o.max_iters, t.start_iter));
    report.summary(finished);
    if (!finished) return 130;  // 128 + SIGINT, as a shell reports Ctrl-C
    if (o.sample_tokens > 0 && dist::is_master()) print_sample(*t.model, data.tokenizer, o, out);
    return 0;
}

}  // namespace xgrad
