// Data parallelism over MPI: the few collective calls a training run makes,
// behind one small interface, so the training loop (train/loop/train.cpp)
// reads like nanoGPT's DDP loop and builds without MPI too.
//   mpi.cpp:    the MPI build (plain MPI-3 C calls: Open MPI or MPICH)
//   no_mpi.cpp: the build without MPI: one process, and a refusal to start
//               when a launcher (mpirun) started several
// The batch's split between ranks and micro-batches is in slicing.hpp.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace xgrad::dist {

// Starts MPI when a launcher (mpirun, srun) started this process, else runs
// as one process. Throws xgrad::Error when the launcher says N ranks and this
// build or this MPI library sees 1 (each rank would train alone).
void init();
void finalize();
bool active();  // init() started MPI
int rank();     // 0 without MPI
int size();     // 1 without MPI
inline bool is_master() { return rank() == 0; }  // nanoGPT's master_process: only it prints, logs and saves

// How the ranks run, for the first line of a distributed run: "2 ranks on 1
// host (vm), 1 OpenMP thread per rank, rank 0 on cores 0, rank 1 on cores 1".
// threads_per_rank: the cores this rank may use divided by the ranks that share them.
struct Placement {
    std::vector<std::string> hosts;  // one per rank
    std::vector<std::string> cores;  // "0-1", one per rank
    int threads_per_rank = 1;        // the default --threads
};
Placement placement();
std::string describe(const Placement& placement, int threads);

// Rank 0's bytes to every rank (the initial parameters, AdamW's moments, the generator's state).
void broadcast(float* data, std::size_t n);
void broadcast(std::string& text);
void broadcast(long long& value);

// The element-wise sum of every rank's `data`, in rank order
// (((r0 + r1) + r2) + ...), on every rank: the same bits as one process that
// adds the same numbers in the same order (--grad-accum N), whatever the
// network or the library's own all-reduce algorithm.
void sum_in_rank_order(float* data, std::size_t n);
// The same with MPI_Allreduce, whose order is the library's: for the benchmark's comparison only.
void sum_any_order(float* data, std::size_t n);
// Every rank's values one after the other, in rank order, on every rank.
std::vector<double> all_gather(const std::vector<double>& mine);
// True on every rank when `flag` is true on any (Ctrl-C on one rank stops them all at the same step).
bool any(bool flag);

// Start-up agreement: `lines` are "key value" lines that must be the same on
// every rank (the options, the corpus's hash, the build). Throws an Error on
// every rank naming the first line that differs and the ranks that differ.
void check_agreement(const std::vector<std::string>& lines);

// Prints "xgrad: error: rank R of N: reason" and ends the whole job
// (MPI_Abort): the other ranks would wait for this one forever.
[[noreturn]] void abort(const std::string& reason);

}  // namespace xgrad::dist
