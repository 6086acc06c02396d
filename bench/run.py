#!/usr/bin/python3
"""xgrad against the lecture's PyTorch model on this CPU: training and sampling speed, one table.

    bench/run.py                                   # build with scripts/bootstrap.sh, then tiny and small
    bench/run.py --build-dir /tmp/xb --configs tiny,small --reps 3
    bench/run.py --configs lecture                 # gpt.py's model: slow, few iterations
    bench/run.py --native-kernel                   # let OpenBLAS pick its kernel from the CPU, both sides
    bench/run.py --configs lecture --no-train --sample-tokens 255,500   # sampling only: KV cache, full recompute, PyTorch

Both sides train the same model on the same file with the same vocabulary, in alternation, a few
repetitions each; warm-up steps are run and not counted on both sides. Sampling runs xgrad with its
key/value cache and with the full recompute, against the lecture's generate() in PyTorch. See
bench/README.md for how to read the tables. Python 3 standard library only; PyTorch runs in bench/torch_reference.py.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)

# (batch, block, n_embd, n_head, n_layer, dropout) as in the issue, the lecture's learning rates,
# and the default counts: warm-up steps, counted steps, repetitions (training, sampling).
CONFIGS = {
    # tiny: 300 counted steps, as in issue 16 (30 were 0.15 s of xgrad: one scheduler hiccup moved a median)
    "tiny": dict(batch=16, block=32, n_embd=64, n_head=4, n_layer=4, dropout=0.0, lr=1e-3,
                 warmup=20, iters=300, reps=3, sample_reps=3),
    "small": dict(batch=32, block=64, n_embd=128, n_head=4, n_layer=4, dropout=0.1, lr=1e-3,
                  warmup=3, iters=15, reps=3, sample_reps=3),
    "lecture": dict(batch=64, block=256, n_embd=384, n_head=6, n_layer=6, dropout=0.2, lr=3e-4,
                    warmup=1, iters=2, reps=1, sample_reps=1),
}
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS")
HUGE_ON, HUGE_OFF = "glibc.malloc.hugetlb=1", "glibc.malloc.hugetlb=0"  # glibc's tunable for malloc's THP


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Running one process: wall time, exit status and its own peak RSS (wait4's rusage of that child)

class Run:
    def __init__(self, rc, wall, maxrss_kb, out, err):
        self.rc, self.wall, self.maxrss_kb, self.out, self.err = rc, wall, maxrss_kb, out, err


def run(cmd, env, workdir, timeout=0):
    out_path, err_path = os.path.join(workdir, "stdout.txt"), os.path.join(workdir, "stderr.txt")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen([str(c) for c in cmd], env=env, stdout=out, stderr=err, cwd=workdir)
        timer = threading.Timer(timeout, proc.kill) if timeout > 0 else None
        if timer:
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer:
                timer.cancel()
        wall = time.perf_counter() - start
    rc = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
    proc.returncode = rc  # reaped by wait4: keep Popen from waiting again
    with open(out_path) as f:
        out_text = f.read()
    with open(err_path) as f:
        err_text = f.read()
    return Run(rc, wall, usage.ru_maxrss, out_text, err_text)


class Failed(Exception):
    pass


def check(r, what):
    if r.rc != 0:
        tail = (r.err.strip() or r.out.strip())[-800:]
        raise Failed(f"{what} failed (exit {r.rc}{', timed out?' if r.rc == -9 else ''}):\n{tail}")
    return r


def last_json(text, what):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise Failed(f"{what}: no JSON line in its output")


# ---------------------------------------------------------------------------------------------
# The two sides

class Variant:
    """One way of running one side: xgrad with a --threads value, or PyTorch with two thread counts."""

    def __init__(self, side, label, threads, blas_threads=0, env=None):
        self.side, self.label, self.threads, self.blas_threads = side, label, threads, blas_threads
        self.env = env or {}  # added to the environment (LIBXSMM_TARGET, GLIBC_TUNABLES)


def xgrad_env(base, threads, extra=None):
    env = {k: v for k, v in base.items() if k not in THREAD_VARS}
    if threads > 0:  # `xgrad sample` has no --threads: OpenMP's variable sets it
        env["OMP_NUM_THREADS"] = str(threads)
    env.update(extra or {})
    return env


def torch_env(base, extra=None):
    env = {k: v for k, v in base.items() if k not in THREAD_VARS}
    env.update(extra or {})
    return env


def model_flags(c):
    return ["--batch-size", c["batch"], "--block-size", c["block"], "--n-embd", c["n_embd"],
            "--n-head", c["n_head"], "--n-layer", c["n_layer"], "--dropout", c["dropout"],
            "--learning-rate", c["lr"]]


def xgrad_train(a, c, v, iters, workdir, out=None, mark=0):
    """Runs `xgrad train` for `iters` steps; returns its log lines and the process.

    With mark > 0 it also evaluates (one batch) every `mark` steps: the log line of the evaluation
    before step `mark` gives the training time of the first `mark` steps (see xgrad_step_seconds)."""
    log_path = os.path.join(workdir, "train.jsonl")
    evals = ["--eval-iters", 1, "--eval-interval", mark] if mark > 0 else ["--eval-iters", 0]
    cmd = [a.xgrad, "train", "--data", a.data, *model_flags(c), "--max-iters", iters, *evals,
           "--sample-tokens", 0, "--seed", 1337, "--log", log_path]
    if v.threads > 0:
        cmd += ["--threads", v.threads]
    if out:
        cmd += ["--out", out]
    r = check(run(cmd, xgrad_env(a.env, v.threads, v.env), workdir, a.timeout), "xgrad train")
    with open(log_path) as f:
        lines = [json.loads(l) for l in f if l.startswith("{")]
    if not lines or lines[-1].get("event") != "done" or lines[-1].get("steps") != iters:
        raise Failed(f"xgrad train: unexpected log {lines[-1:] or 'empty'}")
    return lines, r


def xgrad_step_seconds(a, c, v, workdir):
    """Seconds per steady-state step, in one process, as the PyTorch side measures them.

    The summary's train_seconds counts the training steps only (not start-up, evaluation or saving). The
    evaluation line logged before step `warmup` holds tokens_per_s = tokens_per_iter * warmup / (train
    seconds so far), so the warm-up steps' time is tokens_per_iter * warmup / tokens_per_s; the rest is
    the time of the `iters` counted steps. The evaluations run outside the timed steps."""
    W, N, tok = c["warmup"], c["iters"], c["batch"] * c["block"]
    lines, r = xgrad_train(a, c, v, W + N, workdir, mark=W)
    warm = 0.0
    if W > 0:
        at = [l for l in lines if l.get("step") == W and l.get("tokens_per_s")]
        if not at:
            raise Failed(f"xgrad train: no evaluation line at step {W} in its log")
        warm = tok * W / at[0]["tokens_per_s"]
    return (lines[-1]["train_seconds"] - warm) / N, r.maxrss_kb


def torch_step_seconds(a, c, v, workdir):
    cmd = [a.torch_python, os.path.join(BENCH, "torch_reference.py"), "train", "--data", a.data,
           *model_flags(c), "--warmup", c["warmup"], "--iters", c["iters"],
           "--threads", v.threads, "--blas-threads", v.blas_threads]
    r = check(run(cmd, torch_env(a.env, v.env), workdir, a.timeout), "torch_reference.py train")
    rep = last_json(r.out, "torch_reference.py train")
    return rep["seconds_per_iter"], r.maxrss_kb, rep


# How a sampling row generates: xgrad with its key/value cache (the default of `xgrad sample`), or
# recomputing the whole context for every token (`--no-kv-cache`), as the lecture's generate() that
# PyTorch runs.
CACHE, FULL = "KV cache", "full recompute"


def xgrad_sample_tps(a, v, method, tokens, ck, workdir):
    """Tokens/s of `xgrad sample`: wall time of --tokens N less that of --tokens 0 (start-up, loading)."""
    env = xgrad_env(a.env, v.threads, v.env)
    flags = ["--no-kv-cache"] if method == FULL else []
    full = check(run([a.xgrad, "sample", "--checkpoint", ck, "--tokens", tokens, *flags], env, workdir, a.timeout),
                 "xgrad sample")
    empty = check(run([a.xgrad, "sample", "--checkpoint", ck, "--tokens", 0, *flags], env, workdir, a.timeout),
                  "xgrad sample --tokens 0")
    return tokens / max(full.wall - empty.wall, 1e-9), full.maxrss_kb, None


def torch_sample_tps(a, v, method, tokens, ck, workdir):
    cmd = [a.torch_python, os.path.join(BENCH, "torch_reference.py"), "sample", "--data", a.data,
           "--checkpoint", ck, "--tokens", tokens, "--threads", v.threads, "--blas-threads", v.blas_threads]
    r = check(run(cmd, torch_env(a.env, v.env), workdir, a.timeout), "torch_reference.py sample")
    rep = last_json(r.out, "torch_reference.py sample")
    return rep["tokens_per_s"], r.maxrss_kb, rep


# ---------------------------------------------------------------------------------------------
# The environment: build, data, PyTorch, OpenBLAS

def find_xgrad(a):
    if a.xgrad:
        return os.path.abspath(a.xgrad)
    build_dir = a.build_dir or os.environ.get("XGRAD_BUILD_DIR")
    if not build_dir:
        log("== building xgrad in Release (scripts/bootstrap.sh -> build/); --build-dir DIR uses an existing build")
        subprocess.run([os.path.join(REPO, "scripts", "bootstrap.sh")], check=True, stdout=sys.stderr)
        build_dir = os.path.join(REPO, "build")
    build_dir = os.path.abspath(build_dir)
    cache = os.path.join(build_dir, "CMakeCache.txt")
    if os.path.exists(cache):
        with open(cache) as f:
            kind = next((l.split("=", 1)[1].strip() for l in f if l.startswith("CMAKE_BUILD_TYPE:")), "")
        if kind != "Release":
            log(f"warning: {build_dir} is a '{kind or 'no type'}' build, not Release: xgrad will be slow")
    return os.path.join(build_dir, "xgrad")


def find_data(a, workdir):
    if a.data:
        return os.path.abspath(a.data)
    shakespeare = os.path.join(REPO, "..", "shared", "data", "tinyshakespeare.txt")
    if os.path.exists(shakespeare):
        return os.path.realpath(shakespeare)
    path = os.path.join(workdir, "corpus.txt")
    check(run([a.xgrad, "corpus", "--out", path], a.env, workdir), "xgrad corpus")
    log(f"tinyshakespeare.txt not found: both sides use xgrad's built-in corpus ({path})")
    return path


def torch_available(a):
    if a.no_torch:
        return False, "--no-torch given"
    if not os.path.exists(a.torch_python):
        return False, f"{a.torch_python} not found"
    r = subprocess.run([a.torch_python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
    if r.returncode != 0:
        return False, f"{a.torch_python} cannot import torch (install python3-torch)"
    return True, r.stdout.strip()


OPENBLAS_PROBE = """
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
lib.openblas_get_corename.restype = ctypes.c_char_p
lib.openblas_get_config.restype = ctypes.c_char_p
print(lib.openblas_get_corename().decode()); print(lib.openblas_get_config().decode())
"""


# The machine's measured fp32 peak: OpenBLAS's sgemm on 2048 x 2048 matrices (its own kernel for this CPU,
# OPENBLAS_CORETYPE unset), the best of 5 calls, on one thread and on every core. Prints GFLOP/s and the kernel.
PEAK_PROBE = """
import ctypes, sys, time
lib = ctypes.CDLL(sys.argv[1])
lib.openblas_get_corename.restype = ctypes.c_char_p
n = 2048
bufs = [(ctypes.c_float * (n * n))() for _ in range(3)]
for b in bufs[:2]:
    ctypes.memset(b, 0x3c, n * n * 4)  # every float about 0.0118: no denormals
