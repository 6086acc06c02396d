// The gradient checks of every op and every module, as one list shared by
// the test suite (tests/test_gradcheck.cpp) and by `xgrad gradcheck`, so what a
// learner runs is what CI proves. Compiled against the double-precision build
// (namespace xgrad64); this header uses no xgrad types so the float program
// can call it too.
#pragma once

#include <string>
#include <vector>

namespace gradcheck_suite {

struct Row {
    std::string name;    // "matmul 3d @ 2d", "head", ...
    std::string group;   // "op" or "module"
    std::string shapes;  // "a (2,3,4), b (4,5)"
    double max_rel_error = 0;
    std::string worst;   // the input with the largest error
    bool passed = false;
};

std::vector<std::string> names();
// The finite-difference step and the tolerance every check uses (the double
// build's GradcheckOptions), for `xgrad gradcheck` to print.
struct Settings {
    double eps = 0, tolerance = 0;
};
Settings settings();
// Runs every check, or only those whose name starts with `only` (in any case).
std::vector<Row> run(const std::string& only = "");

}  // namespace gradcheck_suite
