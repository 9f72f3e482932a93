#!/usr/bin/python3
"""Worked example: train the projections on espeak-ng speech, measure on held-out speech.

    PYTHONPATH=engine/python BITTTT_LIBRARY=build/engine/libbitttt.so.1 \\
        taskset -c 0 /usr/bin/python3 examples/training/speech.py --out /tmp/bitttt-speech

1. Speaks training and held-out recordings with espeak-ng (WAV, 22050 Hz
   mono): the held-out ones are other sentences, and one other voice.
2. Trains a layer on the training recordings with bitttt.train (next-token
   forecast loss), writes layer.safetensors and loss.png.
3. On the held-out recordings, in one run on the same data, compares the
   trained projections, the seed-drawn ones and learning off:
   - forecast error: each recording streamed through a fresh layer, as one
     gst-launch run per file would; sum ||out_t - x_{t+1}||^2 over
     sum ||x_t - x_{t+1}||^2 (1 = persistence, what out = x gives);
   - seen/unseen AUC, bench_memory's protocol (tests/bench/bench_memory.c,
     reimplemented here): M consecutive tokens of a held-out recording are
     presented R = 5 times with learning on, then with learning off the
     surprise of those M tokens, replayed, is ranked against U = 256 tokens
     of another held-out recording: AUC = P(s_unseen > s_seen) + P(=) / 2.
     Control: learning off and W = 0.
   Seed-drawn and learning off run in the C engine (the ctypes binding).
   The trained projections run in the numpy reference with the trained
   ternary weights and scales (tests/reference/bitttt_ref.py, bit-exact to
   the engine's arithmetic), until the engine loads weight files; when the
   element has a weights-location property, the held-out forecast is also
   measured through gst-launch-1.0.
Prints a Markdown table and writes results.json.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
try:
    import torch
except ImportError:
    print("torch not installed (Debian: apt-get install python3-torch)", file=sys.stderr)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, os.pardir, os.pardir))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import bitttt  # noqa: E402
import bitttt_ref as ref  # noqa: E402
from bitttt import train as bt_train  # noqa: E402
import bitttt.torch as bt  # noqa: E402

TRAIN_TEXT = [
    "The quick brown fox jumps over the lazy dog.",
    "A layer that keeps learning while it runs adapts to the stream it sees.",
    "Seven silver swans swam silently across the still lake at dawn.",
    "Please call the office before noon if the parcel has not arrived.",
    "Numbers like four hundred and twelve are read aloud one by one.",
    "The weather station reported rain, wind and a falling pressure.",
    "Turn left at the second light and follow the road past the church.",
    "Our train was delayed by twenty minutes because of a signal fault.",
    "He measured the length of the table twice before cutting the wood.",
    "Bright yellow flowers grew along the fence behind the school.",
    "The committee will meet again on Thursday to discuss the budget.",
    "Cold water runs through the pipes under the floor of the kitchen.",
]
HELD_TEXT = [
    "Every morning the baker opens the shop and lights the old oven.",
    "Ternary weights keep the model small enough for a tiny device.",
    "She sold the red bicycle to a neighbour who lived by the river.",
]
TRAIN_VOICES = ["en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan"]
HELD_VOICES = TRAIN_VOICES + ["en-029"]   # the last one is never trained on
R_PRESENT, U_FRESH = 5, 256


def speak(text, voice, path):
    # a sanitizer runtime preloaded into python3 (tests/meson.build) is not
    # for espeak-ng: under it espeak-ng hung
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", path, text], check=True, env=env, timeout=120)


def recordings(out, quick=False):
    """(train paths, held-out paths), spoken once and kept in out/."""
    os.makedirs(out, exist_ok=True)
    sets = []
    plan = ((TRAIN_TEXT, TRAIN_VOICES, "train"), (HELD_TEXT, HELD_VOICES, "held"))
    if quick:
        plan = ((TRAIN_TEXT[:2], TRAIN_VOICES[:2], "train"), (HELD_TEXT[:1], HELD_VOICES[-2:], "held"))
    for texts, voices, tag in plan:
        paths = []
        for i, text in enumerate(texts):
            for v in voices:
                p = os.path.join(out, "%s-%d-%s.wav" % (tag, i, v))
                if not os.path.exists(p):
                    speak(text, v, p)
                paths.append(p)
        sets.append(paths)
    return sets


def spectrum_tokens(path, frame=512, hop=256, bands=64):
    """Log power spectrum frames of a WAV: Hann window of `frame` samples every
    `hop`, rfft bins 1 .. bands*k grouped k at a time, log10(power + 1e-6)."""
    x, _ = bt_train.read_wav(path)
    x = x[:, 0].astype(np.float64)
    n = 1 + max(0, len(x) - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(frame), axis=1)) ** 2
    k = (frame // 2) // bands
    p = spec[:, 1:1 + bands * k].reshape(n, bands, k).sum(-1)
    return np.log10(p + 1e-6).astype(np.float32)


class Engine:
    """A layer as the engine runs it: forward(x) -> (out, surprise), learning switch.

    Seed-drawn: the C engine. Trained: the numpy reference with the trained
    projections (the engine's arithmetic, bit for bit, given the weights)."""

    def __init__(self, cfg, weights=None, learning=True):
        self.cfg, self.weights = cfg, weights
        if weights is None:
            self.m = bitttt.Model(cfg["hidden_dim"], state_dim=cfg["state_dim"], inner_lr=cfg["inner_lr"],
                                  learning=learning, objective=cfg["objective"],
                                  feature_norm=cfg["feature_norm"], update=cfg["update"])
        else:
            self.m = ref.Reference(cfg["hidden_dim"], cfg["state_dim"] or None, eta=cfg["inner_lr"],
                                   learning=learning, objective=cfg["objective"],
                                   feature_norm=cfg["feature_norm"], update=cfg["update"])
            r = self.m
            r.down, r.up = weights["down"][0], weights["up"][0]
            r._down64, r._up64 = r.down.astype(np.int64), r.up.astype(np.int64)
            if "down_v" in weights:
                r.down_v = weights["down_v"][0]
                r._downv64 = r.down_v.astype(np.int64)
            r.s_down, r.s_up = np.float32(weights["down"][1]), np.float32(weights["up"][1])
            r.s_down_v = np.float32(weights["down_v"][1]) if "down_v" in weights else r.s_down

    def forward(self, x):
        if self.weights is None:
            return self.m.forward(np.ascontiguousarray(x, np.float32), surprise=True)
        return self.m.forward(x)

    def set_learning(self, on):
        if self.weights is None:
            self.m.learning = on
        else:
            self.m.learning = bool(on)


def forecast(cfg, weights, learning, streams):
    """Forecast error relative to persistence over whole held-out streams."""
    num = den = 0.0
    for x in streams:
        out, _ = Engine(cfg, weights, learning).forward(x)
        num += float(np.sum((out[:-1].astype(np.float64) - x[1:]) ** 2))
        den += float(np.sum((x[:-1].astype(np.float64) - x[1:]) ** 2))
    return num / den


def auc(seen, unseen):
    """bench_memory's auc(): P(unseen > seen) + P(equal) / 2 over all pairs."""
    s, u = np.asarray(seen, np.float64)[:, None], np.asarray(unseen, np.float64)[None, :]
    return float(np.mean((u > s) + 0.5 * (u == s)))


def seen_unseen(cfg, weights, streams, M, trials, control, seed=1):
    """(mean AUC over trials, its standard error); the draws depend on seed
    alone, so every layer gets the same seen and unseen tokens."""
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(trials):
        i, j = rng.choice(len(streams), size=2, replace=False)
        a, b = streams[i], streams[j]
        s0 = rng.integers(0, len(a) - M)
        u0 = rng.integers(0, max(1, len(b) - U_FRESH))
        seen, fresh = a[s0:s0 + M], b[u0:u0 + U_FRESH]
        e = Engine(cfg, weights, learning=not control)
        if not control:
            for _ in range(R_PRESENT):
                e.forward(seen)
        e.set_learning(False)
        _, ss = e.forward(seen)
        _, su = e.forward(fresh)
        aucs.append(auc(ss, su))
    return float(np.mean(aucs)), float(np.std(aucs, ddof=1) / np.sqrt(trials))


def gst_forecast(weights_path, cfg, held, fpt, features, D):
    """Forecast error through gst-launch-1.0 ... ! bitttt weights-location=..., or
    None when the element has no weights-location property (not merged yet)."""
    if not shutil.which("gst-launch-1.0"):
        return None
    info = subprocess.run(["gst-inspect-1.0", "bitttt"], capture_output=True, text=True)
    if "weights-location" not in info.stdout:
        return None
    num = den = 0.0
    for p in held:
        raw = p + ".out.f32"
        if features == "waveform":
            src = ["filesrc", "location=" + p, "!", "wavparse", "!", "audioconvert", "!",
                   "audio/x-raw,format=F32LE,channels=1", "!"]
            extra = ["frames-per-token=%d" % fpt]
            x = bt_train.load_tokens(p, fpt)
        else:
            src = ["filesrc", "location=" + p + ".f32", "blocksize=%d" % (4 * D), "!",
                   "other/tensors,format=static,num_tensors=1,types=float32,dimensions=(string)%d:1,"
                   "framerate=(fraction)0/1" % D, "!"]
            extra = []
            x = np.fromfile(p + ".f32", dtype="<f4").reshape(-1, D)
        cmd = (["gst-launch-1.0", "-q"] + src + ["bitttt"] + extra +
               ["weights-location=" + weights_path, "objective=" + cfg["objective"],
                "feature-norm=" + cfg["feature_norm"], "update=" + cfg["update"],
                "inner-lr=%g" % cfg["inner_lr"], "!", "filesink", "location=" + raw])
        subprocess.run(cmd, check=True)
        out = np.fromfile(raw, dtype="<f4")[:x.size].reshape(x.shape)
        num += float(np.sum((out[:-1].astype(np.float64) - x[1:]) ** 2))
        den += float(np.sum((x[:-1].astype(np.float64) - x[1:]) ** 2))
    return num / den


def static_baselines(train_tok, held):
    """What needs no memory: out = 0, the best out = c x (c fitted on the
    training tokens) and the least-squares linear forecast x_{t+1} = A x_t
    (float D x D, fitted on the training tokens)."""
    X = np.concatenate([t[:-1] for t in train_tok]).astype(np.float64)
    Y = np.concatenate([t[1:] for t in train_tok]).astype(np.float64)
    c = float(np.sum(X * Y) / np.sum(X * X))
    A = np.linalg.lstsq(X, Y, rcond=None)[0]
    res = {}
    for name, f in (("zero forecast (out = 0)", lambda x: 0 * x), ("best static scale c x (c = %.3f)" % c,
                                                                      lambda x: c * x),
                    ("least-squares linear A x (float D x D, no memory)", lambda x: x @ A)):
        num = sum(float(np.sum((f(x[:-1].astype(np.float64)) - x[1:]) ** 2)) for x in held)
        den = sum(float(np.sum((x[:-1].astype(np.float64) - x[1:]) ** 2)) for x in held)
        res[name] = num / den
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="/tmp/bitttt-speech", help="working directory")
    ap.add_argument("--features", choices=("spectrum", "waveform"), default="spectrum",
                    help="tokens: 64-band log spectra (other/tensors) or 64 raw samples (audio)")
    ap.add_argument("--frames-per-token", type=int, default=64, help="waveform: samples per token")
    ap.add_argument("--objective", default="reconstruct")
    ap.add_argument("--feature-norm", default="l2")
    ap.add_argument("--update", default="gradient")
    ap.add_argument("--loss", choices=("next", "surprise"), default="next", help="outer objective")
    ap.add_argument("--inner-lr", type=float, default=0.5)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--seq-len", type=int, default=32)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--max-seconds", type=float, default=120)
    ap.add_argument("--quick", action="store_true", help="a smoke run: 4 + 2 recordings, 2 epochs, 3 trials")
    a = ap.parse_args()
    if not shutil.which("espeak-ng"):
        print("espeak-ng not found (Debian: apt-get install espeak-ng)", file=sys.stderr)
        return 77
    if a.quick:
        a.epochs, a.trials = 2, 3
    torch.set_num_threads(1)
    t0 = time.monotonic()
    train_paths, held_paths = recordings(a.out, a.quick)
    fpt = a.frames_per_token
    if a.features == "waveform":
        train_tok = [bt_train.load_tokens(p, fpt) for p in train_paths]
        held = [bt_train.load_tokens(p, fpt) for p in held_paths]
    else:
        # centred by the training set's mean per band: a constant offset would
        # point every key the same way (written into the .f32 files, so the
        # pipeline sees the same tokens)
        train_tok = [spectrum_tokens(p) for p in train_paths]
        mean = np.mean(np.concatenate(train_tok), axis=0)
        train_tok = [(t - mean).astype(np.float32) for t in train_tok]
        held = [(spectrum_tokens(p) - mean).astype(np.float32) for p in held_paths]
        for p, t in zip(held_paths, held):
            t.astype("<f4").tofile(p + ".f32")
    # the trainer's own held-out split (for choosing the epoch) comes from the
    # training recordings; the held-out recordings are only measured
    tr, va = zip(*(bt_train.cut(t, a.seq_len, 0.2) for t in train_tok))
    tr, va = np.concatenate(tr), np.concatenate(va)
    D = train_tok[0].shape[1]
    cfg = dict(hidden_dim=D, state_dim=0, inner_lr=a.inner_lr, objective=a.objective,
               feature_norm=a.feature_norm, update=a.update)
    print("%d training recordings (%d sequences of %d tokens, D=%d), %d held-out recordings (%d tokens)"
          % (len(train_paths), len(tr), a.seq_len, D, len(held_paths), sum(len(h) for h in held)), file=sys.stderr)
    layer, hist = bt_train.train(tr, va, cfg, a.epochs, 8, a.lr, a.loss, 0, a.max_seconds,
                                 bt_train.Progress())
    wpath = os.path.join(a.out, "layer.safetensors")
    layer.save_weights(wpath, training_data="espeak-ng: %d sentences x voices %s, 22050 Hz, %s"
                       % (len(TRAIN_TEXT), "/".join(TRAIN_VOICES),
                          "%d samples per token" % fpt if a.features == "waveform"
                          else "64-band log power spectra, 512-sample frames every 256, centred"))
    bt_train.plot(hist, os.path.join(a.out, "loss.png"), "espeak-ng speech, %s-%s-%s, eta %g"
                  % (a.objective, a.feature_norm, a.update, a.inner_lr), a.loss)
    train_s = time.monotonic() - t0
    trained = layer.ternary()
    d = layer.state_dim
    rows = []
    for name, w, learning in (("trained projections", trained, True), ("seed-drawn projections", None, True),
                              ("learning off (W = 0)", None, False)):
        row = {"layer": name, "forecast": forecast(cfg, w, learning, held)}
        for ratio in (1, 4):
            row["auc_M%dd" % ratio] = seen_unseen(cfg, w, held, ratio * d, a.trials, control=not learning)
        rows.append(row)
    base = static_baselines(train_tok, held)
    gst = gst_forecast(wpath, cfg, held_paths, fpt, a.features, D)
    # the torch module on the same held-out streams: the trainer's view of the engine
    with torch.no_grad():
        tnum = sum(float(((layer(torch.from_numpy(x))[0][:-1] - torch.from_numpy(x[1:])) ** 2).double().sum())
                   for x in held)
    tden = sum(float(np.sum((x[:-1].astype(np.float64) - x[1:]) ** 2)) for x in held)
    res = {"features": a.features, "loss": a.loss, "config": cfg, "epochs_run": len(hist["train"]), "best_epoch": hist["best_epoch"],
           "train_seconds": round(train_s, 1), "history": hist, "rows": rows, "static": base,
           "gst_forecast": gst, "torch_forecast_trained": tnum / tden}
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    print("\n%s tokens. Held-out: %d recordings (%d sentences x %d voices, one voice unseen), %s-%s-%s, eta %g, "
          "D=%d d=%d; %s loss, trained %d epochs (best %d) in %.0f s\n"
          % (a.features, len(held_paths), len(HELD_TEXT), len(HELD_VOICES), a.objective, a.feature_norm, a.update,
             a.inner_lr, D, d, a.loss, len(hist["train"]), hist["best_epoch"], train_s))
    print("| layer | forecast error (1 = persistence) | AUC seen/unseen M=d | AUC M=4d |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print("| %s | %.4f | %.3f ± %.3f | %.3f ± %.3f |" % ((r["layer"], r["forecast"]) + r["auc_M1d"] + r["auc_M4d"]))
    for k, v in base.items():
        print("| %s | %.4f | | |" % (k, v))
    print("\ntorch module (eval) on the same streams, trained: %.4f" % res["torch_forecast_trained"])
    print("through gst-launch-1.0 (weights-location): %s"
          % ("%.4f" % gst if gst is not None else "not run: the element has no weights-location property yet"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
