// The gradient sum alone, without a training step around it: milliseconds of
// xgrad's fixed-order sum (gather to rank 0, add in rank order, broadcast)
// against MPI_Allreduce, for a gradient of each config's size, every rank
// starting together (MPI_Barrier) so that no rank's compute is counted.
//   mpirun -np 2 build/bench_allreduce [reps]      (bench/distributed.py runs it)
// Prints one JSON line per size: {"floats":..., "fixed_ms":..., "allreduce_ms":...}, medians.
#include "train/distributed/distributed.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

double median_ms(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return 1000 * v[v.size() / 2];
}

template <class Sum>
double time_sum(std::vector<float>& data, int reps, Sum sum) {
    std::vector<double> seconds;
    for (int r = 0; r < reps; ++r) {
        std::fill(data.begin(), data.end(), 1.0f);
        MPI_Barrier(MPI_COMM_WORLD);
        const auto start = std::chrono::steady_clock::now();
        sum(data.data(), data.size());
        seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return median_ms(seconds);
}

}  // namespace

int main(int argc, char** argv) {
    const int reps = argc > 1 ? std::atoi(argv[1]) : 21;
    xgrad::dist::init();
    // the parameters of the tiny, small and lecture configs on tiny Shakespeare (65 characters)
    for (const std::size_t floats : {209729ul, 816705ul, 10788929ul}) {
        std::vector<float> data(floats);
        const double fixed = time_sum(data, reps, xgrad::dist::sum_in_rank_order);
        const double plain = time_sum(data, reps, xgrad::dist::sum_any_order);
        if (xgrad::dist::is_master()) {
            std::printf("{\"floats\": %zu, \"fixed_ms\": %.3f, \"allreduce_ms\": %.3f}\n", floats, fixed, plain);
        }
    }
    xgrad::dist::finalize();
    return 0;
}
