#!/usr/bin/python3
"""A Python (PyGObject) application around the bitttt element.

    GST_PLUGIN_PATH=build/gst /usr/bin/python3 examples/python/bitttt_app.py [--output surprise.png]

    appsrc ! bitttt surprise-meta=true ! appsink

Pushes tokens from a generator, pulls every output buffer and reads the
per-token surprise from the GstBitTTTSurpriseMeta; changes inner-lr while
playing and emits the `reset` action signal. The scenario:

    pattern A (learned) -> pattern B (surprise jumps, then falls)
    -> pattern C with inner-lr=0 (nothing is learned: surprise stays up)
    -> inner-lr back up (falls) -> reset (the layer is fresh again)

It checks what docs/SPEC.md promises (first surprise of a fresh layer is
1/d, surprise falls on repeats, counts match) and plots the surprise over
time to --output with examples/python/plot_surprise.py. Exits 0 when all
checks pass, 1 when one fails, 77 when gi, numpy or matplotlib is missing.
Needs Debian's python3-gi, gir1.2-gst-plugins-base-1.0, python3-numpy and
python3-matplotlib (use /usr/bin/python3).
"""
import argparse
import os
import sys

SKIP = 77
try:
    import numpy as np
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstApp", "1.0")
    from gi.repository import Gst, GstApp  # noqa: F401 (GstApp: the typelib)
    import matplotlib  # noqa: F401 (checked here, used by plot_surprise)
except (ImportError, ValueError) as e:
    print("skipped: %s" % e, file=sys.stderr)
    sys.exit(SKIP)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True      # no __pycache__ in the source tree
import plot_surprise  # noqa: E402

DIM = 64                    # floats per token
STATE_DIM = DIM // 4        # d: the engine's default
PERIOD = 8                  # tokens in a pattern
TOKENS_PER_BUFFER = 32
NOISE = 0.05
LR = 0.2
TOKEN_NS = Gst.MSECOND      # a 1 kHz sensor, for timestamps

CAPS = ("other/tensors,format=static,num_tensors=1,types=float32,"
        "dimensions=(string)%d:%d,framerate=(fraction)0/1" % (DIM, TOKENS_PER_BUFFER))


