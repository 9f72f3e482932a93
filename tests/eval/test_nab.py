"""The NAB-style scorer (tools/eval/nab.py) on cases computed by hand.

Expected values use the closed form of the scaled sigmoid,
2 / (1 + exp(5x)) - 1 = -tanh(2.5 x), not the scorer's code.
"""
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "eval"))
import nab  # noqa: E402
from tap import check, run  # noqa: E402

T25 = math.tanh(2.5)   # sig(-1): the credit at a window's left edge, unscaled


def close(a, b, name):
    check(abs(a - b) < 1e-12, name, "got %r, expected %r" % (a, b))


def one(n, idx, value=1.0):
    s = np.zeros(n)
    s[list(idx)] = value
    return s


def test_windows():
    # n=100, one label: w = 10, 5 each side; probation floor(15) = 15
    check(nab.windows(100, [50]) == [(45, 55)], "one label: [45, 55]")
    check(nab.probation(100) == 15, "probation 15% of 100")
    check(nab.probation(10000) == 750, "probation capped at 750")
    # two labels: w = int(10 / 2) = 5, 2 each side
    check(nab.windows(100, [40, 45]) == [(38, 42), (43, 47)], "apart: two windows")
    check(nab.windows(100, [40, 43]) == [(38, 45)], "overlapping windows merge")
    check(nab.windows(100, [1]) == [(0, 6)], "clipped at the start")
    check(nab.windows(100, []) == [], "no label, no window")


def test_raw():
    s = nab.Series(100, [50])
    close(s.raw(np.zeros(100), 0.5, "standard"), -1.0, "miss: -A_FN")
    close(s.raw(np.zeros(100), 0.5, "reward_low_FN_rate"), -2.0, "miss, low FN: -2")
    close(s.raw(one(100, [45]), 0.5, "standard"), 1.0, "left edge: A_TP")
    # position -(55 - 50 + 1) / 11 = -6/11
    close(s.raw(one(100, [50]), 0.5, "standard"), math.tanh(15 / 11) / T25, "centre")
    close(s.raw(one(100, [55]), 0.5, "standard"), math.tanh(2.5 / 11) / T25, "right edge")
    close(s.raw(one(100, [46, 45, 52]), 0.5, "standard"), 1.0, "only the first detection counts")
    # FP at 60: |55 - 60| / (11 - 1) = 0.5 past the window
    close(s.raw(one(100, [60]), 0.5, "standard"), -1.0 - 0.11 * math.tanh(1.25),
          "FP just after the window, window missed")
    close(s.raw(one(100, [20]), 0.5, "standard"), -1.11, "FP before any window: -A_FP")
    close(s.raw(one(100, [99]), 0.5, "standard"), -1.11, "FP 4.4 widths after: -A_FP")
    close(s.raw(one(100, [10]), 0.5, "standard"), -1.0, "probation: ignored")
    mixed = one(100, [10, 20, 47, 60])
    want = -0.11 + math.tanh(2.5 * 9 / 11) / T25 - 0.11 * math.tanh(1.25)
    close(s.raw(mixed, 0.5, "standard"), want, "mixed, standard")
    want = -0.22 + math.tanh(2.5 * 9 / 11) / T25 - 0.22 * math.tanh(1.25)
    close(s.raw(mixed, 0.5, "reward_low_FP_rate"), want, "mixed, low FP")
    close(s.raw(mixed, 1.5, "standard"), -1.0, "threshold above every score")
    nan = one(100, [45], math.nan)
    close(s.raw(nan, 0.5, "standard"), -1.0, "NaN never detects")
    # a window inside the probation is neither hit nor missed
    p = nab.Series(100, [3])
    close(p.raw(np.zeros(100), 0.5, "standard"), 0.0, "window in probation: not scored")


def test_sweep_and_normalise():
    a = nab.Series(100, [50])
    b = nab.Series(100, [])
    sa = np.zeros(100); sa[45] = 0.9; sa[20] = 0.6
    sb = np.zeros(100); sb[30] = 0.7
    # t > 0.9: -1; (0.7, 0.9]: +1; (0.6, 0.7]: 0.89; <= 0.6: 0.78; all (<= 0): worse
    t, raw = nab.sweep([(a, sa), (b, sb)], "standard")
    close(t, 0.9, "best threshold 0.9")
    close(raw, 1.0, "best raw 1.0")
    r = nab.score([(a, sa), (b, sb)], "standard")
    close(r["null"], -1.0, "null: detect nothing")
    close(r["perfect"], 1.0, "perfect: one window at A_TP")
    close(r["score"], 100.0, "a perfect detector scores 100")
    sa = np.zeros(100); sa[50] = 0.9
    r = nab.score([(a, sa), (b, np.zeros(100))], "reward_low_FN_rate")
    close(r["score"], 100 * (math.tanh(15 / 11) / T25 + 2) / 3, "late detection, low FN")
    r = nab.score([(a, np.full(100, 0.5)), (b, np.full(100, 0.5))], "standard")
    close(r["score"], 0.0, "a constant detector scores 0")
    check(r["threshold"] == math.inf, "... at the threshold that detects nothing")


def test_sweep_matches_direct():
    # every threshold the sweep could pick, scored directly
    rng = np.random.default_rng(7)
    corpus = []
    for n, labels in ((300, [100, 220]), (200, [150]), (250, [])):
        sc = np.round(rng.random(n), 2)
        sc[rng.integers(0, n, 5)] = math.nan
        corpus.append((nab.Series(n, labels), sc))
    for prof in nab.PROFILES:
        t, raw = nab.sweep(corpus, prof)
        cands = np.unique(np.concatenate([c[1][np.isfinite(c[1])] for c in corpus]))
        direct = max([sum(s.raw(sc, c, prof) for s, sc in corpus) for c in cands] +
                     [sum(s.raw(sc, math.inf, prof) for s, sc in corpus)])
        close(raw, direct, "sweep = best direct threshold, " + prof)
        close(sum(s.raw(sc, t, prof) for s, sc in corpus), raw, "raw at the threshold, " + prof)


if __name__ == "__main__":
    sys.exit(run("NAB scorer", [test_windows, test_raw, test_sweep_and_normalise,
                                test_sweep_matches_direct]))
