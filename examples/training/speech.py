#!/usr/bin/python3
"""Worked example: train the projections on espeak-ng speech, measure on held-out speech.

    export PYTHONPATH=$PWD/engine/python BITTTT_LIBRARY=$PWD/build/engine/libbitttt.so.1 \\
        GST_PLUGIN_PATH=$PWD/build/gst LD_LIBRARY_PATH=$PWD/build/engine   # or: meson devenv -C build
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
   Each of the three runs twice: in process, in the C engine (the ctypes
   binding; the trained one loads layer.safetensors), and through
   gst-launch-1.0 ... ! bitttt [weights-location=layer.safetensors] ! ...
   (the held-out tokens as other/tensors files, one pipeline per file; the
   AUC in two pipelines per trial, the learned state handed over in a
   state-location file, the surprise read from the element's messages).
   Both must give the same figures, or the example fails. Cross-checks of
   the trained layer: the numpy reference given the trained ternary weights
   (tests/reference/bitttt_ref.py) and the torch module. With
   --features waveform the audio path (wavparse ! audioconvert ! bitttt
   frames-per-token=64) runs too; it scales each output token to its
   input's level (the element's mix), so it is compared with the engine's
   output scaled the same way.
   The element is the one gst-inspect-1.0 finds: GST_PLUGIN_PATH=build/gst
   (meson devenv) for the build's; without one that has weights-location
   the pipeline runs are skipped, saying so.
Prints a Markdown table and writes results.json.
"""
import argparse
import json
import os
import re
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


class Layer:
    """One fresh layer of the example: forward(x) -> (out, surprise), a learning
    switch. The C engine (ctypes binding) with the trained weight file or the
    seed-drawn projections; with reference=True the numpy reference given the
    trained ternary weights and scales instead (a cross-check: the engine's
    arithmetic bit for bit)."""

    def __init__(self, cfg, weights=None, learning=True, reference=False):
        self.reference = reference
        if reference:
            r = self.m = ref.Reference(cfg["hidden_dim"], cfg["state_dim"] or None, eta=cfg["inner_lr"],
                                       learning=learning, objective=cfg["objective"],
                                       feature_norm=cfg["feature_norm"], update=cfg["update"])
            r.down, r.up = weights["down"][0], weights["up"][0]
            r._down64, r._up64 = r.down.astype(np.int64), r.up.astype(np.int64)
            if "down_v" in weights:
                r.down_v = weights["down_v"][0]
                r._downv64 = r.down_v.astype(np.int64)
            r.s_down, r.s_up = np.float32(weights["down"][1]), np.float32(weights["up"][1])
            r.s_down_v = np.float32(weights["down_v"][1]) if "down_v" in weights else r.s_down
        else:
            self.m = bitttt.Model(cfg["hidden_dim"], state_dim=cfg["state_dim"], inner_lr=cfg["inner_lr"],
                                  learning=learning, objective=cfg["objective"],
                                  feature_norm=cfg["feature_norm"], update=cfg["update"], weights=weights)

    def forward(self, x):
        if self.reference:
            return self.m.forward(x)
        return self.m.forward(np.ascontiguousarray(x, np.float32), surprise=True)

    def set_learning(self, on):
        self.m.learning = bool(on)


def forecast_error(outs, streams):
    """sum ||out_t - x_{t+1}||^2 / sum ||x_t - x_{t+1}||^2 over all streams."""
    num = sum(float(np.sum((o[:-1].astype(np.float64) - x[1:]) ** 2)) for o, x in zip(outs, streams))
    den = sum(float(np.sum((x[:-1].astype(np.float64) - x[1:]) ** 2)) for x in streams)
    return num / den


def max_diff(a, b):
    """Largest |a - b| over lists of arrays of the same shapes (inf otherwise)."""
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        return float("inf")
    return max(float(np.max(np.abs(x.astype(np.float64) - y))) for x, y in zip(a, b))


def outputs(cfg, weights, learning, streams, reference=False):
    """Each stream's output, through a fresh layer (as one gst-launch run per file)."""
    return [Layer(cfg, weights, learning, reference).forward(x)[0] for x in streams]


def auc(seen, unseen):
    """bench_memory's auc(): P(unseen > seen) + P(equal) / 2 over all pairs."""
    s, u = np.asarray(seen, np.float64)[:, None], np.asarray(unseen, np.float64)[None, :]
    return float(np.mean((u > s) + 0.5 * (u == s)))


