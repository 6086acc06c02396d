#!/usr/bin/env python3
"""The latency of `xgrad serve`'s POST /api/attention for a 64-character text, at the tiny and the lecture config.

    bench/serve_latency.py --xgrad build/xgrad --data ../shared/data/tinyshakespeare.txt --reps 20 [--keep DIR]

Trains a checkpoint of each config for a few steps (the latency does not depend on the weights: the lecture one
is all but untrained, 1 step), starts `xgrad serve --port 0` on it, sends 3 warm-up requests, then --reps timed
ones over one kept-alive connection, without and with one head switched off. The time is from sending the request
to having read the whole answer (the client's JSON parsing not counted). Prints the medians, the smallest and
largest, and the answer's size. Standard library only.
"""
import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "serve"))
from serve_lib import Server  # noqa: E402

CONFIGS = {"tiny": ["--preset", "tiny", "--max-iters", "50"], "lecture": ["--preset", "lecture", "--max-iters", "1"]}


def timed(conn, body, reps):
    data = json.dumps(body)
    times, size = [], 0
    for _ in range(reps):
        start = time.perf_counter()
        conn.request("POST", "/api/attention", body=data, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        raw = r.read()
        times.append(time.perf_counter() - start)
        assert r.status == 200, raw[:200]
        size = len(raw)
    return times, size


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--xgrad", default="build/xgrad")
    p.add_argument("--data", default="../shared/data/tinyshakespeare.txt")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--configs", default="tiny,lecture")
    p.add_argument("--keep", help="keep the checkpoints in this folder, and reuse those found there")
    a = p.parse_args()
    xgrad, data = os.path.abspath(a.xgrad), os.path.abspath(a.data)
    text = open(data, encoding="utf-8").read()[1000:1064]
    assert len(text) == 64
    with tempfile.TemporaryDirectory(prefix="xgrad-serve-bench-") as tmp:
        d = os.path.abspath(a.keep) if a.keep else tmp
        for name in a.configs.split(","):
            ck = os.path.join(d, f"{name}.safetensors")
            if not os.path.exists(ck):
                subprocess.run([xgrad, "train", *CONFIGS[name], "--data", data, "--eval-iters", "0", "--sample-tokens", "0",
                                "--out", ck], check=True, stdout=subprocess.DEVNULL)
            with Server(xgrad, ck, cwd=d) as s:
                conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=120)
                timed(conn, {"text": text}, 3)
                c = s.get("/api/model")["config"]
                for label, body in [("all heads on", {"text": text}), ("head 0.0 off", {"text": text, "ablate": [[0, 0]]})]:
                    times, size = timed(conn, body, a.reps)
                    ms = sorted(t * 1000 for t in times)
                    print(f"{name} (n_embd {c['n_embd']}, {c['n_layer']} layers, {c['n_head']} heads, block {c['block_size']}), "
                          f"{label}: median {statistics.median(ms):.2f} ms (min {ms[0]:.2f}, max {ms[-1]:.2f}) over "
                          f"{a.reps} requests, answer {size / 1024:.0f} KiB")
                conn.close()


if __name__ == "__main__":
    main()
