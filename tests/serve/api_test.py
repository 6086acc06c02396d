#!/usr/bin/env python3
"""The JSON API of `xgrad serve`, without a browser, on a small checkpoint trained here:
  - the printed line and GET /api/model;
  - POST /api/attention equals `xgrad attention --json` on the same text (cropped or not), the loss is the mean
    cross-entropy the API's own next-character probabilities give, and an ablation changes the later layers only;
  - GET /api/heads equals `xgrad heads --json` on the checkpoint's corpus, POST /api/heads on a typed text;
  - POST /api/sample equals `xgrad sample` with the same settings, streamed or not;
  - every bad request gets its 4xx and one-sentence {"error"}, and the server answers as before afterwards;
  - 16 concurrent clients get the answers one client gets;
  - SIGTERM and SIGINT end it with exit code 0 within a second; a taken port is a one-line error.
usage: tests/serve/api_test.py path/to/xgrad"""
import json
import math
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_lib import SMALL, Server, temp_folder, train_small  # noqa: E402

XGRAD = os.path.abspath(sys.argv[1])
failures = []
checks = []


def check(name, ok, detail=""):
    checks.append(name)
    if not ok:
        failures.append(name)
        print(f"FAIL: {name} {detail}"[:600])


def cli_attention(d, ck, text):
    out = os.path.join(d, "att.json")
    subprocess.run([XGRAD, "attention", "--checkpoint", ck, "--text", text, "--out", os.path.join(d, "att.html"),
                    "--json", out], check=True)
    return json.load(open(out))


def cli_heads(d, ck, text_file):
    out = os.path.join(d, "heads.json")
    subprocess.run([XGRAD, "heads", "--checkpoint", ck, "--text-file", text_file, "--json", out], check=True,
                   stdout=subprocess.DEVNULL)
    return json.load(open(out))


def test_model(s, ck):
    m = s.get("/api/model")
    c = m["config"]
    check("model: config", (c["block_size"], c["n_embd"], c["n_head"], c["n_layer"]) == (32, 32, 2, 2), m)
    check("model: type, heads, vocabulary", m["model"] == "gpt" and len(m["heads"]) == 4 and
          len(m["vocab"]) == c["vocab_size"] and m["checkpoint"] == ck and m["corpus"] == "built-in", m)
    # token/position embeddings, 2 blocks, ln_f, lm_head of a 32-wide GPT over V characters
    V, C = c["vocab_size"], 32
    block = 4 * C + 3 * C * C + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C)
    check("model: parameter count", m["parameters"] == V * C + 32 * C + 2 * block + 2 * C + (C * V + V), m["parameters"])
    return m


def test_attention(s, d, ck, block_size):
    for text in ["The cat sat on the mat", "The dog ran. " * 5]:
        api, cli = s.post("/api/attention", {"text": text}), cli_attention(d, ck, text)
        check(f"attention = xgrad attention --json ({len(text)} characters)",
              api["attention"] == cli["attention"] and api["tokens"] == cli["tokens"] and
              api["cropped"] == cli["cropped"] == (len(text) > block_size))
        check("attention: T x T per head, rows sum to 1, zero above the diagonal",
              all(len(A) == len(api["tokens"]) and all(abs(sum(row) - 1) < 1e-5 and not any(row[i + 1:])
                                                       for i, row in enumerate(A))
                  for layer in api["attention"] for A in layer))
        check("attention: the top 10, most likely first", len(api["next"]) == 10 and
              all(a["p"] >= b["p"] for a, b in zip(api["next"], api["next"][1:])) and sum(n["p"] for n in api["next"]) <= 1 + 1e-9)
    check("attention: the cropped text is its last block_size characters",
          "".join(s.post("/api/attention", {"text": "The dog ran. " * 5})["tokens"]) == ("The dog ran. " * 5)[-block_size:])
    # the loss: the mean of -log p(next character), with p from the API's own top-10 on each prefix
    first = "T"
    second = s.post("/api/attention", {"text": first})["next"][0]["token"]
    third = s.post("/api/attention", {"text": first + second})["next"][0]["token"]
    p1 = s.post("/api/attention", {"text": first})["next"][0]["p"]
    p2 = s.post("/api/attention", {"text": first + second})["next"][0]["p"]
    three = s.post("/api/attention", {"text": first + second + third})
    check("loss: one character has none", s.post("/api/attention", {"text": "T"})["loss"] is None)
    check("loss: the mean cross-entropy of each next character", abs(three["loss"] + (math.log(p1) + math.log(p2)) / 2) < 1e-5,
          (three["loss"], p1, p2))
    # ablation: a head of layer 0 off leaves layer 0's weights, changes layer 1's and the prediction
    base = s.post("/api/attention", {"text": "The cat sat on the mat"})
    off = s.post("/api/attention", {"text": "The cat sat on the mat", "ablate": [[0, 1]]})
    check("ablation: layer 0 unchanged, layer 1 and the next character changed",
          off["attention"][0] == base["attention"][0] and off["attention"][1] != base["attention"][1] and
          off["next"] != base["next"] and off["loss"] != base["loss"])
    check("ablation: does not stay on", s.post("/api/attention", {"text": "The cat sat on the mat"}) == base)
    return base