f = ctypes.c_float
lib.cblas_sgemm.argtypes = [ctypes.c_int] * 6 + [f, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, f,
                                                 ctypes.c_void_p, ctypes.c_int]
best = float("inf")
for _ in range(6):  # the first call warms up
    t = time.perf_counter()
    lib.cblas_sgemm(101, 111, 111, n, n, n, 1.0, bufs[0], n, bufs[1], n, 0.0, bufs[2], n)
    best = min(best, time.perf_counter() - t)
print(2 * n ** 3 / best / 1e9, lib.openblas_get_corename().decode())
"""


def measure_peak(a, xblas):
    """(GFLOP/s on one thread, on every core, OpenBLAS kernel) of PEAK_PROBE, or None without OpenBLAS."""
    path = xblas.get("openblas_path")
    if not path:
        return None
    env = {k: v for k, v in a.env.items() if k not in THREAD_VARS + ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    got = []
    for threads in (1, len(os.sched_getaffinity(0))):
        r = subprocess.run([sys.executable, "-c", PEAK_PROBE, path], env=dict(env, OMP_NUM_THREADS=str(threads)),
                           capture_output=True, text=True)
        if r.returncode != 0 or not r.stdout.split():
            return None
        got.append(r.stdout.split())
    return float(got[0][0]), float(got[1][0]), got[0][1]


def xgrad_openblas(a):
    """The libopenblas xgrad loads (ldd) and the kernel it picks in xgrad's environment (openblas_get_corename)."""
    r = subprocess.run(["ldd", a.xgrad], capture_output=True, text=True)
    path = next((l.split("=>")[1].split("(")[0].strip() for l in r.stdout.splitlines()
                 if "libopenblas" in l and "=>" in l), None)
    if not path or not os.path.exists(path):
        return {"openblas_path": None}
    p = subprocess.run([sys.executable, "-c", OPENBLAS_PROBE, path], env=xgrad_env(a.env, 0),
                       capture_output=True, text=True)
    lines = p.stdout.splitlines()
    return {"openblas_path": os.path.realpath(path), "openblas_corename": lines[0] if lines else "?",
            "openblas_config": lines[1] if len(lines) > 1 else "?"}


