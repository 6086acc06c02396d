#!/usr/bin/env bash
# Install what is missing, build, and run the whole test suite:
#   1. the Release build and its ctest suite;
#   2. the same suite built with AddressSanitizer and UndefinedBehaviorSanitizer
#      (but the tests labelled no_asan: whole processes driven from outside,
#      a browser or mpirun, where the sanitizers add minutes and find nothing
#      the Release pass's engine tests under them would not);
#   3. the two libFuzzer targets (checkpoint and batch readers), 30 s each.
# XGRAD_QUICK=1 runs only the first.
set -euo pipefail
cd "$(dirname "$0")/.."
XGRAD_TEST=1 scripts/bootstrap.sh
(cd build && ctest --output-on-failure)
[ "${XGRAD_QUICK:-0}" = 1 ] && exit 0

echo "== the suite under AddressSanitizer and UndefinedBehaviorSanitizer (build-asan/)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DXGRAD_SANITIZE=ON
cmake --build build-asan -j "$(nproc)"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -LE no_asan)

echo "== fuzzing"
scripts/fuzz.sh 30
