#!/usr/bin/env bash
# Installs whatever is missing (Debian/Ubuntu packages, through sudo when not
# root), then configures and builds xgrad in Release into build/.
# XGRAD_TEST=1 (scripts/test.sh) adds what only the tests use: headless
# Chromium and its driver for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(g++ make cmake clang libclang-rt-dev libxtensor-dev libxsimd-dev libxtensor-blas-dev libopenblas-openmp-dev libopenblas-dev libxsmm-dev
          doctest-dev libcli11-dev nlohmann-json3-dev python3 graphviz
          pkg-config libcpp-httplib-dev libopenmpi-dev openmpi-bin)
if [ "${XGRAD_TEST:-0}" = 1 ]; then
  packages+=(chromium chromium-driver python3-selenium iproute2)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

echo "== building (Release) in build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release ${XGRAD_CMAKE_ARGS:-}
cmake --build build -j "$(nproc)"