class App:
    def __init__(self):
        self.pipeline = Gst.parse_launch(
            "appsrc name=src format=time caps=%s "
            "! bitttt name=ttt surprise-meta=true post-messages=false inner-lr=%g "
            "! appsink name=sink sync=false" % (CAPS, LR))
        self.src = self.pipeline.get_by_name("src")
        self.ttt = self.pipeline.get_by_name("ttt")
        self.sink = self.pipeline.get_by_name("sink")
        self.rng = np.random.default_rng(11)
        self.patterns = self.rng.uniform(-1, 1, (3, PERIOD, DIM)).astype(np.float32)
        self.pushed = 0
        self.surprise = []          # per token, in stream order
        self.offsets = []           # meta offset of each buffer
        self.pipeline.set_state(Gst.State.PLAYING)

    def process(self, pattern, buffers):
        """Pushes `buffers` buffers of `pattern` in lock-step (push one, pull
        it back), so a property set between calls applies from the next
        buffer. Returns the surprise of those tokens."""
        start = len(self.surprise)
        for _ in range(buffers):
            idx = np.arange(self.pushed, self.pushed + TOKENS_PER_BUFFER) % PERIOD
            x = self.patterns[pattern][idx]
            x += self.rng.uniform(-NOISE, NOISE, x.shape).astype(np.float32)
            buf = Gst.Buffer.new_wrapped(x.tobytes())
            buf.pts = self.pushed * TOKEN_NS
            buf.duration = TOKENS_PER_BUFFER * TOKEN_NS
            if self.src.push_buffer(buf) != Gst.FlowReturn.OK:
                raise RuntimeError("appsrc refused a buffer")
            self.pushed += TOKENS_PER_BUFFER
            sample = self.sink.pull_sample()
            if sample is None:
                raise RuntimeError("the pipeline stopped: %s" % self.error())
            meta = sample.get_buffer().get_custom_meta("GstBitTTTSurpriseMeta")
            if meta is None:
                raise RuntimeError("output buffer without GstBitTTTSurpriseMeta")
            s = meta.get_structure()
            values = np.frombuffer(s.get_value("surprise").get_data(), dtype=np.float32)
            if s.get_value("tokens") != len(values):
                raise RuntimeError("meta: tokens != length of surprise")
            self.offsets.append(s.get_value("offset"))
            self.surprise.extend(values.tolist())
        return np.array(self.surprise[start:])

    def error(self):
        msg = self.pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
        return msg.parse_error()[0].message if msg else "no error message"

    def finish(self):
        self.src.end_of_stream()
        msg = self.pipeline.get_bus().timed_pop_filtered(
            5 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        processed = self.ttt.get_property("tokens-processed")
        self.pipeline.set_state(Gst.State.NULL)
        return msg is not None and msg.type == Gst.MessageType.EOS, processed


def run(output):
    app = App()
    fresh = 1.0 / STATE_DIM
    marks, checks = [], []

    a = app.process(0, 16)
    print("appsrc ! bitttt surprise-meta=true ! appsink: tokens of %d floats, d = %d, kernel %s\n"
          % (DIM, STATE_DIM, app.ttt.get_property("kernel")))
    print("  A, inner-lr=%g:        mean surprise %.3g (first 32) -> %.3g (last 32)"
          % (LR, a[:32].mean(), a[-32:].mean()))
    checks.append((abs(a[0] - fresh) <= 1e-6, "first token of a fresh layer: surprise == 1/d"))
    checks.append((a[-32:].mean() < a[:32].mean() / 10, "surprise falls >10x while A is learned"))

    marks.append((len(app.surprise), "pattern B"))
    b = app.process(1, 16)
    print("  B (the pattern changes): %.3g -> %.3g" % (b[:32].mean(), b[-32:].mean()))
    checks.append((b[:8].mean() > 10 * a[-32:].mean(), "the change makes surprise jump >10x"))

    marks.append((len(app.surprise), "pattern C, inner-lr=0"))
    app.ttt.set_property("inner-lr", 0.0)
    c0 = app.process(2, 8)
    print("  C, inner-lr=0:          %.3g -> %.3g (nothing learned)" % (c0[:32].mean(), c0[-32:].mean()))
    checks.append((0.5 < c0[-32:].mean() / c0[:32].mean() < 2, "inner-lr=0: surprise does not fall"))

    marks.append((len(app.surprise), "inner-lr=%g" % LR))
    app.ttt.set_property("inner-lr", LR)
    c1 = app.process(2, 16)
    print("  C, inner-lr=%g:        %.3g -> %.3g" % (LR, c1[:32].mean(), c1[-32:].mean()))
    checks.append((c1[-32:].mean() < c0[-32:].mean() / 10, "learning again: surprise falls >10x"))

    marks.append((len(app.surprise), "reset"))
    app.ttt.emit("reset")
    r = app.process(2, 8)
    print("  after the reset signal: first surprise %.7f (1/d = %.7f), meta offset %d"
          % (r[0], fresh, app.offsets[-8]))
    checks.append((abs(r[0] - fresh) <= 1e-6 and app.offsets[-8] == 0,
                   "after reset: surprise == 1/d again, offset 0"))

    eos, processed = app.finish()
    checks.append((eos, "clean end of stream"))
    checks.append((len(app.surprise) == app.pushed == processed,
                   "every token pushed came back with a surprise (%d)" % app.pushed))

    plot_surprise.plot(range(len(app.surprise)), app.surprise, output, marks, fresh,
                       title="Bit-TTT in a GStreamer pipeline: surprise per token")
    print("\n  plot: %s\n" % os.path.abspath(output))
    for ok, what in checks:
        print("  %s  %s" % ("ok  " if ok else "FAIL", what))
    return all(ok for ok, _ in checks)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--output", default="surprise.png", help="PNG to write (default: %(default)s)")
    args = ap.parse_args()
    Gst.init(None)
    if Gst.ElementFactory.find("bitttt") is None:
        print("The bitttt element is not available: set GST_PLUGIN_PATH to the"
              " directory holding libgstbitttt.so (e.g. build/gst)", file=sys.stderr)
        return 1
    return 0 if run(args.output) else 1


if __name__ == "__main__":
    sys.exit(main())
