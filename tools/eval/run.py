#!/usr/bin/python3
"""End-to-end anomaly evaluation of the bitttt element.

Every series is written as raw f32 samples and played through a real
pipeline, one sample per buffer, so that every sample gets its own message:

  filesrc blocksize=4 ! queue ! rawaudioparse format=pcm pcm-format=f32le
      sample-rate=1 num-channels=1 ! bitttt frames-per-token=F hop=1
      interval=1000000000 anomaly=true PROPS ! fakesink

The message of sample i (its timestamp is i seconds) carries the anomaly
score of the window ending at sample i; samples before the first window
score NaN (never a detection). The scores are then scored with the NAB rules
(nab.py), one threshold per profile over the whole corpus.

  /usr/bin/python3 tools/eval/run.py --build build [--corpus full|heldout|real|real2|realall|synthetic|quick]
      [--config NAME='PROPS' ...] [--by-length N:SHORT:LONG ...] [--json out.json] [--require-beat-null]

The default configs are the issue's: multiview without feature norm, learning
on, and the same with learning=false (the control).
"""
import argparse
import json
import math
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import data  # noqa: E402
import nab  # noqa: E402

DEFAULT_CONFIGS = [
    ("multiview", "frames-per-token=16 objective=multiview feature-norm=none"),
    ("multiview-control", "frames-per-token=16 objective=multiview feature-norm=none learning=false"),
]


def gst_init(build):
    if build:
        path = os.path.join(os.path.abspath(build), "gst")
        os.environ["GST_PLUGIN_PATH"] = path + os.pathsep + os.environ.get("GST_PLUGIN_PATH", "")
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    return Gst


def element_scores(Gst, values, props, tmpdir, field="anomaly"):
    """Per-sample anomaly scores of the element on values (float32); with
    field="mean-surprise", the token's surprise instead."""
    path = os.path.join(tmpdir, "series.f32")
    np.asarray(values, "<f4").tofile(path)
    # the queue puts rawaudioparse in push mode: pulling, it would read
    # large chunks and so merge many samples into one message
    desc = ("filesrc location=%s blocksize=4 ! queue ! rawaudioparse format=pcm pcm-format=f32le "
            "sample-rate=1 num-channels=1 ! bitttt name=t hop=1 interval=1000000000 "
            "anomaly=true %s ! fakesink" % (path, props))
    pipe = Gst.parse_launch(desc)
    bus = pipe.get_bus()
    n = len(values)
    out = np.full(n, math.nan)
    pipe.set_state(Gst.State.PLAYING)
    try:
        while True:
            msg = bus.timed_pop_filtered(
                60 * Gst.SECOND,
                Gst.MessageType.ELEMENT | Gst.MessageType.EOS | Gst.MessageType.ERROR)
            if msg is None:
                raise RuntimeError("pipeline stalled: " + desc)
            if msg.type == Gst.MessageType.ERROR:
                err, dbg = msg.parse_error()
                raise RuntimeError("%s (%s): %s" % (err.message, dbg, desc))
            if msg.type == Gst.MessageType.EOS:
                break
            s = msg.get_structure()
            if s is None or s.get_name() != "bitttt":
                continue
            ok, ts = s.get_uint64("timestamp")
            ok2, tokens = s.get_uint64("tokens")
            if not ok or not ok2 or tokens == 0 or not s.has_field(field):
                continue
            i = int(round(ts / Gst.SECOND))
            if 0 <= i < n:
                out[i] = s.get_double(field)[1]
    finally:
        pipe.set_state(Gst.State.NULL)
    return out


