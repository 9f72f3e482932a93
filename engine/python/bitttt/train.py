"""Train the ternary projections of a Bit-TTT layer on a recording.

    /usr/bin/python3 -m bitttt.train speech.wav --output layer.safetensors --plot loss.png

Input: WAV files (PCM 8/16/24/32-bit or 32-bit float; a token is
--frames-per-token consecutive frames, channels interleaved, as the element
cuts audio: D = channels x frames-per-token) or raw little-endian float32
token files (--hidden-dim floats per token, the element's other/tensors).
The tokens of each file are cut into sequences of --seq-len; the last
--holdout of each file's sequences are held out (a split in time, so no
held-out token is next to a training one).

Outer objective (docs/TRAINING.md): next-token forecasting of the layer's
output. For every sequence, from a fresh memory, the layer's output at t
should be the next input: loss = sum_t ||out_t - x_{t+1}||^2 over
sum_t ||x_t - x_{t+1}||^2, the error relative to persistence (repeating the
token, which is what a layer that adds nothing does: out = x). 1 is no
better than persistence, 0 a perfect forecast. --loss surprise instead
minimises the inner surprise (what else was tried; docs/TRAINING.md).

The projections are trained as in BitNet b1.58 (bitttt.torch): latent float
weights, absmean ternary in the forward, straight-through gradients,
through the inner TTT step unrolled over each sequence. Adam on the latent
weights. The weights with the best held-out loss are written (the
seed-drawn ones when no epoch beats them), as a bitttt weight file
(bitttt.weightfile).
"""
import argparse
import os
import struct
import sys
import time

import numpy as np
import torch

from . import weightfile
from .torch import BitTTT, DEFAULT_SEED, OBJECTIVES, FEATURE_NORMS, UPDATES

__all__ = ["read_wav", "load_tokens", "cut", "forecast_loss", "evaluate", "train", "main"]


