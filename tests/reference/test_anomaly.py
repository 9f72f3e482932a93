#!/usr/bin/python3
"""ttt_anomaly (C, through ctypes) against tests/reference/anomaly_ref.py.

Prints TAP; exits non-zero when any check fails. Needs BITTTT_LIBRARY and
PYTHONPATH holding engine/python, as test_reference.py (meson sets both).

Both sides run the SPEC's steps in binary64 in the same order, so scores and
calibrated values are expected to agree exactly; the check allows 1e-6 for
libm and contraction differences on other platforms and reports the
largest difference seen.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anomaly_ref import AnomalyRef  # noqa: E402
import bitttt  # noqa: E402
import tap  # noqa: E402
from tap import check  # noqa: E402

F32 = np.float32
TOL = 1e-6

def compare(tag, c, r):
    nan_c, nan_r = np.isnan(c), np.isnan(r)
    if not np.array_equal(nan_c, nan_r):
        return check(False, tag, "NaN at different tokens: first %d" % np.argmax(nan_c != nan_r))
    d = np.abs(c[~nan_c].astype(np.float64) - r[~nan_r].astype(np.float64))
    worst = float(d.max(initial=0))
    exact = int(np.sum(d == 0))
    return check(worst <= TOL, "%s: max |C - ref| = %.3g (%d of %d exact)" % (tag, worst, exact, len(d)),
                 "first beyond tolerance at token %d" % np.flatnonzero(~nan_c)[np.argmax(d > TOL)]
                 if worst > TOL else "")


def run_both(tag, surprise, x=None, cuts=None, **cfg):
    surprise = np.asarray(surprise, F32)
    r_score, r_cal = AnomalyRef(**cfg).update(surprise, x)
    with bitttt.Anomaly(**cfg) as a:
        if cuts is None:
            score, cal = a.update(surprise, x, calibrated=True)
        else:
            parts = [a.update(surprise[p:q], None if x is None else x[p:q], calibrated=True)
                     for p, q in zip(cuts[:-1], cuts[1:])]
            score = np.concatenate([p[0] for p in parts])
            cal = np.concatenate([p[1] for p in parts])
    compare(tag + ": scores", score, r_score)
    compare(tag + ": calibrated", cal, r_cal)
    return score, r_score


def regime_stream(rng, n, change, factor, nan_every=0):
    s = rng.exponential(1.0, n)
    s[change:] *= factor
    if nan_every:
        s[rng.choice(n, n // nan_every, replace=False)] = np.nan
    return s.astype(F32)


def test_defaults_regime_change():
    rng = np.random.default_rng(1)
    s = regime_stream(rng, 8000, 5000, 10.0, nan_every=97)
    score, ref = run_both("defaults, x10 at 5000, NaNs", s)
    check(np.nanmax(ref[5000:5020]) > 0.9, "reference itself flags the change (%.3f)"
          % np.nanmax(ref[5000:5020]))
    s = regime_stream(rng, 6000, 3000, 0.1)
    run_both("defaults, x0.1 at 3000", s)


def test_small_windows_and_splits():
    rng = np.random.default_rng(2)
    s = (rng.lognormal(0, 1.5, 4000) * 1e-3).astype(F32)
    s[1500:1600] *= 20
    s[::211] = np.nan
    cfg = dict(k=7.5, mean_window=50, short_window=5, long_window=300, refit_every=37)
    run_both("small windows (ring wraps, EMA)", s, **cfg)
    cuts = [0] + sorted(rng.choice(np.arange(1, 4000), 40, replace=False).tolist()) + [4000]
    run_both("small windows, 41 calls", s, cuts=cuts, **cfg)
    run_both("short=long=refit=1", s[:2000], k=30, mean_window=1, short_window=1,
             long_window=1, refit_every=1)
    run_both("refit 1000 > long 300", s, short_window=20, long_window=300, refit_every=1000)


def test_zero_surprises():
    # m = 0 (the mean of earlier zeros): a is 1 for s > 0, 0 for s = 0
    s = np.zeros(600, F32)
    s[300] = 1e-20
    s[301:] = np.random.default_rng(3).exponential(1.0, 299).astype(F32)
    run_both("leading zeros", s, short_window=4, long_window=100, refit_every=20)


def test_range_rule():
    rng = np.random.default_rng(4)
    n, w = 3000, 6
    x = rng.standard_normal((n, w)).astype(F32)
    x[1200, 2] = 9.0             # far outside
    x[1700, 0] = np.nan          # skipped by the range rule
    x[2500:] += 3.0              # a level shift: fires, then widens the range
    s = rng.exponential(1.0, n).astype(F32)
    s[900] = np.nan
    score, ref = run_both("range margin 0.1", s, x, range_margin=0.1, short_window=8,
                          long_window=500, refit_every=50)
    check(ref[1200] == 1.0 and np.isnan(ref[1700]), "reference: range fires at 1200, skips 1700")
    run_both("range margin 0.1, 17 calls", s, x, cuts=list(range(0, n, 180)) + [n],
             range_margin=0.1, short_window=8, long_window=500, refit_every=50)
    run_both("range margin 0 ignores x", s, x)


def test_engine_surprises():
    # surprises as the engine makes them: a repeating pattern, then noise
    rng = np.random.default_rng(5)
    D = 64
    pat = rng.standard_normal((16, D)).astype(F32)
    x = np.concatenate([np.tile(pat, (150, 1)), rng.standard_normal((600, D)).astype(F32)])
    x[700, 5] = np.inf
    with bitttt.Model(D, inner_lr=0.5) as m:
        _, s = m.forward(x, surprise=True)
    score, ref = run_both("engine surprises, pattern then noise", s, x, range_margin=0.5)
    check(np.isnan(ref[700]), "the engine's skipped token is skipped")


def test_hold():
    rng = np.random.default_rng(6)
    s = regime_stream(rng, 5000, 4000, 8.0, nan_every=53)
    s[1000:1040] *= 30           # a burst: one alarm, then held
    s[2500] *= 200               # a lone spike
    cfg = dict(short_window=2, long_window=400, refit_every=20)
    free, _ = run_both("hold 0", s, **cfg)
    for h in (1, 7, 300):
        held, ref = run_both("hold %d" % h, s, hold=h, **cfg)
        run_both("hold %d, 29 calls" % h, s, cuts=list(range(0, 5000, 173)) + [5000], hold=h, **cfg)
    f = ref[np.isfinite(ref)]
    check(np.count_nonzero(f > 0.5) < np.count_nonzero(free[np.isfinite(free)] > 0.5),
          "hold 300 leaves fewer alarms (%d) than hold 0 (%d)"
          % (np.count_nonzero(f > 0.5), np.count_nonzero(free[np.isfinite(free)] > 0.5)))
    run_both("hold longer than the stream", s[:500], hold=100000, **cfg)


def test_binding_errors():
    for kw in (dict(hold=(1 << 24) + 1), dict(k=-1.0), dict(k=float("nan")), dict(short_window=0), dict(long_window=0),
               dict(refit_every=0), dict(mean_window=0), dict(range_margin=-0.5),
               dict(range_margin=float("inf"))):
        try:
            bitttt.Anomaly(**kw)
            check(False, "Anomaly(%r) rejected" % kw)
        except bitttt.BitTTTError as e:
            check(e.code == bitttt.ERR_INVALID_ARG, "Anomaly(%r): INVALID_ARG" % kw)
    with bitttt.Anomaly() as a:
        try:
            a.update(np.array([1.0, -1.0], F32))
            check(False, "negative surprise rejected")
        except bitttt.BitTTTError as e:
            check(e.code == bitttt.ERR_INVALID_ARG, "negative surprise: INVALID_ARG")


TESTS = [test_defaults_regime_change, test_small_windows_and_splits, test_zero_surprises,
         test_range_rule, test_engine_surprises, test_hold, test_binding_errors]


def main():
    return tap.run("library %s %s" % (bitttt.library_path, bitttt.version()), TESTS)


if __name__ == "__main__":
    sys.exit(main())
