// The MPI build of distributed.hpp: plain MPI-3 C calls on MPI_COMM_WORLD.
#include "train/distributed/distributed.hpp"

#include "autograd/error.hpp"
#include "train/distributed/launcher.hpp"

#include <mpi.h>

#include <algorithm>
#include <cstring>
#include <cstdio>
#include <cstdlib>

namespace xgrad::dist {

namespace {

bool started = false;
int my_rank = 0, world_size = 1;

// Each rank's string, in rank order, on every rank.
std::vector<std::string> all_gather_strings(const std::string& mine) {
    int length = static_cast<int>(mine.size());
    std::vector<int> lengths(static_cast<std::size_t>(world_size)), offsets(lengths.size());
    MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, MPI_COMM_WORLD);
    int total = 0;
    for (std::size_t r = 0; r < lengths.size(); ++r) offsets[r] = total, total += lengths[r];
    std::string all(static_cast<std::size_t>(total), '\0');
    MPI_Allgatherv(mine.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, MPI_COMM_WORLD);
    std::vector<std::string> out;
    for (std::size_t r = 0; r < lengths.size(); ++r) out.push_back(all.substr(offsets[r], lengths[r]));
    return out;
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = std::min(text.find('\n', start), text.size());
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

}  // namespace

void init() {
    const int launched = launcher_size();
    if (launched == 0) return;  // not started by a launcher: one process, no MPI
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);  // only the main thread calls MPI
    started = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (world_size != launched) {
        throw Error("the launcher started " + std::to_string(launched) + " ranks but this MPI library sees " +
                    std::to_string(world_size) + ": xgrad was built with another MPI than the mpirun that started it, "
                    "so each rank would train alone; use the mpirun of the MPI xgrad was built with");
    }
}

void finalize() {
    if (started) MPI_Finalize();
    started = false;
}

bool active() { return started; }
int rank() { return my_rank; }
int size() { return world_size; }

Placement placement() {
    int cores = 1;
    Placement p;
    if (!started) {
        p.hosts = {"localhost"}, p.cores = {bound_cores(&cores)}, p.threads_per_rank = cores;
        return p;
    }
    char host[MPI_MAX_PROCESSOR_NAME] = {};
    int length = 0;
    MPI_Get_processor_name(host, &length);
    p.hosts = all_gather_strings(std::string(host, static_cast<std::size_t>(length)));
    p.cores = all_gather_strings(bound_cores(&cores));
    // the ranks on this host bound to the same cores share them
    int sharing = 0;
    for (int r = 0; r < world_size; ++r) sharing += p.hosts[r] == p.hosts[my_rank] && p.cores[r] == p.cores[my_rank];
    p.threads_per_rank = std::max(1, cores / std::max(1, sharing));
    return p;
}

void broadcast(float* data, std::size_t n) {
    if (!started) return;
    constexpr std::size_t chunk = 1 << 28;  // MPI counts are ints
    for (std::size_t off = 0; off < n; off += chunk) {
        MPI_Bcast(data + off, static_cast<int>(std::min(chunk, n - off)), MPI_FLOAT, 0, MPI_COMM_WORLD);
    }
}

void broadcast(std::string& text) {
    if (!started) return;
    long long length = static_cast<long long>(text.size());
    broadcast(length);
    text.resize(static_cast<std::size_t>(length));
    MPI_Bcast(text.data(), static_cast<int>(length), MPI_CHAR, 0, MPI_COMM_WORLD);
}

void broadcast(long long& value) {
    if (started) MPI_Bcast(&value, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
}

// Gathers each chunk on rank 0, which adds the ranks' chunks in rank order,
// and broadcasts the sum: rank 0 holds world_size chunks at a time, never
// world_size copies of every gradient.
void sum_in_rank_order(float* data, std::size_t n) {
    if (world_size == 1) return;
    constexpr std::size_t chunk = 1 << 20;  // 4 MB of floats per rank
    const auto ranks = static_cast<std::size_t>(world_size);
    std::vector<float> gathered(my_rank == 0 ? ranks * std::min(chunk, n) : 0);
    for (std::size_t off = 0; off < n; off += chunk) {
        const std::size_t c = std::min(chunk, n - off);
        MPI_Gather(data + off, static_cast<int>(c), MPI_FLOAT, gathered.data(), static_cast<int>(c), MPI_FLOAT, 0,
                   MPI_COMM_WORLD);
        if (my_rank == 0) {
            float* sum = data + off;  // rank 0's own gradient is gathered[0 .. c)
            for (std::size_t r = 1; r < ranks; ++r) {
                const float* part = gathered.data() + r * c;
                for (std::size_t i = 0; i < c; ++i) sum[i] += part[i];
            }
        }
        MPI_Bcast(data + off, static_cast<int>(c), MPI_FLOAT, 0, MPI_COMM_WORLD);
    }
}

void sum_any_order(float* data, std::size_t n) {
    if (!started) return;
    constexpr std::size_t chunk = 1 << 28;
    for (std::size_t off = 0; off < n; off += chunk) {
        MPI_Allreduce(MPI_IN_PLACE, data + off, static_cast<int>(std::min(chunk, n - off)), MPI_FLOAT, MPI_SUM,
                      MPI_COMM_WORLD);
    }
}

std::vector<double> all_gather(const std::vector<double>& mine) {
    if (!started) return mine;
    std::vector<double> out(mine.size() * static_cast<std::size_t>(world_size));
    MPI_Allgather(mine.data(), static_cast<int>(mine.size()), MPI_DOUBLE, out.data(), static_cast<int>(mine.size()),
                  MPI_DOUBLE, MPI_COMM_WORLD);
    return out;
}

bool any(bool flag) {
    if (!started) return flag;
    int mine = flag, result = 0;
    MPI_Allreduce(&mine, &result, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return result != 0;
}

void check_agreement(const std::vector<std::string>& lines) {
    if (!started || world_size == 1) return;
    std::string text;
    for (const std::string& line : lines) text += line + "\n";
    const std::vector<std::string> texts = all_gather_strings(text);
    const std::vector<std::string> first = split_lines(texts[0]);
    for (std::size_t i = 0; i < first.size(); ++i) {
        for (int r = 1; r < world_size; ++r) {
            const std::vector<std::string> other = split_lines(texts[r]);
            const std::string theirs = i < other.size() ? other[i] : "(nothing)";
            if (theirs == first[i]) continue;
            throw Error("the ranks were started differently: rank " + std::to_string(r) + " has " + theirs +
                        ", rank 0 has " + first[i] + "; every rank needs the same arguments, data and build");
        }
    }
}

void abort(const std::string& reason) {
    // one write, so that mpirun does not interleave it with another rank's line
    const std::string line = "xgrad: error: rank " + std::to_string(my_rank) + " of " + std::to_string(world_size) + ": " +
                             reason + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);  // MPI_Abort does not return; this is for the compiler
}

}  // namespace xgrad::dist
