// The checks of the options, before a run does any work (options.hpp).
#include "train/loop/options.hpp"

#include "autograd/blas.hpp"
#include "autograd/error.hpp"
#include "train/distributed/distributed.hpp"
#include "train/formats/checkpoint.hpp"

#include <omp.h>

#include <cmath>
#include <iomanip>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace xgrad {

void set_threads(int threads) {
    const int n = threads > 0 ? threads : omp_get_num_procs();
    omp_set_num_threads(n);
    omp_set_max_active_levels(1);  // inside micro-batches side by side every op stays on its thread, whatever OMP_MAX_ACTIVE_LEVELS says
    blas::set_num_threads(n);
}

namespace {

// The global batch is cut into ranks x grad_accum micro-batches of equal size (train/distributed/slicing.hpp).
void check_batch_division(std::size_t batch_size, int ranks, int grad_accum) {
    const std::size_t parts = static_cast<std::size_t>(ranks) * static_cast<std::size_t>(grad_accum);
    if (batch_size % parts == 0) return;
    throw Error("--batch-size " + std::to_string(batch_size) + " does not split into " + std::to_string(ranks) +
                (ranks == 1 ? " rank" : " ranks") + " x --grad-accum " + std::to_string(grad_accum) + " = " +
                std::to_string(parts) + " micro-batches of equal size; give a multiple of " + std::to_string(parts));
}

void check_flags(const TrainOptions& o) {
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
    positive("--grad-accum", o.grad_accum);
    check_batch_division(o.batch_size, dist::size(), o.grad_accum);
}

}  // namespace

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

void check_options(const TrainOptions& o) {
    check_flags(o);
    check_output_path(o.out, "--out");
    check_output_path(o.log, "--log");
}

// The weights with their gradients and AdamW's two moments, and the
// activations kept for the backward pass (per token and layer: about 20
// vectors of n_embd and 4 attention rows of T per head, twice with their
// gradients). Linux would otherwise kill the process when the memory runs out.
void check_memory(const std::string& model_type, const GPTConfig& c, std::size_t batch_size) {
    const double C = static_cast<double>(c.n_embd), L = static_cast<double>(c.n_layer);
    const double T = static_cast<double>(c.block_size), V = static_cast<double>(c.vocab_size);
    const double weights = static_cast<double>(state_size(expected_state(model_type, c)));  // as the loader counts them
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

}  // namespace xgrad
