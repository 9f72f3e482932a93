#!/usr/bin/python3
"""The PyTorch module (bitttt.torch) against the C engine and the numpy reference.

Prints TAP; skips (plan 1..0) when torch is not installed. Needs
BITTTT_LIBRARY and PYTHONPATH holding engine/python; meson sets both.

What must agree, and how closely (the tolerance the module's docstring
refers to):
- exactly: the seed-drawn ternary projections (against the engine's own
  projection hash), the int8 activations q, the integer Down products and
  the keys of every objective (against the reference, which the engine
  matches bit for bit: tests/reference/test_reference.py);
- the surprise: |s_torch - s_engine| <= 2e-4 * s_engine + 1e-9;
- the output, per element: |out_torch - out_engine| <= 2 * g + 1e-5 * (|x| +
  |out - x|), where g is the token's Up step (mp * scale / 127): torch sums
  W kin in another order, so p differs by roundings and an int8 of the
  quantised prediction may land one unit away; each such unit moves an
  output by g. Skipped tokens: the same ones, out = x bit for bit.
"""
import os
import sys

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
import bitttt  # noqa: E402
import bitttt.torch as bt  # noqa: E402
import bitttt_ref as ref  # noqa: E402
import test_reference as tr  # noqa: E402

torch.set_num_threads(1)
F32 = np.float32
SURPRISE_REL = 2e-4
OUT_REL = 1e-5


def torch_eval(layer, x):
    with torch.no_grad():
        out, s = layer.eval()(torch.from_numpy(np.ascontiguousarray(x, dtype=F32)))
    return out.numpy(), s.numpy()


def within(tag, x, out_t, s_t, out_e, s_e, g):
    """The stated tolerance; g (N,) the Up step per token."""
    skip_t, skip_e = np.isnan(s_t), np.isnan(s_e)
    ok_skip = np.array_equal(skip_t, skip_e)
    ok_skip_out = ok_skip and np.array_equal(tr.bits(out_t[skip_e]), tr.bits(x[skip_e]))
    live = ~skip_e
    ds = np.abs(s_t[live] - s_e[live])
    s_bound = SURPRISE_REL * s_e[live] + 1e-9
    xl, ot, oe = x[live], out_t[live], out_e[live]
    do = np.abs(ot - oe)
    o_bound = 2 * g[live][:, None] + OUT_REL * (np.abs(xl) + np.abs(oe - xl))
    worst_s = np.max(np.where(ds == 0, 0, ds / s_bound)) if ds.size else 0.0
    worst_o = np.max(np.where(do == 0, 0, do / o_bound)) if do.size else 0.0
    return check(ok_skip_out and worst_s <= 1 and worst_o <= 1,
                 "%s: within tolerance (surprise %.3g, out %.3g of the bound; exact outputs %.0f%%)"
                 % (tag, worst_s, worst_o, 100 * np.mean(tr.bits(ot) == tr.bits(oe)) if ot.size else 100),
                 "same skipped tokens %s, skipped out = x %s" % (ok_skip, ok_skip_out))


def ref_run(r, x):
    """Reference outputs, surprises and the Up step g per token."""
    out, s, g, _ = r.forward(x, trace=True)
    return out, s, g


def set_ref_weights(r, weights):
    """Give a reference layer other projections (the trained case)."""
    for name in ("down", "up", "down_v"):
        if name in weights:
            t, _ = weights[name]
            setattr(r, name, np.ascontiguousarray(t, dtype=np.int8))
    r._down64, r._up64 = r.down.astype(np.int64), r.up.astype(np.int64)
    if r.down_v is not None:
        r._downv64 = r.down_v.astype(np.int64)
    r.s_down, r.s_up = weights["down"][1], weights["up"][1]
    r.s_down_v = weights["down_v"][1] if "down_v" in weights else r.s_down


def combos():
    return [dict(objective="reconstruct", feature_norm="l2", update="gradient", forget=0.0)] + tr.objective_combos()


# ---------------------------------------------------------------------------

def test_seed_projections():
    """The seed-drawn ternary weights are the engine's: its projection hash."""
    for D, d, obj in ((64, 0, "reconstruct"), (132, 7, "multiview"), (8, 0, "next")):
        layer = bt.BitTTT(D, state_dim=d, objective=obj, seed=0x1234)
        tern = layer.ternary()
        data = b"".join(ref._padded_bytes(tern[n][0]) for n in layer.projection_names())
        with bitttt.Model(D, state_dim=d, objective=obj, seed=0x1234) as m:
            st = ref.parse_state(m.to_bytes())
        check(ref.fnv1a64(data) == st["projection_hash"],
              "D=%d d=%d %s: ternary projections hash as the engine's" % (D, d, obj))
        r = ref.Reference(D, d or None, seed=0x1234, objective=obj)
        scales_ok = (abs(tern["down"][1] / r.s_down - 1) < 1e-6 and abs(tern["up"][1] / r.s_up - 1) < 1e-6)
        check(scales_ok, "D=%d d=%d %s: absmean scales are the SPEC's (%r %r vs %r %r)"
              % (D, d, obj, tern["down"][1], tern["up"][1], r.s_down, r.s_up))


