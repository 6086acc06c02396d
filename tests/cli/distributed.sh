#!/usr/bin/env bash
# Training on several ranks (mpirun) against one process, and its faults.
#   usage: tests/cli/distributed.sh path/to/xgrad equivalence|faults|hosts
# equivalence: N ranks give the same checkpoint, byte for byte, as one process
#   with --grad-accum N (N = 2, 3, dropout on, --threads 1), over shared memory
#   and over TCP on the loopback; the shared evaluation gives one process's
#   losses; a 2-rank checkpoint resumed by one process with --grad-accum 2
#   continues the same run, bit for bit.
# faults: a batch that does not split, mismatched arguments, a rank failing at
#   step 3, a rank killed by SIGKILL, Ctrl-C (SIGINT) to mpirun: each ends the
#   job within seconds with its message, and the checkpoint before it loads.
# hosts: two network namespaces joined by a veth pair stand in for two hosts
#   (needs root and CAP_NET_ADMIN; skipped with the reason otherwise).
# Uses XGRAD_TEST_FAIL_AT_STEP, a test-only hook of train/loop/train.cpp.
set -u
XGRAD=${1:?usage: $0 path/to/xgrad equivalence|faults|hosts}
MODE=${2:?usage: $0 path/to/xgrad equivalence|faults|hosts}
source "$(dirname "$0")/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_oob_tcp_if_include=${OMPI_MCA_oob_tcp_if_include:-lo} OMPI_MCA_btl_tcp_if_include=${OMPI_MCA_btl_tcp_if_include:-lo}
# a tiny GPT on the built-in corpus, a few steps, a checkpoint every 2 steps
run=(train --preset tiny --max-iters 6 --eval-interval 2 --eval-iters 3 --batch-size 12 --dropout 0.2
     --threads 1 --sample-tokens 0)
mpi() { mpirun --timeout 60 --oversubscribe "$@"; }

# same NAME A B: the two checkpoints and their training states, byte for byte
same() {
  if cmp -s "$2" "$3" && cmp -s "$2.state" "$3.state"; then pass; else fail "$1: $2 and $3 differ"; fi
}
# evaluations NAME LOG: the losses of a --log file, unrounded
evaluations() { grep -o '"train_loss":[^,]*,"val_loss":[^,]*' "$1"; }
# loads NAME CK: the checkpoint loads and samples
loads() {
  if "$XGRAD" sample --checkpoint "$2" --tokens 1 >/dev/null 2>"$T/load_err"; then pass; else fail "$1: $(cat "$T/load_err")"; fi
}
# ends NAME REGEX SECONDS COMMAND...: fails (non-zero) within SECONDS, its stderr matching REGEX
ends() {
  local name=$1 regex=$2 limit=$3
  shift 3
  local start=$SECONDS
  "$@" >"$T/out" 2>"$T/err"
  local rc=$? took=$((SECONDS - start))
  if [ $rc -ne 0 ] && [ $took -le "$limit" ] && grep -qE -e "$regex" "$T/err"; then
    pass
    echo "$name: exit $rc after ${took}s: $(grep -E -m1 -e "$regex" "$T/err")"
  else
    fail "$name (exit $rc after ${took}s): $(head -c 600 "$T/err")"
  fi
}

equivalence() {
  for n in 2 3; do
    ok "one process, --grad-accum $n" "$XGRAD" "${run[@]}" --grad-accum "$n" --out "$T/accum$n.ck" --log "$T/accum$n.log"
    ok "$n ranks" mpi -np "$n" "$XGRAD" "${run[@]}" --out "$T/ranks$n.ck" --log "$T/ranks$n.log"
    same "$n ranks against --grad-accum $n" "$T/ranks$n.ck" "$T/accum$n.ck"
    # the shared evaluation: batch k on rank k % n, every loss as one process's
    if [ -n "$(evaluations "$T/ranks$n.log")" ] && [ "$(evaluations "$T/ranks$n.log")" = "$(evaluations "$T/accum$n.log")" ]; then
      pass
    else
      fail "$n ranks' evaluations differ from one process's: $(evaluations "$T/ranks$n.log" | head -2)"
    fi
  done
  # the first line says how it runs
  if head -1 "$T/stdout" | grep -qE '^3 ranks on 1 host \(.*\), 1 OpenMP thread per rank; cores: rank 0 on '; then pass
  else fail "first line: $(head -1 "$T/stdout")"; fi
  ok "2 ranks over TCP" env OMPI_MCA_btl=self,tcp mpirun --timeout 60 -np 2 "$XGRAD" "${run[@]}" --out "$T/tcp.ck"
  same "TCP against shared memory" "$T/tcp.ck" "$T/ranks2.ck"
  # a 2-rank run that fails at step 3 leaves its step-2 checkpoint; one process
  # with --grad-accum 2 resumes it to the end of the uninterrupted run
  XGRAD_TEST_FAIL_AT_STEP=1:3 mpi -np 2 "$XGRAD" "${run[@]}" --out "$T/cut.ck" >/dev/null 2>&1
  ok "resume by one process" "$XGRAD" train --resume "$T/cut.ck" --grad-accum 2 --threads 1
  if grep -q "resuming .* at step 2" "$T/stdout"; then pass; else fail "resumed at: $(grep resuming "$T/stdout")"; fi
  same "2 ranks, cut and resumed by one process, against uninterrupted" "$T/cut.ck" "$T/ranks2.ck"
}

