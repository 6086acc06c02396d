#!/usr/bin/python3
"""Training speed on several processes: tokens/s of 1 process x 1 thread, 1 x 2, 2 ranks x 1 thread
and 2 x 2, at the tiny, small and lecture configs, medians of a few runs, one table; then what the
fixed-order gradient sum costs against a plain MPI_Allreduce: alone (build/bench_allreduce, from
bench/allreduce.cpp) and inside training (2 ranks x 1 thread, --profile).

    bench/distributed.py                          # build/xgrad, tiny and small, 3 runs each
    bench/distributed.py --configs lecture --reps 1   # slow: 1 warm-up step and 3 counted ones

tokens/s counts training steps only (no evaluation, no saving), after the warm-up steps: from the
--log file's figures at the warm-up's end and at the end. Python 3 standard library only.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
# (batch, block, n_embd, n_head, n_layer, dropout), as bench/run.py's, with warm-up and counted steps
CONFIGS = {
    "tiny": dict(batch=16, block=32, n_embd=64, n_head=4, n_layer=4, dropout=0.0, warmup=5, iters=40),
    "small": dict(batch=32, block=64, n_embd=128, n_head=4, n_layer=4, dropout=0.1, warmup=3, iters=15),
    "lecture": dict(batch=64, block=256, n_embd=384, n_head=6, n_layer=6, dropout=0.2, warmup=1, iters=3),
}
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_oob_tcp_if_include": "lo", "OMPI_MCA_btl_tcp_if_include": "lo"}
# label: (ranks, threads per rank, mpirun's own flags)
LAYOUTS = {
    "1 x 1": (1, 1, None),
    "1 x 2": (1, 2, None),
    "2 ranks x 1": (2, 1, []),                    # mpirun's default: each rank bound to one core
    "2 ranks x 2": (2, 2, ["--bind-to", "none"]),  # 4 threads on 2 cores
}


def train_command(xgrad, c, threads, log):
    steps = c["warmup"] + c["iters"]
    return [xgrad, "train", "--data", os.path.join(REPO, "..", "shared", "data", "tinyshakespeare.txt"),
            "--batch-size", c["batch"], "--block-size", c["block"], "--n-embd", c["n_embd"], "--n-head", c["n_head"],
            "--n-layer", c["n_layer"], "--dropout", c["dropout"], "--max-iters", steps,
            "--eval-interval", c["warmup"], "--eval-iters", 1, "--threads", threads, "--sample-tokens", 0, "--log", log]


def tokens_per_s(xgrad, c, layout, workdir, extra_env=None, profile=False):
    ranks, threads, mpi_flags = LAYOUTS[layout]
    log = os.path.join(workdir, "log.jsonl")
    cmd = train_command(xgrad, c, threads, log) + (["--profile"] if profile else [])
    env = dict(os.environ, **MPI_ENV, **(extra_env or {}))
    if mpi_flags is not None:
        cmd = ["mpirun", "--timeout", "3000", "-np", ranks] + mpi_flags + cmd
    out = subprocess.run([str(x) for x in cmd], env=env, cwd=workdir, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{layout}: exit {out.returncode}\n{out.stderr[-2000:]}")
    lines = [json.loads(l) for l in open(log)]
    warm = next(l for l in lines if l.get("step") == c["warmup"])
    done = lines[-1]
    tokens = c["batch"] * c["block"]
    warm_s = c["warmup"] * tokens / warm["tokens_per_s"]
    rate = c["iters"] * tokens / (done["train_seconds"] - warm_s)
    reduce_ms = None
    for line in out.stdout.splitlines():
        if line.startswith("(all-reduce)"):
            reduce_ms = float(line.split()[2])  # op, calls/step, forward ms (the reduction's ms per step)
    return rate, reduce_ms, out.stdout.splitlines()[0]


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--xgrad", default=os.path.join(REPO, "build", "xgrad"))
    p.add_argument("--bench-allreduce", default=os.path.join(REPO, "build", "bench_allreduce"))
    p.add_argument("--configs", default="tiny,small")
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    configs = a.configs.split(",")
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; median tokens/s of {a.reps} run(s); "
          "counted steps after warm-up: " + ", ".join(f"{n} {CONFIGS[n]['iters']} (+{CONFIGS[n]['warmup']})" for n in configs))
    rows, cost_rows = [], []
    with tempfile.TemporaryDirectory() as workdir:
        for name in configs:
            c = CONFIGS[name]
            medians = {}
            for layout in LAYOUTS:
                rates = []
                for rep in range(a.reps):
                    rate, _, first = tokens_per_s(a.xgrad, c, layout, workdir)
                    rates.append(rate)
                    print(f"  {name} {layout}: {rate:.0f} tokens/s" + (f"  [{first}]" if LAYOUTS[layout][2] is not None else ""),
                          file=sys.stderr, flush=True)
                medians[layout] = statistics.median(rates)
            base = medians["1 x 1"]
            rows.append([name] + [f"{medians[l]:.0f} ({medians[l] / base:.2f}x)" for l in LAYOUTS])
            fixed, plain = [], []
            for rep in range(a.reps):
                fixed.append(tokens_per_s(a.xgrad, c, "2 ranks x 1", workdir, profile=True)[1])
                plain.append(tokens_per_s(a.xgrad, c, "2 ranks x 1", workdir, {"XGRAD_BENCH_PLAIN_ALLREDUCE": "1"},
                                          profile=True)[1])
            cost_rows.append([name, f"{statistics.median(fixed):.3f}", f"{statistics.median(plain):.3f}"])
    print("\n| config | " + " | ".join(LAYOUTS) + " |")
    print("|---" * (len(LAYOUTS) + 1) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    alone = subprocess.run(["mpirun", "--timeout", "600", "-np", "2", a.bench_allreduce],
                           env=dict(os.environ, **MPI_ENV), capture_output=True, text=True)
    if alone.returncode != 0:
        sys.exit(f"bench_allreduce: exit {alone.returncode}\n{alone.stderr[-2000:]}")
    print("\nThe gradient sum alone, 2 ranks over shared memory, every rank starting together (ms, median of 21):")
    print("\n| floats (config) | fixed order | MPI_Allreduce | ratio |")
    print("|---|---|---|---|")
    names = {209729: "tiny", 816705: "small", 10788929: "lecture"}
    for line in alone.stdout.splitlines():
        j = json.loads(line)
        print(f"| {j['floats']:,} ({names.get(j['floats'], '?')}) | {j['fixed_ms']:.3f} | {j['allreduce_ms']:.3f} | "
              f"{j['fixed_ms'] / j['allreduce_ms']:.2f}x |")
    print("\nGradient sum per step inside training, 2 ranks x 1 thread (ms, median; --profile's (all-reduce) row, "
          "which includes waiting for the slower rank):")
    print("\n| config | fixed order (gather, add in rank order, broadcast) | MPI_Allreduce |")
    print("|---|---|---|")
    for r in cost_rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