def draws(streams, M, trials, seed=1):
    """The (seen, fresh) token runs of every trial; they depend on seed alone,
    so every layer, in process or in the pipeline, gets the same ones."""
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        i, j = rng.choice(len(streams), size=2, replace=False)
        a, b = streams[i], streams[j]
        s0 = rng.integers(0, len(a) - M)
        u0 = rng.integers(0, max(1, len(b) - U_FRESH))
        yield a[s0:s0 + M], b[u0:u0 + U_FRESH]


def mean_se(aucs):
    return float(np.mean(aucs)), float(np.std(aucs, ddof=1) / np.sqrt(len(aucs)))


def seen_unseen(cfg, weights, streams, M, trials, control):
    """(mean AUC over trials, its standard error), in process."""
    aucs = []
    for seen, fresh in draws(streams, M, trials):
        e = Layer(cfg, weights, learning=not control)
        if not control:
            for _ in range(R_PRESENT):
                e.forward(seen)
        e.set_learning(False)
        _, ss = e.forward(seen)
        _, su = e.forward(fresh)
        aucs.append(auc(ss, su))
    return mean_se(aucs)


class Pipeline:
    """The same layers run by gst-launch-1.0 ... ! bitttt ! ...: the element
    that gst-inspect-1.0 finds (GST_PLUGIN_PATH=build/gst for the build's)."""

    @staticmethod
    def find():
        """(the element's plugin file, None) or (None, why it cannot run)."""
        if not shutil.which("gst-launch-1.0") or not shutil.which("gst-inspect-1.0"):
            return None, "no gst-launch-1.0"
        info = subprocess.run(["gst-inspect-1.0", "bitttt"], capture_output=True, text=True)
        if info.returncode != 0:
            return None, "gst-inspect-1.0 finds no bitttt element (GST_PLUGIN_PATH=build/gst)"
        if "weights-location" not in info.stdout:
            return None, "the bitttt element found has no weights-location property"
        m = re.search(r"^\s*Filename\s+(\S+)", info.stdout, re.M)
        return (m.group(1) if m else "?"), None

    def __init__(self, cfg, tmp):
        self.cfg, self.tmp, self.D = cfg, tmp, cfg["hidden_dim"]

    def element(self, weights, learning, state=None):
        c = self.cfg
        e = ["bitttt", "objective=" + c["objective"], "feature-norm=" + c["feature_norm"],
             "update=" + c["update"], "inner-lr=%r" % c["inner_lr"], "learning=%s" % str(bool(learning)).lower()]
        if weights:
            e.append("weights-location=" + weights)
        if state:
            e.append("state-location=" + state)
        return e

    def tensors(self, path):
        # one token per buffer: without timestamps every buffer is one
        # message, so a message's mean-surprise is that token's surprise
        return ["filesrc", "location=" + path, "blocksize=%d" % (4 * self.D), "!",
                "other/tensors,format=static,num_tensors=1,types=float32,dimensions=(string)%d:1,"
                "framerate=(fraction)0/1" % self.D, "!"]

    @staticmethod
    def run(args, messages=False):
        cmd = ["gst-launch-1.0"] + (["-m"] if messages else ["-q"]) + args
        try:
            # gst-launch-1.0 1.22 can hang after an error in the streaming
            # thread (docs/element.md, "Errors"): a stuck run fails by name
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            raise RuntimeError("%s did not finish within 120 s" % " ".join(cmd))
        if r.returncode != 0 or "ERROR" in r.stdout:
            raise RuntimeError("%s failed:\n%s%s" % (" ".join(cmd), r.stdout[-2000:], r.stderr[-2000:]))
        if messages:
            return np.array([float(v) for v in re.findall(
                r'from element "bitttt0" \(element\): bitttt, .*?tokens=\(guint64\)1, '
                r'mean-surprise=\(double\)([^,;]+)', r.stdout)])
        return None

    def write(self, x, name):
        path = os.path.join(self.tmp, name)
        np.ascontiguousarray(x, "<f4").tofile(path)
        return path

    def outputs(self, weights, learning, f32_paths):
        outs = []
        for p in f32_paths:
            raw = os.path.join(self.tmp, "out.f32")
            self.run(self.tensors(p) + self.element(weights, learning) + ["!", "filesink", "location=" + raw])
            outs.append(np.fromfile(raw, dtype="<f4").reshape(-1, self.D))
        return outs

    def audio_outputs(self, weights, learning, wav_paths, fpt):
        """The audio path (wavparse, audioconvert to F32, frames-per-token),
        mix = 1: output sample i is input sample i processed (docs/element.md),
        so the output tokens align with the input's without a shift."""
        outs = []
        for p in wav_paths:
            raw = os.path.join(self.tmp, "out.f32")
            self.run(["filesrc", "location=" + p, "!", "wavparse", "!", "audioconvert", "!",
                      "audio/x-raw,format=F32LE,channels=1", "!"] + self.element(weights, learning) +
                     ["frames-per-token=%d" % fpt, "mix=1", "!", "filesink", "location=" + raw])
            y = np.fromfile(raw, dtype="<f4")
            n = y.size // fpt
            outs.append(y[:n * fpt].reshape(n, fpt))
        return outs

    def seen_unseen(self, weights, streams, M, trials, control):
        """bench_memory's protocol in two pipelines per trial: the seen tokens
        R times with learning on, the state saved at EOS (state-location);
        then learning=false, that state loaded, the seen tokens and the fresh
        ones, their surprise read from the element's messages. The control
        (learning off, W = 0) needs only the second."""
        aucs = []
        state = os.path.join(self.tmp, "trial.state")
        for seen, fresh in draws(streams, M, trials):
            if os.path.exists(state):
                os.unlink(state)
            if not control:
                self.run(self.tensors(self.write(np.tile(seen, (R_PRESENT, 1)), "present.f32")) +
                         self.element(weights, True, state) + ["!", "fakesink"])
            s = self.run(self.tensors(self.write(np.concatenate([seen, fresh]), "test.f32")) +
                         self.element(weights, False, None if control else state) + ["!", "fakesink"],
                         messages=True)
            if s.size != len(seen) + len(fresh):
                raise RuntimeError("%d surprise messages for %d tokens" % (s.size, len(seen) + len(fresh)))
            aucs.append(auc(s[:len(seen)], s[len(seen):]))
        return mean_se(aucs)


