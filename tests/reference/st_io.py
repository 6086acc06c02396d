"""Minimal safetensors writer and reader (no `safetensors` package needed).

Used by tests/reference/make_fixtures.py and by the README snippet that loads
an xgrad checkpoint into the lecture's PyTorch model. Needs only the standard
library and torch.

File layout (the safetensors format, restricted to what xgrad uses):

    [8 bytes]  N = header length, unsigned 64-bit little-endian
    [N bytes]  UTF-8 JSON header, right-padded with spaces (0x20) so that
               8 + N is a multiple of 8:
                 {"__metadata__": {"key": "value", ...},        (optional)
                  "<name>": {"dtype": "F32" | "I64",
                             "shape": [d0, d1, ...],            ([] = scalar)
                             "data_offsets": [begin, end]}, ...}
               Offsets are in bytes, relative to the first byte after the
               header. Metadata values are strings.
    [data]     raw little-endian, row-major (C-order) tensor data.

This writer lays the tensors out back to back, with no gaps, in sorted-name
order (byte-wise on the UTF-8 names, i.e. std::string operator<), and writes
the header keys in that same order, "__metadata__" first. Non-ASCII text in
the header is written as raw UTF-8 (like the Rust safetensors library);
control characters are JSON-escaped (\\t, \\n, ...).
"""

import json
import struct
import sys

import torch

_DTYPE_TO_TORCH = {
    "F32": torch.float32,
    "F64": torch.float64,
    "I64": torch.int64,
    "I32": torch.int32,
}
_ITEMSIZE = {"F32": 4, "F64": 8, "I64": 8, "I32": 4}
# The writer deliberately accepts only these two: fixtures are float32 with
# int64 index tensors, nothing else.
_WRITE_DTYPES = {torch.float32: "F32", torch.int64: "I64"}


def _check_little_endian():
    if sys.byteorder != "little":
        raise RuntimeError("st_io: only little-endian hosts are supported")


def encode_header(header):
    """JSON-encode a header dict and pad it with spaces to a multiple of 8."""
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":"))
    raw = text.encode("utf-8")
    raw += b" " * ((-len(raw)) % 8)
    return raw


def write_safetensors(path, tensors, metadata=None):
    """Write a dict name -> torch.Tensor (float32 or int64) to `path`.

    `metadata` is an optional dict str -> str, stored under "__metadata__".
    Returns the number of bytes written.
    """
    _check_little_endian()
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"st_io: metadata must be str -> str, got {k!r}: {type(v).__name__}")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name in sorted(tensors, key=lambda s: s.encode("utf-8")):
        if name == "__metadata__":
            raise ValueError("st_io: '__metadata__' is not a valid tensor name")
        t = tensors[name]
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"st_io: {name}: expected a torch.Tensor, got {type(t).__name__}")
        if t.dtype not in _WRITE_DTYPES:
            raise TypeError(f"st_io: {name}: dtype {t.dtype} not allowed (float32 or int64 only)")
        t = t.detach().to("cpu").contiguous()
        data = t.numpy().tobytes(order="C")
        assert len(data) == t.numel() * t.element_size()
        header[name] = {
            "dtype": _WRITE_DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    raw = encode_header(header)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)
    return 8 + len(raw) + offset


def read_safetensors(path):
    """Read a safetensors file. Returns (tensors, metadata).

    tensors: dict name -> torch.Tensor (a fresh, writable copy), in file
    header order; metadata: dict str -> str ({} if there is none).
    Checks that the offsets are in bounds, match dtype x shape, and tile the
    data section without gaps or overlaps.
    """
    _check_little_endian()
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: too short for a safetensors file ({len(blob)} bytes)")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise ValueError(f"{path}: header length {n} exceeds file size {len(blob)}")
    header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    data = memoryview(blob)[8 + n :]
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    spans = []
    for name, info in header.items():
        dtype = info["dtype"]
        if dtype not in _DTYPE_TO_TORCH:
            raise ValueError(f"{path}: {name}: unsupported dtype {dtype}")
        shape = [int(d) for d in info["shape"]]
        begin, end = (int(v) for v in info["data_offsets"])
        numel = 1
        for d in shape:
            numel *= d
        if not (0 <= begin <= end <= len(data)):
            raise ValueError(f"{path}: {name}: data_offsets {begin},{end} out of range {len(data)}")
        if end - begin != numel * _ITEMSIZE[dtype]:
            raise ValueError(f"{path}: {name}: {end - begin} bytes for shape {shape} {dtype}")
        spans.append((begin, end, name))
        buf = bytearray(data[begin:end])
        if numel == 0:
            t = torch.empty(shape, dtype=_DTYPE_TO_TORCH[dtype])
        else:
            t = torch.frombuffer(buf, dtype=_DTYPE_TO_TORCH[dtype]).reshape(shape)
        tensors[name] = t
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            raise ValueError(f"{path}: {name}: gap or overlap at byte {pos} (starts at {begin})")
        pos = end
    if pos != len(data):
        raise ValueError(f"{path}: {len(data) - pos} trailing bytes after the last tensor")
    return tensors, metadata