def test_exact_integer_parts():
    """q, a = Down q and the keys and targets, exactly as the reference."""
    rng = np.random.default_rng(5)
    D = 132
    x = tr.stream(rng, D)
    x = x[np.all(np.isfinite(x), axis=1)]
    for c in combos()[:14]:
        layer = bt.BitTTT(D, **c).eval()
        r = ref.Reference(D, **c)
        with torch.no_grad():
            xt = torch.from_numpy(x)
            q, m = bt._absmax_quant(xt, False)
            t_down, g_down = layer._weight("down")
            a = q @ t_down.t()
            av = q @ layer._weight("down_v")[0].t() if layer.down_v is not None else None
            k, v = layer._keys_targets(a, av, (g_down * m) / 127.0)
        qs = [ref.quantise(row) for row in x]
        rq = np.stack([qq for qq, _ in qs])
        ra = rq @ r._down64.T
        kv = [r.key_target(qq, mm) for qq, mm in qs]
        rk, rv = np.stack([kk for kk, _ in kv]), np.stack([vv for _, vv in kv])
        ok = (np.array_equal(q.numpy().astype(np.int64), rq) and np.array_equal(a.numpy().astype(np.int64), ra)
              and np.array_equal(np.abs(a.numpy()) < 2 ** 24, np.ones_like(ra, bool)))
        check(ok, "%s: q and Down q exact" % tr.combo_tag(c))
        # unit vectors are computed from the integers alone: bit-exact; the
        # magnitudes carry the absmean scale, the SPEC's up to a rounding
        kt, vt = k.numpy(), v.numpy()
        unit_k = not (layer.objective == "reconstruct" and layer.feature_norm == "none")
        unit_v = layer.feature_norm == "l2" and not layer.residual
        ok_k = np.array_equal(tr.bits(kt), tr.bits(rk)) if unit_k else np.allclose(kt, rk, rtol=1e-6, atol=0)
        ok_v = (np.array_equal(tr.bits(vt), tr.bits(rv)) if unit_v
                else np.allclose(vt, rv, rtol=1e-6, atol=1e-6 if layer.residual else 0))
        check(ok_k and ok_v, "%s: keys %s, targets %s" % (tr.combo_tag(c), "bit-exact" if unit_k else "within 1e-6",
                                                           "bit-exact" if unit_v else "within 1e-6"),
              tr.first_diff(kt, rk) + "; " + tr.first_diff(vt, rv))


def test_against_engine():
    """Eval mode against the C engine, seed-drawn weights, every objective."""
    rng = np.random.default_rng(7)
    for D, d in ((64, None), (132, 7)):
        x = np.concatenate([tr.stream(rng, D), rng.standard_normal((200, D)).astype(F32)])
        x[200:260] = np.tile(x[120:130], (6, 1))
        for eta in (0.01, 0.5, 2.0):
            for c in combos() if eta == 0.5 else combos()[:3] + [dict(objective="next", feature_norm="none",
                                                                       update="gradient", forget=0.0)]:
                for learning in (True, False) if eta == 0.5 and c["forget"] == 0 else (True,):
                    tag = "D=%d d=%s eta=%g %s%s" % (D, d, eta, tr.combo_tag(c), "" if learning else " learning off")
                    with bitttt.Model(D, inner_lr=eta, state_dim=d or 0, learning=learning, **c) as m:
                        out_e, s_e = m.forward(x, surprise=True)
                    layer = bt.BitTTT(D, state_dim=d or 0, inner_lr=eta, learning=learning, **c)
                    out_t, s_t = torch_eval(layer, x)
                    # the Up step of each token, from the reference run (bit-exact to the engine)
                    r = ref.Reference(D, d, eta=eta, learning=learning, **c)
                    out_r, s_r, g = ref_run(r, x)
                    check(np.array_equal(tr.bits(out_r), tr.bits(out_e)), tag + ": reference run is the engine's")
                    within(tag, x, out_t, s_t, out_e, s_e, g)
    # the first token of a fresh model is its input, bit for bit, as the engine
    layer = bt.BitTTT(64)
    xs = rng.standard_normal((3, 64)).astype(F32)
    out_t, _ = torch_eval(layer, xs)
    check(np.array_equal(tr.bits(out_t[0]), tr.bits(xs[0])), "fresh layer: first output equals its input")