def level_matched(y, x):
    """The element's audio output at mix = 1 (docs/element.md, "Audio level
    and mix"): each output token y scaled by min(||x|| / ||y||, max|x| / max|y|)."""
    y64, x64 = y.astype(np.float64), x.astype(np.float64)
    ny, nx = np.linalg.norm(y64, axis=1), np.linalg.norm(x64, axis=1)
    py, px = np.abs(y64).max(axis=1), np.abs(x64).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(ny > 0, np.minimum(nx / ny, px / py), 1.0)
    return (g[:, None] * y64).astype(np.float32)


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
    ap.add_argument("--require-pipeline", action="store_true",
                    help="fail (exit 1) instead of skipping the gst-launch-1.0 part when no element is found")
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
        # point every key the same way
        train_tok = [spectrum_tokens(p) for p in train_paths]
        mean = np.mean(np.concatenate(train_tok), axis=0)
        train_tok = [(t - mean).astype(np.float32) for t in train_tok]
        held = [(spectrum_tokens(p) - mean).astype(np.float32) for p in held_paths]
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
    d = layer.state_dim
    layers = (("trained projections", wpath, True), ("seed-drawn projections", None, True),
              ("learning off (W = 0)", None, False))
    rows, engine_outs = [], []
    for name, w, learning in layers:
        outs = outputs(cfg, w, learning, held)
        engine_outs.append(outs)
        row = {"layer": name, "forecast": forecast_error(outs, held)}
        for ratio in (1, 4):
            row["auc_M%dd" % ratio] = seen_unseen(cfg, w, held, ratio * d, a.trials, control=not learning)
        rows.append(row)
    base = static_baselines(train_tok, held)
    # cross-checks of the trained layer: the numpy reference given its ternary
    # weights, and the torch module (the trainer's view of the engine)
    ref_outs = outputs(cfg, layer.ternary(), True, held, reference=True)
    with torch.no_grad():
        torch_outs = [layer(torch.from_numpy(x))[0].numpy() for x in held]
    checks = {"reference_forecast_trained": forecast_error(ref_outs, held),
              "reference_max_abs_diff_trained": max_diff(ref_outs, engine_outs[0]),
              "torch_forecast_trained": forecast_error(torch_outs, held)}
    plugin, why = Pipeline.find()
    audio = None
    if plugin:
        print("through gst-launch-1.0, element %s" % plugin, file=sys.stderr)
        pipe = Pipeline(cfg, a.out)
        f32 = [pipe.write(x, os.path.basename(p) + ".f32") for p, x in zip(held_paths, held)]
        for row, (name, w, learning), outs in zip(rows, layers, engine_outs):
            gouts = pipe.outputs(w, learning, f32)
            row["gst_forecast"] = forecast_error(gouts, held)
            row["gst_max_abs_diff"] = max_diff(gouts, outs)
            for ratio in (1, 4):
                row["gst_auc_M%dd" % ratio] = pipe.seen_unseen(w, held, ratio * d, a.trials, control=not learning)
        if a.features == "waveform":
            # the audio path scales each output token to its input's level
            # (mix; 0 would be the input itself), so it is not the layer's
            # output: compared with that scaling applied to the engine's
            audio = []
            for (name, w, learning), outs in zip(layers, engine_outs):
                gouts = pipe.audio_outputs(w, learning, held_paths, fpt)
                want = [level_matched(o, x) for o, x in zip(outs, held)]
                audio.append({"layer": name, "gst_forecast": forecast_error(gouts, held),
                              "forecast": forecast_error(want, held), "max_abs_diff": max_diff(gouts, want)})
    res = {"features": a.features, "loss": a.loss, "config": cfg, "epochs_run": len(hist["train"]),
           "best_epoch": hist["best_epoch"], "train_seconds": round(train_s, 1), "history": hist, "rows": rows,
           "static": base, "checks": checks, "gst_element": plugin, "gst_not_run": why, "audio_path": audio}
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    print("\n%s tokens. Held-out: %d recordings (%d sentences x %d voices, one voice unseen), %s-%s-%s, eta %g, "
          "D=%d d=%d; %s loss, trained %d epochs (best %d) in %.0f s\n"
          % (a.features, len(held_paths), len(HELD_TEXT), len(HELD_VOICES), a.objective, a.feature_norm, a.update,
             a.inner_lr, D, d, a.loss, len(hist["train"]), hist["best_epoch"], train_s))
    print("| layer | run | forecast error (1 = persistence) | AUC seen/unseen M=d | AUC M=4d |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print("| %s | engine | %.4f | %.3f ± %.3f | %.3f ± %.3f |"
              % ((r["layer"], r["forecast"]) + r["auc_M1d"] + r["auc_M4d"]))
        if "gst_forecast" in r:
            print("| | gst-launch | %.4f | %.3f ± %.3f | %.3f ± %.3f |"
                  % ((r["gst_forecast"],) + r["gst_auc_M1d"] + r["gst_auc_M4d"]))
    for k, v in base.items():
        print("| %s | | %.4f | | |" % (k, v))
    print("\ntrained, numpy reference: %.4f (outputs within %.3g of the engine's); torch module (eval): %.4f"
          % (checks["reference_forecast_trained"], checks["reference_max_abs_diff_trained"],
             checks["torch_forecast_trained"]))
    if not plugin:
        print("through gst-launch-1.0: not run: %s" % why)
        return 1 if a.require_pipeline else 0
    print("gst-launch-1.0 (element %s): outputs within %s of the engine's"
          % (plugin, ", ".join("%.3g" % r["gst_max_abs_diff"] for r in rows)))
    for r in audio or ():
        print("audio path (frames-per-token=%d, mix=1), %s: %.4f through gst-launch, %.4f from the engine's "
              "output level-matched; samples within %.3g" % (fpt, r["layer"], r["gst_forecast"], r["forecast"],
                                                             r["max_abs_diff"]))
    # the pipeline runs the same engine on the same tokens: anything but the
    # same figures is a bug in the element, the example or the state file
    bad = [r["layer"] for r in rows if r["gst_max_abs_diff"] > 0 or
           any(r["gst_auc_M%dd" % k] != r["auc_M%dd" % k] for k in (1, 4))]
    bad += ["audio path, " + r["layer"] for r in audio or () if r["max_abs_diff"] > 1e-5]
    if bad:
        print("MISMATCH between the pipeline and the engine: %s" % ", ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
