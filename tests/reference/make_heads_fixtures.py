#!/usr/bin/python3
"""Generate the PyTorch reference fixtures of `xgrad heads` (what each attention head of a trained model does).

Run with Debian's python (it has torch 1.13), from anywhere:

    /usr/bin/python3 tests/reference/make_heads_fixtures.py           # write + check
    /usr/bin/python3 tests/reference/make_heads_fixtures.py --check   # only check

Writes tests/reference/fixtures/heads_lecture.safetensors and heads_blog.safetensors, from the two committed
checkpoints fixtures/torch_checkpoint.safetensors (the lecture's model, loaded with the README's load snippet,
as make_fixtures.py does) and fixtures/blog_torch_checkpoint.safetensors (the blog's model, loaded as
make_blog_fixtures.py --xgrad-checkpoint does). Neither checkpoint is changed. The README.md beside this file
is the contract (names, shapes, meaning, the definitions of ablation, importance and induction).

As in the other scripts: reference values are computed in float64 from the stored float32 weights and
rounded to float32 once, at the end; the same computation in plain float32 torch gives the printed
disagreement, a guide for the C++ tolerances. --check recomputes both files from the checkpoints and
requires them to be byte-identical to the committed ones, then cross-checks the definitions by other
routes (a head switched off by zeroing its value weight, importance by central differences).
"""

import argparse
import copy
import hashlib
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import blog_model  # noqa: E402
import lecture_model  # noqa: E402
from make_blog_fixtures import encode_for_sha, load_blog_checkpoint  # noqa: E402
from make_fixtures import CKPT_TEXT, RELU_MARGIN, check_layout, ref32, rel_err, run_load_snippet  # noqa: E402
from st_io import read_safetensors, write_safetensors  # noqa: E402

OUT = HERE / "fixtures"
GENERATOR = "tests/reference/make_heads_fixtures.py"
MAX_FILE_BYTES = 200_000  # each heads_* file

F32 = torch.float32
F64 = torch.float64
I64 = torch.int64

N_WINDOWS = 3
# The seed of the induction sequence (the only random draw), per model: 7 and 17, after the lecture's
# groups 1-6 and the blog's 12-16.
SEED = {"lecture": 7, "blog": 17}
CHECKPOINT = {"lecture": "torch_checkpoint.safetensors", "blog": "blog_torch_checkpoint.safetensors"}
FILES = {"lecture": "heads_lecture.safetensors", "blog": "heads_blog.safetensors"}
HEAD_CLASS = {"lecture": lecture_model.Head, "blog": blog_model.Head}
MHA_CLASS = {"lecture": lecture_model.MultiHeadAttention, "blog": blog_model.MultiHeadAttention}
SCALE_NOTE = {"lecture": "head_size ** -0.5 (k.shape[-1]), as lecture_model.Head",
              "blog": "C ** -0.5 with C = x.shape[-1] = n_embd, as blog_model.Head"}

DEFINITIONS = {
    "windows": "data = encode(text)[:N*T+1] (all of text); x[w] = data[w*T:(w+1)*T], y[w] = data[w*T+1:(w+1)*T+1], w = 0..N-1",
    "attention": "attention.<l>.<h> = softmax(masked_fill(q @ k^T * scale, tril == 0, -inf)) of block l's head h "
                 "on x, (N,T,T), model.eval()",
    "loss": "F.cross_entropy(logits.view(N*T, V), y.view(N*T)), every head on",
    "ablation": "ablation.<l>.<h> = loss with head (l,h)'s output (B,T,hs) multiplied by 0 before "
                "MultiHeadAttention's cat, minus loss",
    "importance": "importance.<l>.<h> = (1/N) sum_w |dL_w/dxi_(l,h)| at every xi = 1, where head (l,h)'s output is "
                  "multiplied by the scalar xi before the cat and L_w = F.cross_entropy(logits[w], y[w]) "
                  "(Michel et al., 2019); float64 autograd",
    "induction": "induction.seq = [s, s] (1,2R) with s = torch.randperm(V)[:R] after torch.manual_seed(seed), R = T//2; "
                 "induction.attention.<l>.<h> = that head's attention on it (1,2R,2R); "
                 "induction.score.<l>.<h> = mean over i in [R, 2R-1] of A[0, i, i-R+1]",
    "ablate_all": "ablate_all.<l> = logits (N,T,V) with every head of block l multiplied by 0 before the cat; "
                  "ablate_all_check.<l> = the same logits with block l's sa(ln1(x)) replaced by "
                  "sa.dropout(sa.proj.bias) broadcast to (N,T,C) (asserted equal within 1e-10 in float64)",
}

