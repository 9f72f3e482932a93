#!/usr/bin/python3
"""Which inputs the Python binding passes to the library without a copy,
and its strict mode, which raises instead of copying (engine/python/bitttt,
module doc). Prints TAP; meson sets BITTTT_LIBRARY and PYTHONPATH.

"Without a copy" is observed through the library itself: the input's own
memory is given as both input and output (out=x), so a copy would leave x
unchanged; and through the address the model reads, compared with the
array's.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bitttt  # noqa: E402
import tap  # noqa: E402
from tap import check  # noqa: E402

D = 16


def tokens(n, seed):
    # repeated patterns, so that outputs differ from inputs once W learns
    rng = np.random.default_rng(seed)
    pat = rng.standard_normal((3, D)).astype(np.float32)
    return pat[rng.integers(0, 3, n)]


def raises(fn, words):
    try:
        fn()
    except ValueError as e:
        return all(w in str(e) for w in words)
    return False


def test_no_copy():
    x = tokens(40, 1)
    ref = bitttt.Model(D).forward(x)
    with bitttt.Model(D, strict=True) as m:
        y = x.copy()
        out = m.forward(y, out=y)
        check(out is y and np.array_equal(y, ref), "C-contiguous float32 in place, strict: no copy")
    ro = x.copy()
    ro.flags.writeable = False
    with bitttt.Model(D, strict=True) as m:
        check(np.array_equal(m.forward(ro), ref), "a read-only C-contiguous float32 goes as is")
    # a C-contiguous slice of rows is a view the library reads directly
    big = np.concatenate([x, x])
    with bitttt.Model(D, strict=True) as m:
        check(np.array_equal(m.forward(big[:40]), ref), "a contiguous row slice goes as is")


def test_copies_and_strict():
    x = tokens(40, 2)
    ref = bitttt.Model(D).forward(x)
    wide = np.zeros((40, 2 * D), np.float32)
    wide[:, ::2] = x
    cases = [
        ("float64", x.astype(np.float64), ["float64", "<f8"]),
        ("Fortran-order", np.asfortranarray(x), ["Fortran-order"]),
        ("strided columns", wide[:, ::2], ["strided"]),
        ("byte-swapped", x.astype(">f4"), [">f4"]),
        ("a list", x.tolist(), ["list"]),
    ]
    for name, a, words in cases:
        with bitttt.Model(D) as m:
            check(np.array_equal(m.forward(a), ref), "%s is converted (default)" % name)
        with bitttt.Model(D, strict=True) as m:
            check(raises(lambda: m.forward(a), words + ["strict"]),
                  "%s raises with strict=True, saying why" % name)
            check(m.stats.tokens_seen == 0, "%s: nothing ran" % name)
        with bitttt.Model(D) as m:
            check(raises(lambda: m.forward(a, strict=True), words),
                  "%s raises with strict=True per call" % name)
    # a copy means out=x cannot process x in place: the converted input is
    # a new array, and x keeps its values
    f = np.asfortranarray(x)
    with bitttt.Model(D) as m:
        out = m.forward(f)
        check(np.array_equal(out, ref) and np.array_equal(f, x),
              "a converted input is left as it was")


def test_anomaly_strict():
    s = np.linspace(0.1, 0.2, 50).astype(np.float32)
    with bitttt.Anomaly() as a, bitttt.Anomaly(strict=True) as b:
        check(np.array_equal(a.update(s), b.update(s)), "Anomaly, strict: float32 surprises go as is")
        check(raises(lambda: b.update(s.astype(np.float64)), ["float64"]),
              "Anomaly, strict: float64 surprises raise")
        check(raises(lambda: b.update(s[::2]), ["strided"]), "Anomaly, strict: strided surprises raise")


def main():
    return tap.run("binding copies, library %s" % bitttt.library_path,
                   [test_no_copy, test_copies_and_strict, test_anomaly_strict])


if __name__ == "__main__":
    sys.exit(main())
