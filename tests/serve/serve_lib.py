"""What the tests of `xgrad serve` share (tests/serve/api_test.py, browser_test.py): a small checkpoint trained
in a second, a server on 127.0.0.1 with a free port that is always stopped, and JSON requests with the
standard library only."""
import http.client
import json
import os
import re
import select
import signal
import subprocess
import tempfile
import time

SMALL = ["--max-iters", "80", "--eval-iters", "2", "--eval-interval", "80", "--sample-tokens", "0", "--block-size", "32",
         "--n-embd", "32", "--n-head", "2", "--n-layer", "2", "--batch-size", "4", "--threads", "1"]


def train_small(xgrad, folder):
    """A 2-layer, 2-head GPT on the built-in corpus, and the corpus as a file."""
    ck = os.path.join(folder, "ck.safetensors")
    subprocess.run([xgrad, "train", *SMALL, "--out", ck], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([xgrad, "corpus", "--out", os.path.join(folder, "corpus.txt")], check=True)
    return ck


class Server:
    """`xgrad serve --port 0` on a checkpoint; the port read from its one printed line."""

    def __init__(self, xgrad, checkpoint, cwd=None):
        self.proc = subprocess.Popen([xgrad, "serve", "--checkpoint", checkpoint, "--port", "0"], cwd=cwd,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        self.line = self.proc.stdout.readline() if ready else ""
        m = re.fullmatch(r"serving (.+) on http://127\.0\.0\.1:(\d+)/\n", self.line)
        if not m:
            self.stop()
            raise RuntimeError(f"xgrad serve printed {self.line!r}; stderr: {self.proc.stderr.read()[:400]}")
        self.port = int(m.group(2))
        self.url = f"http://127.0.0.1:{self.port}/"

    def request(self, method, path, body=None, headers=None, raw=False):
        """(status, parsed JSON or the raw text, headers)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        conn.request(method, path, body=data, headers=headers or {})
        r = conn.getresponse()
        text = r.read().decode("utf-8")
        conn.close()
        return r.status, (text if raw else json.loads(text)), dict(r.getheaders())

    def post(self, path, body):
        status, j, _ = self.request("POST", path, body)
        assert status == 200, (path, body, status, j)
        return j

    def get(self, path):
        status, j, _ = self.request("GET", path)
        assert status == 200, (path, status, j)
        return j

    def signal_and_wait(self, sig):
        """Sends sig; (exit code, seconds it took to exit)."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = None
        return rc, time.monotonic() - start

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def temp_folder():
    return tempfile.TemporaryDirectory(prefix="xgrad-serve-")


# A server left behind by a failed test would outlive it: every exit path stops it (Server.__exit__), and a
# SIGTERM from ctest's timeout becomes an exception that unwinds through it.
signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit("terminated")))