AGREEMENT = {}  # model -> {key pattern: (worst tensor, relative error, absolute error)}


# ---------------------------------------------------------------------------
# loading the checkpoints
# ---------------------------------------------------------------------------

def load_checkpoint(kind):
    """(float32 model in eval mode, vocab, config string, checkpoint bytes), loaded strictly as the other
    scripts load them: the lecture's by the README's load snippet, the blog's by load_blog_checkpoint."""
    path = OUT / CHECKPOINT[kind]
    _, meta = read_safetensors(path)
    if kind == "lecture":
        env = run_load_snippet(path)
        model, vocab = env["model"], env["vocab"]
    else:
        model, vocab, _ = load_blog_checkpoint(path)
    assert not model.training
    return model, vocab, meta["config"], path.read_bytes()


def windows(vocab, T, text, n=N_WINDOWS):
    """x, y (n,T): the first n*T+1 tokens of `text`, cut into n windows, each with the next token as target."""
    stoi = {ch: i for i, ch in enumerate(vocab)}
    missing = sorted(set(text) - set(vocab))
    assert not missing, f"the text has characters outside the vocab: {missing!r}"
    data = torch.tensor([stoi[c] for c in text], dtype=I64)
    assert len(data) >= n * T + 1, (len(data), n * T + 1)
    x = torch.stack([data[w * T:(w + 1) * T] for w in range(n)])
    y = torch.stack([data[w * T + 1:(w + 1) * T + 1] for w in range(n)])
    return x, y


def relu_min_on(model, x):
    """The smallest |ReLU input| of model(x) in float64."""
    m = copy.deepcopy(model).to(F64)
    found = [float("inf")]
    hooks = [r.register_forward_hook(lambda mod, inp, out: found.__setitem__(0, min(found[0], inp[0].abs().min().item())))
             for r in m.modules() if isinstance(r, nn.ReLU)]
    with torch.no_grad():
        m(x)
    for hk in hooks:
        hk.remove()
    return found[0]


def choose_text():
    """(offset, text): text = CKPT_TEXT[offset:offset + N*T + 1] for the first offset 0, 1, ... at which
    both models' ReLU inputs on the windows all stay RELU_MARGIN away from 0 (importance is a gradient)."""
    models = {kind: load_checkpoint(kind) for kind in FILES}
    T = {m.config.block_size for m, _, _, _ in models.values()}
    assert len(T) == 1
    n = N_WINDOWS * T.pop() + 1
    for offset in range(len(CKPT_TEXT) - n + 1):
        text = CKPT_TEXT[offset:offset + n]
        if all(relu_min_on(m, windows(vocab, m.config.block_size, text)[0]) > RELU_MARGIN
               for m, vocab, _, _ in models.values()):
            return offset, text
    raise RuntimeError("no stretch of the text keeps the ReLU inputs away from 0")


def induction_sequence(kind, V, T):
    R = T // 2
    torch.manual_seed(SEED[kind])
    s = torch.randperm(V)[:R]
    return torch.cat([s, s]).view(1, 2 * R).to(I64), R


# ---------------------------------------------------------------------------
# instrumenting a model: attention hooks, head gates, a block without its attention branch
# ---------------------------------------------------------------------------

def head_attention(kind, head, x, scale_of=None):
    """Head.forward's attention weights, recomputed from its input exactly as that class's forward does
    (scale_of: use the other model's scale instead, only to show that the stored values tell them apart)."""
    B, T, C = x.shape
    k = head.key(x)
    q = head.query(x)
    scale = k.shape[-1] ** -0.5 if (scale_of or kind) == "lecture" else C ** -0.5
    wei = q @ k.transpose(-2, -1) * scale
    wei = wei.masked_fill(head.tril[:T, :T] == 0, float("-inf"))
    return F.softmax(wei, dim=-1)