def test_trained_weights_against_reference():
    """Other projections than the seed's (a trained layer): eval mode against
    the reference given the same ternary weights and scales."""
    rng = np.random.default_rng(11)
    D = 64
    x = rng.standard_normal((300, D)).astype(F32)
    x[150:250] = np.tile(x[:20], (5, 1))
    for c in (dict(), dict(objective="multiview"), dict(objective="next"),
              dict(objective="reconstruct", feature_norm="none", update="nlms")):
        layer = bt.BitTTT(D, inner_lr=0.5, **c)
        with torch.no_grad():
            for p in layer.parameters():
                p.add_(torch.from_numpy(rng.standard_normal(tuple(p.shape)).astype(F32)) * p.abs().mean())
        tern = layer.ternary()
        changed = not np.array_equal(tern["down"][0], bt.seed_ternary(bt.DEFAULT_SEED, 0, D // 4, D))
        r = ref.Reference(D, eta=0.5, **c)
        set_ref_weights(r, tern)
        out_r, s_r, g = ref_run(r, x)
        out_t, s_t = torch_eval(layer, x)
        check(changed, "trained %s: the projections differ from the seed's" % c)
        within("trained %s" % c, x, out_t, s_t, out_r, s_r, g)


def test_gradients_through_memory():
    """With the original objective Down reaches the output only through W:
    a nonzero, finite gradient on it is the outer loop at work."""
    torch.manual_seed(0)
    for c in (dict(), dict(objective="multiview", residual=True), dict(objective="next"),
              dict(objective="reconstruct", feature_norm="none", update="nlms", forget=0.05)):
        layer = bt.BitTTT(32, inner_lr=0.5, **c).train()
        x = torch.randn(3, 20, 32)
        x[:, 10:] = x[:, :10]
        out, s = layer(x)
        (out[:, 1:] - x[:, :-1]).pow(2).mean().add(s.mean()).backward()
        grads = {n: p.grad for n, p in layer.named_parameters()}
        ok = all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads.values())
        check(ok, "%s: finite nonzero gradients on %s" % (c, ", ".join(sorted(grads))))
    # learning off and W = 0: the projections cannot matter to the output
    layer = bt.BitTTT(32, learning=False).train()
    out, _ = layer(torch.randn(2, 8, 32))
    out.sum().backward()
    check(float(layer.down.grad.abs().sum()) == 0 and float(layer.up.grad.abs().sum()) == 0,
          "learning off: no gradient reaches the projections (W stays 0)")


def test_training_matches_eval_values():
    """Training mode computes the same values (straight-through changes the
    gradient only), up to roundings."""
    torch.manual_seed(1)
    layer = bt.BitTTT(64, inner_lr=0.3, objective="multiview")
    x = torch.randn(2, 40, 64)
    with torch.no_grad():
        out_e, s_e = layer.eval()(x)
        out_t, s_t = layer.train()(x)
    check(torch.allclose(out_e, out_t, rtol=1e-4, atol=1e-5) and torch.allclose(s_e, s_t, rtol=1e-4, atol=1e-9),
          "train and eval forward agree (max out diff %.3g)" % float((out_e - out_t).abs().max()))


def test_weight_file_round_trip():
    """save_weights then from_weights: the same ternary projections, scales
    within a rounding, the same outputs."""
    import tempfile
    rng = np.random.default_rng(13)
    x = torch.from_numpy(rng.standard_normal((50, 32)).astype(F32))
    for c in (dict(), dict(objective="multiview", residual=True), dict(objective="next", feature_norm="l2")):
        layer = bt.BitTTT(32, inner_lr=0.5, **c)
        with torch.no_grad():
            for p in layer.parameters():
                p.add_(torch.randn(p.shape) * p.abs().mean())
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "w.safetensors")
            layer.save_weights(path, training_data="test")
            back = bt.BitTTT.from_weights(path, inner_lr=0.5)
        a, b = layer.ternary(), back.ternary()
        same = (set(a) == set(b) and all(np.array_equal(a[k][0], b[k][0]) and abs(a[k][1] / b[k][1] - 1) < 1e-6
                                         for k in a)
                and (back.objective, back.feature_norm, back.residual)
                == (layer.objective, layer.feature_norm, layer.residual))
        with torch.no_grad():
            o1, _ = layer.eval()(x)
            o2, _ = back.eval()(x)
        check(same and torch.allclose(o1, o2, rtol=1e-5, atol=1e-6), "%s: weight file round trip" % c)


def test_arguments():
    bad = [dict(hidden_dim=6), dict(hidden_dim=64, inner_lr=2.5), dict(hidden_dim=64, objective="x"),
           dict(hidden_dim=64, residual=True), dict(hidden_dim=64, feature_norm="none"),
           dict(hidden_dim=64, forget=1.0)]
    for kw in bad:
        try:
            bt.BitTTT(**kw)
            check(False, "rejects %r" % kw)
        except ValueError:
            check(True, "rejects %r" % kw)


TESTS = [test_seed_projections, test_exact_integer_parts, test_against_engine,
         test_trained_weights_against_reference, test_gradients_through_memory,
         test_training_matches_eval_values, test_weight_file_round_trip, test_arguments]

if __name__ == "__main__":
    sys.exit(tap.run("bitttt.torch, torch %s, library %s" % (torch.__version__, bitttt.library_path), TESTS))
