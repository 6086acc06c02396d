// The scores of `xgrad heads`, each a function of one head's attention on
// one window (analysis/heads.cpp averages them over the windows). A[i, j] is
// the weight from query position i to key position j: rows sum to 1, zero
// above the diagonal, T = A's side. Every score is computed in double.
#pragma once

#include "autograd/tensor.hpp"

#include <cstddef>
#include <vector>

namespace xgrad::analysis {

double previous_token(const Array& A);  // mean over i >= 1 of A[i, i-1]
double first_token(const Array& A);     // mean over i >= 1 of A[i, 0]
double self(const Array& A);            // mean over i of A[i, i]
double mean_distance(const Array& A);   // mean over i of sum_j A[i, j] (i - j), in positions
// mean over i >= 1 of the row's entropy divided by ln(i + 1), its largest
// value: 1 for uniform attention, 0 for attention on one position (0 ln 0 = 0)
double entropy(const Array& A);
// The mean, over query positions inside a word (the character at i and the
// one before it are not whitespace), of the weight on the first character
// of that word (the word's first character inside the window). `space[i]`:
// is the character at position i whitespace? NaN when no position qualifies.
double word_start(const Array& A, const std::vector<bool>& space);
// On a sequence of R tokens followed by the same R again: the mean over i in
// [R, 2R - 1] of A[i, i - R + 1], the position after the earlier copy of the
// current token (what an induction head attends to).
double induction(const Array& A, std::size_t R);

// The mean over rows i >= 1 of the Jensen-Shannon divergence between two
// heads' rows, in bits (0: the same, 1: disjoint). Row 0 is always [1].
double js_divergence(const Array& A, const Array& B);

// A's scores when every row spreads evenly over the keys it may see,
// A[i, j] = 1 / (i + 1): the baseline that tells a pattern from chance.
Array uniform_attention(std::size_t T);

}  // namespace xgrad::analysis