class Instrument:
    """Within the `with`: a forward hook on every Head appends (l, h, attention) to `self.attention`, checking
    that attention @ value(x) is exactly the Head's output (so the recomputation is the forward's); every
    MultiHeadAttention multiplies head h's output by `self.gates[l, h]` before the cat; a forward hook on
    every ReLU keeps the smallest |input|. Heads are numbered l = block index in model.blocks, h = index in
    block.sa.heads: the order they run."""

    def __init__(self, kind, model):
        self.kind = kind
        self.model = model
        p = next(model.parameters())
        L, H = len(model.blocks), len(model.blocks[0].sa.heads)
        self.gates = torch.ones(L, H, dtype=p.dtype)
        self.attention = []
        self.relu_min = float("inf")
        self.handles = []
        self.patched = []

    def __enter__(self):
        for l, block in enumerate(self.model.blocks):
            mha = block.sa
            assert isinstance(mha, MHA_CLASS[self.kind])
            for h, head in enumerate(mha.heads):
                assert isinstance(head, HEAD_CLASS[self.kind])
                self.handles.append(head.register_forward_hook(lambda mod, inp, out, l=l, h=h: self._head(l, h, mod, inp, out)))

            def forward(x, mha=mha, l=l):  # MultiHeadAttention.forward, each head's output times its gate
                out = torch.cat([hd(x) * self.gates[l, h] for h, hd in enumerate(mha.heads)], dim=-1)
                return mha.dropout(mha.proj(out))

            mha.forward = forward
            self.patched.append(mha)
        for m in self.model.modules():
            if isinstance(m, nn.ReLU):
                self.handles.append(m.register_forward_hook(self._relu))
        return self

    def __exit__(self, *exc):
        for hd in self.handles:
            hd.remove()
        for mha in self.patched:
            del mha.forward

    def _head(self, l, h, mod, inp, out):
        wei = head_attention(self.kind, mod, inp[0])
        assert torch.equal(wei @ mod.value(inp[0]), out), (l, h)  # eval mode: the lecture's dropout is the identity
        self.attention.append((l, h, wei.detach()))

    def _relu(self, mod, inp, out):
        self.relu_min = min(self.relu_min, inp[0].detach().abs().min().item())

    def run(self, idx, gates=None):
        """logits (B,T,V) with these gates (default: all 1); attention of this forward: {(l, h): (B,T,T)}."""
        self.gates = torch.ones_like(self.gates) if gates is None else gates
        self.attention = []
        logits, _ = self.model(idx)
        att = {(l, h): w for l, h, w in self.attention}
        assert len(att) == self.gates.numel()
        return logits, att


class NoAttentionBranch:
    """Within the `with`: block l computes x + sa.dropout(sa.proj.bias broadcast to x's shape) + ffwd(ln2(.)), i.e.
    its attention branch sa(ln1(x)) replaced by what it gives when every head's output is 0."""

    def __init__(self, model, l):
        self.block = model.blocks[l]

    def __enter__(self):
        b = self.block

        def forward(x):
            x = x + b.sa.dropout(b.sa.proj.bias.expand(x.shape))
            x = x + b.ffwd(b.ln2(x))
            return x

        b.forward = forward
        return self

    def __exit__(self, *exc):
        del self.block.forward


# ---------------------------------------------------------------------------
# the computation (float64 for the reference, float32 for the agreement report)
# ---------------------------------------------------------------------------

