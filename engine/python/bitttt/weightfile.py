"""Read and write Bit-TTT weight files (safetensors), numpy and the stdlib only.

Layout (docs/TRAINING.md, "The weight file"): an 8-byte little-endian u64 N,
N bytes of UTF-8 JSON header (padded with spaces), then the tensor data.
Tensors, row-major as the engine's (docs/SPEC.md, "Projections"):

    down    I8  [d, D]     values in {-1, 0, 1}
    up      I8  [D, d]
    down_v  I8  [d, D]     only for objective multiview
    down_scale, up_scale (, down_v_scale)   F32 [1], finite and > 0

"__metadata__" (strings): format "bitttt-weights", format_version "1",
hidden_dim, state_dim, objective, feature_norm, residual ("0" or "1") and
training_data (free text).

    w = read("layer.safetensors")
    w["tensors"]["down"]  -> (int8 array (d, D), float32 scale)
    w["metadata"]["objective"]
"""
import json
import math
import struct

import numpy as np

__all__ = ["write", "read", "FORMAT", "FORMAT_VERSION", "WeightFileError"]

FORMAT = "bitttt-weights"
FORMAT_VERSION = "1"
# a real header is a few hundred bytes; refuse to allocate for a hostile N
MAX_HEADER = 1 << 20
OBJECTIVES = ("reconstruct", "multiview", "next")
FEATURE_NORMS = ("l2", "none", "auto")


class WeightFileError(ValueError):
    """A weight file that is not a valid Bit-TTT weight file."""


def _names(objective):
    return ("down", "up") + (("down_v",) if objective == "multiview" else ())


def _shape(name, D, d):
    return [D, d] if name == "up" else [d, D]


def write(path, tensors, hidden_dim, state_dim, objective="reconstruct", feature_norm="auto",
          residual=False, training_data=""):
    """Write tensors {name: (int8 ternary array, scale)} and the metadata to path.

    Checks what read() checks, so a written file always reads back."""
    D, d = int(hidden_dim), int(state_dim)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "hidden_dim": str(D),
            "state_dim": str(d), "objective": objective, "feature_norm": feature_norm,
            "residual": "1" if residual else "0", "training_data": str(training_data)}
    _check_meta(meta)
    header = {"__metadata__": meta}
    blobs, offset = [], 0
    for name in _names(objective):
        t, scale = tensors[name]
        t = np.ascontiguousarray(t)
        if list(t.shape) != _shape(name, D, d):
            raise WeightFileError("%s: shape %r, expected %r" % (name, list(t.shape), _shape(name, D, d)))
        if not np.all(np.isin(t, (-1, 0, 1))):
            raise WeightFileError("%s: values outside {-1, 0, 1}" % name)
        scale = np.float32(scale)
        if not (np.isfinite(scale) and scale > 0):
            raise WeightFileError("%s: scale %r is not finite and > 0" % (name, float(scale)))
        for key, dtype, shape, data in ((name, "I8", list(t.shape), t.astype(np.int8).tobytes()),
                                        (name + "_scale", "F32", [1], scale.astype("<f4").tobytes())):
            header[key] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
            blobs.append(data)
            offset += len(data)
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data starts 8-aligned, as safetensors writers do
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def _check_meta(meta):
    def need(cond, what):
        if not cond:
            raise WeightFileError(what)
    need(isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values()),
         "__metadata__ must map names to strings")
    need(meta.get("format") == FORMAT, "format is %r, not %r" % (meta.get("format"), FORMAT))
    need(meta.get("format_version") == FORMAT_VERSION,
         "format_version %r is not supported (this reader knows %s)" % (meta.get("format_version"), FORMAT_VERSION))
    for key in ("hidden_dim", "state_dim"):
        need(meta.get(key, "").isdigit(), "%s must be a decimal integer" % key)
    D, d = int(meta["hidden_dim"]), int(meta["state_dim"])
    need(4 <= D <= 1 << 16 and D % 4 == 0, "hidden_dim %d: a multiple of 4 in [4, 65536]" % D)
    need(1 <= d <= 1 << 14, "state_dim %d: in [1, 16384]" % d)
    need(meta.get("objective") in OBJECTIVES, "objective %r unknown" % meta.get("objective"))
    need(meta.get("feature_norm") in FEATURE_NORMS, "feature_norm %r unknown" % meta.get("feature_norm"))
    need(meta.get("residual") in ("0", "1"), "residual must be \"0\" or \"1\"")
    need(meta["residual"] == "0" or meta["objective"] == "multiview", "residual needs objective multiview")
    need("training_data" in meta, "training_data missing")


def read(path):
    """Read and check a weight file: {"metadata": {...}, "tensors": {name: (int8, f32 scale)},
    "hidden_dim", "state_dim"}. Raises WeightFileError for any malformed file."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise WeightFileError("truncated: no header length")
        n = struct.unpack("<Q", head)[0]
        if n > MAX_HEADER:
            raise WeightFileError("header of %d bytes is larger than %d" % (n, MAX_HEADER))
        text = f.read(n)
        if len(text) < n:
            raise WeightFileError("truncated header")
        data = f.read()
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise WeightFileError("header is not JSON: %s" % e) from None
    if not isinstance(header, dict):
        raise WeightFileError("header is not a JSON object")
    meta = header.get("__metadata__")
    _check_meta(meta)
    D, d = int(meta["hidden_dim"]), int(meta["state_dim"])
    tensors = {}
    for name in _names(meta["objective"]):
        t = _tensor(header, data, name, "I8", _shape(name, D, d))
        if not np.all(np.isin(t, (-1, 0, 1))):
            raise WeightFileError("%s: values outside {-1, 0, 1}" % name)
        scale = _tensor(header, data, name + "_scale", "F32", [1])[0]
        if not (math.isfinite(scale) and scale > 0):
            raise WeightFileError("%s_scale %r is not finite and > 0" % (name, float(scale)))
        tensors[name] = (t, np.float32(scale))
    return {"metadata": meta, "tensors": tensors, "hidden_dim": D, "state_dim": d}


def _tensor(header, data, name, dtype, shape):
    e = header.get(name)
    if not isinstance(e, dict):
        raise WeightFileError("tensor %s missing" % name)
    if e.get("dtype") != dtype or e.get("shape") != shape:
        raise WeightFileError("%s: %s %r, expected %s %r" % (name, e.get("dtype"), e.get("shape"), dtype, shape))
    off = e.get("data_offsets")
    size = math.prod(shape) * (1 if dtype == "I8" else 4)
    if (not isinstance(off, list) or len(off) != 2 or not all(isinstance(v, int) for v in off)
            or off[0] < 0 or off[1] - off[0] != size):
        raise WeightFileError("%s: bad data_offsets %r" % (name, off))
    if off[1] > len(data):
        raise WeightFileError("truncated: %s ends at %d, the data has %d bytes" % (name, off[1], len(data)))
    raw = data[off[0]:off[1]]
    a = np.frombuffer(raw, dtype=np.int8 if dtype == "I8" else "<f4")
    return a.reshape(shape).copy() if dtype == "I8" else a.astype(np.float32)
