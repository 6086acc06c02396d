#!/usr/bin/python3
"""Generate the PyTorch reference fixtures of the blog's model (blog_model.py) for xgrad's C++ tests.

Run with Debian's python (it has torch 1.13), from anywhere:

    /usr/bin/python3 tests/reference/make_blog_fixtures.py           # write + check
    /usr/bin/python3 tests/reference/make_blog_fixtures.py --check   # only check
    /usr/bin/python3 tests/reference/make_blog_fixtures.py --xgrad-checkpoint PATH
        # load a blog checkpoint written by xgrad into blog_model.GPT (strict) and print its loss

Writes tests/reference/fixtures/blog_*, except fixtures/blog_xgrad_checkpoint.safetensors: that one was
written by xgrad and is read here (the xgrad -> PyTorch direction, blog_xgrad_checkpoint_expected). The
lecture's fixtures (make_fixtures.py) are not touched; this script imports its helpers (float64-to-float32
rounding, error measure, layout check, the checkpoints' texts). The README.md beside this file is the
contract (names, shapes, meaning).

As in make_fixtures.py: reference values are computed in float64 from the stored float32 inputs / weights
and rounded to float32 once, at the end; the same computation in plain float32 torch gives the printed
disagreement, a guide for the C++ tolerances.
"""

import argparse
import copy
import dataclasses
import hashlib
import json
import math
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn as nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from blog_model import BLOG_CONFIG, GPT, Block, BlogConfig, FeedForward, Head, MultiHeadAttention  # noqa: E402
from make_fixtures import (  # noqa: E402  (importing it runs nothing but torch.set_num_threads(1))
    CKPT_TEXT,
    CKPT_VOCAB,
    MAX_ATTEMPTS,
    RELU_MARGIN,
    XGRAD_CKPT_TEXT,
    check_layout,
    ref32,
    reinit_module,
    rel_err,
    state_f32,
)
from st_io import read_safetensors, write_safetensors  # noqa: E402

OUT = HERE / "fixtures"
GENERATOR = "tests/reference/make_blog_fixtures.py"
MAX_TOTAL_BYTES = 500_000  # the blog_* files together

F32 = torch.float32
F64 = torch.float64
I64 = torch.int64

# One base seed per group, 10 above the lecture groups' (make_fixtures.py: modules 2, gpt_small 3, ...).
SEED_MODULES = 12
SEED_GPT = 13  # also blog_adamw (same model, same batch)
SEED_INIT_STATS = 15
SEED_CHECKPOINT = 16

# The fixtures' config: head_size 4 != n_embd 16, so the blog's scale 16**-0.5 = 0.25 differs from the
# lecture's 4**-0.5 = 0.5.
BLOG_SMALL_CFG = BlogConfig(vocab_size=11, block_size=8, n_embd=16, n_head=4, n_layer=2, dropout=0.0)
# The checkpoint's: the lecture checkpoint's text and vocab (13 characters), 2 heads of size 8, dropout 0.1.
BLOG_CKPT_CFG = BlogConfig(vocab_size=13, block_size=8, n_embd=16, n_head=2, n_layer=2, dropout=0.1)

DEFAULT_INIT = ("PyTorch's default initialisation (blog_model.GPT has no _init_weights): nn.Linear weight and bias "
                "uniform(-1/sqrt(in_features), 1/sqrt(in_features)), nn.Embedding weight normal(0, 1), "
                "nn.LayerNorm weight 1, bias 0")
FILES = {
    "modules": "blog_modules.safetensors",
    "gpt": "blog_gpt.safetensors",
    "adamw": "blog_adamw.safetensors",
    "init_stats": "blog_init_stats.json",
    "checkpoint": "blog_torch_checkpoint.safetensors",
    "expected": "blog_torch_checkpoint_expected.safetensors",
    # written by xgrad (see the README for the command), read here, never written: an input
    "xgrad_checkpoint": "blog_xgrad_checkpoint.safetensors",
    "xgrad_expected": "blog_xgrad_checkpoint_expected.safetensors",
}

AGREEMENT = {}  # group -> (tensor name, worst float32-torch vs reference relative error)


def note_agreement(group, name, err):
    if group not in AGREEMENT or err > AGREEMENT[group][1]:
        AGREEMENT[group] = (name, err)


def base_meta(group, seed, **extra):
    m = {
        "generator": GENERATOR,
        "torch_version": torch.__version__,
        "group": group,
        "seed": str(seed),
        "reference": "computed in float64 from the stored float32 values, rounded to float32",
    }
    m.update({k: str(v) for k, v in extra.items()})
    return m


class Probe:
    """Forward hooks: min |input| of every ReLU, how far each blog Head's attention is from uniform."""

    def __init__(self, model):
        self.relu_min = float("inf")
        self.attn = []  # per Head call: (mean over rows t >= 1 of max_j wei[t, j] - 1/(t+1), largest weight)
        self.handles = []
        for m in model.modules():
            if isinstance(m, nn.ReLU):
                self.handles.append(m.register_forward_hook(self._relu))
            if isinstance(m, Head):
                self.handles.append(m.register_forward_hook(self._head))

    def _relu(self, mod, inp, out):
        self.relu_min = min(self.relu_min, inp[0].detach().abs().min().item())

    def _head(self, mod, inp, out):
        x = inp[0].detach()
        B, T, C = x.shape
        with torch.no_grad():
            wei = mod.query(x) @ mod.key(x).transpose(-2, -1) * C ** -0.5
            wei = wei.masked_fill(mod.tril[:T, :T] == 0, float("-inf")).softmax(-1)
        rows = wei[:, 1:, :].max(-1).values
        uniform = 1.0 / torch.arange(2, T + 1, dtype=wei.dtype)
        self.attn.append(((rows - uniform).mean().item(), rows.max().item()))

    def close(self):
        for h in self.handles:
            h.remove()

    def summary(self):
        text = f"relu min|in| {self.relu_min:.3g}"
        if self.attn:
            text += (f"; attention: smallest per-head mean excess of row max over uniform "
                     f"{min(a for a, _ in self.attn):.3f}, largest weight {max(b for _, b in self.attn):.3f}")
        return text


