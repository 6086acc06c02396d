// The first line of a distributed run (distributed.hpp's describe), the same
// with or without MPI.
#include "train/distributed/distributed.hpp"

#include <set>

namespace xgrad::dist {

std::string describe(const Placement& p, int threads) {
    const std::set<std::string> hosts(p.hosts.begin(), p.hosts.end());
    std::string host_list;
    for (const std::string& h : hosts) host_list += (host_list.empty() ? "" : ", ") + h;
    const std::size_t ranks = p.hosts.size();
    std::string text = std::to_string(ranks) + (ranks == 1 ? " rank" : " ranks") + " on " + std::to_string(hosts.size()) +
                       (hosts.size() == 1 ? " host" : " hosts") + " (" + host_list + "), " + std::to_string(threads) +
                       " OpenMP thread" + (threads == 1 ? "" : "s") + " per rank; cores:";
    for (std::size_t r = 0; r < ranks; ++r) {
        text += (r ? ", rank " : " rank ") + std::to_string(r) + " on " + (hosts.size() > 1 ? p.hosts[r] + " " : "") + p.cores[r];
    }
    return text;
}

}  // namespace xgrad::dist
