// Where the time goes: `xgrad train --profile`. When on, every op's forward
// is timed from the end of the op before it to its own output (so the glue
// in the model's code counts too), and every backward function is timed as it
// runs. Off by default: then it costs one branch per op.
#pragma once

#include <chrono>
#include <map>
#include <string>

namespace xgrad::profiler {

struct OpTime {
    double forward_s = 0, backward_s = 0;
    long long calls = 0;
};

void enable(bool on);
bool enabled();
// Starts the forward clock: call before the first op of a step.
void mark();
// Records a piece of the step that is not an op (the batch, the optimizer).
void add(const std::string& name, double forward_s, double backward_s = 0);
// Used by the engine.
void record_forward(const char* op);
void record_backward(const char* op, double seconds);

const std::map<std::string, OpTime>& table();
void reset();

}  // namespace xgrad::profiler