class LectureScale:
    """Within the `with`: every blog Head scales by head_size ** -0.5 (the lecture's master), not C ** -0.5.
    Used once per fixture to show that the stored values tell the two scales apart."""

    def __init__(self, model):
        self.heads = [m for m in model.modules() if isinstance(m, Head)]

    def __enter__(self):
        for h in self.heads:
            def forward(x, h=h):
                B, T, C = x.shape
                k, q = h.key(x), h.query(x)
                wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5
                wei = torch.softmax(wei.masked_fill(h.tril[:T, :T] == 0, float("-inf")), dim=-1)
                return wei @ h.value(x)
            h.forward = forward
        return self

    def __exit__(self, *exc):
        for h in self.heads:
            del h.forward


# ---------------------------------------------------------------------------
# blog_modules.safetensors: Head, MultiHeadAttention, FeedForward, Block alone
# ---------------------------------------------------------------------------

MODULE_INIT = ("after PyTorch's default init, every parameter is redrawn (as modules.safetensors): nn.Linear weight "
               "~ N(0, 0.3^2), nn.Linear bias ~ N(0, 0.1^2), nn.LayerNorm weight ~ 1 + N(0, 0.1^2), nn.LayerNorm "
               "bias ~ N(0, 0.1^2), in module.modules() order; then x = randn(2, 6, 16), then dout = randn(out.shape)")


def make_modules():
    cfg = BLOG_SMALL_CFG
    hs = cfg.n_embd // cfg.n_head
    builders = [
        ("head", lambda: Head(hs, cfg)),
        ("mha", lambda: MultiHeadAttention(cfg.n_head, hs, cfg)),
        ("ffwd", lambda: FeedForward(cfg)),
        ("block", lambda: Block(cfg)),
    ]
    tensors = {}
    meta = base_meta("blog_modules", SEED_MODULES, init=MODULE_INIT,
                     case_seed="torch.manual_seed(1200 + i + 1000 * attempt) before module i (head 0, mha 1, ffwd 2, "
                               "block 3); attempt = first of 0, 1, ... whose ReLU inputs all have |v| > 1e-4; "
                               "the seed used is in seed.<module>")
    meta["config"] = cfg.to_json()
    for i, (name, build) in enumerate(builders):
        for attempt in range(MAX_ATTEMPTS):
            seed = 100 * SEED_MODULES + i + 1000 * attempt
            torch.manual_seed(seed)
            m = build()
            reinit_module(m)
            m.eval()
            x = torch.randn(2, 6, cfg.n_embd)
            m64 = copy.deepcopy(m).to(F64)
            probe = Probe(m64)
            x64 = x.to(F64).requires_grad_()
            out = m64(x64)
            probe.close()
            if probe.relu_min > RELU_MARGIN:
                break
        else:
            raise RuntimeError(f"blog_modules/{name}: no seed keeps ReLU inputs away from 0")
        dout = torch.randn(out.shape)
        pnames = [k for k, _ in m64.named_parameters()]
        grads = torch.autograd.grad(out, [x64] + [p for _, p in m64.named_parameters()], dout.to(F64))

        x32 = x.clone().requires_grad_()
        out32 = m(x32)
        grads32 = torch.autograd.grad(out32, [x32] + list(m.parameters()), dout)
        err = rel_err(out, out32)
        for g, g32 in zip(grads, grads32):
            err = max(err, rel_err(g, g32))
        note_agreement("blog_modules", name, err)
        scale_note = ""
        if name != "ffwd":
            with torch.no_grad(), LectureScale(m64):
                scale_note = f"; out with the lecture's scale differs by {rel_err(out, m64(x.to(F64))):.3g}"
        print(f"  blog_modules/{name}: seed {seed}; {probe.summary()}{scale_note}")

        tensors[f"{name}.x"] = x
        tensors[f"{name}.out"] = ref32(out)
        tensors[f"{name}.dout"] = dout
        tensors[f"{name}.dx"] = ref32(grads[0])
        for k, v in state_f32(m).items():
            tensors[f"{name}.param.{k}"] = v
        for k, g in zip(pnames, grads[1:]):
            tensors[f"{name}.grad.{k}"] = ref32(g)
        meta[f"probe.{name}"] = probe.summary() + scale_note
        meta[f"seed.{name}"] = str(seed)
    return tensors, meta


# ---------------------------------------------------------------------------
# blog_gpt.safetensors, blog_adamw.safetensors
# ---------------------------------------------------------------------------

def build_gpt(seed):
    """The blog_gpt model (float32, PyTorch's default init) and its batch; deterministic."""
    torch.manual_seed(seed)
    model = GPT(BLOG_SMALL_CFG)
    B, T, V = 3, BLOG_SMALL_CFG.block_size, BLOG_SMALL_CFG.vocab_size
    idx = torch.randint(0, V, (B, T))
    targets = torch.randint(0, V, (B, T))
    return model, idx, targets