faults() {
  ends "bad batch division" "rank [01] of 2: --batch-size 5 does not split into 2 ranks x --grad-accum 1" 20 \
    mpi -np 2 "$XGRAD" "${run[@]}" --batch-size 5
  ends "mismatched arguments" "rank 1 has seed 2, rank 0 has seed 1" 20 \
    mpi -np 1 "$XGRAD" "${run[@]}" --seed 1 : -np 1 "$XGRAD" "${run[@]}" --seed 2
  # rank 1 with --threads 2 would run its micro-batch as 2 side by side, rank 0 as 1: refused at start-up
  local run2=() prev=
  for a in "${run[@]}"; do [ "$prev" = --threads ] && a=2; run2+=("$a"); prev=$a; done
  ends "ranks with other thread counts" "rank 1 has micro-batches side by side 2, rank 0 has micro-batches side by side 1" 20 \
    mpi --bind-to none -np 1 "$XGRAD" "${run[@]}" : -np 1 "$XGRAD" "${run2[@]}"
  ends "launcher's 2 ranks, library's 1" "the launcher started 2 ranks but this MPI library sees 1" 20 \
    env PMI_SIZE=2 "$XGRAD" "${run[@]}"
  ends "an error on rank 1 at step 3" "rank 1 of 2: step 3: failing as XGRAD_TEST_FAIL_AT_STEP asks" 20 \
    env XGRAD_TEST_FAIL_AT_STEP=1:3 mpirun --timeout 60 -np 2 "$XGRAD" "${run[@]}" --out "$T/error.ck"
  loads "the checkpoint before the error" "$T/error.ck"
  ends "rank 1 killed at step 3" "process rank 1 .* exited on signal 9" 20 \
    env XGRAD_TEST_FAIL_AT_STEP=1:3:kill mpirun --timeout 60 -np 2 "$XGRAD" "${run[@]}" --out "$T/killed.ck"
  loads "the checkpoint before the kill" "$T/killed.ck"
  # Ctrl-C to mpirun during a long run, once a checkpoint exists
  mpirun --timeout 60 -np 2 "$XGRAD" "${run[@]}" --max-iters 100000 --eval-interval 20 --out "$T/int.ck" >/dev/null 2>&1 &
  local pid=$! waited=0
  while [ ! -e "$T/int.ck.state" ] && [ $waited -lt 200 ]; do sleep 0.1; waited=$((waited + 1)); done
  sleep 0.5
  local start=$SECONDS
  kill -INT $pid
  wait $pid
  local rc=$? took=$((SECONDS - start))
  if [ $rc -ne 0 ] && [ $took -le 10 ]; then pass; echo "Ctrl-C to mpirun: exit $rc after ${took}s"; else fail "Ctrl-C: exit $rc after ${took}s"; fi
  loads "the checkpoint after Ctrl-C" "$T/int.ck"
  # the step it was saved at, then two steps more from there
  local saved
  saved=$("$XGRAD" train --resume "$T/int.ck" --threads 1 --max-iters 1 2>&1 | sed -n 's/.*is already at step \([0-9]*\).*/\1/p')
  ok "its run resumes" "$XGRAD" train --resume "$T/int.ck" --threads 1 --max-iters $((saved + 2))
  if [ -n "$saved" ] && grep -q "resuming .* at step $saved" "$T/stdout"; then pass; else fail "no 'resuming at step $saved' in: $(head -c 300 "$T/stdout")"; fi
}

case $MODE in
  equivalence) equivalence ;;
  faults) faults ;;
  hosts) source "$(dirname "$0")/distributed_hosts.sh" ;;
  *) echo "unknown mode $MODE"; exit 2 ;;
esac
finish "distributed $MODE"