def compute(kind, model, x, y, seq, R, dtype):
    """Every fixture value of the file, in `dtype`, from a copy of the float32 `model`. Returns
    ({name: tensor}, relu_min of the all-heads-on forward on the windows)."""
    m = copy.deepcopy(model).to(dtype)
    m.eval()
    N, T = x.shape
    V = m.config.vocab_size
    L, H = len(m.blocks), len(m.blocks[0].sa.heads)
    ce = lambda logits, targets: F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))  # noqa: E731
    res = {}
    with torch.no_grad():
        plain_logits, _ = m(x)
    with Instrument(kind, m) as ins:
        # every head on, gates requiring grad: attention, loss, importance
        gates = torch.ones(L, H, dtype=dtype, requires_grad=True)
        logits, att = ins.run(x, gates)
        relu_min = ins.relu_min
        assert torch.equal(logits.detach(), plain_logits), "gates of 1 must not change the model"
        loss = ce(logits, y)
        res["loss"] = loss.detach()
        for (l, h), w in att.items():
            res[f"attention.{l}.{h}"] = w
        imp = torch.zeros(L, H, dtype=dtype)
        for w in range(N):
            (g,) = torch.autograd.grad(ce(logits[w], y[w]), gates, retain_graph=True)
            imp += g.abs()
        imp /= N
        for l in range(L):
            for h in range(H):
                res[f"importance.{l}.{h}"] = imp[l, h].clone()
        with torch.no_grad():
            # one head off
            for l in range(L):
                for h in range(H):
                    g = torch.ones(L, H, dtype=dtype)
                    g[l, h] = 0.0
                    res[f"ablation.{l}.{h}"] = ce(ins.run(x, g)[0], y) - loss.detach()
            # a whole layer off
            for l in range(L):
                g = torch.ones(L, H, dtype=dtype)
                g[l, :] = 0.0
                res[f"ablate_all.{l}"] = ins.run(x, g)[0]
            # induction
            _, att = ins.run(seq)
            for (l, h), a in att.items():
                res[f"induction.attention.{l}.{h}"] = a
                res[f"induction.score.{l}.{h}"] = torch.stack([a[0, i, i - R + 1] for i in range(R, 2 * R)]).mean()
    with torch.no_grad():
        for l in range(L):
            with NoAttentionBranch(m, l):
                res[f"ablate_all_check.{l}"] = m(x)[0]
    return res, relu_min


def other_scale_difference(kind, model, x, ref):
    """max over heads of rel_err(attention.<l>.<h>, the same head's attention with the other model's scale),
    each head fed its stored-model input (so only the scale differs)."""
    m = copy.deepcopy(model).to(F64)
    other = "blog" if kind == "lecture" else "lecture"
    worst = 0.0
    hooks = []
    for l, block in enumerate(m.blocks):
        for h, head in enumerate(block.sa.heads):
            def hook(mod, inp, out, l=l, h=h):
                nonlocal worst
                worst = max(worst, rel_err(ref[f"attention.{l}.{h}"], head_attention(kind, mod, inp[0], scale_of=other)))
            hooks.append(head.register_forward_hook(hook))
    with torch.no_grad():
        m(x)
    for hk in hooks:
        hk.remove()
    return worst


def pattern(name):
    """The key pattern of a tensor name: digits replaced by <l>, <h>."""
    parts = name.split(".")
    labels = iter(["<l>", "<h>"])
    return ".".join(next(labels) if p.isdigit() else p for p in parts)


