"""The Bit-TTT layer as a PyTorch module, trainable end to end.

    import torch, bitttt.torch as bt
    layer = bt.BitTTT(64)                       # seed-drawn, as the engine
    out, surprise = layer(x)                    # x: (B, T, 64) float32

The forward is the engine's (docs/SPEC.md, "Per-token step" and
"Objectives"): absmax int8 activations, ternary Down/Up (and Down_v for
multiview), and the inner TTT step token by token, unrolled over the
sequence, so that autograd reaches the projections through the memory W
(the outer loop of the TTT papers). Each sequence of the batch starts from
W = 0 (or from a given state) and has its own W.

The projections are latent float weights, quantised as in BitNet b1.58:
gamma = mean |w|, t = clamp(round(w / gamma), -1, 1), effective weight
t * gamma; in training a straight-through estimator passes the gradient of
the effective weight (and of the int8 activations) to the latent one
unchanged. `ternary()` gives what the engine runs: int8 t and f32 gamma per
projection, what bitttt.weightfile writes.

In eval mode the module computes what the engine computes: the int8
activations q, the ternary weights and the integer Down and Up products are
exact; the float parts (keys, W, predictions, surprise, output) differ from
the engine's by roundings only, because torch's sums and products are not
done in the SPEC's order. tests/torch/test_torch.py states and checks the
tolerance. For d >= 512 the engine uses the chunked order ("Large d"),
which also differs by roundings only.

Use one thread per process on a shared machine: torch.set_num_threads(1).
"""
import numpy as np
import torch

__all__ = ["BitTTT", "seed_ternary", "DEFAULT_SEED", "DEFAULT_INNER_LR",
           "OBJECTIVES", "FEATURE_NORMS", "UPDATES"]

DEFAULT_SEED = 0x42177755
DEFAULT_INNER_LR = 0.01
OBJECTIVES = ("reconstruct", "multiview", "next")
FEATURE_NORMS = ("auto", "l2", "none")
UPDATES = ("gradient", "nlms")
ABSMAX_FLOOR = 1e-30
NLMS_EPS = 1e-6
MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15
STREAM_MULT = 0xD1B54A32D192ED03
# BitNet's epsilon under gamma: keeps an all-zero latent matrix finite
ABSMEAN_EPS = 1e-8


def seed_ternary(seed, matrix, rows, cols):
    """SPEC "Projections": matrix 0 = Down, 1 = Up, 2 = Down_v, as int8 numpy.

    splitmix64 output k (0-based) of the stream is mix(state0 + (k+1) gamma);
    numpy's uint64 arithmetic wraps mod 2^64 as the SPEC asks."""
    u64 = np.uint64
    state0 = (seed ^ ((matrix + 1) * STREAM_MULT)) & MASK64
    z = u64(state0) + np.arange(1, rows * cols + 1, dtype=u64) * u64(GOLDEN_GAMMA)
    z = (z ^ (z >> u64(30))) * u64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> u64(27))) * u64(0x94D049BB133111EB)
    z = z ^ (z >> u64(31))
    w = ((z >> u64(32)) * u64(3)) >> u64(32)
    return (w.astype(np.int64) - 1).astype(np.int8).reshape(rows, cols)


def _latent(t, scale):
    """Latent weights whose absmean quantisation gives back t with gamma close
    to scale: t * scale * n / nnz (gamma = scale up to a rounding, and
    w / gamma = +-n/nnz, about +-1.5, rounds and clamps to t's sign)."""
    t = torch.as_tensor(np.asarray(t), dtype=torch.float32)
    nnz = int((t != 0).sum())
    k = float(scale) * t.numel() / nnz if nnz else float(scale)
    return t * k


def _ste(x, xq, training):
    """xq in value; in training the gradient of x (straight-through)."""
    return x + (xq - x).detach() if training else xq


def _absmax_quant(v, training):
    """SPEC step 1 over the last axis: (q as float, absmax m).

    q is the engine's int8 exactly: 127 / m and v * scale are single f32
    operations, torch.round rounds half to even like rint. Below the floor
    m is 0 and q = 0. In training q passes the gradient of v * scale."""
    m = v.abs().amax(dim=-1, keepdim=True)
    if not training:
        m = m.detach()
    low = m < ABSMAX_FLOOR
    one = torch.ones_like(m)
    vs = v * torch.where(low, one, 127.0 / torch.where(low, one, m))
    q = torch.where(low, torch.zeros_like(vs), torch.clamp(torch.round(vs.detach()), -127, 127))
    return _ste(vs, q, training), torch.where(low, torch.zeros_like(m), m)


