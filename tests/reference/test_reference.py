#!/usr/bin/python3
"""The C engine against the numpy reference (docs/SPEC.md), through ctypes.

Prints TAP; exits non-zero when any check fails. Needs BITTTT_LIBRARY (the
libbitttt.so to test) and PYTHONPATH holding engine/python; meson sets both.
Run it a second time under TTT_FORCE_ISA=scalar to check the ISA cap.

Every ISA computes the SPEC's f32 arithmetic in the SPEC's order, so with
any kernels the engine must equal the reference bit for bit (outputs,
surprises, W, counters, state bytes).
"""
import ctypes
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
FLT_MAX = np.finfo(F32).max
SHAPES = [(4, None), (8, None), (64, None), (64, 7), (132, None), (256, None)]
ETAS = [0.0, 0.01, 1.0, 2.0]


def bits(a):
    return np.ascontiguousarray(a, dtype=F32).view(np.uint32)


def same_bits(a, b):
    return a.shape == b.shape and np.array_equal(bits(a), bits(b))


def first_diff(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return "shapes %r vs %r" % (a.shape, b.shape)
    bad = np.argwhere(bits(a) != bits(b))
    if not len(bad):
        return "equal"
    i = tuple(bad[0])
    return "%d differ; first at %r: engine %r reference %r" % (len(bad), i, a[i], b[i])


def isa_levels():
    """Kernel caps to run: scalar, each SIMD level up to the CPU's (after
    TTT_FORCE_ISA), and auto."""
    top = bitttt.ISA_NAMES[bitttt.cpu_isa()]
    return [n for n in ("scalar", "avx2", "avx512") if bitttt.ISA_NAMES[n] <= top] + ["auto"]


def stream(rng, D, n=120):
    """n >= 80 tokens: Gaussian tokens at many scales, a repeating pattern, and the edge
    cases of SPEC steps 0 and 1 at fixed places."""
    x = rng.standard_normal((n, D)).astype(F32)
    x *= (10.0 ** rng.uniform(-3, 3, size=(n, 1))).astype(F32)
    x[30:60] = np.tile(x[10:15], (6, 1))       # a pattern seen again and again
    specials = {
        61: np.full(D, np.nan, F32),
        62: np.where(np.arange(D) == D // 2, F32(np.inf), x[62]),
        63: np.where(np.arange(D) == 1, F32(-np.inf), x[63]),
        64: (x[64] * F32(1e30)).astype(F32),                    # huge
        65: np.where(np.arange(D) == 0, FLT_MAX, x[65]),         # one FLT_MAX
        66: np.full(D, FLT_MAX, F32) * np.sign(x[66]).astype(F32),
        67: np.zeros(D, F32),                                    # all zero
        68: (x[68] * F32(1e-40)).astype(F32),                    # denormals
        69: np.where(np.arange(D) % 2 == 0, x[69] * F32(1e-39), x[69]).astype(F32),
        70: (x[70] / np.abs(x[70]).max() * F32(1.5e-30)).astype(F32),  # just above the floor
        71: (x[71] / np.abs(x[71]).max() * F32(0.9e-30)).astype(F32),  # just below it
        72: np.concatenate([[F32(127)], rng.integers(-126, 126, D - 1) + F32(0.5)]).astype(F32),
        73: -x[10],
        74: np.where(np.arange(D) == 3 % D, F32(np.nan), x[74]),
    }
    for t, v in specials.items():
        x[t] = v
    x[75:] = x[10:10 + n - 75]                   # an older stretch, once more
    return x


def engine_model(D, d, eta, learning, isa, seed=ref.DEFAULT_SEED):
    return bitttt.Model(D, inner_lr=eta, state_dim=d or 0, seed=seed,
                        learning=learning, max_isa=isa)


def engine_W(model):
    st = ref.parse_state(model.to_bytes())
    return st["W"], st


# ---------------------------------------------------------------------------

def test_reference_itself():
    # published splitmix64 outputs (Vigna's splitmix64.c): the reference PRNG
    # is checked against the algorithm's authors, not against the engine
    check(int(ref.splitmix64(0, 1)[0]) == 0xE220A8397B1DCDAF, "reference splitmix64(0) first output")
    check([int(v) for v in ref.splitmix64(1234567, 3)] ==
          [6457827717110365317, 3203168211198807973, 9817491932198370423],
          "reference splitmix64(1234567) first three outputs")
    w = ref.ternary(7, 0, 64, 256)
    frac = [np.mean(w == v) for v in (-1, 0, 1)]
    check(set(np.unique(w)) <= {-1, 0, 1} and min(frac) > 0.3, "ternary entries uniform on {-1,0,1}",
          frac)
    q, m = ref.quantise(np.array([127, 0.5, 1.5, 2.5, -0.5, -1.5, -127], F32))
    check(list(q) == [127, 0, 2, 2, 0, -2, -127] and m == 127, "quantise rounds ties to even", q)


def test_layout():
    cfg = bitttt._Config()
    bitttt._lib.ttt_config_default(ctypes.byref(cfg))
    check(cfg.struct_size == ctypes.sizeof(bitttt._Config),
          "ctypes ttt_config size equals C sizeof (%d)" % cfg.struct_size)
    check(cfg.max_isa == 0 and cfg.learning == 1 and cfg.seed == ref.DEFAULT_SEED and
          cfg.inner_lr == F32(0.01) and cfg.hidden_dim == 0 and cfg.state_dim == 0,
          "ttt_config_default fields read back at the right offsets")
    with bitttt.Model(132, inner_lr=1.25, state_dim=9, seed=(1 << 64) - 3, learning=False,
                      max_isa="scalar") as m:
        c = m.config
        check(c == bitttt.Config(132, 9, 1.25, False, (1 << 64) - 3, "scalar"),
              "ttt_get_config round trip of every field", c)
        m.forward(np.ones((3, 132), F32))
        check(m.stats == bitttt.Stats(3, 0), "ttt_stats read back", m.stats)


def compare_exact(tag, out, sur, W, st, r_out, r_sur, r):
    r.close_chunk()   # engine_W saved the engine's state, which closes its chunk
    check(same_bits(out, r_out), tag + ": outputs bit-exact", first_diff(out, r_out))
    check(np.array_equal(sur, r_sur, equal_nan=True) and
          same_bits(np.nan_to_num(sur), np.nan_to_num(r_sur)),
          tag + ": surprises bit-exact", first_diff(sur, r_sur))
    check(same_bits(W, r.W), tag + ": W bit-exact", first_diff(W, r.W))
    check((st["tokens_seen"], st["tokens_skipped"]) == (r.tokens_seen, r.tokens_skipped),
          tag + ": counters", (st["tokens_seen"], st["tokens_skipped"], r.tokens_seen, r.tokens_skipped))


def test_against_reference():
    rng = np.random.default_rng(20240521)
    levels = isa_levels()
    for D, d in SHAPES:
        for eta in ETAS:
            for learning in (True, False):
                x = stream(rng, D)
                r = ref.Reference(D, d, eta=eta, learning=True)
                # frozen or eta = 0 from W = 0 would test nothing: start from
                # a learned W, handed to the engine in the reference's bytes
                warm = not learning or eta == 0
                if warm:
                    r.eta = F32(0.5)
                    r.forward(rng.standard_normal((40, D)).astype(F32))
                    r.eta = F32(eta)
                    r.learning = learning
                state0 = r.state_bytes()
                r_out, r_sur = r.forward(x)
                for isa in levels:
                    tag = "D=%d d=%s eta=%g learning=%d %s" % (D, d or D // 4, eta, learning, isa)
                    with engine_model(D, d, eta, learning, isa) as m:
                        if warm:
                            m.from_bytes(state0)
                        out, sur = m.forward(x, surprise=True)
                        W, st = engine_W(m)
                        check(st["projection_hash"] == r.projection_hash(),
                              tag + ": projection hash")
                        compare_exact(tag, out, sur, W, st, r_out, r_sur, r)
                        check(m.to_bytes() == r.state_bytes(), tag + ": state bytes identical")


def run_split(m, x, cuts, save_between=False):
    outs, surs = [], []
    for a, b in zip(cuts[:-1], cuts[1:]):
        o, s = m.forward(x[a:b], surprise=True)
        outs.append(o)
        surs.append(s)
        if save_between:
            m.to_bytes()   # flushes the pending update; results must not move
    return np.concatenate(outs), np.concatenate(surs), m.to_bytes()


def test_split_invariance():
    rng = np.random.default_rng(7)
    for D, d in [(64, None), (132, None), (64, 7)]:
        x = stream(rng, D, 100)
        for isa in isa_levels():
            tag = "D=%d %s" % (D, isa)
            runs = {}
            cut_sets = {
                "one call": [0, 100],
                "100 calls": list(range(101)),
                "random splits": [0] + sorted(rng.choice(np.arange(1, 100), 12, replace=False).tolist()) + [100],
                "around block size": [0, 31, 32, 33, 64, 65, 97, 100],
            }
            for name, cuts in cut_sets.items():
                with engine_model(D, d, 0.7, True, isa) as m:
                    runs[name] = run_split(m, x, cuts, save_between=(name == "random splits"))
            base = runs.pop("one call")
            for name, (o, s, b) in runs.items():
                check(same_bits(o, base[0]) and same_bits(s, base[1]) and b == base[2],
                      "%s: %s == one call, bit for bit" % (tag, name), first_diff(o, base[0]))


# ---- SPEC "Objectives" ---------------------------------------------------

def objective_combos():
    """Every valid combination of the 1.1 fields, forget 0 and 0.05."""
    combos = []
    for forget in (0.0, 0.05):
        for update in ("gradient", "nlms"):
            combos.append(dict(objective="reconstruct", feature_norm="l2", update=update, forget=forget))
        combos.append(dict(objective="reconstruct", feature_norm="none", update="nlms", forget=forget))
        for norm in ("l2", "none"):
            for update in ("gradient", "nlms"):
                for residual in (False, True):
                    combos.append(dict(objective="multiview", feature_norm=norm, update=update,
                                       forget=forget, residual=residual))
                combos.append(dict(objective="next", feature_norm=norm, update=update, forget=forget))
    return combos


def combo_tag(c):
    return "%s-%s-%s%s%s" % (c["objective"], c["feature_norm"], c["update"],
                             "-residual" if c.get("residual") else "",
                             "-forget%g" % c["forget"] if c["forget"] else "")


def test_objectives_against_reference():
    rng = np.random.default_rng(1101)
    levels = isa_levels()
    combos = objective_combos()
    for i, c in enumerate(combos):
        # two shapes and two learning rates, alternated to keep the run short
        D, d = [(64, None), (132, 7)][i % 2]
        eta = [0.5, 2.0][(i // 2) % 2]
        x = stream(rng, D)
        r = ref.Reference(D, d, eta=eta, **c)
        r_out, r_sur = r.forward(x)
        for isa in levels:
            tag = "%s D=%d d=%s eta=%g %s" % (combo_tag(c), D, d or D // 4, eta, isa)
            with bitttt.Model(D, inner_lr=eta, state_dim=d or 0, max_isa=isa, **c) as m:
                out, sur = m.forward(x, surprise=True)
                W, st = engine_W(m)
                check(st["projection_hash"] == r.projection_hash() and st["identity"] == r.identity,
                      tag + ": projection hash (with Down_v for multiview) and identity")
                compare_exact(tag, out, sur, W, st, r_out, r_sur, r)
                check(m.to_bytes() == r.state_bytes(), tag + ": state bytes identical")


def test_objectives_split():
    rng = np.random.default_rng(77)
    D = 64
    x = stream(rng, D, 100)
    cuts = {"100 calls": list(range(101)),
            "random splits": [0] + sorted(rng.choice(np.arange(1, 100), 12, replace=False).tolist()) + [100]}
    for c in objective_combos():
        for isa in isa_levels():
            with bitttt.Model(D, inner_lr=0.7, max_isa=isa, **c) as m:
                base = run_split(m, x, [0, 100])
            for name, cut in cuts.items():
                with bitttt.Model(D, inner_lr=0.7, max_isa=isa, **c) as m:
                    o, s, b = run_split(m, x, cut, save_between=(name == "random splits"))
                check(same_bits(o, base[0]) and same_bits(s, base[1]) and b == base[2],
                      "%s %s: %s == one call, bit for bit" % (combo_tag(c), isa, name),
                      first_diff(o, base[0]))


def test_objectives_state():
    rng = np.random.default_rng(13)
    D = 64
    x = stream(rng, D, 80)
    kinds = {"reconstruct": dict(objective="reconstruct"),
             "reconstruct-none": dict(objective="reconstruct", feature_norm="none", update="nlms"),
             "multiview": dict(objective="multiview"),
             "multiview-residual": dict(objective="multiview", residual=True),
             "next": dict(objective="next")}
    blobs = {}
    for name, kw in kinds.items():
        r = ref.Reference(D, eta=0.5, **kw)
        r.forward(x[:40])
        blobs[name] = r.state_bytes()
        st = ref.parse_state(blobs[name])
        check(st["version"] == (1 if name == "reconstruct" else 2) and st["identity"] == r.identity,
              "%s: reference state version %d identity %#x" % (name, st["version"], st["identity"]))
        with bitttt.Model(D, inner_lr=0.5, max_isa="scalar", **kw) as m:
            m.from_bytes(blobs[name])
            check(m.to_bytes() == blobs[name], name + ": reference-written state loads, saves back identically")
            out, sur = m.forward(x[40:], surprise=True)
            r_out, r_sur = r.forward(x[40:])
            check(same_bits(out, r_out) and same_bits(np.nan_to_num(sur), np.nan_to_num(r_sur)) and
                  m.to_bytes() == r.state_bytes(),
                  name + ": continues like the reference (previous key restored for next)",
                  first_diff(out, r_out))
        # update and forget are settings: a state loads whatever they are
        with bitttt.Model(D, update="nlms", forget=0.2, **{k: v for k, v in kw.items() if k != "update"}) as m:
            m.from_bytes(blobs[name])
            check(True, name + ": loads into a model with another update and forget")
    for a in kinds:
        for b in kinds:
            if a == b:
                continue
            with bitttt.Model(D, **kinds[b]) as m:
                expect_error(bitttt.ERR_MISMATCH, lambda: m.from_bytes(blobs[a]),
                             "state of %s into %s: MISMATCH" % (a, b))
    with bitttt.Model(D, objective="multiview", feature_norm="l2") as m:
        expect_error(bitttt.ERR_MISMATCH, lambda: m.from_bytes(blobs["multiview"]),
                     "multiview state with magnitude into multiview l2: MISMATCH")


def test_objectives_config():
    with bitttt.Model(64, objective="multiview", update="nlms", forget=0.25, residual=True) as m:
        c = m.config
        check((c.objective, c.feature_norm, c.update, c.forget, c.residual) ==
              ("multiview", "none", "nlms", 0.25, True), "config round trip of the 1.1 fields", c)
    for kw in (dict(objective="next", residual=True), dict(feature_norm="none"),
               dict(forget=1.0), dict(forget=-1e-9), dict(forget=float("inf"))):
        expect_error(bitttt.ERR_INVALID_ARG, lambda: bitttt.Model(64, **kw), "%r: INVALID_ARG" % kw)
    for kw in (dict(objective="x"), dict(update="adam"), dict(feature_norm="l1")):
        try:
            bitttt.Model(64, **kw)
            check(False, "%r rejected by the binding" % kw)
        except ValueError:
            check(True, "%r rejected by the binding" % kw)


def test_first_output_and_memory():
    rng = np.random.default_rng(3)
    for isa in isa_levels():
        for D in (4, 64, 256):
            x = rng.standard_normal((2, D)).astype(F32)
            with bitttt.Model(D, max_isa=isa) as m:
                out = m.forward(x)
            check(same_bits(out[0], x[0]), "%s D=%d: first output of a fresh model == input" % (isa, D))
        # the memory-effect check of the original issue
        v = rng.standard_normal((3, 64)).astype(F32)
        seq = v[[0, 1, 2, 0, 1, 2]]
        with bitttt.Model(64, inner_lr=0.005, max_isa=isa) as m:
            out = m.forward(seq)
        check(same_bits(out[0], seq[0]), "%s memory check: first output == input exactly" % isa)
        delta = float(np.max(np.abs(out[3] - seq[3])))
        check(delta > 1e-3, "%s memory check: token 0 seen again differs (max |out-in| = %g)" % (isa, delta))


def test_original_abi():
    """Declared exactly as the original ctypes clients did: ttt_forward
    returning None, no ttt_config, no numpy-aware helpers."""
    lib = ctypes.CDLL(os.environ.get("BITTTT_LIBRARY") or bitttt.library_path)
    lib.ttt_create.restype = ctypes.c_void_p
    lib.ttt_create.argtypes = [ctypes.c_size_t, ctypes.c_float]
    lib.ttt_forward.restype = None
    lib.ttt_forward.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t,
                                ctypes.POINTER(ctypes.c_float)]
    lib.ttt_destroy.restype = None
    lib.ttt_destroy.argtypes = [ctypes.c_void_p]

    dim, seq_len = 64, 6
    model = lib.ttt_create(dim, 0.005)
    check(bool(model), "original ABI: ttt_create returns a model")
    rng = np.random.default_rng(11)
    v = rng.standard_normal((3, dim)).astype(F32)
    inp = np.ascontiguousarray(v[[0, 1, 2, 0, 1, 2]])
    out = np.zeros_like(inp)
    lib.ttt_forward(model, inp.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), seq_len,
                    out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
    in_buf = (ctypes.c_float * dim)(*v[0].tolist())     # plain ctypes arrays, no numpy
    out_buf = (ctypes.c_float * dim)()
    lib.ttt_forward(model, in_buf, 1, out_buf)
    lib.ttt_destroy(model)
    lib.ttt_destroy(None)

    r = ref.Reference(dim, eta=0.005)
    r_out, _ = r.forward(np.concatenate([inp, v[:1]]))
    check(same_bits(out[0], inp[0]), "original ABI: first output == input")
    exact = bitttt.cpu_isa() == "scalar"
    close = np.allclose(out, r_out[:6], rtol=1e-4, atol=1e-4) and \
        np.allclose(np.array(out_buf[:], F32), r_out[6], rtol=1e-4, atol=1e-4)
    check((same_bits(out, r_out[:6]) and same_bits(np.array(out_buf[:], F32), r_out[6])) if exact else close,
          "original ABI: outputs match the reference (default eta, default seed)")


def expect_error(code, fn, name):
    try:
        fn()
    except bitttt.BitTTTError as e:
        return check(e.code == code, name, "got %r" % e)
    return check(False, name, "no error raised")


def test_state():
    rng = np.random.default_rng(5)
    D = 64
    x = stream(rng, D, 80)
    # scalar: the engine's bytes are compared with the reference's
    with bitttt.Model(D, max_isa="scalar") as a, bitttt.Model(D, seed=1) as other, \
            bitttt.Model(D, state_dim=8) as wide, bitttt.Model(128) as big:
        a.forward(x[:40])
        blob = a.to_bytes()
        st = ref.parse_state(blob)
        r = ref.Reference(D)
        r.forward(x[:40])
        check(st["D"] == D and st["d"] == 16 and st["seed"] == ref.DEFAULT_SEED and
              st["reserved"] == 0 and st["projection_hash"] == r.projection_hash(),
              "state header fields as SPEC says")
        expect_error(bitttt.ERR_MISMATCH, lambda: other.from_bytes(blob), "other seed: MISMATCH")
        expect_error(bitttt.ERR_MISMATCH, lambda: big.from_bytes(blob), "other D: MISMATCH")
        expect_error(bitttt.ERR_MISMATCH, lambda: wide.from_bytes(blob), "other d: MISMATCH")
        # the projection hash alone tells projections apart: same seed field
        forged = bytearray(blob)
        forged[32] ^= 1
        forged[-8:] = ref.fnv1a64(bytes(forged[:-8])).to_bytes(8, "little")
        expect_error(bitttt.ERR_MISMATCH, lambda: a.from_bytes(bytes(forged)),
                     "other projection hash, valid checksum: MISMATCH")

        with bitttt.Model(D, max_isa="scalar") as b, bitttt.Model(D, max_isa="scalar") as twin:
            twin.from_bytes(blob)
            for pos in (0, 9, 13, 20, 45, 64, len(blob) // 2, len(blob) - 1):
                bad = bytearray(blob)
                bad[pos] ^= 0x10
                code = bitttt.ERR_VERSION if 8 <= pos < 12 else bitttt.ERR_FORMAT
                expect_error(code, lambda: b.from_bytes(bytes(bad)), "byte %d corrupted: %s" % (
                    pos, "VERSION" if code == bitttt.ERR_VERSION else "FORMAT"))
            expect_error(bitttt.ERR_FORMAT, lambda: b.from_bytes(blob[:-1]), "truncated: FORMAT")
            expect_error(bitttt.ERR_FORMAT, lambda: b.from_bytes(blob + b"\0"), "extended: FORMAT")
            r_nan = ref.Reference(D)
            r_nan.W[3, 4] = np.nan
            expect_error(bitttt.ERR_FORMAT, lambda: b.from_bytes(r_nan.state_bytes()),
                         "NaN in W with valid checksum: FORMAT")
            r_cnt = ref.Reference(D)
            r_cnt.tokens_seen, r_cnt.tokens_skipped = 1, 2
            expect_error(bitttt.ERR_FORMAT, lambda: b.from_bytes(r_cnt.state_bytes()),
                         "skipped > seen: FORMAT")
            check(b.stats == bitttt.Stats(0, 0) and ref.parse_state(b.to_bytes())["W"].any() == 0,
                  "failed loads left the model untouched")

            b.from_bytes(r.state_bytes())          # written by the reference
            check(b.to_bytes() == blob, "reference-written state loads; saves back identically")
            ob, sb = b.forward(x[40:], surprise=True)
            oa, sa = a.forward(x[40:], surprise=True)
            ot, stt = twin.forward(x[40:], surprise=True)
            check(same_bits(ob, oa) and same_bits(sb, sa) and same_bits(ot, oa) and
                  a.to_bytes() == b.to_bytes() == twin.to_bytes(),
                  "round trip: loaded models continue identically")

        with tempfile.TemporaryDirectory() as tmp, bitttt.Model(D, max_isa="scalar") as c:
            path = os.path.join(tmp, "state.bin")
            a.save(path)
            c.load(path)
            check(c.to_bytes() == a.to_bytes() and sorted(os.listdir(tmp)) == ["state.bin"],
                  "save/load through a file, no temporary left")
            expect_error(bitttt.ERR_IO, lambda: c.load(os.path.join(tmp, "missing")), "missing file: IO")


def test_binding():
    D = 64
    rng = np.random.default_rng(9)
    x = rng.standard_normal((50, D)).astype(F32)
    expect_error(bitttt.ERR_INVALID_ARG, lambda: bitttt.Model(6), "D=6: INVALID_ARG")
    expect_error(bitttt.ERR_INVALID_ARG, lambda: bitttt.Model(D, inner_lr=2.5), "eta=2.5: INVALID_ARG")
    with bitttt.Model(D) as m, bitttt.Model(D) as n:
        expect_error(bitttt.ERR_INVALID_ARG, lambda: setattr(m, "inner_lr", float("nan")),
                     "inner_lr = NaN: INVALID_ARG")
        m.inner_lr = 0.25
        m.learning = False
        check(m.inner_lr == 0.25 and m.learning is False, "inner_lr and learning properties")
        m.learning = True
        n.inner_lr = 0.25
        y = x.copy()
        ptr = y.ctypes.data
        res = m.forward(y, out=y)
        ref_out = n.forward(x)
        check(res is y and y.ctypes.data == ptr and same_bits(y, ref_out),
              "in place (out=x) equals out of place")
        check(same_bits(m.forward(x[0]), n.forward(x[:1])[0]), "a 1-D token works like (1, D)")
        expect_error(bitttt.ERR_INVALID_ARG, lambda: m.forward(y[1:], out=y[:-1]),
                     "partly overlapping out: INVALID_ARG")
        try:
            m.forward(x, out=np.empty((50, D), np.float64))
            check(False, "out of the wrong dtype rejected")
        except ValueError:
            check(True, "out of the wrong dtype rejected")
        # one table, or the choice per slot ("tgemm=avx2 ...")
        tables = {w.split("=")[-1] for w in m.kernel.split(" ")}
        check(m.stats.tokens_seen == 51 and tables <= {"scalar", "avx2", "avx2-vnni", "avx512", "avx512-vnni"},
              "stats and kernel", (m.stats, m.kernel))
        m.reset()
        check(m.stats == bitttt.Stats(0, 0) and not ref.parse_state(m.to_bytes())["W"].any(),
              "reset clears W and counters")
    check(repr(m) == "<bitttt.Model closed>", "context manager closes")
    try:
        m.forward(x)
        check(False, "a closed model raises")
    except ValueError:
        check(True, "a closed model raises")
    check(bitttt.version() == "%d.%d.%d" % tuple((bitttt._lib.ttt_version() >> s) & 255 for s in (16, 8, 0)),
          "version() agrees with ttt_version()", bitttt.version())
    forced = os.environ.get("TTT_FORCE_ISA")
    with bitttt.Model(D, max_isa="avx512") as m, bitttt.Model(D, max_isa="scalar") as s:
        check(s.kernel == "scalar", "max_isa=scalar gives the scalar kernels")
        with bitttt.Model(D, max_isa=bitttt.cpu_isa()) as top, bitttt.Model(D) as auto:
            check(auto.kernel == top.kernel, "auto uses the best kernels of this CPU",
                  (auto.kernel, top.kernel))
        if forced == "scalar":
            check(bitttt.cpu_isa() == "scalar" and m.kernel == "scalar",
                  "TTT_FORCE_ISA=scalar caps every model", (bitttt.cpu_isa(), m.kernel))




# ---- SPEC "Large d": the chunked recurrence --------------------------------

LARGE = [(2048, 512), (2048, 517)]
# (first token, inner_lr, learning) from that token on: settings changed in
# the middle of chunks, learning off for a while
SCHEDULE = [(0, 0.7, True), (45, 0.7, False), (50, 0.3, True), (131, 1.0, True), (170, 0.2, True)]


def run_schedule(fwd, set_eta, set_learning, x, extra_cuts=()):
    cuts = sorted(set([a for a, _, _ in SCHEDULE] + list(extra_cuts) + [len(x)]))
    outs, surs = [], []
    for a, b in zip(cuts[:-1], cuts[1:]):
        for start, eta, learning in SCHEDULE:
            if start == a:
                set_eta(eta)
                set_learning(learning)
        o, s = fwd(x[a:b])
        outs.append(o)
        surs.append(s)
    return np.concatenate(outs), np.concatenate(surs)


def engine_schedule(m, x, extra_cuts=()):
    def set_eta(v):
        m.inner_lr = v

    def set_learning(v):
        m.learning = v
    return run_schedule(lambda xs: m.forward(xs, surprise=True), set_eta, set_learning, x, extra_cuts)


def ref_schedule(r, x):
    def set_eta(v):
        r.eta = F32(v)

    def set_learning(v):
        r.learning = v
    return run_schedule(r.forward, set_eta, set_learning, x)


def test_large_d_against_reference():
    rng = np.random.default_rng(4096)
    for D, d in LARGE:
        x = stream(rng, D, 200)
        r = ref.Reference(D, d)
        r_out, r_sur = ref_schedule(r, x)
        # then a save (which closes the open chunk) and more tokens
        state_mid = r.state_bytes()
        x2 = stream(rng, D, 80)[:45]
        r_out2, r_sur2 = r.forward(x2)
        for isa in isa_levels():
            tag = "large D=%d d=%d %s" % (D, d, isa)
            with engine_model(D, d, 0.7, True, isa) as m:
                out, sur = engine_schedule(m, x)
                check(m.to_bytes() == state_mid, tag + ": state bytes identical")
                out2, sur2 = m.forward(x2, surprise=True)
                W, st = engine_W(m)
                compare_exact(tag, np.concatenate([out, out2]), np.concatenate([sur, sur2]), W, st,
                              np.concatenate([r_out, r_out2]), np.concatenate([r_sur, r_sur2]), r)
            with engine_model(D, d, SCHEDULE[-1][1], SCHEDULE[-1][2], isa) as m:
                m.from_bytes(state_mid)   # a loaded state starts a chunk, as the save did
                out2, sur2 = m.forward(x2, surprise=True)
                check(same_bits(out2, r_out2) and same_bits(sur2, r_sur2),
                      tag + ": loaded state continues bit for bit", first_diff(out2, r_out2))


LARGE_COMBOS = [
    dict(objective="reconstruct", feature_norm="l2", update="gradient", forget=0.05),
    dict(objective="reconstruct", feature_norm="none", update="nlms", forget=0.0),
    dict(objective="multiview", feature_norm="none", update="nlms", forget=0.05, residual=True),
    dict(objective="multiview", feature_norm="l2", update="gradient", forget=0.0, residual=False),
    dict(objective="next", feature_norm="none", update="gradient", forget=0.0),
    dict(objective="next", feature_norm="l2", update="nlms", forget=0.05),
]


def test_large_d_objectives():
    rng = np.random.default_rng(4097)
    D, d = 2048, 512
    for c in LARGE_COMBOS:
        x = stream(rng, D, 110)
        r = ref.Reference(D, d, eta=0.7, **c)
        r_out, r_sur = r.forward(x)
        for isa in isa_levels():
            tag = "large %s %s" % (combo_tag(c), isa)
            with bitttt.Model(D, inner_lr=0.7, state_dim=d, max_isa=isa, **c) as m:
                out, sur = m.forward(x, surprise=True)
                W, st = engine_W(m)
                compare_exact(tag, out, sur, W, st, r_out, r_sur, r)
                check(m.to_bytes() == r.state_bytes(), tag + ": state bytes identical")


def test_large_d_split():
    rng = np.random.default_rng(4098)
    D, d = 2048, 512
    x = stream(rng, D, 200)
    cut_sets = {
        "random splits": sorted(rng.choice(np.arange(1, 200), 25, replace=False).tolist()),
        "single tokens 20..80": list(range(20, 81)),
        "around chunk size": [31, 32, 33, 63, 64, 65, 96, 127, 129],
    }
    for c in (dict(objective="reconstruct"), dict(objective="next", feature_norm="none")):
        for isa in isa_levels():
            with bitttt.Model(D, inner_lr=0.7, state_dim=d, max_isa=isa, **c) as m:
                base = engine_schedule(m, x) + (m.to_bytes(),)
            for name, cuts in cut_sets.items():
                with bitttt.Model(D, inner_lr=0.7, state_dim=d, max_isa=isa, **c) as m:
                    o, s = engine_schedule(m, x, cuts)
                    b = m.to_bytes()
                check(same_bits(o, base[0]) and same_bits(s, base[1]) and b == base[2],
                      "large %s %s: %s == one call per setting, bit for bit" % (c["objective"], isa, name),
                      first_diff(o, base[0]))


def test_large_d_per_token_order():
    """The chunked order and the per-token order compute the same exact
    quantities; in f32 they differ by roundings only. A prediction is a sum
    of d + n terms (n < 32 chunk corrections), so its two roundings differ by
    at most about (d + 2n) u |W||k| ~ 3e-5 ||p|| at d = 512 (u = 2^-24),
    which the contracting update (eta <= 1) does not let grow along the
    stream. With e = p - v, a change dp of p moves the surprise s = |e|^2 / d
    by about 2 |e| |dp| / d = 2 sqrt(s / d) |dp|. Checked: the surprises
    agree within ten times that, plus tol * s."""
    rng = np.random.default_rng(4099)
    D, d = 2048, 512
    x = stream(rng, D, 150)
    x = x[np.all(np.isfinite(x), axis=1) & (np.max(np.abs(x), axis=1) < 1e20)]
    r = ref.Reference(D, d, eta=0.7)
    r.chunk_min_d = 1 << 30
    _, r_sur, _, r_p = r.forward(x, trace=True)
    with engine_model(D, d, 0.7, True, "auto") as m:
        _, sur = m.forward(x, surprise=True)
    tol = 10 * (d + 64) * 2.0 ** -24
    s = r_sur.astype(np.float64)
    pn = np.linalg.norm(r_p.astype(np.float64), axis=1)
    bound = tol * (2 * np.sqrt(s / d) * pn + s)
    diff = np.abs(sur.astype(np.float64) - s)
    worst = np.max(diff / np.maximum(bound, 1e-300))
    check(worst <= 1, "large d: chunked surprises within the rounding bound of the per-token order "
          "(worst difference / bound %.3g)" % worst)
    check(np.any(diff > 0), "large d: the two orders really differ (the test can fail)")


TESTS = [test_reference_itself, test_layout, test_against_reference, test_split_invariance,
         test_first_output_and_memory, test_original_abi, test_state, test_binding,
         test_objectives_against_reference, test_objectives_split, test_objectives_state,
         test_objectives_config, test_large_d_against_reference, test_large_d_objectives,
         test_large_d_split, test_large_d_per_token_order]


def main():
    return tap.run("library %s %s, cpu isa %s, TTT_FORCE_ISA=%s" % (
        bitttt.library_path, bitttt.version(), bitttt.cpu_isa(), os.environ.get("TTT_FORCE_ISA")), TESTS)


if __name__ == "__main__":
    sys.exit(main())