def forward_backward(model, idx, targets, dtype):
    """logits (B,T,V), loss, {parameter name: grad}, probe, for a copy of `model` in `dtype`."""
    m = copy.deepcopy(model).to(dtype)
    probe = Probe(m)
    logits, loss = m(idx, targets)
    probe.close()
    loss.backward()
    B, T = idx.shape
    grads = {k: p.grad.detach().clone() for k, p in m.named_parameters()}
    return logits.detach().view(B, T, -1), loss.detach(), grads, probe


def compare_model_outputs(group, ref, f32):
    note_agreement(group, "logits/loss", max(rel_err(ref[0], f32[0]), rel_err(ref[1], f32[1])))
    for k in ref[2]:
        note_agreement(group, f"grad.{k}", rel_err(ref[2][k], f32[2][k]))


def lecture_scale_difference(model, idx, targets, ref_logits):
    """How far the logits move if the Heads scaled by head_size instead (the C++ must not pass with that)."""
    m = copy.deepcopy(model).to(F64)
    with torch.no_grad(), LectureScale(m):
        logits, _ = m(idx, targets)
    return rel_err(ref_logits, logits.view(ref_logits.shape))


def adamw_run(model, idx, targets, dtype, steps=3):
    """Three AdamW steps (lr 1e-2, defaults otherwise) on a copy of `model` in `dtype`, in eval mode:
    (losses, parameter snapshots, min |ReLU input| over the three forward passes)."""
    m = copy.deepcopy(model).to(dtype)
    m.eval()
    probe = Probe(m)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    losses, snaps = [], []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        _, loss = m(idx, targets)
        losses.append(loss.detach().clone())
        loss.backward()
        opt.step()
        snaps.append({k: p.detach().clone() for k, p in m.named_parameters()})
    probe.close()
    return losses, snaps, probe.relu_min


def choose_gpt_seed():
    """First seed SEED_GPT + 1000 * attempt whose forward pass, and the forward passes of the three AdamW
    steps, keep every ReLU input at least RELU_MARGIN away from 0."""
    for attempt in range(MAX_ATTEMPTS):
        seed = SEED_GPT + 1000 * attempt
        model, idx, targets = build_gpt(seed)
        model.eval()
        relu_min = min(forward_backward(model, idx, targets, F64)[3].relu_min,
                       adamw_run(model, idx, targets, F64)[2])
        if relu_min > RELU_MARGIN:
            return seed
    raise RuntimeError("blog_gpt: no seed keeps ReLU inputs away from 0")


def make_gpt(seed):
    model, idx, targets = build_gpt(seed)
    model.eval()
    ref = forward_backward(model, idx, targets, F64)
    compare_model_outputs("blog_gpt", ref, forward_backward(model, idx, targets, F32))
    logits, loss, grads, probe = ref
    scale_diff = lecture_scale_difference(model, idx, targets, logits)
    print(f"  blog_gpt: seed {seed}; loss {loss.item():.6f}; {probe.summary()}; "
          f"logits with the lecture's scale differ by {scale_diff:.3g}")

    tensors = {f"param.{k}": v for k, v in state_f32(model).items()}
    tensors["idx"] = idx
    tensors["targets"] = targets
    tensors["logits"] = ref32(logits)
    tensors["loss"] = ref32(loss)
    for k, g in grads.items():
        tensors[f"grad.{k}"] = ref32(g)
    meta = base_meta("blog_gpt", seed, init=DEFAULT_INIT, mode="model.eval() (dropout is 0 anyway)",
                     probe=probe.summary(), lecture_scale_logits_rel_diff=f"{scale_diff:.3g}",
                     batch="torch.manual_seed(seed); model = GPT(config); idx = randint(0, 11, (3, 8)); "
                           "targets = randint(0, 11, (3, 8))")
    meta["config"] = BLOG_SMALL_CFG.to_json()
    return tensors, meta


def make_adamw(seed, gpt_tensors):
    model, idx, targets = build_gpt(seed)
    for k, v in model.state_dict().items():  # same initial weights as blog_gpt
        assert torch.equal(v, gpt_tensors[f"param.{k}"]), k
    assert torch.equal(idx, gpt_tensors["idx"]) and torch.equal(targets, gpt_tensors["targets"])
    losses, snaps, _ = adamw_run(model, idx, targets, F64)
    losses32, snaps32, _ = adamw_run(model, idx, targets, F32)
    for s, (a, b) in enumerate(zip(snaps, snaps32)):
        note_agreement("blog_adamw", f"loss.{s}", rel_err(losses[s], losses32[s]))
        for k in a:
            note_agreement("blog_adamw", f"step{s + 1}.{k}", rel_err(a[k], b[k]))  # relative to the parameter
    print("  blog_adamw: losses " + ", ".join(f"{l.item():.6f}" for l in losses))

    tensors = {"idx": idx, "targets": targets}
    for k, p in model.named_parameters():
        tensors[f"init.{k}"] = p.detach().clone()
    for s, l in enumerate(losses):
        tensors[f"loss.{s}"] = ref32(l)
    for s, snap in enumerate(snaps):
        for k, v in snap.items():
            tensors[f"step{s + 1}.{k}"] = ref32(v)
    meta = base_meta("blog_adamw", seed, init=DEFAULT_INIT + " (identical to blog_gpt)",
                     optimizer="torch.optim.AdamW(model.parameters(), lr=1e-2) (betas=(0.9, 0.999), eps=1e-8, "
                               "weight_decay=0.01, amsgrad=False, every parameter decayed)",
                     loop="model.eval(); for s in 0,1,2: optimizer.zero_grad(set_to_none=True); "
                          "_, loss = model(idx, targets); loss.<s> = loss; loss.backward(); optimizer.step(); "
                          "step<s+1>.<key> = parameters")
    meta["config"] = BLOG_SMALL_CFG.to_json()
    return tensors, meta


