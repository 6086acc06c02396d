#!/bin/bash
# The heap's transparent huge pages (train/cli/heap.cpp). When the kernel
# gives them only on request ("madvise"), xgrad runs itself again, same
# process and arguments, with glibc.malloc.hugetlb=1 added to GLIBC_TUNABLES
# and the user's own tunables kept; a user's glibc.malloc.hugetlb=0 wins;
# `xgrad serve` is never re-run.
# Usage: heap.sh path/to/xgrad
X=$1
source "$(dirname "$0")/lib.sh"

kernel=$(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)
said() { env "$@" "$X" --version | tail -n 1; }
# check NAME WANT GOT
check() { if [ "$2" = "$3" ]; then pass; else fail "$1: want '$2', got '$3'"; fi; }
line="transparent huge pages for the heap:"

if said -u GLIBC_TUNABLES | grep -q "sanitizer's allocator"; then
  # AddressSanitizer's malloc ignores glibc's tunables: nothing is re-run.
  check "sanitizer build: left alone" "$line no, the sanitizer's allocator (kernel: ${kernel:-unknown})" \
    "$(said -u GLIBC_TUNABLES)"
elif [ "$kernel" = madvise ]; then
  check "asked for by default" "$line yes (kernel: madvise, GLIBC_TUNABLES=glibc.malloc.hugetlb=1)" \
    "$(said -u GLIBC_TUNABLES)"
  check "the user's tunables kept" \
    "$line yes (kernel: madvise, GLIBC_TUNABLES=glibc.malloc.mxfast=0:glibc.malloc.hugetlb=1)" \
    "$(said GLIBC_TUNABLES=glibc.malloc.mxfast=0)"
  check "hugetlb=0 turns it off" "$line no (kernel: madvise, GLIBC_TUNABLES=glibc.malloc.hugetlb=0)" \
    "$(said GLIBC_TUNABLES=glibc.malloc.hugetlb=0)"

  # The re-run is the same process (a script that kills by pid still can),
  # with the same arguments: the run it was asked for, its log included.
  env -u GLIBC_TUNABLES "$X" train --preset tiny --max-iters 100000 --eval-interval 1000000 \
    --sample-tokens 0 --log "$T/run.jsonl" --out "$T/run.safetensors" >"$T/train.out" 2>&1 &
  pid=$!
  seen=0
  for _ in $(seq 100); do
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx 'GLIBC_TUNABLES=glibc.malloc.hugetlb=1'; then
      seen=1
      break
    fi
    sleep 0.1
  done
  check "the same pid runs with the tunable" 1 "$seen"
  # under its own name (ps, top, pgrep), not "exe" from /proc/self/exe
  check "the process's name" "$(basename "$X")" "$(cat "/proc/$pid/comm" 2>/dev/null)"
  for _ in $(seq 300); do [ -s "$T/run.jsonl" ] && break; sleep 0.1; done
  if [ -s "$T/run.jsonl" ]; then pass; else fail "the re-run's --log: nothing written ($(head -c 300 "$T/train.out"))"; fi
  sleep 1
  echo "AnonHugePages of the training run after ~1 s: $(awk '/AnonHugePages/ {print $2, $3}' "/proc/$pid/smaps_rollup" 2>/dev/null)"
  kill -INT "$pid"
  wait "$pid"
  check "Ctrl-C ends the re-run as it ends any run (128 + SIGINT)" 130 $?

  # `xgrad serve` is left as it was started: a request would wait on fresh
  # huge pages' first touch (heap.cpp). Checked once it serves, so that it is
  # the running server's environment that has no tunable.
  env -u GLIBC_TUNABLES "$X" serve --checkpoint "$T/run.safetensors" --port 0 >"$T/serve.out" 2>&1 &
  spid=$!
  for _ in $(seq 300); do grep -q '^serving .* on http://127.0.0.1:' "$T/serve.out" && break; sleep 0.1; done
  if grep -q '^serving ' "$T/serve.out" && kill -0 "$spid" 2>/dev/null; then
    check "serve runs without the tunable" "" \
      "$(tr '\0' '\n' <"/proc/$spid/environ" 2>/dev/null | grep '^GLIBC_TUNABLES=')"
  else
    fail "serve did not start: $(head -c 300 "$T/serve.out")"
  fi
  kill "$spid" 2>/dev/null
  wait "$spid" 2>/dev/null
else
  # The kernel's "always" needs no request and "never" refuses it: nothing is re-run.
  want=no; [ "$kernel" = always ] && want=yes
  check "kernel $kernel: left alone" "$line $want (kernel: ${kernel:-unknown})" "$(said -u GLIBC_TUNABLES)"
fi
finish heap
