#!/usr/bin/env bash
# What a learner following the docs tripped on (issue 19), guarded: a preset
# named after a stage trains that stage (`--preset NAME` and `--model NAME`
# build the same model: the same parameter count, which a GPT with no blocks,
# the old `--preset head`, does not have), and a sample too short to hold a
# sentence says so instead of "valid sentences: 0 of 0".
#   usage: tests/cli/learner_guards.sh path/to/xgrad
set -u
XGRAD=${1:?usage: $0 path/to/xgrad}
source "$(dirname "$0")/lib.sh"

quick=(--max-iters 1 --eval-iters 0 --sample-tokens 0 --threads 1)
for stage in bigram head multihead feedforward blocks layernorm; do
  "$XGRAD" train --preset "$stage" "${quick[@]}" >"$T/preset.txt" 2>&1 || fail "--preset $stage exited $?"
  "$XGRAD" train --model "$stage" "${quick[@]}" >"$T/model.txt" 2>&1 || fail "--model $stage exited $?"
  p=$(grep ' M parameters$' "$T/preset.txt") m=$(grep ' M parameters$' "$T/model.txt")
  if grep -q "^training $stage with the $stage preset$" "$T/preset.txt" && [ -n "$p" ] && [ "$p" = "$m" ]; then pass
  else fail "--preset $stage: '$(head -1 "$T/preset.txt")', $p against --model's $m"; fi
done
# the head stage on the built-in corpus (41 characters): 41*32 + 8*32 + 3*32*32 + 32*41 + 41
"$XGRAD" train --preset head "${quick[@]}" >"$T/head.txt" 2>&1
if grep -q '^0.005993 M parameters$' "$T/head.txt"; then pass; else fail "--preset head: $(grep parameters "$T/head.txt")"; fi

# a 2-token sample, no whole sentence: "none to check", never "0 of 0"
"$XGRAD" train --preset tiny --n-layer 1 --max-iters 2 --eval-iters 0 --sample-tokens 0 --threads 1 --out "$T/ck.safetensors" >/dev/null 2>&1
"$XGRAD" sample --checkpoint "$T/ck.safetensors" --tokens 2 >"$T/short.txt" 2>&1
if grep -q '^valid sentences: none to check (the sample holds no whole sentence)$' "$T/short.txt" && ! grep -q ' 0 of 0' "$T/short.txt"
then pass; else fail "a 2-token sample: $(tail -1 "$T/short.txt")"; fi

finish learner_guards
