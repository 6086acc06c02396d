#!/usr/bin/env bash
# The blog's GPT through every command: train (--model blog and --preset
# blog), sample with and without the KV cache (greedy, temperature, top-k,
# top-p: the same text), grad, attention, graph, heads, gradcheck, and
# --resume, which continues the run as a blog model.
#   usage: tests/cli/blog.sh path/to/xgrad
set -u
XGRAD=${1:?usage: $0 path/to/xgrad}
source "$(dirname "$0")/lib.sh"

small=(--max-iters 30 --eval-interval 10 --eval-iters 2 --sample-tokens 20 --block-size 16 --n-embd 16 --n-head 2
       --n-layer 2 --batch-size 4 --threads 1)
ok "blog: train --model blog" "$XGRAD" train --model blog "${small[@]}" --out "$T/blog.safetensors"
if grep -q "^training blog with the blog preset" "$T/stdout" && grep -q "^trained 30 steps" "$T/stdout"; then pass
else fail "blog: the run's first line or its steps: $(head -3 "$T/stdout")"; fi
if python3 - "$T/blog.safetensors" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
meta = h.pop("__metadata__")
assert meta["model"] == "blog", meta
for k in ["token_embedding.weight", "position_embedding.weight", "blocks.0.sa.heads.1.key.weight",
          "blocks.1.sa.heads.0.tril", "blocks.0.sa.proj.bias", "blocks.1.ffwd.net.2.weight", "ln_f.bias", "head.weight"]:
    assert k in h, k
assert not any(k.startswith("lm_head") or "embedding_table" in k for k in h), sorted(h)
PY
then pass; else fail "blog: the checkpoint's keys or metadata"; fi
ok "blog: --preset blog trains the blog's model" "$XGRAD" train --preset blog --max-iters 1 --eval-iters 0 --sample-tokens 0 --threads 1
if grep -q "^training blog with the blog preset" "$T/stdout"; then pass; else fail "blog: --preset blog: $(head -1 "$T/stdout")"; fi

for args in "--tokens 40" "--tokens 40 --greedy" "--tokens 40 --temperature 0.8 --top-k 5 --seed 3" "--tokens 40 --top-p 0.9 --seed 4"; do
  # shellcheck disable=SC2086
  "$XGRAD" sample --checkpoint "$T/blog.safetensors" $args >"$T/cached.txt" 2>&1
  rc_cached=$?
  # shellcheck disable=SC2086
  "$XGRAD" sample --checkpoint "$T/blog.safetensors" $args --no-kv-cache >"$T/full.txt" 2>&1
  rc_full=$?
  if [ "$rc_cached" -eq 0 ] && [ "$rc_full" -eq 0 ] && [ -s "$T/cached.txt" ] && cmp -s "$T/cached.txt" "$T/full.txt"; then pass
  else fail "blog: sample $args: the KV cache and the recompute differ"; fi
done
python3 - "$T" <<'PY'
import struct, sys, json
d = sys.argv[1]
def tensor(name, shape, values):
    return name, {"dtype": "I64", "shape": shape}, struct.pack("<%dq" % len(values), *values)
entries = [tensor("x", [2, 16], [1 + (i % 9) for i in range(32)]), tensor("y", [2, 16], [2 + (i % 9) for i in range(32)])]
header, body, off = {}, b"", 0
for name, h, data in entries:
    h["data_offsets"] = [off, off + len(data)]
    header[name] = h
    body += data
    off += len(data)
js = json.dumps(header).encode()
js += b" " * ((8 - (8 + len(js)) % 8) % 8)
open(f"{d}/batch.safetensors", "wb").write(struct.pack("<Q", len(js)) + js + body)
PY
ok "blog: grad" "$XGRAD" grad --checkpoint "$T/blog.safetensors" --batch "$T/batch.safetensors" --out "$T/grads.safetensors"
ok "blog: attention" "$XGRAD" attention --checkpoint "$T/blog.safetensors" --text "The cat sat" --out "$T/att.html"
if [ "$(grep -o "<svg" "$T/att.html" | wc -l)" -eq 4 ]; then pass; else fail "blog: attention page without 4 heatmaps"; fi
ok "blog: graph" "$XGRAD" graph --checkpoint "$T/blog.safetensors" --out "$T/graph.dot"
"$XGRAD" corpus --out "$T/corpus.txt" >/dev/null
ok "blog: heads" "$XGRAD" heads --checkpoint "$T/blog.safetensors" --text-file "$T/corpus.txt" --windows 2
if grep -q "blocks.1.sa.heads.1" "$T/stdout"; then pass; else fail "blog: heads table"; fi
ok "blog: gradcheck of the blog's GPT" "$XGRAD" gradcheck --op "GPT (the blog's"
ok "blog: --resume" "$XGRAD" train --model blog "${small[@]}" --max-iters 40 --resume "$T/blog.safetensors"
if grep -q "resuming $T/blog.safetensors at step 30" "$T/stdout" && grep -q "^trained 10 steps" "$T/stdout"; then pass
else fail "blog: --resume: $(head -4 "$T/stdout")"; fi
# a blog checkpoint that says it is the lecture's model: one line naming the first missing and unexpected key
python3 - "$T" <<'PY'
import json, struct, sys
d = sys.argv[1]
raw = open(f"{d}/blog.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
h["__metadata__"]["model"] = "gpt"
js = json.dumps(h).encode()
js += b" " * ((8 - (8 + len(js)) % 8) % 8)
open(f"{d}/as_gpt.safetensors", "wb").write(struct.pack("<Q", len(js)) + js + raw[8 + n:])
PY
expect "blog: the blog's keys in a gpt checkpoint" \
  "as_gpt.safetensors: its tensors are not a gpt model's \(metadata 'model' says gpt\): the first missing is 'token_embedding_table.weight', the first unexpected 'head.bias'" \
  -- "$XGRAD" sample --checkpoint "$T/as_gpt.safetensors"
finish "cli blog"