def evaluate(Gst, corpus, configs, log=print, by_length=()):
    """Score every config on the corpus. Returns {config: {profile: result}}.
    by_length: (n, short, long) triples; each adds a config that takes, per
    series, the scores of config `short` below n samples and of `long` from
    n on, scored with one threshold per profile like any other."""
    series = [nab.Series(len(s["values"]), s["labels"]) for s in corpus]
    results = {}
    kept = {}

    def report(name, props, scored):
        res = {p: nab.score(list(zip(series, scored)), p) for p in nab.PROFILES}
        for p, r in res.items():
            r["per_series"] = dict(zip((s["name"] for s in corpus), r["per_series"]))
        results[name] = dict(props=props, profiles=res)
        log("%-24s standard %6.1f  low-FP %6.1f  low-FN %6.1f   (%s)" % (
            name, res["standard"]["score"], res["reward_low_FP_rate"]["score"],
            res["reward_low_FN_rate"]["score"], props))

    with tempfile.TemporaryDirectory() as tmp:
        for name, props in configs:
            kept[name] = [element_scores(Gst, s["values"], props, tmp) for s in corpus]
            report(name, props, kept[name])
    for n, short, long_ in by_length:
        scored = [kept[short][i] if len(s["values"]) < n else kept[long_][i]
                  for i, s in enumerate(corpus)]
        report("%s<%d|%s" % (short, n, long_), "%s below %d samples, else %s" % (short, n, long_),
               scored)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build", help="meson build dir holding gst/ (default build)")
    ap.add_argument("--corpus", default="full", choices=("full", "real", "real2", "realall", "synthetic", "heldout", "quick"))
    ap.add_argument("--config", action="append", default=[],
                    help="NAME=PROPS: bitttt properties to evaluate (repeatable)")
    ap.add_argument("--min-n", type=int, default=0, help="keep only series of at least this many samples")
    ap.add_argument("--max-n", type=int, default=None, help="keep only series shorter than this")
    ap.add_argument("--by-length", action="append", default=[], metavar="N:SHORT:LONG",
                    help="also score config SHORT on series below N samples and LONG on the "
                         "others, one threshold per profile (repeatable)")
    ap.add_argument("--json", help="write every result (thresholds, per-series raw scores) here")
    ap.add_argument("--require-beat-null", metavar="NAME",
                    help="exit 1 unless config NAME scores > 0 on every profile")
    ap.add_argument("--require-nile", metavar="NAME", action="append", default=[],
                    help="exit 1 unless config NAME detects inside the Nile 1898 window "
                         "at its standard threshold (repeatable)")
    args = ap.parse_args()
    configs = [tuple(c.split("=", 1)) for c in args.config] or DEFAULT_CONFIGS
    # checked before any series is played: a typo must not cost a whole run
    names = {name for name, _ in configs}
    by_length = []
    for b in args.by_length:
        parts = b.split(":")
        if len(parts) != 3 or not parts[0].isdigit() or not set(parts[1:]) <= names:
            ap.error("--by-length %s: want N:SHORT:LONG with SHORT and LONG among the configs (%s)"
                     % (b, ", ".join(sorted(names))))
        by_length.append((int(parts[0]), parts[1], parts[2]))
    for name in [args.require_beat_null] + args.require_nile:
        if name is not None and name not in names:
            ap.error("no config named %s (%s)" % (name, ", ".join(sorted(names))))
    Gst = gst_init(args.build)
    try:
        corpus = data.corpus(args.corpus)
    except data.Missing as e:
        print("SKIP: corpus %s: %s" % (args.corpus, e))
        return 77
    corpus = [s for s in corpus if len(s["values"]) >= args.min_n
              and (args.max_n is None or len(s["values"]) < args.max_n)]
    if not any(s["labels"] for s in corpus):
        print("corpus %s: no labelled series left to score" % args.corpus)
        return 2
    print("corpus %s: %d series, %d samples, %d labels" % (
        args.corpus, len(corpus), sum(len(s["values"]) for s in corpus),
        sum(len(s["labels"]) for s in corpus)))
    results = evaluate(Gst, corpus, configs, by_length=by_length)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=float)
    status = 0
    if args.require_beat_null:
        prof = results[args.require_beat_null]["profiles"]
        for p, r in prof.items():
            if not r["score"] > 0.0:
                print("FAIL: %s scores %.1f on %s, not above the null detector"
                      % (args.require_beat_null, r["score"], p))
                status = 1
    for name in args.require_nile:
        r = results[name]["profiles"]["standard"]
        raw = r["per_series"].get("nile")
        # a hit in the window is worth > 0 after its -A_FN is gone
        if raw is None or not raw > -nab.PROFILES["standard"][2]:
            print("FAIL: %s misses the Nile 1898 change (raw %r)" % (name, raw))
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