def xgrad_version(a, extra=None):
    """`xgrad --version` in xgrad's environment: which kernels its float products run in."""
    r = subprocess.run([a.xgrad, "--version"], env=xgrad_env(a.env, 0, extra), capture_output=True, text=True)
    return [l for l in r.stdout.splitlines() if l.startswith("float matrix products")][:1] or ["(xgrad --version failed)"]


def checkpoint_config(path):
    """The config stored in a safetensors checkpoint's metadata."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    return json.loads(header["__metadata__"]["config"])


def cpu_name():
    """The CPU's model name, family and model, and its widest vector instructions (from /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            fields = {}
            for l in f:
                if not l.strip():
                    break  # the first processor is enough
                key, _, value = l.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        return "?"
    flags = fields.get("flags", "").split()
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    simd += "+AMX" if "amx_tile" in flags else ""
    return (f"{fields.get('model name', '?')} (family {fields.get('cpu family', '?')} model {fields.get('model', '?')}, "
            f"{simd})")


# ---------------------------------------------------------------------------------------------
# Statistics and the table

def flops_per_token(c, vocab):
    """6 N + 12 L T C: N = weights of the matmuls = 12 L C^2 + C V (forward + backward, attention included)."""
    L, T, C = c["n_layer"], c["block"], c["n_embd"]
    return 6 * (12 * L * C * C + C * vocab) + 12 * L * T * C


