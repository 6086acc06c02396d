#!/usr/bin/env bash
# Install what is missing, build, and run the whole test suite with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
cd build
ctest --output-on-failure -j "$(nproc)"
