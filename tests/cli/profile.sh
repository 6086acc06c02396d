#!/usr/bin/env bash
# `xgrad train --profile` (autograd/profiler.cpp, train/loop/report.cpp): after
# training it prints one row per op with its calls per step, and those counts
# are the model's own (the tiny GPT: 4 blocks of 4 heads); the shares add up
# to the step; the header says the first step is left out (that it really is,
# this cannot see: every step makes the same calls); profiling changes no number.
#   usage: tests/cli/profile.sh path/to/xgrad
set -u
XGRAD=${1:?usage: $0 path/to/xgrad}
source "$(dirname "$0")/lib.sh"

# two evaluations (before the first step and before the last): profiling pauses for them
run=("$XGRAD" train --preset tiny --max-iters 30 --eval-iters 2 --eval-interval 100 --sample-tokens 0 --threads 1)
"${run[@]}" --profile --log "$T/profiled.jsonl" >"$T/out.txt" 2>&1 || fail "train --profile exited $?"
"${run[@]}" --log "$T/plain.jsonl" >/dev/null 2>&1 || fail "train without --profile exited $?"

# --- the header: ms per step, the first step not counted ----------------------------
if grep -qE '^--- profile: [0-9.]+ ms per step \(the first step, with its page faults, not counted\) ---$' "$T/out.txt"
then pass; else fail "no profile header: $(head -c 600 "$T/out.txt")"; fi

# calls NAME: the calls/step column of op NAME's row
# (a name may hold a space: "(adamw step)"; the row's last four fields are numbers)
calls() { awk -v op="$1" '/^--- profile/ { on = 1; next }
  on && NF >= 5 { name = $1; for (i = 2; i <= NF - 4; i++) name = name " " $i; if (name == op) print $(NF - 3) }' "$T/out.txt"; }
# tiny, per step: token and position embeddings; per head of 16 key, query,
# value, per block its heads' projection and the feed-forward's two, and lm_head
# (61 linears); one softmax a head; two LayerNorms a block and the last (9).
for want in embedding:2.0 linear:61.0 softmax:16.0 layer_norm:9.0 cross_entropy:1.0 "(adamw step)":1.0 \
            "(get_batch)":1.0; do
  op=${want%:*} n=${want##*:}
  got=$(calls "$op")
  if [ "$got" = "$n" ]; then pass; else fail "$op: expected $n calls a step, the table says '${got}'"; fi
done

# --- the shares: every op's forward and backward, the batch and AdamW make the step --
# (not all of it: the backward walk between backward functions goes uncounted, ~2% here; without the
# backward functions' times they would add up to about 40%: the forward column's share here)
total=$(awk '/^--- profile/ { on = 1; next } on && $NF ~ /%$/ { s += $NF + 0 } END { print s }' "$T/out.txt")
if awk -v s="$total" 'BEGIN { exit !(s >= 60 && s <= 101) }'; then pass
else fail "the shares add up to ${total}% of the step (expected 60-101%): $(sed -n '/^--- profile/,$p' "$T/out.txt" | head -c 900)"; fi

# --- profiling times the steps, it does not change them ------------------------------
loss() { grep '"event":"done"' "$1" | grep -oE '"final_(train|val)_loss":[-0-9.e]+' | tr '\n' ' '; }
if [ -n "$(loss "$T/plain.jsonl")" ] && [ "$(loss "$T/profiled.jsonl")" = "$(loss "$T/plain.jsonl")" ]; then pass
else fail "the loss moved with --profile: $(loss "$T/profiled.jsonl") against $(loss "$T/plain.jsonl")"; fi

finish profile