def test_heads(s, d, ck):
    api = s.get("/api/heads")
    check("GET /api/heads = xgrad heads --json on the checkpoint's corpus", api == cli_heads(d, ck, os.path.join(d, "corpus.txt")))
    text = "The cat sat on the mat. The dog ran to the cat and the cat ran. " * 2
    with open(os.path.join(d, "typed.txt"), "w") as f:
        f.write(text)
    check("POST /api/heads = xgrad heads --json on the text", s.post("/api/heads", {"text": text}) == cli_heads(d, ck, os.path.join(d, "typed.txt")))


def cli_sample(ck, prompt, tokens, temperature, top_k, seed):
    out = subprocess.run([XGRAD, "sample", "--checkpoint", ck, "--prompt", prompt, "--tokens", str(tokens), "--temperature",
                          str(temperature), "--top-k", str(top_k), "--seed", str(seed)], check=True, capture_output=True,
                         text=True).stdout
    return out.rsplit("\nvalid sentences:", 1)[0]  # the built-in corpus's model also counts valid sentences


def test_sample(s, ck):
    default = subprocess.run([XGRAD, "sample", "--checkpoint", ck], check=True, capture_output=True, text=True).stdout
    check("sample: {} = xgrad sample's defaults", s.post("/api/sample", {})["text"] == default.rsplit("\nvalid sentences:", 1)[0])
    for prompt, tokens, temperature, top_k, seed in [("The cat", 120, 1.0, 0, 7), ("", 60, 0.7, 5, 1337)]:
        body = {"prompt": prompt, "tokens": tokens, "temperature": temperature, "top_k": top_k, "seed": seed}
        text = s.post("/api/sample", body)["text"]
        status, streamed, headers = s.request("POST", "/api/sample", {**body, "stream": True}, raw=True)
        check(f"sample = xgrad sample (prompt {prompt!r})", text == cli_sample(ck, prompt, tokens, temperature, top_k, seed), text)
        check(f"sample streamed = not streamed (prompt {prompt!r})", status == 200 and streamed == text and
              headers.get("Transfer-Encoding") == "chunked", (status, streamed, headers))


BAD = [  # (what, method, path, body, status, words the error must hold)
    ("not JSON", "POST", "/api/attention", "{text: 1", 400, "not JSON"),
    ("not an object", "POST", "/api/attention", "[1, 2]", 400, "JSON object"),
    ("a missing field", "POST", "/api/attention", {"ablate": []}, 400, '"text" is missing'),
    ("a mistyped field", "POST", "/api/attention", {"text": 5}, 400, '"text" must be a string'),
    ("a mistyped ablate", "POST", "/api/attention", {"text": "The", "ablate": [0, 1]}, 400, "[layer, head] pairs"),
    ("a negative head", "POST", "/api/attention", {"text": "The", "ablate": [[-1, 0]]}, 400, "[layer, head] pairs"),
    ("an empty text", "POST", "/api/attention", {"text": ""}, 400, '"text" is empty'),
    ("a character outside the vocabulary", "POST", "/api/attention", {"text": "The ~cat"}, 400,
     "character '~' at position 4 (counting from 0) is not in the model's vocabulary"),
    ("a head that does not exist", "POST", "/api/attention", {"text": "The", "ablate": [[2, 0]]}, 400,
     "no head [2, 0] (this model's heads are [0, 0] to [1, 1])"),
    ("more than 4096 sample tokens", "POST", "/api/sample", {"tokens": 4097}, 400, "at most 4096 tokens"),
    ("a mistyped sample field", "POST", "/api/sample", {"temperature": "hot"}, 400, '"temperature" must be a number'),
    ("a temperature of 0", "POST", "/api/sample", {"temperature": 0}, 400, "greater than 0"),
    ("a top_k over the vocabulary", "POST", "/api/sample", {"top_k": 1000}, 400, "larger than the vocabulary"),
    ("a prompt outside the vocabulary", "POST", "/api/sample", {"prompt": "ab~"}, 400, "'~' at position 2"),
    ("a heads text too short", "POST", "/api/heads", {"text": "The cat"}, 400, "at least block_size + 1 = 33"),
    ("a body over 1 MiB", "POST", "/api/attention", json.dumps({"text": "a" * (1 << 20)}), 413, "over 1 MiB"),
    ("an unknown path", "GET", "/api/nothing", None, 404, "no such path: /api/nothing"),
    ("a wrong method", "GET", "/api/attention", None, 405, "GET /api/attention is not allowed; use POST"),
    ("a wrong method on /", "DELETE", "/", None, 405, "use GET"),
]


