// The progress bar, the evaluation lines, the JSON log, the --profile table and
// the summary of a training run (report.hpp).
#include "train/loop/report.hpp"

#include "autograd/error.hpp"
#include "autograd/profiler.hpp"
#include "train/formats/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <unistd.h>

namespace xgrad {

namespace {

// A resumed run evaluates again at the step it resumes from, and the first
// run may have logged evaluations past its last checkpoint (killed after the
// line, before the next save). So the log keeps only the first run's
// evaluations before `start_iter`, and the resumed run continues it: no gap,
// no step twice. The old log is replaced atomically.
void keep_log_before(const std::string& path, long long start_iter) {
    std::ifstream in(path);
    if (!in) return;  // no log yet: nothing to join
    std::string kept, line;
    while (std::getline(in, line)) {
        const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (j.is_object() && j.contains("step") && j["step"].is_number_integer() && j["step"].get<long long>() < start_iter) {
            kept += line + "\n";
        }
    }
    safetensors::write_file_atomic(path, kept);
}

}  // namespace

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string format_duration(double s) {
    const long long total = std::llround(std::max(0.0, s));
    std::ostringstream o;
    if (total >= 3600) o << total / 3600 << "h";
    if (total >= 60) o << std::setw(total >= 3600 ? 2 : 1) << std::setfill('0') << (total / 60) % 60 << "m";
    o << std::setw(total >= 60 ? 2 : 1) << std::setfill('0') << total % 60 << "s";
    return o.str();
}

namespace {

// A file gets a plain line at every tenth of the run (and every 10 s between):
// a short run's log shows it progressing too, a long one's is not silent for hours.
// (The step where done * 10 / total moves on: done % (total / 10) printed every step of a run of 10-19.)
bool at_tenth(long long done, long long total) {
    return total >= 10 && done < total && (done == 0 || done * 10 / total != (done - 1) * 10 / total);
}

}  // namespace

Progress::Progress(std::ostream& out, long long total, std::size_t tokens_per_iter)
    : out_(out), total_(total), tokens_(tokens_per_iter), tty_(::isatty(STDOUT_FILENO) && &out == &std::cout) {}

void Progress::update(long long iter, double loss, double train_seconds, long long iters_done) {
    const double its = iters_done / std::max(train_seconds, 1e-9);
    const double left = (total_ - iter - 1) / std::max(its, 1e-9);
    if (tty_) {
        const int width = 30, filled = static_cast<int>(width * (iter + 1) / std::max(total_, 1LL));
        out_ << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << iter + 1 << "/"
             << total_ << "  loss " << std::fixed << std::setprecision(4) << loss << "  " << std::setprecision(1)
             << its << " it/s  " << std::setprecision(0) << its * tokens_ << " tok/s  " << format_duration(left)
             << " left   " << std::flush;
        dirty_ = true;
    } else if (seconds_since(last_) >= 10 || at_tenth(iter + 1, total_)) {
        out_ << "iter " << iter + 1 << "/" << total_ << ": loss " << std::fixed << std::setprecision(4) << loss
             << ", " << std::setprecision(1) << its << " it/s, " << std::setprecision(0) << its * tokens_
             << " tokens/s, " << format_duration(left) << " left\n"
             << std::flush;
        last_ = Clock::now();
    }
}

void Progress::clear() {
    if (dirty_) out_ << "\r" << std::string(100, ' ') << "\r" << std::flush;
    dirty_ = false;
}

namespace {

// The --profile table: per op, calls, forward and backward milliseconds per
// step, and the share of the step. With two steps or more, the first is left
// out (`first`, its table, and `first_seconds`): it takes the page faults of
// every buffer touched the first time and libxsmm's code generation.
void print_profile(std::ostream& out, long long steps, double train_seconds,
                   const std::map<std::string, profiler::OpTime>& first, double first_seconds) {
    if (steps == 0) return;
    const bool skip_first = steps > 1;
    std::vector<std::pair<std::string, profiler::OpTime>> rows(profiler::table().begin(), profiler::table().end());
    if (skip_first) {
        for (auto& [name, t] : rows) {
            const auto it = first.find(name);
            if (it == first.end()) continue;
            t.forward_s -= it->second.forward_s, t.backward_s -= it->second.backward_s, t.calls -= it->second.calls;
        }
        steps -= 1, train_seconds -= first_seconds;
        // an op the first step alone ran (none in the later steps) has no row
        rows.erase(std::remove_if(rows.begin(), rows.end(), [](const auto& r) { return r.second.calls == 0; }),
                   rows.end());
    }
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
        return a.second.forward_s + a.second.backward_s > b.second.forward_s + b.second.backward_s;
    });
    const double per_step = 1000 * train_seconds / static_cast<double>(steps);
    out << "--- profile: " << std::setprecision(2) << per_step << " ms per step"
        << (skip_first ? " (the first step, with its page faults, not counted)" : "") << " ---\n";
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

}  // namespace

