#include "autograd/profiler.hpp"

namespace xgrad::profiler {

namespace {
using Clock = std::chrono::steady_clock;
bool on = false;
Clock::time_point last = Clock::now();
std::map<std::string, OpTime>& times() {
    static std::map<std::string, OpTime> t;
    return t;
}
}  // namespace

void enable(bool enable_it) { on = enable_it; }
bool enabled() { return on; }
void mark() { last = Clock::now(); }

void add(const std::string& name, double forward_s, double backward_s) {
    OpTime& t = times()[name];
    t.forward_s += forward_s;
    t.backward_s += backward_s;
    ++t.calls;
}

void record_forward(const char* op) {
    const Clock::time_point now = Clock::now();
    OpTime& t = times()[op];
    t.forward_s += std::chrono::duration<double>(now - last).count();
    ++t.calls;
    last = now;
}

void record_backward(const char* op, double seconds) { times()[op].backward_s += seconds; }

const std::map<std::string, OpTime>& table() { return times(); }
void reset() { times().clear(); }

}  // namespace xgrad::profiler
