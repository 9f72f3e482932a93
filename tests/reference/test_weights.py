#!/usr/bin/python3
"""Weight files: the C engine against the numpy reference, through ctypes.

The files are written by bitttt_ref.weights_bytes (numpy and json, from the
SPEC text), loaded into the engine through the binding and into the
reference by set_projections; both must then agree bit for bit, on the
outputs, the surprises and the state (projection hash included). Also the
binding's load/save methods and their errors. Prints TAP.
"""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bitttt_ref as ref  # noqa: E402
import bitttt  # noqa: E402
import tap  # noqa: E402
from tap import check  # noqa: E402

F32 = np.float32
KINDS = [
    dict(objective="reconstruct"),
    dict(objective="reconstruct", feature_norm="none", update="nlms"),
    dict(objective="multiview"),
    dict(objective="multiview", feature_norm="none", residual=True),
    dict(objective="multiview", feature_norm="l2"),
    dict(objective="next"),
    dict(objective="next", feature_norm="l2"),
]


def ternary(rng, rows, cols, zeros=0.4):
    w = rng.choice(np.array([-1, 0, 1], np.int8), size=(rows, cols),
                   p=[(1 - zeros) / 2, zeros, (1 - zeros) / 2])
    return w


def trained_like(kind, D, d, rng):
    """A reference model with projections and scales unlike the seed's."""
    r = ref.Reference(D, d, eta=0.5, **kind)
    mv = kind["objective"] == "multiview"
    r.set_projections(ternary(rng, d, D), ternary(rng, D, d), ternary(rng, d, D) if mv else None,
                      s_down=F32(0.37), s_up=F32(0.021), s_down_v=F32(1.5) if mv else None)
    return r


def stream(rng, D, n=90):
    base = rng.standard_normal((5, D)).astype(F32)
    x = base[rng.integers(0, 5, n)] + F32(0.05) * rng.standard_normal((n, D)).astype(F32)
    x[n // 5] = np.nan  # one skipped token
    return x.astype(F32)


def test_engine_equals_reference():
    rng = np.random.default_rng(15)
    for kind in KINDS:
        for D, d in ((16, 4), (68, 9)):
            name = "%s D=%d d=%d" % (" ".join("%s=%s" % kv for kv in kind.items()), D, d)
            r = trained_like(kind, D, d, rng)
            buf = ref.weights_bytes(r, "test stream", pad=3)
            with bitttt.Model(D, inner_lr=0.5, state_dim=d, **kind) as m:
                m.forward(stream(rng, D, 10))  # learned state, which the load resets
                m.load_weights_bytes(buf)
                check(m.stats.tokens_seen == 0, name + ": load resets the counters")
                x = stream(rng, D)
                out, sur = m.forward(x, surprise=True)
                rout, rsur = r.forward(x)
                check(out.tobytes() == rout.tobytes(), name + ": outputs bit for bit")
                check(np.array_equal(sur, rsur, equal_nan=True), name + ": surprises bit for bit")
                st = m.to_bytes()
                check(st == r.state_bytes(), name + ": state bytes (hash of the loaded weights)")
                check(ref.parse_state(st)["projection_hash"] !=
                      ref.Reference(D, d, **kind).projection_hash(), name + ": hash not the seed-drawn one")


def test_export_is_the_spec_draw():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "w.safetensors")
        for kind in KINDS:
            for D, d in ((16, 4), (132, 33)):
                name = "%s D=%d d=%d" % (kind["objective"], D, d)
                with bitttt.Model(D, state_dim=d, seed=99, **kind) as m:
                    m.save_weights(path, "séance \"A\"")
                    meta, t = ref.parse_weights(open(path, "rb").read())
                    r = ref.Reference(D, d, seed=99, **kind)
                    ok = (np.array_equal(t["down"], r.down) and np.array_equal(t["up"], r.up)
                          and t["down_scale"][0] == r.s_down and t["up_scale"][0] == r.s_up)
                    if r.down_v is not None:
                        ok = ok and np.array_equal(t["down_v"], r.down_v) and t["down_v_scale"][0] == r.s_down
                    else:
                        ok = ok and "down_v" not in t
                    check(ok, name + ": saved tensors are the SPEC's seed-drawn ones")
                    check(meta == {"format": "bitttt-weights", "format_version": "1",
                                   "hidden_dim": str(D), "state_dim": str(d),
                                   "objective": kind["objective"], "feature_norm": r.feature_norm,
                                   "residual": "1" if r.residual else "0",
                                   "training_data": "séance \"A\""}, name + ": metadata", meta)
                    # the reference's file of the same projections is byte for byte
                    # another valid file: a seed-drawn export keeps the seed-drawn hash
                    with bitttt.Model(D, state_dim=d, seed=99, **kind) as m2:
                        m2.load_weights_bytes(ref.weights_bytes(r, order=sorted(t)))
                        check(ref.parse_state(m2.to_bytes())["projection_hash"] == r.projection_hash(),
                              name + ": seed-drawn weights keep the seed-drawn hash")


def test_binding_errors():
    rng = np.random.default_rng(3)
    r = trained_like(dict(objective="reconstruct"), 16, 4, rng)
    good = ref.weights_bytes(r)
    with bitttt.Model(16, state_dim=4) as m, tempfile.TemporaryDirectory() as tmp:
        def code(f, *a):
            try:
                f(*a)
                return bitttt.OK
            except bitttt.BitTTTError as e:
                return e.code
        check(code(m.load_weights_bytes, good[:-1]) == bitttt.ERR_WEIGHTS, "truncated: ERR_WEIGHTS")
        bad = bytearray(good)
        bad[-9] = 2  # the last entry of up
        check(code(m.load_weights_bytes, bytes(bad)) == bitttt.ERR_WEIGHTS, "value 2: ERR_WEIGHTS")
        r2 = ref.Reference(20, 5)
        check(code(m.load_weights_bytes, ref.weights_bytes(r2)) == bitttt.ERR_WEIGHTS_MISMATCH,
              "another D: ERR_WEIGHTS_MISMATCH")
        check(code(m.load_weights, os.path.join(tmp, "missing")) == bitttt.ERR_IO, "missing file: ERR_IO")
        p = os.path.join(tmp, "w.safetensors")
        with open(p, "wb") as f:
            f.write(good)
        check(code(m.load_weights, p) == bitttt.OK, "load_weights(path)")
        with bitttt.Model(16, inner_lr=0.5, state_dim=4, weights=p) as m2:
            x = stream(rng, 16)
            check(m2.forward(x).tobytes() == r.forward(x)[0].tobytes(), "Model(weights=path) computes the file's layer")
        try:
            bitttt.Model(20, weights=p)
            check(False, "Model(weights=) of another D raises")
        except bitttt.BitTTTError as e:
            check(e.code == bitttt.ERR_WEIGHTS_MISMATCH and "another shape" in str(e),
                  "Model(weights=) of another D raises ERR_WEIGHTS_MISMATCH", str(e))
        m.save_weights(p, "round trip")
        meta, t = ref.parse_weights(open(p, "rb").read())
        check(np.array_equal(t["down"], r.down) and t["up_scale"][0] == r.s_up
              and meta["training_data"] == "round trip", "save_weights of a loaded model writes its projections")


def main():
    return tap.run("weight files: engine against the numpy reference",
                   [test_engine_equals_reference, test_export_is_the_spec_draw, test_binding_errors])


if __name__ == "__main__":
    sys.exit(main())
