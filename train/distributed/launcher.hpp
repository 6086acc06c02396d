// What the launcher (mpirun, srun, hydra) told this process through its
// environment, read before any MPI call: how many ranks it started, and the
// cores this process may run on. Shared by mpi.cpp and no_mpi.cpp.
#pragma once

#include <sched.h>

#include <cstdlib>
#include <string>

namespace xgrad::dist {

// The ranks the launcher started: Open MPI's OMPI_COMM_WORLD_SIZE, or the
// PMI_SIZE of MPICH's hydra and Slurm; 0 when no launcher started this process.
inline int launcher_size() {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
        if (const char* v = std::getenv(name)) return std::atoi(v);
    }
    return 0;
}

// The cores this process may run on (its affinity mask), as "0-3,6"; and how many.
inline std::string bound_cores(int* count = nullptr) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return "?";
    std::string text;
    int n = 0;
    for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (!CPU_ISSET(c, &set)) continue;
        int last = c;
        while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set)) ++last;
        text += (text.empty() ? "" : ",") + std::to_string(c) + (last > c ? "-" + std::to_string(last) : "");
        n += last - c + 1;
        c = last;
    }
    if (count) *count = n;
    return text;
}

}  // namespace xgrad::dist
