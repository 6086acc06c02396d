#!/usr/bin/env bash
# The pictures through the command line (see also tests/test_visualize.cpp):
# trains a tiny model, then checks that `xgrad attention` writes an XHTML page
# with one parseable inline SVG heatmap per head, `xgrad plot` a parseable SVG,
# and `xgrad graph` DOT that Graphviz renders (when `dot` is installed), and
# that bad input ends with exit 1, one line on stderr and no output file.
# With the same trained model it also checks that `xgrad sample` prints the
# same text with its key/value cache and with --no-kv-cache.
#   usage: tests/cli/pictures.sh path/to/xgrad
set -u
XGRAD=${1:?usage: $0 path/to/xgrad}
source "$(dirname "$0")/lib.sh"
EXPECT_EXIT=1  # every picture command fails with exit 1

n_layer=2
n_head=2
"$XGRAD" train --max-iters 20 --eval-interval 10 --eval-iters 2 --sample-tokens 0 --block-size 32 --n-embd 16 \
  --n-head $n_head --n-layer $n_layer --batch-size 4 --threads 1 --out "$T/ck.safetensors" --log "$T/log.jsonl" \
  >"$T/train.out" 2>&1 || { cat "$T/train.out"; echo "pictures: 0 passed, 1 failed (cannot train the test model)"; exit 1; }

# --- xgrad sample: the KV cache prints the full recompute's text -------------------
# 100 tokens outgrow block_size 32: the cache is rebuilt past it, still the same text.
for args in "--tokens 100" "--tokens 100 --prompt The --temperature 0.8 --top-k 5 --seed 7"; do
  # shellcheck disable=SC2086
  "$XGRAD" sample --checkpoint "$T/ck.safetensors" $args >"$T/cached.txt" 2>&1
  # shellcheck disable=SC2086
  "$XGRAD" sample --checkpoint "$T/ck.safetensors" $args --no-kv-cache >"$T/full.txt" 2>&1
  if [ -s "$T/cached.txt" ] && cmp -s "$T/cached.txt" "$T/full.txt"; then
    pass
  else
    fail "sample $args: the KV cache and --no-kv-cache differ: $(head -c 200 "$T/cached.txt") / $(head -c 200 "$T/full.txt")"
  fi
done

# --- xgrad attention --------------------------------------------------------------
ok "attention" "$XGRAD" attention --checkpoint "$T/ck.safetensors" --text "The cat sat on the mat" --out "$T/att.html"
ok "attention with quotes and a newline" "$XGRAD" attention --checkpoint "$T/ck.safetensors" \
  --text $'She said, "Is it?"\nIt is.' --out "$T/quotes.html"
ok "attention, default text" "$XGRAD" attention --checkpoint "$T/ck.safetensors" --out "$T/default.html"
for page in att quotes default; do
  if python3 - "$T/$page.html" $((n_layer * n_head)) >"$T/py.out" 2>&1 <<'PY'
import re, sys, xml.etree.ElementTree as ET
path, heads = sys.argv[1], int(sys.argv[2])
text = open(path, encoding="utf-8").read()
root = ET.fromstring(text)  # the whole page is well-formed XHTML
svg_ns = "{http://www.w3.org/2000/svg}svg"
found = root.findall(".//" + svg_ns)
assert len(found) == heads, f"{len(found)} <svg> elements, expected {heads}"
inline = re.findall(r"<svg\b.*?</svg>", text, re.S)
assert len(inline) == heads, f"{len(inline)} inline svgs, expected {heads}"
for k, s in enumerate(inline):
    svg = ET.fromstring(s)  # each heatmap stands alone too
    label = f"layer {k // 2}, head {k % 2}"
    assert any(t.text == label for t in svg.iter("{http://www.w3.org/2000/svg}text")), f"no label '{label}'"
assert "<script" not in text and "https://" not in text, "the page must be self-contained"
PY
  then pass; else fail "attention page $page: $(tail -c 400 "$T/py.out")"; fi
done

expect "attention: a character outside the vocabulary" "--text: character 'Z' at position 0 is not in the model's vocabulary" -- \
  "$XGRAD" attention --checkpoint "$T/ck.safetensors" --text "Zebras" --out "$T/bad.html"
no_file "attention: out-of-vocab" "$T/bad.html"
ok "attention: a text longer than block_size is cropped" \
  "$XGRAD" attention --checkpoint "$T/ck.safetensors" --text "The cat sat on the mat and the dog sat on" --out "$T/long.html"
if grep -q "The text has 41 characters; the model sees at most block_size = 32, so these are its last 32" "$T/long.html"; then
  pass; else fail "attention: the cropped page does not say it was cropped"; fi
