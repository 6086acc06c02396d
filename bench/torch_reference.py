"""The lecture's model in PyTorch, timed the way bench/run.py times xgrad.

    /usr/bin/python3 bench/torch_reference.py train --data input.txt --batch-size 16 --block-size 32 \
        --n-embd 64 --n-head 4 --n-layer 4 --dropout 0.0 --warmup 5 --iters 30
    /usr/bin/python3 bench/torch_reference.py sample --data input.txt --checkpoint ck.safetensors --tokens 500

The classes are imported from tests/reference/lecture_model.py (the lecture's
gpt.py, class for class), not copied. `train` runs the lecture's training
loop (get_batch, forward, zero_grad, backward, AdamW step) for warmup + iters
steps and times every step; `sample` times the lecture's generate() (the whole
context recomputed for every token). The last line printed is one JSON object
with the timings, the thread counts in effect and the OpenBLAS kernel this
process runs.
"""

import argparse
import ctypes
import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # leave no __pycache__ in tests/reference
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))

import torch  # noqa: E402

from lecture_model import GPTConfig, GPTLanguageModel  # noqa: E402


def openblas_library():
    """The libopenblas this process has mapped (torch links it through libblas.so.3), or None."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "libopenblas" in os.path.basename(path):
                return path
    return None


def load_openblas():
    path = openblas_library()
    if path is None:
        return None, None
    lib = ctypes.CDLL(path)  # already loaded: the same handle torch uses
    lib.openblas_get_corename.restype = ctypes.c_char_p
    lib.openblas_get_config.restype = ctypes.c_char_p
    return path, lib


def set_threads(threads, blas_threads, openblas):
    """torch.set_num_threads(threads), then OpenBLAS's own count (0: leave it).

    With an OpenMP build of OpenBLAS both counts are libgomp's one per-thread
    setting, so the later call wins for both; the effective values are reported."""
    torch.set_num_threads(threads)
    if blas_threads > 0 and openblas is not None:
        openblas.openblas_set_num_threads(blas_threads)


def blas_report(path, openblas):
    if openblas is None:
        return {"openblas_path": None}
    config = openblas.openblas_get_config().decode()
    # An OpenMP build runs each call on omp_get_max_threads() of the calling thread, which is what
    # torch.get_num_threads() returns under ATen's OpenMP backend (openblas_get_num_threads() can be
    # stale: it is not updated when that count is 1).
    blas_threads = torch.get_num_threads() if "USE_OPENMP" in config else openblas.openblas_get_num_threads()
    return {
        "openblas_path": os.path.realpath(path),
        "openblas_corename": openblas.openblas_get_corename().decode(),
        "openblas_config": config,
        "openblas_threads": blas_threads,
        "torch_threads": torch.get_num_threads(),
    }


def load_text(path):
    """The lecture's data: char-level vocabulary sorted(set(text)), 90% train split."""
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    chars = sorted(list(set(text)))
    stoi = {ch: i for i, ch in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(data))  # first 90% will be train, rest val
    return chars, data[:n]


def config_from(args, vocab_size):
    return GPTConfig(vocab_size=vocab_size, block_size=args.block_size, n_embd=args.n_embd, n_head=args.n_head,
                     n_layer=args.n_layer, dropout=args.dropout)


def train(args, report):
    chars, train_data = load_text(args.data)
    config = config_from(args, len(chars))
    batch_size, block_size = args.batch_size, args.block_size

    # data loading
    def get_batch():
        ix = torch.randint(len(train_data) - block_size, (batch_size,))
        x = torch.stack([train_data[i:i + block_size] for i in ix])
        y = torch.stack([train_data[i + 1:i + block_size + 1] for i in ix])
        return x, y

    model = GPTLanguageModel(config)
    model.train()
    # create a PyTorch optimizer
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate)

    step_seconds = []
    for _ in range(args.warmup + args.iters):
        start = time.perf_counter()
        # sample a batch of data
        xb, yb = get_batch()
        # evaluate the loss
        logits, loss = model(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_value = loss.item()  # xgrad reads the loss every step too
        step_seconds.append(time.perf_counter() - start)

    measured = step_seconds[args.warmup:]
    report.update({
        "mode": "train",
        "vocab_size": config.vocab_size,
        "params": sum(p.numel() for p in model.parameters()),
        "warmup": args.warmup,
        "iters": args.iters,
        "step_seconds": step_seconds,
        "seconds_per_iter": sum(measured) / len(measured) if measured else None,
        "tokens_per_iter": batch_size * block_size,
        "final_loss": loss_value,
    })


def sample(args, report):
    if args.checkpoint:
        from st_io import read_safetensors
        tensors, meta = read_safetensors(args.checkpoint)
        config = GPTConfig(**json.loads(meta["config"]))
        model = GPTLanguageModel(config)
        model.load_state_dict(tensors, strict=True)
    else:
        chars, _ = load_text(args.data)
        model = GPTLanguageModel(config_from(args, len(chars)))
    model.eval()  # dropout off, as `xgrad sample`

    context = torch.zeros((1, 1), dtype=torch.long)
    with torch.no_grad():  # no graph, as `xgrad sample` (NoGradGuard)
        start = time.perf_counter()
        out = model.generate(context, max_new_tokens=args.tokens)
        seconds = time.perf_counter() - start
    report.update({
        "mode": "sample",
        "vocab_size": model.config.vocab_size,
        "tokens": args.tokens,
        "generated": out.shape[1] - 1,
        "seconds": seconds,
        "tokens_per_s": args.tokens / seconds if seconds > 0 else None,
    })


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["train", "sample"])
    parser.add_argument("--data", required=True, help="the text file xgrad trains on (same vocabulary)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--block-size", type=int, default=32)
    parser.add_argument("--n-embd", type=int, default=64)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=5, help="steps run but not counted")
    parser.add_argument("--iters", type=int, default=30, help="steps counted")
    parser.add_argument("--checkpoint", help="sample: load these weights (an xgrad checkpoint) instead of a fresh init")
    parser.add_argument("--tokens", type=int, default=500, help="sample: tokens to generate")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--blas-threads", type=int, default=2, help="openblas_set_num_threads after it (0: leave)")
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    path, openblas = load_openblas()
    set_threads(args.threads, args.blas_threads, openblas)
    report = {"torch_version": torch.__version__,
              "threads_asked": args.threads, "blas_threads_asked": args.blas_threads,
              "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
              "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE")}
    report.update(blas_report(path, openblas))
    if args.mode == "train":
        train(args, report)
    else:
        sample(args, report)
    report["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(report))


if __name__ == "__main__":
    main()
