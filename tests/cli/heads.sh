#!/usr/bin/env bash
# xgrad heads through the command line: a run on a small trained model (the
# table, the JSON with every key, a self-contained page, the same numbers on a
# second run), and its bad input, each one stderr line, exit 1, no output file.
#   usage: tests/cli/heads.sh path/to/xgrad
set -u
XGRAD=${1:?usage: $0 path/to/xgrad}
source "$(dirname "$0")/lib.sh"

small=(--max-iters 60 --eval-iters 2 --eval-interval 60 --sample-tokens 0 --block-size 16 --n-embd 16 --n-head 2
       --n-layer 2 --batch-size 4 --threads 1)
"$XGRAD" train "${small[@]}" --out "$T/ck.safetensors" >/dev/null || { echo "cannot train the test model"; exit 1; }
"$XGRAD" corpus --out "$T/corpus.txt" >/dev/null

ok "heads: a run" "$XGRAD" heads --checkpoint "$T/ck.safetensors" --text-file "$T/corpus.txt" --windows 4 \
  --json "$T/h.json" --html "$T/h.html" --ablate 0.1,1.0
cp "$T/stdout" "$T/first.out"
if grep -q "4 heads, 4 windows of 16 characters" "$T/first.out" && grep -q "^1      1     blocks.1.sa.heads.1" "$T/first.out" &&
   grep -q "loss with the --ablate heads off together" "$T/first.out"; then pass; else fail "heads: the table: $(head -5 "$T/first.out")"; fi
if python3 - "$T" <<'PY'
import json, sys
d = sys.argv[1]
j = json.load(open(f"{d}/h.json"))
assert set(j) >= {"checkpoint", "windows", "base_loss", "heads", "similarity", "uniform"}, sorted(j)
assert j["windows"] == 4 and len(j["heads"]) == 4
keys = {"layer", "head", "name", "previous_token", "first_token", "self", "mean_distance", "entropy", "word_start",
        "ablation", "importance", "induction", "role"}
for h in j["heads"]:
    assert set(h) == keys, sorted(h)
    assert 0 <= h["entropy"] <= 1 and 0 <= h["previous_token"] <= 1
assert len(j["similarity"]) == 4 and all(len(r) == 4 for r in j["similarity"])
assert all(j["similarity"][i][i] == 0 for i in range(4))
page = open(f"{d}/h.html").read()
assert page.count("<svg") == 4, page.count("<svg")
assert "<script" not in page and "https://" not in page
PY
then pass; else fail "heads: the JSON or the page"; fi
ok "heads: a second run" "$XGRAD" heads --checkpoint "$T/ck.safetensors" --text-file "$T/corpus.txt" --windows 4 \
  --ablate 0.1,1.0
if cmp -s "$T/first.out" "$T/stdout"; then pass; else fail "heads: a second run printed other numbers"; fi

# bad input
"$XGRAD" train --model bigram --max-iters 1 --eval-iters 0 --sample-tokens 0 --threads 1 --out "$T/bigram.safetensors" \
  >/dev/null 2>&1 || fail "cannot train a bigram model"
heads() { "$XGRAD" heads --checkpoint "$T/ck.safetensors" --json "$T/bad.json" "$@"; }
expect "heads: a bigram model" "'bigram' model, which has no attention heads" -- \
  "$XGRAD" heads --checkpoint "$T/bigram.safetensors" --text-file "$T/corpus.txt" --json "$T/bad.json"
printf 'The cat sat.' >"$T/short.txt"
expect "heads: a text shorter than block_size + 1" "short.txt: has 12 characters; the model needs at least block_size \+ 1 = 17" -- \
  heads --text-file "$T/short.txt"
printf 'The cat sat on the mat.\nThe dog sat on the ~ mat, and more text here.\n' >"$T/oov.txt"
expect "heads: a character outside the vocabulary" "oov.txt: character '~' at line 2, column 20 is not in the model's vocabulary" -- \
  heads --text-file "$T/oov.txt"
expect "heads: --windows 0" "--windows must be at least 1" -- heads --text-file "$T/corpus.txt" --windows 0
expect "heads: --ablate a head that does not exist" "--ablate: no head '2.0' \(write LAYER.HEAD; this model's heads are 0.0 to 1.1\)" -- \
  heads --text-file "$T/corpus.txt" --ablate 0.1,2.0
expect "heads: --ablate nonsense" "--ablate: no head 'x'" -- heads --text-file "$T/corpus.txt" --ablate x
"$XGRAD" train "${small[@]}" --data "$T/corpus.txt" --out "$T/file.safetensors" >/dev/null 2>&1 || fail "cannot train on a file"
expect "heads: --subject-verb on a model of another corpus" "--subject-verb: .*file.safetensors was trained on .*corpus.txt, not the built-in corpus" -- \
  "$XGRAD" heads --checkpoint "$T/file.safetensors" --text-file "$T/corpus.txt" --subject-verb --json "$T/bad.json"
expect "heads: missing text file" "nope.txt" -- heads --text-file "$T/nope.txt"
no_file "heads: no JSON after an error" "$T/bad.json"
finish "cli heads"
