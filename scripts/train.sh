#!/usr/bin/env bash
# The main job: install what is missing, build, train the tiny GPT on the
# built-in corpus (a checkpoint goes to out/tiny.safetensors), and sample.
# Extra arguments go to `xgrad train`, e.g. scripts/train.sh --max-iters 500
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
mkdir -p out
build/xgrad train --preset tiny --out out/tiny.safetensors --log out/tiny.jsonl "$@"
echo "== sampling from out/tiny.safetensors"
build/xgrad sample --checkpoint out/tiny.safetensors --prompt "The cat" --tokens 300
