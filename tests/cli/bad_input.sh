#!/usr/bin/env bash
# Bad input through the command line: every case must end with one line on
# stderr naming the problem (and the file or flag), an exit code from 1 to 127
# (never death by a signal), and no partial output file.
#   usage: tests/cli/bad_input.sh path/to/xgrad
set -u
XGRAD=${1:?usage: $0 path/to/xgrad}
source "$(dirname "$0")/lib.sh"

small=(--max-iters 2 --eval-iters 1 --eval-interval 1 --sample-tokens 0 --block-size 8 --n-embd 8 --n-head 2
       --n-layer 1 --batch-size 2 --threads 1)
# A good checkpoint and batch to spoil.
"$XGRAD" train "${small[@]}" --out "$T/ok.safetensors" >/dev/null || { echo "cannot train the test model"; exit 1; }
python3 - "$T" <<'PY'
import json, struct, sys
d = sys.argv[1]
raw = open(f"{d}/ok.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
def write(name, hdr=None, body=None, meta=None, blob=None):
    if blob is None:
        h = dict(header if hdr is None else hdr)
        if meta is not None:
            h["__metadata__"] = meta
        js = json.dumps(h).encode()
        blob = struct.pack("<Q", len(js)) + js + (data if body is None else body)
    open(f"{d}/{name}", "wb").write(blob)
write("truncated.safetensors", blob=raw[: len(raw) // 2])
write("truncated_header.safetensors", blob=raw[: 8 + n // 2])
write("short.safetensors", blob=raw[:5])
write("huge_header.safetensors", blob=struct.pack("<Q", 10**6) + raw[8:100])
write("not_json.safetensors", blob=struct.pack("<Q", 9) + b"not json!" + data)
write("not_object.safetensors", blob=struct.pack("<Q", 9) + b"[1, 2, 3]" + data)
meta = header["__metadata__"]
name = "lm_head.weight"
h = json.loads(json.dumps(header)); h[name]["dtype"] = "F16"; write("dtype.safetensors", hdr=h)
h = json.loads(json.dumps(header)); h[name]["dtype"] = "I64"; write("int_weights.safetensors", hdr=h)
h = json.loads(json.dumps(header)); b, e = h[name]["data_offsets"]; h[name]["data_offsets"] = [b, e + 10**6]
write("offsets.safetensors", hdr=h)
other = "lm_head.bias"
h = json.loads(json.dumps(header)); h[other]["data_offsets"] = [h[name]["data_offsets"][0], h[name]["data_offsets"][0] + 4 * h[other]["shape"][0]]
write("overlap.safetensors", hdr=h)
h = json.loads(json.dumps(header)); del h["ln_f.bias"]; write("missing.safetensors", hdr=h)
h = json.loads(json.dumps(header)); h["extra.weight"] = dict(h["ln_f.bias"]); write("unexpected.safetensors", hdr=h)
cfg = json.loads(meta["config"]); cfg["n_embd"] = 16
write("config_shape.safetensors", meta=dict(meta, config=json.dumps(cfg)))
write("vocab.safetensors", meta=dict(meta, vocab=meta["vocab"][:-1]))
write("no_meta.safetensors", meta={})
cfg = json.loads(meta["config"]); cfg["n_head"] = 3
write("config_heads.safetensors", meta=dict(meta, config=json.dumps(cfg)))
write("config_not_json.safetensors", meta=dict(meta, config="{oops"))
cfg = json.loads(meta["config"]); cfg["block_size"] = 65536
write("config_huge_block.safetensors", meta=dict(meta, config=json.dumps(cfg)))
write("model_unknown.safetensors", meta=dict(meta, model="transformer"))
write("model_blog.safetensors", meta=dict(meta, model="blog"))  # the lecture's keys under the blog's name
write("vocab_repeated.safetensors", meta=dict(meta, vocab=meta["vocab"][:-1] + meta["vocab"][0]))
b, e = header["ln_f.weight"]["data_offsets"]
write("nan.safetensors", body=data[:b] + struct.pack("<f", float("nan")) + data[b + 4:])
write("inf.safetensors", body=data[:b] + struct.pack("<f", float("inf")) + data[b + 4:])
def batch(fname, x, y, dtype="I64"):
    fmt, size = ("<q", 8) if dtype == "I64" else ("<f", 4)
    tensors, blob = {}, b""
    for key, rows in (("x", x), ("y", y)):
        flat = [v for r in rows for v in r]
        tensors[key] = {"dtype": dtype, "shape": [len(rows), len(rows[0])], "data_offsets": [len(blob), len(blob) + size * len(flat)]}
        blob += b"".join(struct.pack(fmt, v) for v in flat)
    js = json.dumps(tensors).encode()
    open(f"{d}/{fname}", "wb").write(struct.pack("<Q", len(js)) + js + blob)
V = len(meta["vocab"])
batch("oov.safetensors", [[0, 1, V]], [[1, 2, 3]])
batch("long.safetensors", [[0] * 9], [[0] * 9])
batch("float.safetensors", [[0.0, 1.0]], [[1.0, 2.0]], dtype="F32")
batch("ok_batch.safetensors", [[0, 1, 2]], [[1, 2, 3]])
PY

# --- the corpus -------------------------------------------------------------
expect "missing corpus" "nope.txt.*No such file" -- "$XGRAD" train "${small[@]}" --data "$T/nope.txt"
: >"$T/empty.txt"
expect "empty corpus" "empty.txt.*empty" -- "$XGRAD" train "${small[@]}" --data "$T/empty.txt"
expect "directory corpus" "is a directory" -- "$XGRAD" train "${small[@]}" --data "$T"
printf 'ab\0cd' >"$T/binary.txt"
expect "corpus is a device" "/dev/zero: is not a regular file" -- "$XGRAD" train "${small[@]}" --data /dev/zero
expect "binary corpus" "binary.txt.*binary" -- "$XGRAD" train "${small[@]}" --data "$T/binary.txt"
printf 'hello\nwor\xffld\n' >"$T/latin.txt"
expect "not UTF-8" "latin.txt: not valid UTF-8 at byte 9 \(line 2, column 4\)" -- "$XGRAD" train "${small[@]}" --data "$T/latin.txt"
printf 'abcdefghijklmnopqrstuvwxyz' >"$T/short.txt"
expect "corpus shorter than a block" "short.txt: the validation split has 3 characters.*--block-size" -- "$XGRAD" train "${small[@]}" --data "$T/short.txt"

# --- sizes and hyperparameters ----------------------------------------------------
expect "batch size 0" "batch-size" -- "$XGRAD" train "${small[@]}" --batch-size 0
expect "batch size negative" "batch-size" -- "$XGRAD" train "${small[@]}" --batch-size -5
expect "block size 0" "block_size" -- "$XGRAD" train "${small[@]}" --block-size 0
expect "n_embd 0" "n_embd" -- "$XGRAD" train "${small[@]}" --n-embd 0
expect "n_head 0" "n_head" -- "$XGRAD" train "${small[@]}" --n-head 0
expect "n_layer negative" "n.layer" -- "$XGRAD" train "${small[@]}" --n-layer -1
expect "not divisible" "n_embd \(8\) must be divisible by n_head \(3\)" -- "$XGRAD" train "${small[@]}" --n-head 3
expect "dropout 1" "dropout must be in \[0, 1\)" -- "$XGRAD" train "${small[@]}" --dropout 1
expect "dropout negative" "dropout must be in \[0, 1\)" -- "$XGRAD" train "${small[@]}" --dropout -0.1
expect "learning rate text" "learning-rate" -- "$XGRAD" train "${small[@]}" --learning-rate abc
expect "learning rate nan" "learning-rate" -- "$XGRAD" train "${small[@]}" --learning-rate nan
expect "eval interval 0" "eval-interval must be at least 1" -- "$XGRAD" train "${small[@]}" --eval-interval 0
expect "absurd model" "out of memory|must be between" -- "$XGRAD" train "${small[@]}" --n-embd 60000 --n-head 1 --n-layer 1000
expect "absurd batch" "out of memory|too large" -- "$XGRAD" train "${small[@]}" --batch-size 1000000 --block-size 60000
expect "unknown preset" "unknown preset 'huge'" -- "$XGRAD" train --preset huge
expect "unknown model" "unknown model 'transformer'" -- "$XGRAD" train "${small[@]}" --model transformer
expect "unknown flag" "--bogus" -- "$XGRAD" train --bogus 3
expect "the lecture's spelling of a flag" "did you mean --max-iters\? \(xgrad's flags use dashes\)" -- "$XGRAD" train --max_iters 200
expect "--threads 0" "--threads must be at least 1 \(leave it out to use every core\)" -- "$XGRAD" train "${small[@]}" --threads 0
expect "--threads above the cores" "--threads 64: this machine has [0-9]+ cores" -- "$XGRAD" train "${small[@]}" --threads 64
expect "--thread-split unknown" "--thread-split: rows not in \{batch,ops\}" -- "$XGRAD" train "${small[@]}" --thread-split rows
expect "gradcheck: no such check" "--op: no check's name starts with 'nope' \(xgrad gradcheck --list shows them all\)" -- \
  "$XGRAD" gradcheck --op nope
EXPECT_EXIT=0 ok "gradcheck --op in another case" "$XGRAD" gradcheck --op head
if grep -q "^Head " "$T/stdout" && grep -q " 0 failed$" "$T/stdout"; then pass; else fail "gradcheck --op head: $(tail -2 "$T/stdout")"; fi
EXPECT_EXIT=0 ok "gradcheck --list" "$XGRAD" gradcheck --list
if grep -q "^MultiHeadAttention$" "$T/stdout" && [ "$(wc -l <"$T/stdout")" -gt 50 ]; then pass; else fail "gradcheck --list"; fi

# --- a run that diverges stops, naming the step, and keeps the last good checkpoint --------
expect "loss becomes NaN" "step [0-9]+: .*(NaN|infinite).*learning-rate" -- "$XGRAD" train "${small[@]}" --max-iters 200 \
  --learning-rate 1e38 --init-from "$T/ok.safetensors" --out "$T/diverge.safetensors"
ok "the diverged run's checkpoint still loads" "$XGRAD" sample --checkpoint "$T/diverge.safetensors" --tokens 3

# --- --resume continues the recorded run; a contradicting flag, a missing state, a changed corpus are refused ----
cp "$T/ok.safetensors" "$T/run.safetensors"
cp "$T/ok.safetensors.state" "$T/run.safetensors.state"
expect "resume: a contradicting flag" "--batch-size 8 \(the run has 2\) contradicts the run of .*run.safetensors.*--init-from" -- \
  "$XGRAD" train --resume "$T/run.safetensors" --batch-size 8
expect "resume: another model" "--model head \(the run has gpt\) contradicts" -- "$XGRAD" train --resume "$T/run.safetensors" --model head
expect "resume: another preset" "--preset lecture contradicts the run of" -- "$XGRAD" train --resume "$T/run.safetensors" --preset lecture
cp "$T/ok.safetensors" "$T/alone.safetensors"
expect "resume: no state beside the checkpoint" "no training state .*alone.safetensors.state beside it.*--init-from" -- \
  "$XGRAD" train --resume "$T/alone.safetensors"
for i in $(seq 1 40); do printf 'the quick brown fox jumps over the lazy dog. '; done >"$T/corpus_a.txt"
"$XGRAD" train "${small[@]}" --data "$T/corpus_a.txt" --out "$T/file.safetensors" >/dev/null 2>&1 || fail "cannot train on a file"
sed -i 's/lazy/hazy/' "$T/corpus_a.txt"  # the same characters, another text
expect "resume: the corpus changed" "is not the text the run was trained on.*--init-from" -- "$XGRAD" train --resume "$T/file.safetensors"
EXPECT_EXIT=0 ok "resume: nothing to do" "$XGRAD" train --resume "$T/run.safetensors" --max-iters 2
if grep -q "^nothing to do: $T/run.safetensors is already at step 2 (--max-iters is 2; give a larger one" "$T/stdout"; then pass
else fail "resume with nothing to do: $(head -2 "$T/stdout")"; fi
EXPECT_EXIT=0 ok "resume: alone, it continues the run" "$XGRAD" train --resume "$T/run.safetensors" --max-iters 4
if grep -q "resuming $T/run.safetensors at step 2" "$T/stdout" && grep -q "^trained 2 steps" "$T/stdout"; then pass
else fail "resume alone: $(head -3 "$T/stdout")"; fi

# --- output paths -----------------------------------------------------------------
expect "out in a missing directory" "nodir" -- "$XGRAD" train "${small[@]}" --out "$T/nodir/ck.safetensors"
no_file "out in a missing directory" "$T/nodir"
expect "out under a file" "ok.safetensors/ck" -- "$XGRAD" train "${small[@]}" --out "$T/ok.safetensors/ck.safetensors"
expect "out is a directory" "--out .*: is a directory" -- "$XGRAD" train "${small[@]}" --out "$T" --log "$T/dirlog.jsonl"
no_file "no log after a refused --out" "$T/dirlog.jsonl"
expect "log in a missing directory" "nodir" -- "$XGRAD" train "${small[@]}" --log "$T/nodir/log.jsonl"
expect "corpus out in a missing directory" "nodir" -- "$XGRAD" corpus --out "$T/nodir/c.txt"
expect "grad out in a missing directory" "nodir" -- "$XGRAD" grad --checkpoint "$T/ok.safetensors" --batch "$T/ok_batch.safetensors" --out "$T/nodir/g.safetensors"

# no permission: as root every directory is writable, so drop to nobody when we can
mkdir -p "$T/readonly" && chmod 555 "$T/readonly"
if [ "$(id -u)" -ne 0 ]; then
  expect "out without permission" "readonly.*(ermission|cannot write)" -- "$XGRAD" corpus --out "$T/readonly/c.txt"
elif command -v setpriv >/dev/null && setpriv --reuid=nobody --regid=nogroup --clear-groups true 2>/dev/null; then
  chmod 755 "$T"
  expect "out without permission" "readonly.*(ermission|cannot write)" -- \
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$XGRAD" train "${small[@]}" --out "$T/readonly/ck.safetensors"
  expect "corpus without permission" "readonly.*(ermission|denied)" -- \
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$XGRAD" corpus --out "$T/readonly/c.txt"
fi
no_file "nothing written without permission" "$T/readonly/c"

# --- checkpoints ---------------------------------------------------------------------
sample() { "$XGRAD" sample --tokens 5 --checkpoint "$@"; }
expect "missing checkpoint" "nope.safetensors.*No such file" -- sample "$T/nope.safetensors"
expect "checkpoint is a directory" "directory|not a regular file" -- sample "$T"
for f in truncated truncated_header short huge_header not_json not_object dtype int_weights offsets overlap missing \
         unexpected config_shape vocab no_meta config_heads config_not_json nan inf config_huge_block model_unknown \
         vocab_repeated; do
  expect "checkpoint: $f" "$f.safetensors: " -- sample "$T/$f.safetensors"
done
expect "the lecture's keys in a blog checkpoint" \
  "model_blog.safetensors: its tensors are not a blog model's \(metadata 'model' says blog\): the first missing is 'token_embedding.weight', the first unexpected 'lm_head.bias'" \
  -- sample "$T/model_blog.safetensors"
expect "resume from a corrupt checkpoint" "truncated.safetensors: " -- "$XGRAD" train "${small[@]}" --resume "$T/truncated.safetensors"

# --- batches, prompts, sampling ----------------------------------------------------------
grad() { "$XGRAD" grad --checkpoint "$T/ok.safetensors" --out "$T/g.safetensors" --batch "$@"; }
expect "batch: out-of-vocabulary token" "oov.safetensors.*x.*out of range|oov.safetensors.*vocab" -- grad "$T/oov.safetensors"
expect "batch: T > block_size" "long.safetensors.*block_size" -- grad "$T/long.safetensors"
expect "batch: float tokens" "float.safetensors" -- grad "$T/float.safetensors"
no_file "grad output after a bad batch" "$T/g.safetensors"
expect "prompt outside the vocabulary, listing it" "--prompt: character '~' at position 0 is not in the model's vocabulary of [0-9]+ characters: .*abc" -- \
  sample "$T/ok.safetensors" --prompt "~~~"
expect "temperature 0" "temperature" -- sample "$T/ok.safetensors" --temperature 0
expect "temperature negative" "temperature" -- sample "$T/ok.safetensors" --temperature -1
expect "top-k larger than the vocabulary" "top-k" -- sample "$T/ok.safetensors" --top-k 100000
expect "tokens negative" "--tokens: must not be negative, got -5" -- sample "$T/ok.safetensors" --tokens -5
expect "top-k negative" "--top-k: must not be negative" -- sample "$T/ok.safetensors" --top-k -1
for p in 0 -0.5 1.5; do
  expect "top-p $p" "--top-p must be in \(0, 1\]" -- sample "$T/ok.safetensors" --top-p "$p"
done
for other in "--temperature 0.5" "--top-k 3" "--top-p 0.9"; do
  expect "greedy with $other" "--greedy takes the most likely token, so ${other%% *} has nothing to do" -- \
    sample "$T/ok.safetensors" --greedy $other
done
expect "eval interval negative" "--eval-interval: must not be negative" -- "$XGRAD" train "${small[@]}" --eval-interval -3

finish "cli bad input"