def make(kind, offset, text):
    model, vocab, config, ckpt_bytes = load_checkpoint(kind)
    cfg = model.config
    T, V = cfg.block_size, cfg.vocab_size
    x, y = windows(vocab, T, text)
    seq, R = induction_sequence(kind, V, T)

    ref, relu_min = compute(kind, model, x, y, seq, R, F64)
    # importance is a gradient: no ReLU input of that forward may sit near the kink
    assert relu_min > RELU_MARGIN, (kind, relu_min)
    for l in range(cfg.n_layer):
        d = (ref[f"ablate_all.{l}"] - ref[f"ablate_all_check.{l}"]).abs().max().item()
        assert d < 1e-10, (kind, l, d)
    f32, _ = compute(kind, model, x, y, seq, R, F32)
    agree = AGREEMENT.setdefault(kind, {})
    for k, v in ref.items():
        rel, ab = rel_err(v, f32[k]), (v - f32[k].to(F64)).abs().max().item()
        p = pattern(k)
        if p not in agree or rel > agree[p][1]:
            agree[p] = (k, rel, ab)

    scale_diff = other_scale_difference(kind, model, x, ref)
    assert scale_diff > 1e-3, (kind, scale_diff)

    tensors = {"x": x, "y": y, "induction.seq": seq}
    for k, v in ref.items():
        tensors[k] = ref32(v)
    meta = {
        "generator": GENERATOR,
        "torch_version": torch.__version__,
        "group": f"heads_{kind}",
        "seed": str(SEED[kind]),
        "reference": "computed in float64 from the stored float32 weights, rounded to float32",
        "config": config,
        "checkpoint": CHECKPOINT[kind],
        "checkpoint_sha256": hashlib.sha256(ckpt_bytes).hexdigest(),
        "text": text,
        "text_source": f"make_fixtures.CKPT_TEXT[{offset}:{offset + len(text)}] (the text of torch_checkpoint_batch): "
                       "the first stretch of N*T+1 characters, from offset 0 on, whose ReLU inputs all have |v| > 1e-4",
        "windows": str(N_WINDOWS),
        "R": str(R),
        "mode": "model.eval() (dropout off)",
        "scale": SCALE_NOTE[kind],
        "numbering": "<l> = block index in model.blocks (0-based), <h> = head index in blocks[l].sa.heads (0-based): "
                     "the order the heads run",
        "relu_min": f"{relu_min:.3g}",
        "other_scale_attention_rel_diff": f"{scale_diff:.3g}",
    }
    for k, v in DEFINITIONS.items():
        meta[f"def.{k}"] = v
    return tensors, meta, ref


def summarize(kind, ref):
    L = sum(1 for k in ref if k.startswith("ablate_all."))
    H = sum(1 for k in ref if k.startswith("attention.")) // L
    print(f"  heads_{kind}: loss {ref['loss'].item():.9f}")
    for l in range(L):
        for h in range(H):
            print(f"    head {l}.{h}: ablation {ref[f'ablation.{l}.{h}'].item():+.9f}  "
                  f"importance {ref[f'importance.{l}.{h}'].item():.9f}  "
                  f"induction score {ref[f'induction.score.{l}.{h}'].item():.9f}")


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------

