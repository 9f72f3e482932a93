#!/usr/bin/python3
"""Bit-TTT from Python: the memory effect, then a speed benchmark.

    /usr/bin/python3 examples/python/benchmark.py [--dim 128] [--tokens 1000] [--calls 15]

Needs numpy (Debian: python3-numpy; use /usr/bin/python3). The library is
found, in order, through:
  1. BITTTT_LIBRARY=/full/path/to/libbitttt.so.1
  2. a build tree of this checkout: <checkout>/build*/engine/libbitttt.so.1
     (e.g. after `meson setup build && ninja -C build`)
  3. the installed library (the loader path; see bitttt/__init__.py).
The bitttt module itself comes from <checkout>/engine/python, or from an
installed <prefix>/share/bitttt/python when PYTHONPATH points there.
"""
import argparse
import glob
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.normpath(os.path.join(HERE, os.pardir, os.pardir))

if not os.environ.get("BITTTT_LIBRARY"):
    built = sorted(glob.glob(os.path.join(CHECKOUT, "build*", "engine", "libbitttt.so.1")),
                   key=os.path.getmtime, reverse=True)
    if built:
        os.environ["BITTTT_LIBRARY"] = built[0]   # the most recently built tree
if os.path.isdir(os.path.join(CHECKOUT, "engine", "python", "bitttt")):
    sys.path.insert(0, os.path.join(CHECKOUT, "engine", "python"))

import numpy as np  # noqa: E402
import bitttt  # noqa: E402


def memory_check():
    """Three random vectors, sequence 0,1,2,0,1,2: a fresh layer passes the
    first token through untouched; when token 0 comes back, W has learned
    something and the output moves."""
    rng = np.random.default_rng(0)
    v = rng.standard_normal((3, 64)).astype(np.float32)
    seq = np.ascontiguousarray(v[[0, 1, 2, 0, 1, 2]])
    with bitttt.Model(64, inner_lr=0.005) as m:
        out, surprise = m.forward(seq, surprise=True)
        kernel = m.kernel
    first_same = np.array_equal(out[0], seq[0])
    d0 = float(np.max(np.abs(out[0] - seq[0])))
    d3 = float(np.max(np.abs(out[3] - seq[3])))
    print("memory effect (dim 64, inner_lr 0.005, sequence 0,1,2,0,1,2; kernel %s)" % kernel)
    print("  first output == input exactly: %s (max |out - in| = %g)" % (first_same, d0))
    print("  token 0 again: max |out - in| = %g, differs: %s" % (d3, d3 > 0))
    print("  surprise per token: %s" % " ".join("%.4g" % s for s in surprise))
    return first_same and d3 > 0


def speed(dim, tokens, calls, isa):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((tokens, dim)).astype(np.float32)
    out = np.empty_like(x)
    with bitttt.Model(dim, max_isa=isa) as m:
        m.forward(x, out=out)              # warm up: caches, page faults
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            m.forward(x, out=out)
            times.append(time.perf_counter() - t0)
        kernel = m.kernel
    med = float(np.median(times))
    print("  %-8s dim %d, %d tokens per call, median of %d calls: %.3f ms  -> %.0f tokens/s"
          % (kernel, dim, tokens, calls, med * 1e3, tokens / med))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--calls", type=int, default=15)
    args = ap.parse_args()
    print("libbitttt %s from %s, CPU ISA %s" % (bitttt.version(), bitttt.library_path, bitttt.cpu_isa()))
    ok = memory_check()
    print("speed")
    for isa in ("scalar", "auto"):
        speed(args.dim, args.tokens, args.calls, isa)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