# ---------------------------------------------------------------------------
# blog_init_stats.json: PyTorch's default init of the blog model
# ---------------------------------------------------------------------------

INIT_SEEDS = 5  # draws per config


def init_kinds(model):
    """kind name -> (description dict, [(state-dict key, parameter)]), in model.named_modules() order.
    Linear weights and biases are grouped by fan-in (in_features), which sets their bound."""
    kinds = {}

    def add(kind, desc, key, p):
        kinds.setdefault(kind, (desc, []))[1].append((key, p))

    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            b = 1.0 / math.sqrt(m.in_features)
            uni = {"distribution": "uniform(-bound, bound), bound = 1/sqrt(fan_in)", "fan_in": m.in_features,
                   "bound": b, "expected_mean": 0.0, "expected_std": b / math.sqrt(3.0),
                   "expected_min": -b, "expected_max": b}
            add(f"linear_weight_fan_in_{m.in_features}", uni, f"{name}.weight", m.weight)
            if m.bias is not None:
                add(f"linear_bias_fan_in_{m.in_features}", uni, f"{name}.bias", m.bias)
        elif isinstance(m, nn.Embedding):
            add("embedding_weight", {"distribution": "normal(0, 1)", "bound": None, "expected_mean": 0.0,
                                     "expected_std": 1.0, "expected_min": None, "expected_max": None},
                f"{name}.weight", m.weight)
        elif isinstance(m, nn.LayerNorm):
            add("layernorm_weight", {"distribution": "constant 1", "bound": None, "expected_mean": 1.0,
                                     "expected_std": 0.0, "expected_min": 1.0, "expected_max": 1.0},
                f"{name}.weight", m.weight)
            add("layernorm_bias", {"distribution": "constant 0", "bound": None, "expected_mean": 0.0,
                                   "expected_std": 0.0, "expected_min": 0.0, "expected_max": 0.0},
                f"{name}.bias", m.bias)
    return kinds


def expected_standard_errors(desc, n):
    """Standard deviation, over draws, of one draw's mean and population std of n i.i.d. elements."""
    if desc["distribution"].startswith("uniform"):
        b = desc["bound"]
        return b / math.sqrt(3.0 * n), b / math.sqrt(15.0 * n)  # var(x) = b^2/3; var(s) ~ (m4 - s^4)/(4 s^2 n)
    if desc["distribution"].startswith("normal"):
        return 1.0 / math.sqrt(n), 1.0 / math.sqrt(2.0 * n)
    return 0.0, 0.0


def flat_stats(flat):
    mean = flat.mean().item()
    return {"mean": mean, "std": (flat - mean).pow(2).mean().sqrt().item(),
            "min": flat.min().item(), "max": flat.max().item()}


def make_init_stats():
    out = {
        "generator": GENERATOR,
        "torch_version": torch.__version__,
        "seed": SEED_INIT_STATS,
        "init": DEFAULT_INIT,
        "statistics": "per draw (seed), over all elements of all parameters of that kind, concatenated, in float64; "
                      "std is the population standard deviation (divide by N). mean/std/min/max: over the draws "
                      "pooled; per_seed: each draw; seed_sd_mean/seed_sd_std: the spread (population std) of the "
                      "per-draw mean/std over the draws; expected_se_mean/expected_se_std: the theoretical spread "
                      "of one draw's mean/std",
        "configs": {},
    }
    expected_counts = {"blog": 112193, "small": 6987}
    for i, (cname, cfg) in enumerate([("blog", BLOG_CONFIG), ("small", BLOG_SMALL_CFG)]):
        seeds = [SEED_INIT_STATS * 100 + 10 * i + d for d in range(INIT_SEEDS)]
        draws = []  # per seed: kind -> flat float64 values
        for seed in seeds:
            torch.manual_seed(seed)
            model = GPT(cfg)
            count = sum(p.numel() for p in model.parameters())
            assert count == expected_counts[cname], (cname, count)
            kinds = init_kinds(model)
            assert sum(sum(p.numel() for _, p in ps) for _, ps in kinds.values()) == count
            draws.append({k: torch.cat([p.detach().reshape(-1).to(F64) for _, p in ps]) for k, (_, ps) in kinds.items()})
        result = {}
        for kind, (desc, params) in kinds.items():
            per_seed = [dict(seed=s, **flat_stats(d[kind])) for s, d in zip(seeds, draws)]
            pooled = flat_stats(torch.cat([d[kind] for d in draws]))
            n = draws[0][kind].numel()
            se_mean, se_std = expected_standard_errors(desc, n)
            spread = lambda f: float(torch.tensor([p[f] for p in per_seed], dtype=F64).std(unbiased=False))  # noqa: E731
            result[kind] = {**desc, "numel": n, "tensors": len(params), "keys": [k for k, _ in params],
                            **pooled, "seed_sd_mean": spread("mean"), "seed_sd_std": spread("std"),
                            "expected_se_mean": se_mean, "expected_se_std": se_std, "per_seed": per_seed}
        out["configs"][cname] = {"config": json.loads(cfg.to_json()), "param_count": count, "seeds": seeds,
                                 "kinds": result}
        summary = ", ".join(f"{k} std {v['std']:.5f} (expected {v['expected_std']:.5f})" for k, v in result.items()
                            if v["expected_std"] > 0)
        print(f"  blog_init_stats/{cname}: {count} parameters; {summary}")
    return out


