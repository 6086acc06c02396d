// What a training run tells the learner, on its output and in the --log file:
// the parameter count, a live progress bar on a terminal (plain lines, no
// carriage return, at every tenth of the run and every 10 s when the output is
// a file or a pipe), a line and a JSON line per evaluation, the
// --profile table and the summary. Used by train() and its loop
// (train/loop/train.cpp), which also time their steps with the clock here.
#pragma once

#include "autograd/profiler.hpp"
#include "models/language_model.hpp"
#include "train/loop/estimate_loss.hpp"
#include "train/loop/options.hpp"

#include <chrono>
#include <cmath>
#include <cstddef>
#include <fstream>
#include <iosfwd>
#include <map>
#include <string>

namespace xgrad {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t);
// "42s", "3m07s", "1h02m07s"
std::string format_duration(double seconds);

// Shows how training goes between evaluations: a live bar on a terminal,
// plain lines at every tenth of the run and every 10 s otherwise (a log file, CI).
class Progress {
public:
    Progress(std::ostream& out, long long total, std::size_t tokens_per_iter);
    void update(long long iter, double loss, double train_seconds, long long iters_done);
    // Ends the live bar's line before other output.
    void clear();

private:
    std::ostream& out_;
    long long total_;
    std::size_t tokens_;
    bool tty_;
    bool dirty_ = false;
    Clock::time_point last_ = Clock::now();
};

class Report {
public:
    // Prints the parameter count (and the step a resumed run goes on from) and
    // opens the --log file: appended to when resuming, else rewritten.
    Report(std::ostream& out, const TrainOptions& options, const LanguageModel& model, long long start_iter);

    // "step N: train loss ..., val loss ..." and its JSON line.
    void evaluation(long long iter, const Losses& losses);
    // After each training step, which took `seconds`: the progress bar.
    void step(long long iter, double loss, double seconds);
    // Ends the live bar's line before other output.
    void clear() { progress_.clear(); }
    // After Ctrl-C: the last step, and how to go on from the checkpoint.
    void interrupted(long long iter, const std::string& checkpoint);
    // The log's "done" line, the --profile table, and "trained N steps in ..."
    // when the run finished (was not interrupted).
    void summary(bool finished);

private:
    std::ostream& out_;
    bool profile_;
    std::size_t params_;
    std::size_t tokens_per_iter_;
    Progress progress_;
    std::ofstream log_;
    double train_seconds_ = 0;  // in training steps only: no evaluation, no saving
    long long steps_done_ = 0;
    std::map<std::string, profiler::OpTime> first_step_;  // the profile after this run's first step
    double first_step_seconds_ = 0;
    double last_train_ = NAN, last_val_ = NAN;
    Clock::time_point run_start_ = Clock::now();
};

}  // namespace xgrad
