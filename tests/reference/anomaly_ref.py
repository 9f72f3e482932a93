"""The anomaly score of docs/SPEC.md ("Anomaly score") in plain Python/numpy.

Written from the SPEC text, not from engine/src/anomaly.c, so the two can be
compared (tests/reference/test_anomaly.py). Every scalar is a Python float
(binary64) and every sum runs left to right, in the SPEC's order; numpy's
pairwise sums would round differently, so they are not used for the state.
"""
import math

import numpy as np

DEFAULTS = dict(k=30.0, mean_window=1000, short_window=10, long_window=2000,
                refit_every=100, range_margin=0.0, hold=0)
STD_FLOOR = 1e-3


class AnomalyRef:
    def __init__(self, k=30.0, mean_window=1000, short_window=10, long_window=2000,
                 refit_every=100, range_margin=0.0, hold=0):
        # the C config holds K and the margin as f32
        self.k = float(np.float32(k))
        self.margin = float(np.float32(range_margin))
        self.mean_window = mean_window
        self.S = short_window
        self.L = long_window
        self.R = refit_every
        self.warmup = min(self.L, max(self.R, self.S))
        self.H = hold
        self.reset()

    def reset(self):
        self.c = 0
        self.m = 0.0
        self.short = [0.0] * self.S
        self.spos = 0
        self.ssum = 0.0
        self.hist = [0.0] * self.L
        self.hpos = 0
        self.hn = 0
        self.hsum = 0.0
        self.hsq = 0.0
        self.fitted = False
        self.scored = 0
        self.mean = self.std = 0.0
        self.have_range = False
        self.lo = self.hi = 0.0
        self.recent = []    # the last H raw scores, oldest first

    # step 1
    def _calibrate(self, s):
        if self.c == 0:
            a = 0.0
        else:
            km = self.k * self.m
            a = s / (s + km) if km > 0 else (1.0 if s > 0 else 0.0)
        self.c += 1
        self.m = self.m + (s - self.m) / float(min(self.c, self.mean_window))
        return a

    # step 2
    def _push_short(self, a):
        self.ssum = self.ssum + (a - self.short[self.spos])
        self.short[self.spos] = a
        self.spos += 1
        if self.spos == self.S:
            self.spos = 0
            t = 0.0
            for v in self.short:
                t += v
            self.ssum = t

    # step 3
    def _fit(self):
        n = float(self.hn)
        mean = self.hsum / n
        var = max(self.hsq / n - mean * mean, 0.0)
        self.mean = mean
        self.std = max(math.sqrt(var), STD_FLOOR)
        self.fitted = True
        self.scored = 0

    def _push_hist(self, v):
        old = self.hist[self.hpos]
        self.hsum = self.hsum + (v - old)
        self.hsq = self.hsq + (v * v - old * old)
        self.hist[self.hpos] = v
        self.hn = min(self.hn + 1, self.L)
        self.hpos += 1
        if self.hpos == self.L:
            self.hpos = 0
            t, q = 0.0, 0.0
            for h in self.hist:
                t += h
                q += h * h
            self.hsum, self.hsq = t, q

    # step 4
    def _loglik(self, avg):
        z = (avg - self.mean) / self.std
        q = 0.5 * math.erfc(z * 0.70710678118654752440)
        lk = 1.0 - q
        r = math.log(1.0000000001 - lk) / math.log(1.0 - 0.9999999999)
        return min(max(r, 0.0), 1.0)

    # step 5
    def _range(self, x):
        vals = [float(v) for v in x]
        if not self.have_range:
            self.lo = self.hi = vals[0]
            self.have_range = True
        slack = self.margin * (self.hi - self.lo)
        lo, hi = self.lo - slack, self.hi + slack
        r = 1.0 if any(v < lo or v > hi for v in vals) else 0.0
        self.lo = min([self.lo] + vals)
        self.hi = max([self.hi] + vals)
        return r

    # step 7
    def _hold(self, v):
        out = v if all(v > p for p in self.recent) else 0.0
        self.recent = (self.recent + [v])[-self.H:]
        return out

    def update(self, surprise, x=None):
        """surprise: (n,) float32; x: (n, width) float32 or None. Returns
        (score, calibrated), float32 arrays of n, as the C API writes them."""
        surprise = np.asarray(surprise, np.float32)
        n = len(surprise)
        reads_x = x is not None and self.margin > 0 and np.asarray(x).shape[-1] > 0
        if reads_x:
            x = np.asarray(x, np.float32).reshape(n, -1)
        if np.any(surprise < 0):
            raise ValueError("negative surprise")
        score = np.full(n, np.nan, np.float32)
        cal = np.full(n, np.nan, np.float32)
        for i in range(n):
            s = float(surprise[i])
            if not math.isfinite(s) or (reads_x and not np.all(np.isfinite(x[i]))):
                continue
            a = self._calibrate(s)
            cal[i] = a
            self._push_short(a)
            ll = 0.0
            if self.c >= self.S:
                avg = self.ssum / float(self.S)
                if (self.scored >= self.R) if self.fitted else (self.hn >= self.warmup):
                    self._fit()
                if self.fitted:
                    ll = self._loglik(avg)
                    self.scored += 1
                self._push_hist(avg)
            r = self._range(x[i]) if reads_x else 0.0
            if not self.fitted:
                r = 0.0
            raw = max(ll, r)
            score[i] = self._hold(raw) if self.H else raw
        return score, cal
