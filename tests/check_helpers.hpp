// Helpers shared by the tests: a comparison that on
// failure names the tensor, prints the first mismatching entries and the
// largest difference (as llm.c's test does).
#pragma once

#include "autograd/tensor.hpp"
#include "tests/random_tensors.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <string>

namespace xgrad::test {

// max |actual - expected| / max |expected|, with infinities required to match.
// Returns a report that is empty when the arrays agree within `tolerance`.
template <class A, class B>
std::string compare(const std::string& name, const A& actual, const B& expected, double tolerance,
                    double* rel_out = nullptr) {
    std::ostringstream report;
    if (actual.size() != expected.size()) {
        report << name << ": " << actual.size() << " elements, expected " << expected.size();
        return report.str();
    }
    double max_diff = 0, max_ref = 0;
    std::size_t worst = 0;
    for (std::size_t i = 0; i < actual.size(); ++i) {
        const double a = static_cast<double>(actual.data()[i]), e = static_cast<double>(expected.data()[i]);
        if (std::isinf(e) || std::isinf(a)) {
            if (a != e) max_diff = INFINITY, worst = i;
            continue;
        }
        const double d = std::isnan(a) || std::isnan(e) ? INFINITY : std::abs(a - e);
        if (d > max_diff) max_diff = d, worst = i;
        max_ref = std::max(max_ref, std::abs(e));
    }
    const double rel = max_diff / std::max(max_ref, 1e-30);
    if (rel_out) *rel_out = rel;
    if (rel <= tolerance) return "";
    report << name << ": max |diff| " << max_diff << " (relative " << rel << ", tolerance " << tolerance
           << ") at flat index " << worst << "\n  first mismatches:";
    int shown = 0;
    for (std::size_t i = 0; i < actual.size() && shown < 5; ++i) {
        const double a = static_cast<double>(actual.data()[i]), e = static_cast<double>(expected.data()[i]);
        if (!(std::abs(a - e) <= tolerance * std::max(max_ref, 1e-30)) && !(a == e)) {
            report << "\n    [" << i << "] got " << a << ", expected " << e;
            ++shown;
        }
    }
    return report.str();
}

#define XGRAD_CHECK_CLOSE(name, actual, expected, tolerance)                                   \
    do {                                                                                      \
        const std::string xgrad_report_ = ::xgrad::test::compare(name, actual, expected, tolerance); \
        INFO(xgrad_report_);                                                                  \
        CHECK(xgrad_report_.empty());                                                         \
    } while (0)

}  // namespace xgrad::test