expect "attention: missing output directory" "no_such_dir/a.html" -- \
  "$XGRAD" attention --checkpoint "$T/ck.safetensors" --out "$T/no_such_dir/a.html"
no_file "attention: missing dir" "$T/no_such_dir"
expect "attention: missing checkpoint" "nope.safetensors" -- \
  "$XGRAD" attention --checkpoint "$T/nope.safetensors" --out "$T/bad.html"
"$XGRAD" train --model bigram --max-iters 1 --eval-iters 0 --sample-tokens 0 --threads 1 --out "$T/bigram.safetensors" \
  >/dev/null 2>&1 || fail "cannot train a bigram model"
expect "attention: a bigram model" "'bigram' model" -- \
  "$XGRAD" attention --checkpoint "$T/bigram.safetensors" --text "The cat" --out "$T/bad.html"
no_file "attention: bigram" "$T/bad.html"

# --- xgrad plot -------------------------------------------------------------------
cp "$T/log.jsonl" "$T/second.jsonl"
ok "plot" "$XGRAD" plot --log "$T/log.jsonl" --log "$T/second.jsonl" --out "$T/loss.svg"
if python3 - "$T/loss.svg" >"$T/py.out" 2>&1 <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg", root.tag
lines = root.findall(f".//{ns}polyline")
assert len(lines) == 4, f"{len(lines)} curves, expected 4 (2 logs x train, val)"
texts = [t.text for t in root.iter(ns + "text")]
for want in ("step", "loss (cross-entropy)"):
    assert want in texts, f"no axis label {want!r}"
for name in ("log.jsonl", "second.jsonl"):
    assert any(t and t.startswith(name) for t in texts), f"no legend entry for {name}"
PY
then pass; else fail "plot svg: $(tail -c 400 "$T/py.out")"; fi

printf '{"step":0,"train_loss":4.0,"val_loss":4.0}\nstep 10: loss 3.5\n' >"$T/notjson.jsonl"
expect "plot: a line that is not JSON" "notjson.jsonl:2: not a JSON line" -- \
  "$XGRAD" plot --log "$T/notjson.jsonl" --out "$T/bad.svg"
no_file "plot: not json" "$T/bad.svg"
printf '{"event":"done","steps":0}\n' >"$T/empty.jsonl"
expect "plot: no evaluation lines" "empty.jsonl: no evaluation lines" -- \
  "$XGRAD" plot --log "$T/log.jsonl" --log "$T/empty.jsonl" --out "$T/bad.svg"
expect "plot: missing log" "missing.jsonl: cannot open the log" -- \
  "$XGRAD" plot --log "$T/missing.jsonl" --out "$T/bad.svg"
expect "plot: missing output directory" "no_such_dir/loss.svg" -- \
  "$XGRAD" plot --log "$T/log.jsonl" --out "$T/no_such_dir/loss.svg"
no_file "plot: missing dir" "$T/no_such_dir"
no_file "plot: failures" "$T/bad.svg"

# --- xgrad graph ------------------------------------------------------------------
ok "graph" "$XGRAD" graph --checkpoint "$T/ck.safetensors" --out "$T/graph.dot"
softmax=$(grep -c 'label="softmax\\n' "$T/graph.dot")
losses=$(grep -c 'label="cross_entropy\\n' "$T/graph.dot")
if [ "$softmax" -eq $((n_layer * n_head)) ] && [ "$losses" -eq 1 ]; then pass; else
  fail "graph: $softmax softmax and $losses cross_entropy nodes, expected $((n_layer * n_head)) and 1"
fi
if command -v dot >/dev/null 2>&1; then
  if dot -Tsvg "$T/graph.dot" -o "$T/graph.svg" 2>"$T/dot.err" && [ ! -s "$T/dot.err" ] &&
    python3 -c 'import sys, xml.etree.ElementTree as ET; ET.parse(sys.argv[1])' "$T/graph.svg"; then
    pass
  else
    fail "graph: dot -Tsvg: $(head -c 400 "$T/dot.err")"
  fi
else
  echo "skip: graphviz's dot is not installed, the DOT is not rendered"
fi
expect "graph: missing output directory" "no_such_dir/graph.dot" -- \
  "$XGRAD" graph --checkpoint "$T/ck.safetensors" --out "$T/no_such_dir/graph.dot"
no_file "graph: missing dir" "$T/no_such_dir"
expect "graph: missing checkpoint" "nope.safetensors" -- \
  "$XGRAD" graph --checkpoint "$T/nope.safetensors" --out "$T/bad.dot"
no_file "graph: failures" "$T/bad.dot"

finish "pictures"
