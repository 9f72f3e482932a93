"""Window-based anomaly scoring of the Numenta Anomaly Benchmark family.

Written here from the published rules (Lavin & Ahmad, "Evaluating Real-time
Anomaly Detection Algorithms - the Numenta Anomaly Benchmark", 2015, and the
NAB documentation; its sweeper's formulas were read to settle the details,
none of its code is used):

- Windows: each label i gets the window [i - w//2, i + w//2] (clipped to the
  series), w = int(0.10 * n / number_of_labels); overlapping windows merge.
- Probation: the first min(floor(0.15 n), 750) samples are not scored.
- A detection is a sample whose score is >= the threshold (NaN never is).
- In a window, only the earliest scored detection counts: it earns
  A_TP * sig(p) / sig(-1), p = -(right - i + 1) / width, so A_TP at the left
  edge falling to 0 at the right edge; sig(x) = 2 / (1 + exp(5x)) - 1, and
  -1 for x > 3. A window with no detection costs -A_FN.
- A detection outside every window costs A_FP * sig(|right - i| / (width - 1))
  of the last window that ended before it (a small penalty just after a
  window, -A_FP far from it), -A_FP when no window came before.
- One threshold per profile, the one maximising the corpus' summed raw score.
- Normalised score = 100 * (raw - null) / (perfect - null): perfect detects the
  first scored sample of every window and nothing else; null is a detector
  with a constant score, at its own best threshold (all or nothing).
"""
import math

import numpy as np

PROFILES = {
    "standard": (1.0, 0.11, 1.0),
    "reward_low_FP_rate": (1.0, 0.22, 1.0),
    "reward_low_FN_rate": (1.0, 0.11, 2.0),
}
WINDOW_FRACTION = 0.10
PROBATION_FRACTION = 0.15
PROBATION_MAX = 750


def sig(x):
    """The scaled sigmoid: +0.987 at -1, 0 at 0, -1 beyond 3."""
    if x > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


def probation(n):
    return int(min(math.floor(PROBATION_FRACTION * n), PROBATION_FRACTION * 5000))


def windows(n, labels):
    """Merged [left, right] windows (inclusive) around the label indices."""
    if not labels:
        return []
    half = int(WINDOW_FRACTION * n / len(labels)) // 2
    out = []
    for i in sorted(labels):
        lo, hi = max(0, i - half), min(n - 1, i + half)
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [tuple(w) for w in out]


class Series:
    """One labelled series: n samples, label indices; weights per sample."""

    def __init__(self, n, labels):
        self.n = n
        self.windows = windows(n, labels)
        self.probation = probation(n)
        # a window wholly inside the probation is not scored (nor missed)
        self.live = [hi >= self.probation for lo, hi in self.windows]
        self.window_of = np.full(n, -1, np.int64)
        # the credit of a detection at i (in a window) or its penalty
        self.value = np.empty(n)
        prev, k = None, 0
        for i in range(n):
            while k < len(self.windows) and self.windows[k][1] < i:
                prev = self.windows[k]
                k += 1
            if k < len(self.windows) and self.windows[k][0] <= i:
                lo, hi = self.windows[k]
                self.window_of[i] = k
                self.value[i] = sig(-(hi - i + 1) / (hi - lo + 1)) / sig(-1.0)
            elif prev is None:
                self.value[i] = -1.0
            else:
                lo, hi = prev
                self.value[i] = sig(abs(hi - i) / max(hi - lo, 1))

    def raw(self, scores, threshold, profile):
        """Raw score of detections scores >= threshold (the rules, directly)."""
        a_tp, a_fp, a_fn = PROFILES[profile]
        hit = [False] * len(self.windows)
        total = 0.0
        for i in range(self.probation, self.n):
            if not scores[i] >= threshold:
                continue
            w = self.window_of[i]
            if w < 0:
                total += a_fp * self.value[i]
            elif not hit[w]:
                hit[w] = True
                total += a_tp * self.value[i]
        return total - a_fn * sum(1 for h, l in zip(hit, self.live) if l and not h)

    def events(self, scores, profile):
        """(value, delta) pairs: raw(t) = -A_FN * windows + sum of the deltas
        whose value is >= t. Lets the sweep try every threshold at once."""
        a_tp, a_fp, a_fn = PROFILES[profile]
        scores = np.asarray(scores, np.float64)
        ev_v, ev_d = [], []
        start = self.probation
        out = (self.window_of < 0) & np.isfinite(scores)
        out[:start] = False
        ev_v.extend(scores[out])
        ev_d.extend(a_fp * self.value[out])
        for (lo, hi), live in zip(self.windows, self.live):
            if not live:
                continue
            lo = max(lo, start)
            # first detection as the threshold falls: the running maximum's
            # record-breakers, latest (highest) first
            best = -math.inf
            records = []
            for i in range(lo, hi + 1):
                s = scores[i]
                if s > best:          # NaN compares false
                    best = s
                    records.append((s, a_tp * self.value[i]))
            prev = -a_fn
            for s, credit in reversed(records):
                ev_v.append(s)
                ev_d.append(credit - prev)
                prev = credit
        return ev_v, ev_d

    def perfect(self, profile):
        a_tp = PROFILES[profile][0]
        return sum(a_tp * self.value[max(lo, self.probation)]
                   for (lo, hi), live in zip(self.windows, self.live) if live)

    def null(self, profile):
        """(nothing, everything) raw scores of a constant detector."""
        a_tp, a_fp, a_fn = PROFILES[profile]
        return (self.raw(np.zeros(self.n), 1.0, profile),
                self.raw(np.ones(self.n), 1.0, profile))


def sweep(corpus, profile):
    """corpus: list of (Series, scores). Returns (threshold, summed raw) of the
    best threshold; +inf means detect nothing. Ties go to the higher threshold."""
    base = 0.0
    vals, deltas = [], []
    for ser, scores in corpus:
        base -= PROFILES[profile][2] * sum(ser.live)
        v, d = ser.events(scores, profile)
        vals.extend(v)
        deltas.extend(d)
    best_t, best = math.inf, base
    if not vals:
        return best_t, best
    vals = np.asarray(vals)
    deltas = np.asarray(deltas)
    order = np.argsort(-vals, kind="stable")
    vals, deltas = vals[order], deltas[order]
    cum = base + np.cumsum(deltas)
    # the score at threshold t includes every event with value >= t: the
    # last event of each run of equal values
    last = np.r_[vals[1:] != vals[:-1], True]
    for t, s in zip(vals[last], cum[last]):
        if s > best + 1e-12:
            best_t, best = float(t), float(s)
    return best_t, best


def score(corpus, profile):
    """Normalised corpus score and its threshold: dict with score, threshold,
    raw, null, perfect and per-series raw at that threshold."""
    t, raw = sweep(corpus, profile)
    nothing = sum(s.null(profile)[0] for s, _ in corpus)
    everything = sum(s.null(profile)[1] for s, _ in corpus)
    null = max(nothing, everything)
    perfect = sum(s.perfect(profile) for s, _ in corpus)
    per = [s.raw(sc, t, profile) for s, sc in corpus]
    return dict(score=100.0 * (raw - null) / (perfect - null), threshold=t,
                raw=raw, null=null, perfect=perfect, per_series=per)