# ---------------------------------------------------------------------------
# blog_torch_checkpoint*.safetensors, and loading a blog checkpoint that xgrad wrote
# ---------------------------------------------------------------------------

def make_checkpoint():
    cfg = BLOG_CKPT_CFG
    assert "".join(sorted(set(CKPT_TEXT))) == CKPT_VOCAB and len(CKPT_VOCAB) == cfg.vocab_size
    stoi = {ch: i for i, ch in enumerate(CKPT_VOCAB)}
    data = torch.tensor([stoi[c] for c in CKPT_TEXT], dtype=I64)
    T = cfg.block_size
    for attempt in range(MAX_ATTEMPTS):  # a new seed each attempt: a fresh model and batch
        seed = SEED_CHECKPOINT + 1000 * attempt
        torch.manual_seed(seed)
        model = GPT(cfg)
        starts = torch.randint(len(data) - T, (2,))
        x = torch.stack([data[s:s + T] for s in starts])
        y = torch.stack([data[s + 1:s + T + 1] for s in starts])
        model.eval()  # dropout off
        ref = forward_backward(model, x, y, F64)
        if ref[3].relu_min > RELU_MARGIN:
            break
    else:
        raise RuntimeError("blog_torch_checkpoint: no seed keeps ReLU inputs away from 0")
    compare_model_outputs("blog_torch_checkpoint", ref, forward_backward(model, x, y, F32))
    logits, loss, grads, probe = ref
    scale_diff = lecture_scale_difference(model, x, y, logits)
    print(f"  blog_torch_checkpoint: seed {seed}; starts {starts.tolist()}; loss {loss.item():.6f}; "
          f"{probe.summary()}; logits with the lecture's scale differ by {scale_diff:.3g}")

    ckpt = state_f32(model)
    ckpt_meta = {"config": cfg.to_json(), "vocab": CKPT_VOCAB, "model": "blog"}
    ckpt_sha = hashlib.sha256(encode_for_sha(ckpt, ckpt_meta)).hexdigest()
    expected = {"x": x, "y": y, "logits": ref32(logits), "loss": ref32(loss)}
    for k, g in grads.items():
        expected[f"grad.{k}"] = ref32(g)
    expected_meta = base_meta("blog_torch_checkpoint", seed, mode="model.eval() (dropout off)", init=DEFAULT_INIT,
                              text=CKPT_TEXT, starts=json.dumps(starts.tolist()),
                              batch="x[b] = encode(text)[s:s+8], y[b] = encode(text)[s+1:s+9] for s = starts[b]",
                              checkpoint=FILES["checkpoint"], checkpoint_sha256=ckpt_sha, probe=probe.summary(),
                              lecture_scale_logits_rel_diff=f"{scale_diff:.3g}")
    expected_meta["config"] = cfg.to_json()
    return [(FILES["checkpoint"], ckpt, ckpt_meta), (FILES["expected"], expected, expected_meta)]


