#!/usr/bin/env bash
# How `xgrad train` shows its progress (train/loop/report.cpp): redirected to a
# file it writes plain "iter N/M: ..." lines, at every tenth of the run, with
# no carriage return anywhere; on a terminal (a pseudo-terminal from
# script(1), when installed) it draws the live bar, which starts with one.
#   usage: tests/cli/progress_log.sh path/to/xgrad
set -u
XGRAD=${1:?usage: $0 path/to/xgrad}
source "$(dirname "$0")/lib.sh"

train=("$XGRAD" train --model bigram --max-iters 200 --eval-interval 100 --eval-iters 2 --sample-tokens 0 --threads 1)

# --- redirected to a file: plain periodic lines, no '\r' ---------------------------
"${train[@]}" >"$T/log.txt" 2>&1 || fail "train redirected to a file exited $?"
if grep -q $'\r' "$T/log.txt"; then fail "a carriage return in the redirected log: $(grep -c $'\r' "$T/log.txt") lines"; else pass; fi
periodic=$(grep -cE '^iter [0-9]+/200: loss [0-9.]+, [0-9.]+ it/s, [0-9]+ tokens/s, [0-9hms]+ left$' "$T/log.txt")
# 20, 40, ..., 180 of 200: nine tenths before the end
if [ "$periodic" -ge 9 ]; then pass; else fail "expected at least 9 periodic 'iter N/200' lines, got $periodic: $(head -c 600 "$T/log.txt")"; fi
if grep -qE '^iter 100/200: ' "$T/log.txt" && grep -qE '^step 100: train loss' "$T/log.txt"; then pass
else fail "the periodic line at half-way or the evaluation line missing: $(head -c 600 "$T/log.txt")"; fi

# --- through a pipe: the same plain lines ------------------------------------------
"${train[@]}" 2>&1 | cat >"$T/pipe.txt"
if ! grep -q $'\r' "$T/pipe.txt" && grep -qE '^iter 20/200: ' "$T/pipe.txt"; then pass
else fail "through a pipe: a carriage return or no periodic line: $(head -c 400 "$T/pipe.txt")"; fi

# --- on a terminal: the live bar ---------------------------------------------------
if command -v script >/dev/null; then
  script -qec "$(printf '%q ' "${train[@]}")" "$T/tty.txt" >/dev/null 2>&1 </dev/null
  if grep -q $'\r\\[#' "$T/tty.txt" && ! grep -qE '^iter [0-9]+/200: ' "$T/tty.txt"; then pass
  else fail "on a terminal: no live bar, or plain lines: $(head -c 400 "$T/tty.txt" | cat -A)"; fi
else
  echo "progress_log: script(1) not installed, the terminal case not checked"
fi

finish progress_log