def test_bad_requests(s, base):
    for what, method, path, body, status, words in BAD:
        got, j, _ = s.request(method, path, body)
        check(f"bad request: {what}", got == status and set(j) == {"error"} and words in j["error"] and
              "\n" not in j["error"] and j["error"].count(". ") == 0, (got, j))
        check(f"answers after: {what}", s.post("/api/attention", {"text": "The cat sat on the mat"}) == base)


def test_concurrent(s):
    """16 clients at once, each its own text and ablation, against the answers of one client at a time."""
    asks = [{"text": "The cat sat on the mat"[: 6 + i], "ablate": [[i % 2, (i // 2) % 2]] if i % 3 else []} for i in range(16)]
    alone = [s.post("/api/attention", a) for a in asks]
    start = threading.Barrier(16)

    def client(i):
        start.wait()
        return [s.post("/api/attention", asks[i]) for _ in range(3)]

    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(client, range(16)))
    check("16 concurrent clients get the sequential answers", all(r == alone[i] for i, rs in enumerate(together) for r in rs))


def test_corpus_not_at_hand(d):
    """A checkpoint trained on a file: GET /api/heads is 404, saying why, once the file changed or is gone."""
    own = os.path.join(d, "own.txt")
    with open(os.path.join(d, "corpus.txt")) as f, open(own, "w") as g:
        g.write(f.read(40000))
    ck = os.path.join(d, "own.safetensors")
    subprocess.run([XGRAD, "train", *SMALL, "--data", own, "--out", ck], check=True, stdout=subprocess.DEVNULL)
    with Server(XGRAD, ck, cwd=d) as s:
        check("heads: the corpus file at hand", s.get("/api/heads") == cli_heads(d, ck, own))
    with open(own, "a") as g:
        g.write("The cat sat.\n")
    with Server(XGRAD, ck, cwd=d) as s:
        status, j, _ = s.request("GET", "/api/heads")
        check("heads: a changed corpus file is not the corpus", status == 404 and "is not the text the checkpoint was "
              "trained on" in j["error"] and "POST /api/heads" in j["error"], (status, j))
    os.remove(own)
    with Server(XGRAD, ck, cwd=d) as s:
        status, j, _ = s.request("GET", "/api/heads")
        check("heads: a missing corpus file", status == 404 and "not at hand" in j["error"], (status, j))
        text = "The cat sat on the mat. The dog ran to the cat and the cat ran. "
        typed = os.path.join(d, "typed.txt")
        with open(typed, "w") as f:
            f.write(text)
        check("heads: then the typed text, as xgrad heads reports it", s.post("/api/heads", {"text": text}) == cli_heads(d, ck, typed))


def test_stop(ck, d):
    for sig in (signal.SIGTERM, signal.SIGINT):
        with Server(XGRAD, ck, cwd=d) as s:
            s.get("/api/model")
            rc, seconds = s.signal_and_wait(sig)
            check(f"{signal.Signals(sig).name}: exit 0 within a second", rc == 0 and seconds < 1, (rc, seconds))
    with Server(XGRAD, ck, cwd=d) as s:
        taken = subprocess.run([XGRAD, "serve", "--checkpoint", ck, "--port", str(s.port)], capture_output=True, text=True,
                               timeout=30)
        check("a taken port: one line, exit 1", taken.returncode == 1 and taken.stderr.count("\n") == 1 and
              "cannot listen on 127.0.0.1:" in taken.stderr, taken.stderr)
    for what, args, words in [("a missing checkpoint", ["--checkpoint", os.path.join(d, "none.safetensors")], "none.safetensors"),
                              ("a port out of range", ["--checkpoint", ck, "--port", "70000"], "--port")]:
        r = subprocess.run([XGRAD, "serve", *args], capture_output=True, text=True, timeout=30)
        check(f"{what}: one line, an exit code from 1 to 127", 1 <= r.returncode <= 127 and r.stderr.count("\n") == 1 and
              words in r.stderr and r.stdout == "", (r.returncode, r.stderr))


def main():
    with temp_folder() as d:
        ck = train_small(XGRAD, d)
        with Server(XGRAD, ck, cwd=d) as s:
            check("the printed line", s.line == f"serving {ck} on http://127.0.0.1:{s.port}/\n", s.line)
            status, page, headers = s.request("GET", "/", raw=True)
            check("GET / is the page", status == 200 and headers["Content-Type"].startswith("text/html") and "<script>" in page)
            status, _, headers = s.request("POST", "/api/attention", {"text": "The cat"}, headers={"Accept-Encoding": "br, gzip"})
            check("answers are not compressed (brotli took seconds at the lecture size)", status == 200 and
                  "Content-Encoding" not in headers, headers)
            m = test_model(s, ck)
            base = test_attention(s, d, ck, m["config"]["block_size"])
            test_heads(s, d, ck)
            test_sample(s, ck)
            test_bad_requests(s, base)
            test_concurrent(s)
        test_corpus_not_at_hand(d)
        test_stop(ck, d)
    print(f"serve api: {len(checks) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
