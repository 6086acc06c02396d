// distributed.hpp without MPI (built when CMake finds no MPI, or with
// -DXGRAD_MPI=OFF): one process; a launcher that started several is refused.
#include "train/distributed/distributed.hpp"

#include "autograd/error.hpp"
#include "train/distributed/launcher.hpp"

#include <unistd.h>

#include <iostream>

namespace xgrad::dist {

void init() {
    const int launched = launcher_size();
    if (launched > 1) {
        throw Error("built without MPI: each rank would train alone (the launcher started " + std::to_string(launched) +
                    "); install libopenmpi-dev and rebuild, or run one process without mpirun");
    }
}
void finalize() {}
bool active() { return false; }
int rank() { return 0; }
int size() { return 1; }

Placement placement() {
    int cores = 1;
    Placement p;
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    p.hosts = {host};
    p.cores = {bound_cores(&cores)};
    p.threads_per_rank = cores;
    return p;
}

void broadcast(float*, std::size_t) {}
void broadcast(std::string&) {}
void broadcast(long long&) {}
void sum_in_rank_order(float*, std::size_t) {}
void sum_any_order(float*, std::size_t) {}
std::vector<double> all_gather(const std::vector<double>& mine) { return mine; }
bool any(bool flag) { return flag; }
void check_agreement(const std::vector<std::string>&) {}

void abort(const std::string& reason) {
    std::cerr << "xgrad: error: " << reason << "\n" << std::flush;
    std::_Exit(1);
}

}  // namespace xgrad::dist
