// The scores of one head's attention on one window (head_scores.hpp says
// what each measures). Used by analysis/heads.cpp; tested on hand-built
// patterns in tests/test_heads.cpp.
#include "train/analysis/head_scores.hpp"

#include "autograd/error.hpp"

#include <cmath>
#include <limits>

namespace xgrad::analysis {

namespace {

std::size_t side(const Array& A, const char* score) {
    if (A.dimension() != 2 || A.shape()[0] != A.shape()[1] || A.shape()[0] == 0) {
        throw Error(std::string(score) + ": expected a square (T,T) attention matrix, got shape " + shape_str(A.shape()));
    }
    return A.shape()[0];
}

double at(const Array& A, std::size_t i, std::size_t j) { return static_cast<double>(A(i, j)); }

// The mean over rows first..T-1 of f(i); NaN for no rows (T = 1 and first = 1).
template <class F>
double mean_over_rows(std::size_t first, std::size_t T, F f) {
    if (first >= T) return std::numeric_limits<double>::quiet_NaN();
    double total = 0;
    for (std::size_t i = first; i < T; ++i) total += f(i);
    return total / static_cast<double>(T - first);
}

double xlogx(double p) { return p > 0 ? p * std::log(p) : 0.0; }

}  // namespace

double previous_token(const Array& A) {
    return mean_over_rows(1, side(A, "previous_token"), [&](std::size_t i) { return at(A, i, i - 1); });
}

double first_token(const Array& A) {
    return mean_over_rows(1, side(A, "first_token"), [&](std::size_t i) { return at(A, i, 0); });
}

double self(const Array& A) {
    return mean_over_rows(0, side(A, "self"), [&](std::size_t i) { return at(A, i, i); });
}

double mean_distance(const Array& A) {
    return mean_over_rows(0, side(A, "mean_distance"), [&](std::size_t i) {
        double d = 0;
        for (std::size_t j = 0; j <= i; ++j) d += at(A, i, j) * static_cast<double>(i - j);
        return d;
    });
}

double entropy(const Array& A) {
    return mean_over_rows(1, side(A, "entropy"), [&](std::size_t i) {
        double h = 0;
        for (std::size_t j = 0; j <= i; ++j) h -= xlogx(at(A, i, j));
        return h / std::log(static_cast<double>(i + 1));
    });
}

double word_start(const Array& A, const std::vector<bool>& space) {
    const std::size_t T = side(A, "word_start");
    if (space.size() != T) {
        throw Error("word_start: " + std::to_string(space.size()) + " characters for a window of " + std::to_string(T));
    }
    double total = 0;
    std::size_t count = 0;
    std::size_t start = 0;  // the first character of the word the scan is in
    for (std::size_t i = 0; i < T; ++i) {
        if (space[i]) continue;
        if (i == 0 || space[i - 1]) {
            start = i;  // a word begins here
            continue;   // its first character is not inside a word yet
        }
        total += at(A, i, start);
        ++count;
    }
    return count ? total / static_cast<double>(count) : std::numeric_limits<double>::quiet_NaN();
}

double induction(const Array& A, std::size_t R) {
    const std::size_t T = side(A, "induction");
    if (R == 0 || 2 * R > T) {
        throw Error("induction: a repeated sequence of 2 x " + std::to_string(R) + " does not fit a window of " +
                    std::to_string(T));
    }
    double total = 0;
    for (std::size_t i = R; i < 2 * R; ++i) total += at(A, i, i - R + 1);
    return total / static_cast<double>(R);
}

double js_divergence(const Array& A, const Array& B) {
    const std::size_t T = side(A, "js_divergence");
    if (side(B, "js_divergence") != T) throw Error("js_divergence: the two heads' windows differ in length");
    return mean_over_rows(1, T, [&](std::size_t i) {
        double js = 0;  // (KL(a || m) + KL(b || m)) / 2 with m = (a + b) / 2
        for (std::size_t j = 0; j <= i; ++j) {
            const double a = at(A, i, j), b = at(B, i, j), m = (a + b) / 2;
            if (a > 0) js += a * std::log(a / m) / 2;
            if (b > 0) js += b * std::log(b / m) / 2;
        }
        return js / std::log(2.0);
    });
}

Array uniform_attention(std::size_t T) {
    Array A = xt::zeros<Scalar>({T, T});
    for (std::size_t i = 0; i < T; ++i) {
        for (std::size_t j = 0; j <= i; ++j) A(i, j) = Scalar(1) / static_cast<Scalar>(i + 1);
    }
    return A;
}

}  // namespace xgrad::analysis