def stats(values):
    values = [x for x in values if x is not None]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def fmt_range(s, digits):
    if s is None:
        return "-"
    return f"{s[0]:.{digits}f} ({s[1]:.{digits}f}-{s[2]:.{digits}f})"


def print_table(headers, rows):
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(str(x).ljust(w) for x, w in zip(r, widths)) + " |"
    print(line(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def report(a, results, variants, sample_rows, info):
    if not a.no_train:
        report_training(a, results, variants)
    for tokens in a.sample_token_list:
        report_sampling(a, results, sample_rows, tokens)
    print()
    print("vs PyTorch: tokens/s over the fastest PyTorch row of the same config (above 1: faster than PyTorch).")
    if not a.no_train:
        print(f"GFLOP/s: model FLOPs (6N + 12LTC per token) x median tokens/s; % peak of {a.peak_gflops:g} GFLOP/s.")
    print("Peak RSS: the whole process (PyTorch's includes the interpreter and torch, about 250 MB).")
    for line in info:
        print(line)


def report_training(a, results, variants):
    print()
    print("## Training (steady state: warm-up steps not counted)")
    print()
    headers = ["config", "run", "ms/iter median (min-max)", "tokens/s median (min-max)", "vs PyTorch",
               "vs xgrad 1 thread", "GFLOP/s", "% peak", "peak RSS MB", "reps"]
    rows = []
    for name, res in results.items():
        c, vocab = res["config"], res["vocab"]
        tok = c["batch"] * c["block"]
        per = {}
        for v in variants:
            secs = res["train"].get(v.label, [])
            ms = stats([s * 1e3 for s in secs if s > 0])
            tps = stats([tok / s for s in secs if s > 0])
            per[v.label] = (ms, tps)
        torch_best = max((per[v.label][1][0] for v in variants if v.side == "torch" and per[v.label][1]), default=None)
        one = next((v for v in variants if v.side == "xgrad" and v.threads == 1), None)
        for v in variants:
            ms, tps = per[v.label]
            if ms is None:
                continue
            ratio = f"{tps[0] / torch_best:.2f}x" if torch_best else "-"
            # the median of the reps' ratios: rep i of this row over rep i of --threads 1 (the runs alternate)
            mine, base = res["train"].get(v.label, []), res["train"].get(one.label, []) if one else []
            paired = [b / s for s, b in zip(mine, base) if s > 0 and b > 0]
            vs_one = f"{stats(paired)[0]:.2f}x" if v.side == "xgrad" and paired else "-"
            gflops = flops_per_token(c, vocab) * tps[0] / 1e9
            rss = max(res["train_rss"].get(v.label, [0])) / 1024
            rows.append([name, v.label, fmt_range(ms, 1), fmt_range(tps, 0), ratio, vs_one, f"{gflops:.2f}",
                         f"{100 * gflops / a.peak_gflops:.2f}", f"{rss:.0f}", len(res["train"][v.label])])
    print_table(headers, rows)


def report_sampling(a, results, sample_rows, tokens):
    """One table per token count: xgrad with and without its KV cache, PyTorch's generate()."""
    print()
    print(f"## Sampling ({tokens} tokens from the context [[0]]; PyTorch: the lecture's generate(), the whole "
          f"context recomputed for every token)")
    print()
    headers = ["config", "run", "generation", "tokens/s median (min-max)", "vs PyTorch", "peak RSS MB", "reps"]
    rows, notes = [], []
    for name, res in results.items():
        got = res["sample"].get(str(tokens), {})
        per = {r.key: stats(got.get(r.key, {}).get("tps", [])) for r in sample_rows}
        torch_best = max((per[r.key][0] for r in sample_rows if r.variant.side == "torch" and per[r.key]),
                         default=None)
        for r in sample_rows:
            tps = per[r.key]
            if tps is None:
                continue
            ratio = f"{tps[0] / torch_best:.2f}x" if torch_best else "-"
            rss = max(got[r.key]["rss"]) / 1024
            method = r.method + (" (generate())" if r.variant.side == "torch" else "")
            rows.append([name, r.variant.label, method, fmt_range(tps, 0), ratio, f"{rss:.0f}", len(got[r.key]["tps"])])
        block = res["config"]["block"]
        if tokens + 1 > block:
            notes.append(f"{name}: the sequence outgrows block_size {block} after {block - 1} tokens; from then "
                         f"on the context is cropped and every token needs a forward over {block} positions on "
                         f"every row (the KV cache is rebuilt from the cropped window for each token).")
    print_table(headers, rows)
    if notes:
        print()
        for note in notes:
            print(note)


# ---------------------------------------------------------------------------------------------

def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    p.add_argument("--configs", default="tiny,small", help="comma list of " + ",".join(CONFIGS) + " (default tiny,small)")
    p.add_argument("--build-dir", help="an existing xgrad build (default: env XGRAD_BUILD_DIR, else build build/)")
    p.add_argument("--xgrad", help="the xgrad binary itself (overrides --build-dir)")
    p.add_argument("--data", help="text file for both sides (default ../shared/data/tinyshakespeare.txt, "
                                  "else xgrad's built-in corpus)")
    p.add_argument("--reps", type=int, help="training repetitions per run (default: tiny 3, small 3, lecture 1)")
    p.add_argument("--warmup", type=int, help="steps run, not counted (default: tiny 5, small 3, lecture 1)")
    p.add_argument("--iters", type=int, help="steps counted (default: tiny 300, small 15, lecture 2)")
    p.add_argument("--sample-reps", type=int, help="sampling repetitions (default: tiny 3, small 3, lecture 1)")
    p.add_argument("--sample-tokens", default="500",
                   help="tokens per sampling run, or a comma list for one table each (default 500; 0: skip). "
                        "255 stays within block_size at the lecture config (1 + 255 = 256)")
    p.add_argument("--sample-methods", default="cache,full",
                   help="xgrad's sampling rows: cache (its key/value cache, the default of `xgrad sample`), full "
                        "(`--no-kv-cache`, the whole context recomputed per token as generate()) (default cache,full)")
    p.add_argument("--no-train", action="store_true", help="skip the training measurements (sampling only)")
    p.add_argument("--xgrad-threads", default="0,1", help="xgrad --threads values, 0 = its default, every core "
                                                           "(default 0,1)")
    p.add_argument("--xgrad-avx2", action="store_true",
                   help="one more xgrad row: its products in AVX2 kernels (LIBXSMM_TARGET=hsw), the instructions of "
                        "OpenBLAS's Haswell kernel, for a comparison on the same vector width")
    p.add_argument("--torch-threads", default="1:2,1:1",
                   help="PyTorch runs as torch.set_num_threads:openblas_set_num_threads, 0 for the second = leave "
                        "(default 1:2,1:1)")
    p.add_argument("--torch-python", default="/usr/bin/python3", help="python with torch (default /usr/bin/python3)")
    p.add_argument("--no-torch", action="store_true", help="xgrad only")
    p.add_argument("--huge-pages-rows", action="store_true",
                   help="two more rows: xgrad without transparent huge pages for its heap (GLIBC_TUNABLES=" + HUGE_OFF +
                        "), PyTorch's first thread setting with them (" + HUGE_ON + ")")
    p.add_argument("--native-kernel", action="store_true",
                   help="unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for both sides (OpenBLAS picks from the CPU)")
    p.add_argument("--peak-gflops", type=float, help="the machine's fp32 peak for %% peak (default: measured, "
                                                       "one core's OpenBLAS sgemm rate times the cores)")
    p.add_argument("--timeout", type=float, default=0, help="kill any one process after this many seconds (0: never)")
    p.add_argument("--json", help="also write every measurement to this file")
    p.add_argument("--keep", action="store_true", help="keep the work folder (checkpoints, logs)")
    a = p.parse_args()
    a.config_names = [n.strip() for n in a.configs.split(",") if n.strip()]
    unknown = [n for n in a.config_names if n not in CONFIGS]
    if unknown or not a.config_names:
        p.error(f"--configs: unknown {unknown}; expected some of {','.join(CONFIGS)}")
    try:
        a.xgrad_thread_list = [int(t) for t in a.xgrad_threads.split(",") if t.strip()]
        a.torch_thread_list = [tuple(int(x) for x in (t.split(":") + ["0"])[:2])
                               for t in a.torch_threads.split(",") if t.strip()]
    except ValueError:
        p.error("--xgrad-threads is a comma list of integers, --torch-threads of N:M pairs")
    if a.iters is not None and a.iters < 1:
        p.error("--iters must be at least 1")
    try:
        a.sample_token_list = [int(t) for t in a.sample_tokens.split(",") if t.strip() and int(t) > 0]
    except ValueError:
        p.error("--sample-tokens is a comma list of integers")
    if any(t < 0 for t in (int(t) for t in a.sample_tokens.split(",") if t.strip())):
        p.error("--sample-tokens must not be negative")
    names = {"cache": CACHE, "full": FULL}
    methods = [m.strip() for m in a.sample_methods.split(",") if m.strip()]
    if not methods or any(m not in names for m in methods):
        p.error(f"--sample-methods: expected some of cache,full, got {a.sample_methods!r}")
    a.sample_method_list = [names[m] for m in methods]
    return a


def interleave(xs, ts):
    """xgrad, PyTorch, xgrad, PyTorch, ..., then what is left of the longer list."""
    return [v for pair in zip(xs, ts) for v in pair] + xs[len(ts):] + ts[len(xs):]


def make_variants(a, have_torch):
    """The rows, in the order they take turns: xgrad, PyTorch, xgrad, PyTorch, ..."""
    cores = len(os.sched_getaffinity(0))
    xs = [Variant("xgrad", f"xgrad --threads {t if t > 0 else f'default ({cores})'}", t) for t in a.xgrad_thread_list]
    if a.xgrad_avx2:
        xs.append(Variant("xgrad", f"xgrad --threads default ({cores}), AVX2", 0, env={"LIBXSMM_TARGET": "hsw"}))
    ts = [Variant("torch", f"PyTorch threads {t}, OpenBLAS {b if b > 0 else 'as torch'}", t, b)
          for t, b in a.torch_thread_list] if have_torch else []
    if a.huge_pages_rows:
        # xgrad asks glibc for transparent huge pages by itself (train/cli/heap.cpp); these rows turn
        # that off for xgrad and on for PyTorch's first setting, to show what it is worth to each side
        xs.append(Variant("xgrad", f"xgrad --threads default ({cores}), no huge pages", 0, env={"GLIBC_TUNABLES": HUGE_OFF}))
        if ts:
            t = ts[0]
            ts.append(Variant("torch", t.label + ", huge pages", t.threads, t.blas_threads, env={"GLIBC_TUNABLES": HUGE_ON}))
    return xs + ts, interleave(xs, ts)


class SampleRow:
    """One row of a sampling table: a variant and how it generates (xgrad: KV cache or full recompute)."""

    def __init__(self, variant, method):
        self.variant, self.method = variant, method
        self.key = f"{variant.label} | {method}"


def make_sample_rows(a, variants):
    """The sampling rows, in the order they take turns: each xgrad method of each xgrad variant, PyTorch."""
    xs = [SampleRow(v, m) for v in variants if v.side == "xgrad" for m in a.sample_method_list]
    ts = [SampleRow(v, FULL) for v in variants if v.side == "torch"]
    return xs + ts, interleave(xs, ts)


def measure_config(a, name, c, order, sample_order, workdir, res):
    """Fills res with the training and sampling measurements of one config."""
    log(f"== {name}: B={c['batch']} T={c['block']} C={c['n_embd']} H={c['n_head']} L={c['n_layer']} "
        f"dropout={c['dropout']}; " + ("no training (--no-train)" if a.no_train else
                                       f"{c['warmup']} warm-up + {c['iters']} counted steps, {c['reps']} reps"))
    ck = os.path.join(workdir, f"{name}.safetensors")
    xgrad_train(a, c, Variant("xgrad", "", 1), 1, workdir, out=ck)  # the weights both sides sample from; not timed
    res.update(config=c, vocab=checkpoint_config(ck)["vocab_size"], train={}, train_rss={}, sample={},
               torch_reports=[])
    for rep in range(0 if a.no_train else c["reps"]):
        for v in (order if rep % 2 == 0 else order[::-1]):
            if v.side == "xgrad":
                sec, rss = xgrad_step_seconds(a, c, v, workdir)
            else:
                sec, rss, rep_json = torch_step_seconds(a, c, v, workdir)
                if rep_json["vocab_size"] != res["vocab"]:
                    raise Failed(f"vocabularies differ: xgrad {res['vocab']}, PyTorch {rep_json['vocab_size']}")
                res["torch_reports"].append(dict({k: x for k, x in rep_json.items() if k != "step_seconds"},
                                                 step_ms=[round(s * 1e3, 2) for s in rep_json["step_seconds"]]))
            res["train"].setdefault(v.label, []).append(sec)
            res["train_rss"].setdefault(v.label, []).append(rss)
            log(f"   {name} train  rep {rep + 1}/{c['reps']}  {v.label:34s} {sec * 1e3:9.1f} ms/iter")
    for tokens in a.sample_token_list:
        got = res["sample"].setdefault(str(tokens), {})
        for rep in range(c["sample_reps"]):
            for r in (sample_order if rep % 2 == 0 else sample_order[::-1]):
                sample = xgrad_sample_tps if r.variant.side == "xgrad" else torch_sample_tps
                tps, rss, rep_json = sample(a, r.variant, r.method, tokens, ck, workdir)
                if rep_json:
                    res["torch_reports"].append(rep_json)
                got.setdefault(r.key, {"tps": [], "rss": []})
                got[r.key]["tps"].append(tps)
                got[r.key]["rss"].append(rss)
                log(f"   {name} sample {tokens} tokens rep {rep + 1}/{c['sample_reps']}  {r.variant.label:34s} "
                    f"{r.method:15s} {tps:9.1f} tokens/s")


def info_lines(a, results, torch_rows, torch_note, xblas, loads):
    """What ran where: machine, load, data, OpenBLAS library and kernel of each side, PyTorch's threads."""
    env_note = " ".join(f"{k}={a.env.get(k, '(unset)')}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"))
    lines = [
        "",
        f"machine: {cpu_name()}, {os.cpu_count()} cores; load average {loads[0]:.2f} before, {loads[1]:.2f} after "
        f"(above ~0.5 another program was running: noisy numbers)",
        (f"measured fp32 peak: {a.peak[0]:.0f} GFLOP/s on one core, {a.peak[1]:.0f} on all {len(os.sched_getaffinity(0))} "
         f"together (OpenBLAS sgemm 2048^3, kernel {a.peak[2]}, best of 5); % peak is of {a.peak_gflops:.0f}"
         if a.peak else f"peak: not measured (no OpenBLAS found); % peak is of {a.peak_gflops:.0f} GFLOP/s"),
        f"data: {a.data}; xgrad: {a.xgrad}",
        f"OpenBLAS environment (both sides): {env_note}" + (" (--native-kernel)" if a.native_kernel else ""),
        f"  xgrad:   {xblas.get('openblas_path')}, kernel {xblas.get('openblas_corename', '?')} "
        f"(openblas_get_corename in xgrad's environment; {xblas.get('openblas_config', '')})",
        f"  xgrad's {xgrad_version(a)[0]}: OpenBLAS runs only what libxsmm has no "
        f"kernel for, and the double-precision gradient checks",
    ]
    if a.xgrad_avx2:
        lines.append(f"  xgrad's row marked AVX2 (LIBXSMM_TARGET=hsw): {xgrad_version(a, {'LIBXSMM_TARGET': 'hsw'})[0]}")
    reports = [t for res in results.values() for t in res.get("torch_reports", [])]
    if not torch_rows:
        lines.append(f"PyTorch: not measured ({torch_note}): xgrad only")
    elif reports:
        t = reports[0]
        lines.append(f"  PyTorch: {t.get('openblas_path')}, kernel {t.get('openblas_corename', '?')} "
                     f"(reported by the process), torch {t.get('torch_version')}")
        same = t.get("openblas_path") == xblas.get("openblas_path")
        lines.append(f"  same OpenBLAS library file on both sides: {'yes' if same else 'NO'}")
        for v in torch_rows:
            r = next((t for t in reports if (t["threads_asked"], t["blas_threads_asked"]) == (v.threads, v.blas_threads)),
                     None)
            if r:
                lines.append(f"  {v.label}: in effect torch.get_num_threads() = {r['torch_threads']}, OpenBLAS threads "
                             f"= {r['openblas_threads']} (OpenMP OpenBLAS and torch share libgomp's count)")
    return lines


def main():
    a = parse_args()
    a.env = dict(os.environ)
    if a.native_kernel:
        a.env.pop("OPENBLAS_CORETYPE", None)
        a.env.pop("OPENBLAS_L2_SIZE", None)
    workdir = tempfile.mkdtemp(prefix="xgrad-bench-")
    try:
        a.xgrad = find_xgrad(a)
        if not os.access(a.xgrad, os.X_OK):
            sys.exit(f"run.py: {a.xgrad} not found: build xgrad (scripts/bootstrap.sh) or give --build-dir")
        a.data = find_data(a, workdir)
        have_torch, torch_note = torch_available(a)
        if not have_torch:
            log(f"PyTorch not available ({torch_note}): measuring xgrad only")
        variants, order = make_variants(a, have_torch)
        sample_rows, sample_order = make_sample_rows(a, variants)
        load_before = os.getloadavg()[0]
        if load_before > 0.5:
            log(f"note: load average {load_before:.2f} before starting: other work is running, numbers will be noisy")
        xblas = xgrad_openblas(a)
        a.peak = measure_peak(a, xblas)
        if a.peak_gflops is None:
            a.peak_gflops = a.peak[0] * len(os.sched_getaffinity(0)) if a.peak else 520.0

        results, stopped = {}, False
        try:
            for name in a.config_names:
                c = dict(CONFIGS[name])
                c.update({k: getattr(a, k) for k in ("reps", "warmup", "iters", "sample_reps")
                          if getattr(a, k) is not None})
                measure_config(a, name, c, order, sample_order, workdir, results.setdefault(name, {}))
        except KeyboardInterrupt:
            stopped = True
            log("interrupted: the table holds what was measured so far")
        except Failed as e:
            stopped = True
            log(f"run.py: {e}\nthe table holds what was measured so far")
        results = {n: r for n, r in results.items() if "config" in r}

        loads = (load_before, os.getloadavg()[0])
        info = info_lines(a, results, [v for v in variants if v.side == "torch"], torch_note, xblas, loads)
        if stopped:
            info.append("INCOMPLETE: the run was stopped early")
        report(a, results, variants, sample_rows, info)
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"results": results, "xgrad_openblas": xblas, "load_average": loads,
                           "env": {k: a.env.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}}, f, indent=1)
        return 1 if stopped else 0
    finally:
        if a.keep:
            log(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
