#!/usr/bin/python3
"""Plot per-token surprise: a CSV (or arrays) in, a PNG out.

    /usr/bin/python3 examples/python/plot_surprise.py surprise.csv surprise.png \
        [--mark 512:"pattern B starts"] [--fresh 0.0625] [--window 32] [--title T]

The CSV has a header line and the columns `token,surprise` (more columns are
ignored). `--fresh` draws the surprise of a fresh model (1/d: nothing
predicted). Used by the demo (build/examples/demo/bitttt-demo) and imported
by bitttt_app.py. Needs matplotlib (Debian: python3-matplotlib); exits 77
(the "skipped" status of meson and automake) when it is missing.
"""
import argparse
import collections
import csv
import math
import sys

SKIP = 77


def rolling_mean(values, window):
    """Trailing mean over `window` tokens, ignoring NaN (skipped tokens)."""
    out, acc, n, q = [], 0.0, 0, collections.deque()
    for v in values:
        q.append(v)
        if not math.isnan(v):
            acc, n = acc + v, n + 1
        if len(q) > window:
            old = q.popleft()
            if not math.isnan(old):
                acc, n = acc - old, n - 1
        out.append(acc / n if n else float("nan"))
    return out


def plot(tokens, surprise, png, marks=(), fresh=None, window=32, title=None):
    """Write `png`: per-token surprise (thin) and its rolling mean (bold) on
    a log scale, with vertical lines at `marks` [(token, label), ...]."""
    import matplotlib
    matplotlib.use("Agg")            # no display needed
    import matplotlib.pyplot as plt

    tokens, surprise = list(tokens), [float(s) for s in surprise]
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=110)
    # log scale: the interesting part spans three decades; zeros cannot show
    floor = min([s for s in surprise if s > 0] or [1e-9])
    shown = [max(s, floor) for s in surprise]
    ax.plot(tokens, shown, lw=0.6, color="#9ab7d3", label="surprise per token")
    ax.plot(tokens, rolling_mean(surprise, window), lw=2.0, color="#1f4e79",
            label="mean of the last %d tokens" % window)
    if fresh:
        ax.axhline(fresh, ls="--", lw=1, color="#888888")
        ax.annotate("1/d: a fresh model predicts nothing", (tokens[0], fresh),
                    xytext=(4, 3), textcoords="offset points", fontsize=8, color="#555555")
    for i, (token, label) in enumerate(marks):
        ax.axvline(token, color="#c0392b", lw=1.2)
        # alternate heights so labels of close marks do not overlap
        ax.annotate(label, (token, 1), xycoords=("data", "axes fraction"),
                    xytext=(4, -13 - 12 * (i % 2)), textcoords="offset points",
                    fontsize=9, color="#c0392b")
    ax.set_yscale("log")
    # headroom above the highest line for the labels of the marks
    ax.set_ylim(top=6 * max([s for s in shown if not math.isnan(s)] + [fresh or 0]))
    ax.set_xlim(tokens[0], tokens[-1])
    ax.set_xlabel("token")
    ax.set_ylabel("surprise  ||Wf - f||² / d")
    ax.set_title(title or "Bit-TTT: surprise of each token before it is learned")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def read_csv(path):
    tokens, surprise = [], []
    with open(path, newline="") as f:
        rows = csv.reader(f)
        next(rows)                   # header
        for row in rows:
            tokens.append(int(row[0]))
            surprise.append(float(row[1]))
    return tokens, surprise


def parse_mark(text):
    token, _, label = text.partition(":")
    return int(token), label


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv")
    ap.add_argument("png")
    ap.add_argument("--mark", type=parse_mark, action="append", default=[],
                    help="TOKEN:LABEL, a vertical line (repeatable)")
    ap.add_argument("--fresh", type=float, help="surprise of a fresh model, 1/d")
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--title")
    args = ap.parse_args()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("matplotlib is not installed (Debian: python3-matplotlib)", file=sys.stderr)
        return SKIP
    tokens, surprise = read_csv(args.csv)
    if not tokens:
        print("%s holds no tokens" % args.csv, file=sys.stderr)
        return 1
    plot(tokens, surprise, args.png, args.mark, args.fresh, args.window, args.title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
