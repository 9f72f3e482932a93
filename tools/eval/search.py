#!/usr/bin/python3
"""The settings search behind docs/MEMORY.md, "Anomaly evaluation".

Collects each engine setting's per-sample surprises from the element (the
same pipeline as run.py), then sweeps the anomaly scorer's windows and hold
offline with bitttt.Anomaly (the engine's own C scorer, through the
binding), and prints the NAB scores, best first. Confirm a pick with run.py:
the element applies the same scorer to the same surprises.

  BITTTT_LIBRARY=build/engine/libbitttt.so PYTHONPATH=engine/python \\
      /usr/bin/python3 tools/eval/search.py --build build --corpus full \\
      --engine 'frames-per-token=32 inner-lr=0.1' --engine '... learning=false' \\
      --short 1,3,10 --long 100,500,2000 --refit 5,20,100 --hold 0,30,100,300
"""
import argparse
import itertools
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import nab  # noqa: E402
import run  # noqa: E402


def ints(text):
    return [int(v) for v in text.split(",")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--corpus", default="full")
    ap.add_argument("--engine", action="append", required=True,
                    help="bitttt properties of one engine setting (repeatable)")
    ap.add_argument("--short", type=ints, default=[10])
    ap.add_argument("--long", type=ints, default=[2000])
    ap.add_argument("--refit", type=ints, default=[100])
    ap.add_argument("--hold", type=ints, default=[0])
    args = ap.parse_args()
    Gst = run.gst_init(args.build)
    import bitttt
    corpus = data.corpus(args.corpus)
    series = [nab.Series(len(s["values"]), s["labels"]) for s in corpus]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for props in args.engine:
            surprises = [run.element_scores(Gst, s["values"], props, tmp, "mean-surprise")
                         for s in corpus]
            for S, L, R, H in itertools.product(args.short, args.long, args.refit, args.hold):
                scored = []
                for sur in surprises:
                    ok = np.isfinite(sur)
                    sc = np.full(len(sur), np.nan)
                    with bitttt.Anomaly(short_window=S, long_window=L, refit_every=R,
                                        hold=H) as a:
                        sc[ok] = a.update(sur[ok].astype(np.float32))
                    scored.append(sc)
                res = [nab.score(list(zip(series, scored)), p)["score"] for p in nab.PROFILES]
                knobs = ("anomaly-short-window=%d anomaly-long-window=%d "
                         "anomaly-refit-every=%d anomaly-hold=%d" % (S, L, R, H))
                rows.append((res, props + " " + knobs))
                print("%6.1f %6.1f %6.1f  %s %s" % (*res, props, knobs), flush=True)
    print("best (standard):")
    for res, desc in sorted(rows, key=lambda r: -r[0][0])[:10]:
        print("%6.1f %6.1f %6.1f  %s" % (*res, desc))


if __name__ == "__main__":
    sys.exit(main())
