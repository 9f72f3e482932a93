#!/usr/bin/python3
"""bitttt.weightfile: the safetensors layout byte by byte, round trips, bad files.

Prints TAP. numpy only (no torch): the format is checked against its
definition here (docs/TRAINING.md), not against the reader alone.
"""
import json
import os
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "reference"))
import numpy as np  # noqa: E402
import tap  # noqa: E402
from tap import check  # noqa: E402
from bitttt import weightfile as wf  # noqa: E402

TMP = tempfile.mkdtemp(prefix="bitttt-weights-")


def sample(objective="reconstruct", D=16, d=4, seed=0):
    rng = np.random.default_rng(seed)
    names = ("down", "up") + (("down_v",) if objective == "multiview" else ())
    return {n: (rng.integers(-1, 2, size=(D, d) if n == "up" else (d, D)).astype(np.int8),
                np.float32(rng.uniform(0.01, 1))) for n in names}


def path(name):
    return os.path.join(TMP, name)


def test_layout():
    t = sample("multiview")
    p = path("layout.safetensors")
    wf.write(p, t, 16, 4, "multiview", "none", True, "two sentences, voice en")
    raw = open(p, "rb").read()
    n = struct.unpack_from("<Q", raw)[0]
    check(n % 8 == 0 and 8 + n <= len(raw), "8-byte little-endian header length, data 8-aligned")
    h = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = h["__metadata__"]
    check(meta == {"format": "bitttt-weights", "format_version": "1", "hidden_dim": "16", "state_dim": "4",
                   "objective": "multiview", "feature_norm": "none", "residual": "1",
                   "training_data": "two sentences, voice en"}, "metadata as specified", repr(meta))
    data = raw[8 + n:]
    ok = True
    for name, (w, s) in t.items():
        e, es = h[name], h[name + "_scale"]
        ok &= e["dtype"] == "I8" and e["shape"] == list(w.shape) and es["dtype"] == "F32" and es["shape"] == [1]
        a, b = e["data_offsets"]
        ok &= data[a:b] == w.tobytes()  # row-major int8
        a, b = es["data_offsets"]
        ok &= struct.unpack("<f", data[a:b])[0] == float(s)
    check(ok, "tensors: I8 row-major and F32 scales at their data_offsets")
    check(h["down"]["shape"] == [4, 16] and h["up"]["shape"] == [16, 4], "down is d x D, up is D x d")


def test_round_trip():
    for obj in ("reconstruct", "multiview", "next"):
        t = sample(obj, 64, 16, 3)
        p = path(obj + ".safetensors")
        wf.write(p, t, 64, 16, obj, "auto", False, "unicode: \u00e9t\u00e9")
        r = wf.read(p)
        same = set(r["tensors"]) == set(t) and all(
            np.array_equal(r["tensors"][k][0], t[k][0]) and r["tensors"][k][1] == t[k][1] for k in t)
        check(same and r["metadata"]["training_data"] == "unicode: \u00e9t\u00e9"
              and (r["hidden_dim"], r["state_dim"]) == (64, 16), "%s: write then read gives the same" % obj)


def expect_bad(name, raw, what):
    p = path(name)
    with open(p, "wb") as f:
        f.write(raw)
    try:
        wf.read(p)
        check(False, "%s: refused" % name)
    except wf.WeightFileError as e:
        check(what in str(e), "%s: refused (%s)" % (name, e), "expected %r in the message" % what)


def rewrite(header_fn=None, data_fn=None):
    """A valid file with its header and data changed."""
    p = path("base.safetensors")
    wf.write(p, sample(), 16, 4)
    raw = open(p, "rb").read()
    n = struct.unpack_from("<Q", raw)[0]
    h = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    if header_fn:
        header_fn(h)
    if data_fn:
        data = data_fn(data, h)
    text = json.dumps(h).encode()
    return struct.pack("<Q", len(text)) + text + data


def test_bad_files():
    expect_bad("empty", b"", "truncated")
    expect_bad("huge-header", struct.pack("<Q", 1 << 40) + b"{}", "larger")
    expect_bad("short-header", struct.pack("<Q", 100) + b"{}", "truncated header")
    expect_bad("not-json", struct.pack("<Q", 4) + b"{{{{", "not JSON")
    good = rewrite()
    expect_bad("truncated-data", good[:-3], "truncated")
    expect_bad("wrong-shape", rewrite(lambda h: h["down"].update(shape=[16, 4])), "expected I8 [4, 16]")
    expect_bad("wrong-dtype", rewrite(lambda h: h["up"].update(dtype="F32")), "expected I8")
    expect_bad("no-up", rewrite(lambda h: h.pop("up")), "tensor up missing")

    def poke(off_name, value):
        def f(data, h):
            a = h[off_name]["data_offsets"][0]
            return data[:a] + value + data[a + len(value):]
        return f
    expect_bad("non-ternary", rewrite(data_fn=poke("down", b"\x02")), "outside {-1, 0, 1}")
    expect_bad("nan-scale", rewrite(data_fn=poke("up_scale", struct.pack("<f", float("nan")))), "not finite")
    expect_bad("negative-scale", rewrite(data_fn=poke("down_scale", struct.pack("<f", -1.0))), "> 0")
    expect_bad("zero-scale", rewrite(data_fn=poke("down_scale", struct.pack("<f", 0.0))), "> 0")
    expect_bad("bad-offsets", rewrite(lambda h: h["down"].update(data_offsets=[0, 3])), "data_offsets")
    expect_bad("format", rewrite(lambda h: h["__metadata__"].update(format="other")), "format")
    expect_bad("version", rewrite(lambda h: h["__metadata__"].update(format_version="2")), "not supported")
    expect_bad("dim", rewrite(lambda h: h["__metadata__"].update(hidden_dim="-16")), "decimal")
    expect_bad("objective", rewrite(lambda h: h["__metadata__"].update(objective="x")), "objective")
    expect_bad("residual", rewrite(lambda h: h["__metadata__"].update(residual="1")), "needs objective")
    expect_bad("multiview-no-down_v", rewrite(lambda h: h["__metadata__"].update(objective="multiview")),
               "tensor down_v missing")
    expect_bad("meta-not-strings", rewrite(lambda h: h["__metadata__"].update(hidden_dim=16)), "strings")
    for what, t, err in (("non-ternary", {"down": (np.full((4, 16), 3, np.int8), 1.0)}, "outside"),
                         ("nan scale", {"down": (np.zeros((4, 16), np.int8), float("nan"))}, "finite"),
                         ("shape", {"down": (np.zeros((16, 4), np.int8), 1.0)}, "shape")):
        t = dict(sample(), **t)
        try:
            wf.write(path("w.safetensors"), t, 16, 4)
            check(False, "writer refuses %s" % what)
        except wf.WeightFileError as e:
            check(err in str(e), "writer refuses %s (%s)" % (what, e))


if __name__ == "__main__":
    sys.exit(tap.run("bitttt.weightfile", [test_layout, test_round_trip, test_bad_files]))