def encode_for_sha(tensors, meta):
    """The bytes write_safetensors writes for (tensors, meta) (written to a temporary directory, then read)."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d) / "checkpoint.safetensors"
        write_safetensors(tmp, tensors, meta)
        return tmp.read_bytes()


def load_blog_checkpoint(path):
    """An xgrad checkpoint of the blog model (metadata model "blog", config, vocab) loaded into blog_model.GPT
    with load_state_dict(strict=True), in eval mode. Returns (model, vocab, config)."""
    tensors, meta = read_safetensors(path)
    for key in ("config", "vocab"):
        if key not in meta:
            raise SystemExit(f"{path}: no '{key}' in the metadata: not an xgrad checkpoint")
    if meta.get("model") != "blog":
        raise SystemExit(f"{path}: metadata 'model' is {meta.get('model')!r}, not 'blog'")
    keys = sorted(json.loads(meta["config"]))  # any order (xgrad writes them sorted), but exactly these
    fields = sorted(f.name for f in dataclasses.fields(BlogConfig))
    if keys != fields:
        raise SystemExit(f"{path}: metadata 'config' has the keys {keys}, not {fields}")
    config = BlogConfig.from_json(meta["config"])
    model = GPT(config)
    model.load_state_dict(tensors, strict=True)  # every key, tril buffers included
    model.eval()  # dropout off
    vocab = meta["vocab"]
    assert len(vocab) == config.vocab_size, (len(vocab), config.vocab_size)
    return model, vocab, config


XGRAD_LOADED = ("make_blog_fixtures.load_blog_checkpoint: metadata model \"blog\", config keys in any order, "
                "GPT(config).load_state_dict(tensors, strict=True), model.eval()")


def compute_xgrad_expected():
    """blog_xgrad_checkpoint_expected from the checkpoint xgrad wrote: the checkpoint loaded into blog_model.GPT
    by load_blog_checkpoint (strict), in eval mode; a batch of two windows of make_fixtures.XGRAD_CKPT_TEXT (the
    text of xgrad_checkpoint_expected) encoded with the checkpoint's vocab, at the first starts
    [3a, (len - T - 1) // 2 + 3a], a = 0, 1, ..., whose ReLU inputs all stay RELU_MARGIN away from 0 (as
    make_fixtures.make_xgrad_checkpoint_expected picks them). Deterministic: draws nothing.
    Returns (tensors, meta, float64 outputs, float32 outputs)."""
    path = OUT / FILES["xgrad_checkpoint"]
    _, ck_meta = read_safetensors(path)
    model, vocab, cfg = load_blog_checkpoint(path)
    missing = sorted(set(XGRAD_CKPT_TEXT) - set(vocab))
    assert not missing, f"{path.name}: the vocab lacks {missing!r}"
    stoi = {ch: i for i, ch in enumerate(vocab)}
    data = torch.tensor([stoi[c] for c in XGRAD_CKPT_TEXT], dtype=I64)
    T = cfg.block_size
    found = None
    for attempt in range(MAX_ATTEMPTS):  # the pair of starts moves right by 3 each attempt
        starts = [3 * attempt, (len(data) - T - 1) // 2 + 3 * attempt]
        if starts[1] + T + 1 > len(data):
            break
        x = torch.stack([data[s:s + T] for s in starts])
        y = torch.stack([data[s + 1:s + T + 1] for s in starts])
        ref = forward_backward(model, x, y, F64)
        if ref[3].relu_min > RELU_MARGIN:
            found = (starts, x, y, ref)
            break
    if found is None:
        raise RuntimeError("blog_xgrad_checkpoint: no starts keep ReLU inputs away from 0")
    starts, x, y, ref = found
    f32 = forward_backward(model, x, y, F32)
    compare_model_outputs("blog_xgrad_checkpoint", ref, f32)
    logits, loss, grads, probe = ref
    scale_diff = lecture_scale_difference(model, x, y, logits)

    tensors = {"x": x, "y": y, "logits": ref32(logits), "loss": ref32(loss)}
    for k, g in grads.items():
        tensors[f"grad.{k}"] = ref32(g)
    meta = base_meta("blog_xgrad_checkpoint", "none", mode="model.eval() (dropout off)", text=XGRAD_CKPT_TEXT,
                     text_source="make_fixtures.XGRAD_CKPT_TEXT, the text of xgrad_checkpoint_expected",
                     starts=json.dumps(starts),
                     starts_rule="the first of [3a, (len(data) - T - 1) // 2 + 3a], a = 0, 1, ..., whose ReLU "
                                 "inputs all have |v| > 1e-4 (a is starts_a)",
                     starts_a=attempt,
                     batch="x[b] = encode(text)[s:s+8], y[b] = encode(text)[s+1:s+9] for s = starts[b]",
                     checkpoint=FILES["xgrad_checkpoint"],
                     checkpoint_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                     checkpoint_config=ck_meta["config"], loaded=XGRAD_LOADED, probe=probe.summary(),
                     lecture_scale_logits_rel_diff=f"{scale_diff:.3g}")
    meta["config"] = cfg.to_json()
    return tensors, meta, ref, f32


def make_xgrad_expected():
    tensors, meta, ref, _ = compute_xgrad_expected()
    print(f"  blog_xgrad_checkpoint: {meta['config']}; starts {meta['starts']}; loss {ref[1].item():.6f}; "
          f"{ref[3].summary()}; logits with the lecture's scale differ by {meta['lecture_scale_logits_rel_diff']}")
    return tensors, meta


def check_xgrad_expected():
    """blog_xgrad_checkpoint_expected: byte-identical to a recomputation from the checkpoint, and reproduced by
    float32 PyTorch with the checkpoint loaded by the --xgrad-checkpoint code path."""
    ck_path = OUT / FILES["xgrad_checkpoint"]
    exp_path = OUT / FILES["xgrad_expected"]
    exp, exp_meta = read_safetensors(exp_path)
    assert exp_meta["checkpoint_sha256"] == hashlib.sha256(ck_path.read_bytes()).hexdigest(), \
        f"{ck_path.name} changed since {exp_path.name} was computed: rerun the script"
    _, ck_meta = read_safetensors(ck_path)
    assert ck_meta["model"] == "blog" and exp_meta["checkpoint_config"] == ck_meta["config"]
    tensors, meta, ref, f32 = compute_xgrad_expected()
    assert encode_for_sha(tensors, meta) == exp_path.read_bytes(), f"{exp_path.name}: not what the script writes"
    model, vocab, cfg = load_blog_checkpoint(ck_path)
    assert not model.training and len(vocab) == cfg.vocab_size
    assert sorted(exp) == sorted(["x", "y", "logits", "loss"] + [f"grad.{k}" for k, _ in model.named_parameters()])
    assert exp["x"].shape == exp["y"].shape == (2, cfg.block_size) and exp["x"].dtype == exp["y"].dtype == I64
    assert exp["logits"].shape == (2, cfg.block_size, cfg.vocab_size) and exp["loss"].shape == ()
    logits, loss = model(exp["x"], exp["y"])
    loss.backward()
    assert rel_err(exp["logits"], logits.view(exp["logits"].shape)) < 1e-5 and rel_err(exp["loss"], loss) < 1e-5
    for k, p in model.named_parameters():
        assert exp[f"grad.{k}"].shape == p.shape and rel_err(exp[f"grad.{k}"], p.grad) < 1e-4, k
    worst = max([rel_err(ref[0], f32[0]), rel_err(ref[1], f32[1])] + [rel_err(ref[2][k], f32[2][k]) for k in ref[2]])
    print(f"{exp_path.name}: byte-identical to a recomputation from {ck_path.name} (sha256 "
          f"{exp_meta['checkpoint_sha256'][:16]}); starts {meta['starts']}; {ref[3].summary()}; "
          f"float32 load_blog_checkpoint: loss {loss.item():.6f} matches, gradients match (float32 torch "
          f"within {worst:.2e} of the reference)")


def text_batch(vocab, T, text=XGRAD_CKPT_TEXT):
    """x, y (2,T) from `text` (characters not in `vocab` dropped, repeated if shorter than 2T+2) at starts
    0 and (len - T - 1) // 2, as a get_batch would."""
    stoi = {ch: i for i, ch in enumerate(vocab)}
    data = [stoi[c] for c in text if c in stoi]
    if not data:
        data = list(range(len(vocab)))
    while len(data) < 2 * T + 2:
        data = data + data
    data = torch.tensor(data, dtype=I64)
    starts = [0, (len(data) - T - 1) // 2]
    x = torch.stack([data[s:s + T] for s in starts])
    y = torch.stack([data[s + 1:s + T + 1] for s in starts])
    return x, y, starts


def report_xgrad_checkpoint(path):
    """--xgrad-checkpoint PATH: load strictly, print the loss on a text batch and a short sample."""
    model, vocab, config = load_blog_checkpoint(path)
    x, y, starts = text_batch(vocab, config.block_size)
    with torch.no_grad():
        _, loss = model(x, y)
        torch.manual_seed(0)
        start = torch.tensor([[vocab.index("\n") if "\n" in vocab else 0]])
        sample = "".join(vocab[i] for i in model.generate(start, max_new_tokens=40)[0].tolist())
    n = sum(p.numel() for p in model.parameters())
    print(f"{path}: loaded into blog_model.GPT with load_state_dict(strict=True); config {config.to_json()}; "
          f"{n} parameters")
    print(f"  loss on the text batch (starts {starts}, eval mode): {loss.item():.6f}")
    print(f"  sample (torch.manual_seed(0), 40 tokens): {sample!r}")
    return loss.item()


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------

def check_all(written):
    total = sum((OUT / f).stat().st_size for f in FILES.values())
    print(f"total size of the blog fixtures: {total} bytes")
    assert total < MAX_TOTAL_BYTES, total

    for fname, (tensors, meta) in written.items():
        path = OUT / fname
        check_layout(path)
        got, got_meta = read_safetensors(path)
        assert got_meta == meta, fname
        assert list(got) == sorted(tensors, key=lambda s: s.encode()), fname
        for k, v in tensors.items():
            assert got[k].dtype == v.dtype and got[k].shape == v.shape and torch.equal(got[k], v), (fname, k)
            assert got[k].dtype in (F32, I64) and torch.isfinite(got[k].to(F64)).all(), (fname, k)
    print(f"re-read {len(written)} safetensors files: identical to what was written")

    # blog_modules: each module rebuilt from the file reproduces out, dx and the gradients in float32
    st, meta = read_safetensors(OUT / FILES["modules"])
    cfg = BlogConfig.from_json(meta["config"])
    hs = cfg.n_embd // cfg.n_head
    for name, m in [("head", Head(hs, cfg)), ("mha", MultiHeadAttention(cfg.n_head, hs, cfg)),
                    ("ffwd", FeedForward(cfg)), ("block", Block(cfg))]:
        pre = f"{name}.param."
        m.load_state_dict({k[len(pre):]: v for k, v in st.items() if k.startswith(pre)}, strict=True)
        m.eval()
        x = st[f"{name}.x"].clone().requires_grad_()
        out = m(x)
        out.backward(st[f"{name}.dout"])
        assert rel_err(st[f"{name}.out"], out) < 1e-5 and rel_err(st[f"{name}.dx"], x.grad) < 1e-5, name
        keys = sorted(k for k, _ in m.named_parameters())
        assert keys == sorted(k[len(f"{name}.grad."):] for k in st if k.startswith(f"{name}.grad.")), name
        for k, p in m.named_parameters():
            assert rel_err(st[f"{name}.grad.{k}"], p.grad) < 1e-5, (name, k)
    print("blog_modules: every module reloaded strictly reproduces out, dx and its gradients")

    # blog_gpt: a fresh GPT loaded strictly from param.* reproduces logits, loss and gradients
    st, meta = read_safetensors(OUT / FILES["gpt"])
    model = GPT(BlogConfig.from_json(meta["config"]))
    model.load_state_dict({k[len("param."):]: v for k, v in st.items() if k.startswith("param.")}, strict=True)
    model.eval()
    logits, loss = model(st["idx"], st["targets"])
    loss.backward()
    assert rel_err(st["logits"], logits.view(st["logits"].shape)) < 1e-5 and rel_err(st["loss"], loss) < 1e-5
    assert sorted(k for k in st if k.startswith("grad.")) == sorted(f"grad.{k}" for k, _ in model.named_parameters())
    for k, p in model.named_parameters():
        assert rel_err(st[f"grad.{k}"], p.grad) < 1e-4, k
    print(f"blog_gpt: reloaded model gives loss {loss.item():.6f} (stored {st['loss'].item():.6f}), gradients match")

    # blog_adamw: init.* are blog_gpt's parameters; the float32 run lands on the stored steps
    ad, ad_meta = read_safetensors(OUT / FILES["adamw"])
    assert ad_meta["config"] == meta["config"]
    for k, _ in model.named_parameters():
        assert torch.equal(ad[f"init.{k}"], st[f"param.{k}"]), k
    model.load_state_dict({k[len("param."):]: v for k, v in st.items() if k.startswith("param.")}, strict=True)
    losses, snaps, _ = adamw_run(model, ad["idx"], ad["targets"], F32)
    for s in range(3):
        assert rel_err(ad[f"loss.{s}"], losses[s]) < 1e-5, s
        for k, v in snaps[s].items():
            assert rel_err(ad[f"step{s + 1}.{k}"], v) < 1e-4, (s, k)
    print("blog_adamw: init equals blog_gpt; a float32 rerun matches the 3 stored steps")

    # blog_torch_checkpoint: loaded by the --xgrad-checkpoint code path, reproduces the expected file
    ck_path = OUT / FILES["checkpoint"]
    exp, exp_meta = read_safetensors(OUT / FILES["expected"])
    assert exp_meta["checkpoint_sha256"] == hashlib.sha256(ck_path.read_bytes()).hexdigest()
    _, ck_meta = read_safetensors(ck_path)
    assert list(ck_meta) == ["config", "vocab", "model"] and ck_meta["model"] == "blog"
    model, vocab, cfg = load_blog_checkpoint(ck_path)
    assert vocab == CKPT_VOCAB and not model.training
    logits, loss = model(exp["x"], exp["y"])
    loss.backward()
    assert rel_err(exp["logits"], logits.view(exp["logits"].shape)) < 1e-5 and rel_err(exp["loss"], loss) < 1e-5
    for k, p in model.named_parameters():
        assert rel_err(exp[f"grad.{k}"], p.grad) < 1e-4, k
    print(f"blog_torch_checkpoint: loaded strictly; loss {loss.item():.6f} matches, gradients match")
    report_xgrad_checkpoint(ck_path)

    # blog_xgrad_checkpoint: xgrad's file (an input) into PyTorch, reproduces blog_xgrad_checkpoint_expected
    check_xgrad_expected()

    stats = json.loads((OUT / FILES["init_stats"]).read_text(encoding="utf-8"))
    assert stats["configs"]["blog"]["param_count"] == 112193 and stats["configs"]["small"]["param_count"] == 6987
    for cname, c in stats["configs"].items():
        assert sum(k["numel"] for k in c["kinds"].values()) == c["param_count"], cname
        for kind, k in c["kinds"].items():
            if k["expected_std"] == 0:
                assert k["min"] == k["max"] == k["expected_mean"], (cname, kind)
            else:  # every draw within 6 theoretical standard errors
                for p in k["per_seed"]:
                    assert abs(p["mean"] - k["expected_mean"]) < 6 * k["expected_se_mean"], (cname, kind)
                    assert abs(p["std"] - k["expected_std"]) < 6 * k["expected_se_std"], (cname, kind)
                if k["bound"] is not None:
                    assert -k["bound"] <= k["min"] and k["max"] <= k["bound"], (cname, kind)
    print("blog_init_stats.json: parameter counts OK; every draw within 6 standard errors of the theory")


def load_written():
    """For --check alone: the files as they are, read back (compares the reader with itself + layout)."""
    return {f: read_safetensors(OUT / f) for f in FILES.values() if f.endswith(".safetensors")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only re-read and check the existing blog fixtures")
    ap.add_argument("--xgrad-checkpoint", metavar="PATH",
                    help="load a blog checkpoint that xgrad wrote into blog_model.GPT (strict) and print its loss")
    args = ap.parse_args()
    if args.xgrad_checkpoint:
        report_xgrad_checkpoint(args.xgrad_checkpoint)
        return
    if args.check:
        check_all(load_written())
        return

    OUT.mkdir(exist_ok=True)
    written = {}

    def emit(fname, tensors, meta):
        n = write_safetensors(OUT / fname, tensors, meta)
        written[fname] = (tensors, meta)
        print(f"wrote {fname}: {len(tensors)} tensors, {n} bytes")

    print("blog_modules ...")
    emit(FILES["modules"], *make_modules())
    print("blog_gpt ...")
    seed = choose_gpt_seed()
    gpt_t, gpt_m = make_gpt(seed)
    emit(FILES["gpt"], gpt_t, gpt_m)
    print("blog_adamw ...")
    emit(FILES["adamw"], *make_adamw(seed, gpt_t))
    print("blog_init_stats ...")
    text = json.dumps(make_init_stats(), indent=2) + "\n"
    (OUT / FILES["init_stats"]).write_text(text, encoding="utf-8")
    print(f"wrote {FILES['init_stats']}: {len(text.encode())} bytes")
    print("blog_torch_checkpoint ...")
    for fname, t, m in make_checkpoint():
        emit(fname, t, m)
    print("blog_xgrad_checkpoint ...")
    emit(FILES["xgrad_expected"], *make_xgrad_expected())

    print("\nworst float32-torch vs reference relative disagreement per group "
          "(max|ref - f32| / max|ref| per tensor):")
    for g, (name, err) in AGREEMENT.items():
        print(f"  {g:22s} {err:.2e}  ({name})")
    print()
    check_all(written)
    print("\nsha256:")
    for f in FILES.values():
        p = OUT / f
        print(f"  {hashlib.sha256(p.read_bytes()).hexdigest()[:16]}  {p.stat().st_size:8d}  {p.name}")


if __name__ == "__main__":
    main()