class BitTTT(torch.nn.Module):
    """One Bit-TTT layer; arguments as bitttt.Model (and ttt_config).

    hidden_dim D (multiple of 4), state_dim d (0: D / 4), inner_lr eta in
    [0, 2], seed (the initial projections, the engine's), learning (the
    inner step on or off), objective, feature_norm, update, forget (alpha in
    [0, 1)) and residual (multiview only): docs/SPEC.md "Objectives"."""

    def __init__(self, hidden_dim, state_dim=0, inner_lr=DEFAULT_INNER_LR, seed=DEFAULT_SEED,
                 learning=True, objective="reconstruct", feature_norm="auto", update="gradient",
                 forget=0.0, residual=False):
        super().__init__()
        D = int(hidden_dim)
        d = int(state_dim) or D // 4
        if D < 4 or D % 4 or D > 1 << 16 or not 1 <= d <= 1 << 14:
            raise ValueError("bad shape D=%r d=%r" % (D, d))
        if not (np.isfinite(inner_lr) and 0 <= inner_lr <= 2):
            raise ValueError("inner_lr must be in [0, 2]")
        if objective not in OBJECTIVES or feature_norm not in FEATURE_NORMS or update not in UPDATES:
            raise ValueError("unknown objective, feature_norm or update")
        if not (np.isfinite(forget) and 0 <= forget < 1):
            raise ValueError("forget must be in [0, 1)")
        if residual and objective != "multiview":
            raise ValueError("residual needs objective multiview")
        if feature_norm == "auto":
            feature_norm = "l2" if objective == "reconstruct" else "none"
        if objective == "reconstruct" and feature_norm == "none" and update != "nlms":
            raise ValueError("reconstruct with feature_norm none needs update nlms")
        self.hidden_dim, self.state_dim = D, d
        self.inner_lr = float(np.float32(inner_lr))
        self.seed = int(seed) & MASK64
        self.learning = bool(learning)
        self.objective, self.feature_norm, self.update = objective, feature_norm, update
        self.forget = float(np.float32(forget))
        self.residual = bool(residual)
        s_down = float(np.float32(np.sqrt(1.5 / D)))
        s_up = float(np.float32(np.sqrt(1.5 / d)))
        self.down = torch.nn.Parameter(_latent(seed_ternary(self.seed, 0, d, D), s_down))
        self.up = torch.nn.Parameter(_latent(seed_ternary(self.seed, 1, D, d), s_up))
        self.down_v = (torch.nn.Parameter(_latent(seed_ternary(self.seed, 2, d, D), s_down))
                       if objective == "multiview" else None)

    # ---- the projections ----------------------------------------------

    def projection_names(self):
        return ("down", "up") + (("down_v",) if self.down_v is not None else ())

    @staticmethod
    def _quant_weight(w):
        """BitNet b1.58 absmean: (t as float in {-1, 0, 1}, gamma)."""
        gamma = w.detach().abs().mean()
        t = torch.clamp(torch.round(w.detach() / (gamma + ABSMEAN_EPS)), -1, 1)
        return t, gamma

    def _weight(self, name):
        """(t, gamma) as the forward uses them: t straight-through in training."""
        w = getattr(self, name)
        t, gamma = self._quant_weight(w)
        if self.training:
            # value t; gradient of w / gamma, so that d(t * gamma)/dw = 1
            t = _ste(w / gamma, t, True)
        return t, gamma

    def ternary(self):
        """What the engine runs: {name: (int8 numpy (rows, cols), f32 scale)}."""
        out = {}
        for name in self.projection_names():
            t, gamma = self._quant_weight(getattr(self, name))
            out[name] = (t.to(torch.int8).numpy().copy(), np.float32(gamma.item()))
        return out

    @torch.no_grad()
    def load_ternary(self, weights):
        """Set the projections from {name: (int8 (rows, cols), scale)}, e.g.
        bitttt.weightfile.read(path)["tensors"]; shapes must match."""
        for name in self.projection_names():
            t, scale = weights[name]
            p = getattr(self, name)
            if tuple(np.shape(t)) != tuple(p.shape):
                raise ValueError("%s: shape %r, expected %r" % (name, np.shape(t), tuple(p.shape)))
            p.copy_(_latent(t, scale))

    def save_weights(self, path, training_data=""):
        """Write the ternary projections to a weight file (bitttt.weightfile)."""
        from . import weightfile
        weightfile.write(path, self.ternary(), self.hidden_dim, self.state_dim, self.objective,
                         self.feature_norm, self.residual, training_data)

    @classmethod
    def from_weights(cls, path, **kw):
        """A layer with the projections and the objective of a weight file;
        kw sets the rest (inner_lr, update, forget, learning)."""
        from . import weightfile
        w = weightfile.read(path)
        meta = w["metadata"]
        layer = cls(w["hidden_dim"], state_dim=w["state_dim"], objective=meta["objective"],
                    feature_norm=meta["feature_norm"], residual=meta["residual"] == "1", **kw)
        layer.load_ternary(w["tensors"])
        return layer

    # ---- the layer --------------------------------------------------------

    def initial_state(self, batch):
        """Fresh memory for a batch: (W (B, d, d) zeros, previous key (B, d) zeros)."""
        d = self.state_dim
        return torch.zeros(batch, d, d), torch.zeros(batch, d)

    def _unit(self, a):
        """SPEC step 3 from the integer-valued a: a / ||a||, 0 for a = 0.
        Eval: inv = (f32)(1 / sqrt((f64) sum a^2)) as the engine; training:
        the same in f32, differentiable."""
        if self.training:
            ss = (a * a).sum(-1, keepdim=True)
            zero = ss.detach() == 0
            return torch.where(zero, torch.zeros_like(a),
                               a * torch.rsqrt(torch.where(zero, torch.ones_like(ss), ss)))
        ss = (a.double() ** 2).sum(-1, keepdim=True)
        inv = torch.where(ss == 0, torch.zeros_like(ss), 1.0 / torch.sqrt(ss)).float()
        return a * inv

    def forward(self, x, state=None, return_state=False):
        """x: (B, T, D) or (T, D) float32 tokens, in order.

        Returns (out, surprise) of shapes (B, T, D) and (B, T) (or without the
        batch axis), and the final state (W, prev) with return_state=True.
        state: (W (B, d, d), prev (B, d)) to continue from; default fresh.
        Non-finite tokens are skipped as in the engine (out = x, surprise NaN,
        nothing learned)."""
        squeeze = x.dim() == 2
        if squeeze:
            x = x.unsqueeze(0)
        if x.dim() != 3 or x.shape[-1] != self.hidden_dim:
            raise ValueError("expected (B, T, %d) tokens, got %r" % (self.hidden_dim, tuple(x.shape)))
        x = x.float()
        B, T, _ = x.shape
        d = self.state_dim
        W, prev = self.initial_state(B) if state is None else state
        train = self.training
        finite = torch.isfinite(x).all(-1)                         # step 0
        x0 = torch.where(finite[..., None], x, torch.zeros_like(x))
        q, m = _absmax_quant(x0, False)                         # step 1 (data: no gradient)
        t_down, g_down = self._weight("down")
        t_up, g_up = self._weight("up")
        a = q @ t_down.t()                                         # step 2, all tokens at once
        gd = (g_down * m) / 127.0
        av, gd_v = None, None
        if self.objective == "multiview":
            t_v, g_v = self._weight("down_v")
            av = q @ t_v.t()
            gd_v = (g_v * m) / 127.0                               # Down_v has its own scale
        keys, targets = self._keys_targets(a, av, gd, gd_v)
        eta = self.inner_lr
        decay = float(np.float32(1) - np.float32(self.forget))
        ps, sur = [], []
        for i in range(T):
            k, v, ok = keys[:, i], targets[:, i], finite[:, i]
            kin = prev if self.objective == "next" else k
            p = torch.bmm(W, kin.unsqueeze(-1)).squeeze(-1)      # step 4
            e = p - v                                              # step 5
            s = (e * e).sum(-1) / d
            ok = ok & torch.isfinite(s.detach())
            if self.learning:                                      # step 6
                r = eta
                if self.update == "nlms":
                    r = eta / ((kin * kin).sum(-1, keepdim=True) + NLMS_EPS)
                c = r * e
                Wn = W * decay if decay != 1.0 else W
                Wn = Wn - c.unsqueeze(-1) * kin.unsqueeze(-2)
                W = torch.where(ok[:, None, None], Wn, W)
            if self.objective == "next":
                prev = torch.where(ok[:, None], k, prev)
            ps.append(p)
            sur.append(torch.where(ok, s, torch.full_like(s, float("nan"))))
        p = torch.stack(ps, 1)
        surprise = torch.stack(sur, 1)
        qp, mp = _absmax_quant(p, train)                       # step 7
        b = qp @ t_up.t()
        g = (mp * g_up) / 127.0
        # g == 0 (no prediction) gives x bit for bit, as the engine (x + 0 * b
        # would turn -0.0 into +0.0)
        moved = finite & torch.isfinite(surprise.detach()) & (g.detach()[..., 0] != 0)
        out = torch.where(moved[..., None], x0 + b * g, x)
        if squeeze:
            out, surprise = out[0], surprise[0]
        return (out, surprise, (W, prev)) if return_state else (out, surprise)

    def _keys_targets(self, a, av, gd, gd_v=None):
        """SPEC "Keys and targets" for every token at once: (k, v)."""
        none = self.feature_norm == "none"
        if self.objective == "reconstruct":
            k = a * gd if none else self._unit(a)
            return k, k
        k = self._unit(a)
        if self.objective == "next":
            return k, (a * gd if none else k)
        v = av * (gd if gd_v is None else gd_v) if none else self._unit(av)
        return k, (v - k if self.residual else v)

    def extra_repr(self):
        return ("D=%d, d=%d, objective=%s, feature_norm=%s, update=%s, inner_lr=%g, forget=%g, "
                "residual=%d, learning=%d" % (self.hidden_dim, self.state_dim, self.objective,
                                              self.feature_norm, self.update, self.inner_lr,
                                              self.forget, self.residual, self.learning))