def check_file(kind):
    """Recompute the file from the checkpoint: byte-identical to the committed one; then other routes to the
    same numbers. Returns the file's sha256."""
    path = OUT / FILES[kind]
    blob = path.read_bytes()
    assert len(blob) < MAX_FILE_BYTES, (path, len(blob))
    check_layout(path)
    st, meta = read_safetensors(path)
    model, vocab, config, ckpt_bytes = load_checkpoint(kind)
    assert meta["checkpoint_sha256"] == hashlib.sha256(ckpt_bytes).hexdigest(), \
        f"{CHECKPOINT[kind]} changed since {FILES[kind]} was computed: rerun the script"
    offset, text = choose_text()
    assert meta["config"] == config and meta["text"] == text
    tensors, new_meta, ref = make(kind, offset, text)
    assert new_meta == meta, kind
    assert sorted(st) == sorted(tensors) and all(torch.equal(st[k], tensors[k]) for k in st), kind
    assert encode_for_sha(tensors, new_meta) == blob, f"{FILES[kind]}: not what the script writes"

    cfg = model.config
    N, T, V, R = N_WINDOWS, cfg.block_size, cfg.vocab_size, int(meta["R"])
    L, H = cfg.n_layer, cfg.n_head
    x, y = st["x"], st["y"]
    assert x.shape == (N, T) and y.shape == (N, T) and torch.equal(x[1:, 0], y[:-1, -1])
    assert torch.equal(x.reshape(-1)[1:], y.reshape(-1)[:-1])  # one stretch of text
    seq = st["induction.seq"]
    assert seq.shape == (1, 2 * R) and torch.equal(seq[0, :R], seq[0, R:]) and len(set(seq[0, :R].tolist())) == R
    mask = torch.tril(torch.ones(T, T)) == 0
    for l in range(L):
        for h in range(H):
            a = st[f"attention.{l}.{h}"]
            assert a.shape == (N, T, T) and (a[:, mask] == 0).all()
            assert (a.to(F64).sum(-1) - 1).abs().max() < 1e-6
            assert st[f"induction.attention.{l}.{h}"].shape == (1, 2 * R, 2 * R)
    for l in range(L):
        assert st[f"ablate_all.{l}"].shape == (N, T, V) and st[f"ablate_all_check.{l}"].shape == (N, T, V)

    # Other routes, in float64: a head whose value weight is 0 outputs exactly 0 (its ablation); the
    # loss is the mean of the window losses; importance by central differences of the gate.
    m = copy.deepcopy(model).to(F64)
    ce = lambda logits, targets: F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))  # noqa: E731
    with torch.no_grad():
        base = ce(m(x)[0], y)
        assert abs(base.item() - ref["loss"].item()) < 1e-12
        per_window = torch.stack([ce(m(x[w:w + 1])[0], y[w:w + 1]) for w in range(N)])
        assert abs(per_window.mean().item() - base.item()) < 1e-12
        for l in range(L):
            for h in range(H):
                mv = copy.deepcopy(m)
                mv.blocks[l].sa.heads[h].value.weight.zero_()
                d = ce(mv(x)[0], y) - base
                assert abs(d.item() - ref[f"ablation.{l}.{h}"].item()) < 1e-12, (kind, l, h)
        eps = 1e-5
        with Instrument(kind, m) as ins:
            for l in range(L):
                for h in range(H):
                    acc = 0.0
                    for w in range(N):
                        gp, gm = torch.ones(L, H, dtype=F64), torch.ones(L, H, dtype=F64)
                        gp[l, h] += eps
                        gm[l, h] -= eps
                        lp = ce(ins.run(x[w:w + 1], gp)[0], y[w:w + 1])
                        lm = ce(ins.run(x[w:w + 1], gm)[0], y[w:w + 1])
                        acc += abs((lp - lm).item() / (2 * eps))
                    fd = acc / N
                    assert abs(fd - ref[f"importance.{l}.{h}"].item()) < 1e-7, (kind, l, h, fd)
    # float32 PyTorch, not instrumented beyond the hooks, lands within 1e-5 on the attention and logits
    f32, _ = compute(kind, model, x, y, seq, R, F32)
    for k in st:
        if k.startswith(("attention.", "induction.attention.", "ablate_all", "loss")):
            assert rel_err(st[k], f32[k]) < 1e-5, (kind, k)
    print(f"{FILES[kind]}: byte-identical to a recomputation from {CHECKPOINT[kind]}; ablation = zeroed value "
          f"weight, importance = central differences, loss = mean of the window losses; float32 within 1e-5")
    return hashlib.sha256(blob).hexdigest()


def check_all():
    shas = {kind: check_file(kind) for kind in FILES}
    print("\nsha256:")
    for kind, f in FILES.items():
        print(f"  {shas[kind][:16]}  {(OUT / f).stat().st_size:8d}  {f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only recompute and check the existing heads fixtures")
    args = ap.parse_args()
    if args.check:
        check_all()
        return

    offset, text = choose_text()
    print(f"text: CKPT_TEXT[{offset}:{offset + len(text)}] = {text!r}")
    for kind, fname in FILES.items():
        tensors, meta, ref = make(kind, offset, text)
        n = write_safetensors(OUT / fname, tensors, meta)
        print(f"wrote {fname}: {len(tensors)} tensors, {n} bytes")
        summarize(kind, ref)
        print(f"    relu min|in| (windows, every head on) {meta['relu_min']}; induction.seq "
              f"{tensors['induction.seq'][0].tolist()}; attention with the other model's scale differs by "
              f"{meta['other_scale_attention_rel_diff']}")

    print("\nfloat32-torch vs reference disagreement per key pattern "
          "(worst tensor: max|ref - f32| / max|ref|, and max|ref - f32|):")
    for kind, agree in AGREEMENT.items():
        for p, (name, rel, ab) in sorted(agree.items()):
            print(f"  {kind:7s} {p:28s} rel {rel:.2e}  abs {ab:.2e}  ({name})")
    print()
    check_all()


if __name__ == "__main__":
    main()