Report::Report(std::ostream& out, const TrainOptions& o, const LanguageModel& model, long long start_iter)
    : out_(out),
      profile_(o.profile),
      params_(nn::count_parameters(model.named_parameters())),
      tokens_per_iter_(o.batch_size * model.config.block_size),
      progress_(out, o.max_iters, tokens_per_iter_) {
    if (start_iter == 0 && !o.preset.empty()) out_ << "training " << o.model << " with the " << o.preset << " preset\n";
    // print the number of parameters in the model
    out_ << std::fixed << std::setprecision(6) << static_cast<double>(params_) / 1e6 << " M parameters\n";
    if (start_iter > 0) out_ << "resuming " << o.resume << " at step " << start_iter << "\n";
    if (!o.log.empty()) {
        if (start_iter > 0) keep_log_before(o.log, start_iter);
        log_.open(o.log, start_iter > 0 ? std::ios::app : std::ios::trunc);
        if (!log_) throw Error(o.log + ": cannot write the log file");
    }
    run_start_ = Clock::now();
}

void Report::evaluation(long long iter, const Losses& losses) {
    last_train_ = losses.train, last_val_ = losses.val;
    progress_.clear();
    out_ << "step " << iter << ": train loss " << std::setprecision(4) << losses.train << ", val loss " << losses.val
         << "\n"
         << std::flush;
    if (log_) {
        log_ << nlohmann::json{{"step", iter}, {"train_loss", losses.train}, {"val_loss", losses.val},
                               {"elapsed_s", seconds_since(run_start_)},
                               {"tokens_per_s", steps_done_ ? tokens_per_iter_ * steps_done_ / train_seconds_ : 0.0}}
                    .dump()
             << "\n" << std::flush;
    }
}

void Report::step(long long iter, double loss, double seconds) {
    train_seconds_ += seconds;
    ++steps_done_;
    if (profile_ && steps_done_ == 1) first_step_ = profiler::table(), first_step_seconds_ = seconds;
    progress_.update(iter, loss, train_seconds_, steps_done_);
}

void Report::interrupted(long long iter, const std::string& checkpoint) {
    out_ << "interrupted after step " << iter
         << (checkpoint.empty() ? "" : "; checkpoint written to " + checkpoint + " (continue with --resume " + checkpoint + ")")
         << "\n";
}

void Report::summary(bool finished) {
    const double tokens_per_s = steps_done_ ? tokens_per_iter_ * steps_done_ / train_seconds_ : 0.0;
    if (log_) {
        log_ << nlohmann::json{{"event", "done"}, {"steps", steps_done_}, {"train_seconds", train_seconds_},
                               {"train_tokens_per_s", tokens_per_s}, {"final_train_loss", last_train_},
                               {"final_val_loss", last_val_}, {"params", params_}}
                    .dump()
             << "\n";
    }
    if (profile_) print_profile(out_, steps_done_, train_seconds_, first_step_, first_step_seconds_);
    if (!finished) return;
    out_ << "trained " << steps_done_ << " steps in " << format_duration(train_seconds_) << " ("
         << std::setprecision(0) << tokens_per_s << " tokens/s)\n";
}

}  // namespace xgrad