def read_wav(path):
    """(samples float32 (frames, channels) in [-1, 1], rate) of a RIFF/WAVE file."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError("%s: not a RIFF/WAVE file" % path)
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(raw):
        cid, size = raw[pos:pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        body = raw[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = body
        elif cid == b"data":
            data = body  # a streamed WAV may state a size past the end: take what is there
        pos += 8 + size + (size & 1)
    if fmt is None or data is None or len(fmt) < 16:
        raise ValueError("%s: no fmt or data chunk" % path)
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == 0xFFFE and len(fmt) >= 26:
        tag = struct.unpack_from("<H", fmt, 24)[0]  # WAVE_FORMAT_EXTENSIBLE: the subformat
    width = bits // 8
    if channels < 1 or (tag, bits) not in ((1, 8), (1, 16), (1, 24), (1, 32), (3, 32)):
        raise ValueError("%s: unsupported WAV format (tag %d, %d bits)" % (path, tag, bits))
    n = len(data) // (width * channels) * channels
    b = np.frombuffer(data, dtype=np.uint8, count=n * width)
    if tag == 3:
        x = b.view("<f4").astype(np.float32)
    elif bits == 8:
        x = (b.astype(np.float32) - 128) / 128
    elif bits == 24:
        v = b.reshape(-1, 3).astype(np.int32)
        v = v[:, 0] | (v[:, 1] << 8) | (v[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v) / float(1 << 23)).astype(np.float32)
    else:
        x = (b.view("<i%d" % width) / float(1 << (bits - 1))).astype(np.float32)
    return x.reshape(-1, channels), rate


def load_tokens(path, frames_per_token=64, hidden_dim=None):
    """Tokens (N, D) float32 of a WAV file or a raw float32 file (hidden_dim
    floats per token; a WAV is raw when its name does not end in .wav)."""
    if path.lower().endswith(".wav"):
        x, _ = read_wav(path)
        n = x.shape[0] // frames_per_token
        return np.ascontiguousarray(x[:n * frames_per_token].reshape(n, frames_per_token * x.shape[1]))
    if not hidden_dim:
        raise ValueError("%s: a raw float32 file needs --hidden-dim" % path)
    x = np.fromfile(path, dtype="<f4")
    n = x.size // hidden_dim
    return np.ascontiguousarray(x[:n * hidden_dim].reshape(n, hidden_dim).astype(np.float32))


def cut(tokens, seq_len, holdout):
    """(train, held-out) sequences (S, seq_len, D) of one file's tokens: the
    last `holdout` fraction of its sequences are held out (at least one
    when holdout > 0 and there are two or more)."""
    n = tokens.shape[0] // seq_len
    seqs = tokens[:n * seq_len].reshape(n, seq_len, tokens.shape[1])
    k = min(n - 1, max(1, int(round(n * holdout)))) if holdout > 0 and n > 1 else 0
    return seqs[:n - k], seqs[n - k:]


def forecast_loss(out, x):
    """Next-token forecast error of out (B, T, D) for x, relative to persistence."""
    err = (out[:, :-1] - x[:, 1:]).pow(2).sum()
    base = (x[:, :-1] - x[:, 1:]).pow(2).sum()
    return err / base.clamp_min(1e-30)


def _loss(layer, x, kind):
    out, s = layer(x)
    if kind == "surprise":
        return s.mean()
    return forecast_loss(out, x)


@torch.no_grad()
def evaluate(layer, seqs, kind="next", batch=64):
    """Loss over held-out sequences, eval mode (the engine's arithmetic)."""
    was = layer.training
    layer.eval()
    num = den = 0.0
    for i in range(0, len(seqs), batch):
        x = torch.from_numpy(seqs[i:i + batch])
        out, s = layer(x)
        if kind == "surprise":
            num += float(s.sum())
            den += s.numel()
        else:
            num += float((out[:, :-1] - x[:, 1:]).pow(2).sum())
            den += float((x[:, :-1] - x[:, 1:]).pow(2).sum())
    layer.train(was)
    return num / max(den, 1e-30)


class Progress:
    """A plain-text progress bar on stderr (one line per epoch when not a tty)."""

    def __init__(self, quiet=False, stream=sys.stderr):
        self.quiet, self.stream = quiet, stream
        self.tty = stream.isatty()

    def step(self, epoch, epochs, i, n, loss):
        if self.quiet or not self.tty:
            return
        w = 30
        k = w * i // max(n, 1)
        self.stream.write("\repoch %d/%d [%s%s] %d/%d loss %.4f " % (epoch, epochs, "#" * k, "." * (w - k), i, n, loss))
        self.stream.flush()

    def epoch(self, epoch, epochs, train_loss, held, seconds):
        if self.quiet:
            return
        self.stream.write("%sepoch %d/%d [%s] train %.4f held-out %.4f (%.1f s)\n"
                          % ("\r" if self.tty else "", epoch, epochs, "#" * 30, train_loss, held, seconds))
        self.stream.flush()


def train(train_seqs, held_seqs, layer_kw, epochs=10, batch=8, lr=1e-2, loss="next", seed=0,
          max_seconds=None, progress=None):
    """Train a BitTTT(**layer_kw) on sequences (S, T, D) float32.

    Returns (layer with the best held-out weights, history dict: "train" and
    "held" per epoch, "held_initial" for the seed-drawn weights)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    layer = BitTTT(**layer_kw)
    progress = progress or Progress(quiet=True)
    held0 = evaluate(layer, held_seqs, loss)
    best, best_state = held0, {k: v.clone() for k, v in layer.state_dict().items()}
    hist = {"train": [], "held": [], "held_initial": held0, "best_epoch": 0}
    opt = torch.optim.Adam(layer.parameters(), lr=lr)
    start = time.monotonic()
    for ep in range(1, epochs + 1):
        layer.train()
        order = rng.permutation(len(train_seqs))
        nb = -(-len(order) // batch)
        total = 0.0
        for i in range(nb):
            x = torch.from_numpy(train_seqs[order[i * batch:(i + 1) * batch]])
            opt.zero_grad()
            lo = _loss(layer, x, loss)
            lo.backward()
            opt.step()
            total += float(lo)
            progress.step(ep, epochs, i + 1, nb, total / (i + 1))
        held = evaluate(layer, held_seqs, loss)
        hist["train"].append(total / nb)
        hist["held"].append(held)
        progress.epoch(ep, epochs, total / nb, held, time.monotonic() - start)
        if held < best:
            best, best_state, hist["best_epoch"] = held, {k: v.clone() for k, v in layer.state_dict().items()}, ep
        if max_seconds and time.monotonic() - start > max_seconds:
            break
    layer.load_state_dict(best_state)
    layer.eval()
    return layer, hist


def plot(hist, path, title, loss="next"):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    ep = np.arange(1, len(hist["train"]) + 1)
    ax.plot(ep, hist["train"], "o-", label="training (train mode)")
    ax.plot(ep, hist["held"], "s-", label="held-out (eval mode)")
    ax.axhline(hist["held_initial"], color="gray", ls="--", label="held-out, seed-drawn")
    if loss == "next":
        ax.axhline(1.0, color="black", ls=":", label="persistence (out = x)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m bitttt.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="+", help="WAV files or raw float32 token files")
    ap.add_argument("--output", "-o", required=True, help="weight file to write (.safetensors)")
    ap.add_argument("--plot", help="loss plot to write (PNG)")
    ap.add_argument("--frames-per-token", type=int, default=64, help="WAV: frames per token (64)")
    ap.add_argument("--hidden-dim", type=int, help="raw float32 input: floats per token (D)")
    ap.add_argument("--state-dim", type=int, default=0, help="d (default D/4)")
    ap.add_argument("--objective", choices=OBJECTIVES, default="reconstruct")
    ap.add_argument("--feature-norm", choices=FEATURE_NORMS, default="auto")
    ap.add_argument("--update", choices=UPDATES, default="gradient")
    ap.add_argument("--forget", type=float, default=0.0)
    ap.add_argument("--residual", action="store_true")
    ap.add_argument("--inner-lr", type=float, default=0.01, help="eta of the inner step (0.01)")
    ap.add_argument("--seed", type=lambda s: int(s, 0), default=DEFAULT_SEED,
                    help="projection seed of the initial weights (the engine's default)")
    ap.add_argument("--loss", choices=("next", "surprise"), default="next", help="outer objective")
    ap.add_argument("--seq-len", type=int, default=64, help="tokens per training sequence (64)")
    ap.add_argument("--holdout", type=float, default=0.2, help="held-out fraction of each file (0.2)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-2, help="Adam's step on the latent weights")
    ap.add_argument("--max-seconds", type=float, help="stop after the epoch that passes this")
    ap.add_argument("--description", help="training_data metadata (default: the input names)")
    ap.add_argument("--quiet", "-q", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    tr, ho = [], []
    for path in a.inputs:
        tok = load_tokens(path, a.frames_per_token, a.hidden_dim)
        t, h = cut(tok, a.seq_len, a.holdout)
        tr.append(t)
        ho.append(h)
    tr, ho = np.concatenate(tr), np.concatenate(ho)
    if not len(tr) or not len(ho):
        ap.error("need at least one training and one held-out sequence: more data or a shorter --seq-len")
    D = tr.shape[2]
    kw = dict(hidden_dim=D, state_dim=a.state_dim, inner_lr=a.inner_lr, seed=a.seed, objective=a.objective,
              feature_norm=a.feature_norm, update=a.update, forget=a.forget, residual=a.residual)
    if not a.quiet:
        print("%d training and %d held-out sequences of %d tokens, D=%d" % (len(tr), len(ho), a.seq_len, D),
              file=sys.stderr)
    layer, hist = train(tr, ho, kw, a.epochs, a.batch, a.lr, a.loss, 0, a.max_seconds, Progress(a.quiet))
    desc = a.description or ("%s; %d+%d sequences of %d tokens; loss %s, held-out %.4f (seed-drawn %.4f)"
                             % (", ".join(os.path.basename(p) for p in a.inputs), len(tr), len(ho), a.seq_len,
                                a.loss, min([hist["held_initial"]] + hist["held"]), hist["held_initial"]))
    layer.save_weights(a.output, training_data=desc)
    if a.plot:
        plot(hist, a.plot, "%s, %s loss, D=%d d=%d eta=%g" % (a.objective, a.loss, D, layer.state_dim, a.inner_lr),
             a.loss)
    if not a.quiet:
        print("held-out loss: seed-drawn %.4f, trained %.4f (epoch %d); wrote %s"
              % (hist["held_initial"], min([hist["held_initial"]] + hist["held"]), hist["best_epoch"], a.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
