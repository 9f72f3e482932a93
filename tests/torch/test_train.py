#!/usr/bin/python3
"""A tiny training run of bitttt.train (a few seconds): its loss goes down.

Prints TAP; skips (plan 1..0) when torch is not installed. The WAV input is
written with the stdlib's wave module, not with the trainer's reader.
"""
import os
import sys
import tempfile
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "reference"))
import tap  # noqa: E402
from tap import check  # noqa: E402

try:
    import torch
except ImportError:
    print("1..0 # SKIP torch not installed (Debian: apt-get install python3-torch)")
    sys.exit(0)

import numpy as np  # noqa: E402
from bitttt import train as bt_train, weightfile  # noqa: E402
import bitttt.torch as bt  # noqa: E402

torch.set_num_threads(1)
TMP = tempfile.mkdtemp(prefix="bitttt-train-")


def synth(n, rate=8000, seed=0):
    """A slowly gliding two-tone signal with noise, 16-bit PCM samples."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    f = 300 + 100 * np.sin(2 * np.pi * 0.3 * t)
    x = 0.5 * np.sin(2 * np.pi * np.cumsum(f) / rate) + 0.2 * np.sin(2 * np.pi * 1100 * t)
    x += 0.02 * rng.standard_normal(n)
    return np.clip(x * 32767, -32768, 32767).astype("<i2")


def write_wav(path, samples, rate=8000):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def test_wav_reader():
    p = os.path.join(TMP, "r.wav")
    s = synth(1000)
    write_wav(p, s)
    x, rate = bt_train.read_wav(p)
    check(rate == 8000 and x.shape == (1000, 1) and np.array_equal(x[:, 0], s / np.float32(32768)),
          "WAV reader: 16-bit PCM samples / 32768")
    tok = bt_train.load_tokens(p, frames_per_token=16)
    check(tok.shape == (62, 16) and np.array_equal(tok[1], x[16:32, 0]), "tokens: 16 consecutive frames each")
    raw = os.path.join(TMP, "r.f32")
    tok.astype("<f4").tofile(raw)
    check(np.array_equal(bt_train.load_tokens(raw, hidden_dim=16), tok), "raw float32 tokens read back")
    tr, ho = bt_train.cut(tok, 10, 0.2)
    check(tr.shape == (5, 10, 16) and ho.shape == (1, 10, 16) and np.array_equal(ho[0], tok[50:60]),
          "cut: the last 20% of the sequences held out")


def test_tiny_training():
    wav = os.path.join(TMP, "train.wav")
    write_wav(wav, synth(16 * 32 * 40))
    out, png = os.path.join(TMP, "w.safetensors"), os.path.join(TMP, "loss.png")
    args = [wav, "-o", out, "--plot", png, "--frames-per-token", "16", "--seq-len", "32", "--epochs", "8", "--batch", "4",
            "--lr", "3e-2", "--inner-lr", "0.5", "--objective", "reconstruct", "--feature-norm", "none",
            "--update", "nlms", "--quiet", "--description", "tiny synthetic run"]
    check(bt_train.main(args) == 0, "trainer ran")
    w = weightfile.read(out)
    check(w["metadata"]["training_data"] == "tiny synthetic run" and w["hidden_dim"] == 16
          and w["metadata"]["objective"] == "reconstruct" and w["metadata"]["feature_norm"] == "none",
          "weight file written with its metadata")
    check(open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n", "loss plot written (PNG)")
    # the loss goes down, measured here again from the file, not from the trainer's report
    tok = bt_train.load_tokens(wav, frames_per_token=16)
    _, ho = bt_train.cut(tok, 32, 0.2)
    kw = dict(inner_lr=0.5, update="nlms")
    seed = bt.BitTTT(16, objective="reconstruct", feature_norm="none", **kw)
    trained = bt.BitTTT.from_weights(out, **kw)
    l0, l1 = bt_train.evaluate(seed, ho), bt_train.evaluate(trained, ho)
    check(l1 < 0.9 * l0, "held-out forecast loss goes down: seed-drawn %.4f, trained %.4f" % (l0, l1))
    tern = trained.ternary()
    check(not np.array_equal(tern["up"][0], seed.ternary()["up"][0]), "training changed the ternary Up")


def test_train_history():
    tok = bt_train.load_tokens(os.path.join(TMP, "train.wav"), frames_per_token=16)
    tr, ho = bt_train.cut(tok, 32, 0.2)
    kw = dict(hidden_dim=16, inner_lr=0.5, objective="multiview")
    _, hist = bt_train.train(tr, ho, kw, epochs=4, lr=3e-2, batch=4)
    check(len(hist["train"]) == 4 and hist["train"][-1] < hist["train"][0],
          "multiview: training loss goes down (%s)" % ", ".join("%.3f" % v for v in hist["train"]))


if __name__ == "__main__":
    sys.exit(tap.run("bitttt.train, torch %s" % torch.__version__,
                     [test_wav_reader, test_tiny_training, test_train_history]))
