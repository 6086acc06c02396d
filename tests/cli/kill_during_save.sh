#!/usr/bin/env bash
# Kills training with SIGKILL at random moments while it writes a checkpoint
# at every step, many times; the checkpoint left behind must always load, and
# --resume of it must continue from its step.
#   usage: tests/cli/kill_during_save.sh path/to/xgrad [rounds]
set -u
XGRAD=${1:?usage: $0 path/to/xgrad [rounds]}
ROUNDS=${2:-25}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0
failed=0
ck="$T/ck.safetensors"
# about 3 MB of weights, written (with the optimizer state) after every step
base=(train --eval-interval 1 --eval-iters 0 --sample-tokens 0 --block-size 16 --n-embd 128
      --n-head 4 --n-layer 4 --batch-size 2 --threads 1 --out "$ck")
args=("${base[@]}" --max-iters 100000)
for round in $(seq 1 "$ROUNDS"); do
  if [ -f "$ck" ]; then
    "$XGRAD" "${args[@]}" --resume "$ck" >/dev/null 2>&1 &
  else
    "$XGRAD" "${args[@]}" >/dev/null 2>&1 &
  fi
  pid=$!
  sleep "0.$((RANDOM % 60 + 20))"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  if [ ! -f "$ck" ]; then
    continue  # killed before the first checkpoint: nothing to check yet
  fi
  if "$XGRAD" sample --checkpoint "$ck" --tokens 1 >/dev/null 2>"$T/err"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL round $round: $(cat "$T/err")"
  fi
  # --resume: with nothing to do it names the checkpoint's step, then it trains one more
  if probe=$("$XGRAD" "${base[@]}" --max-iters 0 --resume "$ck" 2>&1); then
    step=$(printf '%s\n' "$probe" | sed -n 's/^nothing to do: .* is already at step \([0-9]*\) .*/\1/p')
  else
    step=""
  fi
  if [ -n "$step" ] && "$XGRAD" "${base[@]}" --max-iters $((step + 1)) --resume "$ck" >"$T/resume.out" 2>&1 &&
     grep -q "^trained 1 steps" "$T/resume.out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL round $round: --resume refused: $("$XGRAD" "${base[@]}" --max-iters 0 --resume "$ck" 2>&1 | tail -1)"
  fi
done
# Ctrl-C: the current step finishes, the checkpoint is written, the exit status is 130, and --resume goes on.
rm -f "$ck" "$ck.state"
small=(train --max-iters 100000 --eval-interval 1000 --eval-iters 0 --sample-tokens 0 --block-size 8 --n-embd 16
       --n-head 2 --n-layer 1 --batch-size 2 --threads 1 --out "$ck")
"$XGRAD" "${small[@]}" >"$T/ctrl_c.out" 2>&1 &
pid=$!
sleep 1
kill -INT "$pid"
wait "$pid"
rc=$?
# the resumed run starts at the step after the interrupted one and trains 5 more
stopped=$(sed -n 's/^interrupted after step \([0-9]*\).*/\1/p' "$T/ctrl_c.out")
if [ "$rc" -eq 130 ] && [ -n "$stopped" ] &&
   "$XGRAD" "${small[@]}" --max-iters $((stopped + 6)) --resume "$ck" >"$T/resume.out" 2>&1 &&
   grep -q "resuming $ck at step $((stopped + 1))" "$T/resume.out" && grep -q "^trained 5 steps" "$T/resume.out"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  echo "FAIL: Ctrl-C (exit $rc): $(cat "$T/ctrl_c.out" "$T/resume.out" 2>/dev/null | tail -3)"
fi

leftovers=$(ls "$T" | grep -c '\.tmp\.' || true)
echo "kill during save: $passed passed, $failed failed ($leftovers temp files left by killed writers)"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
