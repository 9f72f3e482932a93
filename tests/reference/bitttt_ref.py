"""The Bit-TTT layer in plain numpy: docs/SPEC.md as executable code.

Written from the SPEC text alone, not from the C engine, so the two can be
compared (tests/reference/test_reference.py). Every float is float32 where
the SPEC says f32; the integer steps use exact int64 arithmetic; float64
appears only where the SPEC asks for binary64.

The f32 sums follow the SPEC's order (the prediction and the NLMS norm
strictly left to right, the surprise in eight interleaved sums), which is
the order of the C engine on every ISA: the engine and this file must agree
bit for bit. numpy's own sum/dot/matmul use pairwise or BLAS orders and
would not.
"""
import json
import struct

import numpy as np

F32 = np.float32
U64 = np.uint64

DEFAULT_SEED = 0x42177755
DEFAULT_ETA = 0.01
MAX_HIDDEN_DIM = 1 << 16
MAX_STATE_DIM = 1 << 14
ABSMAX_FLOOR = F32(1e-30)
GOLDEN_GAMMA = 0x9E3779B97F4A7C15
STREAM_MULT = 0xD1B54A32D192ED03
MASK64 = (1 << 64) - 1

STATE_MAGIC = b"BTTTSTAT"
STATE_VERSION = 1
STATE_VERSION_OBJ = 2
STATE_HEADER = 64
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3

# SPEC "Objectives": names as in the Python binding, values as in bitttt.h
OBJECTIVES = {"reconstruct": 0, "multiview": 1, "next": 2}
FEATURE_NORMS = ("auto", "l2", "none")
UPDATES = ("gradient", "nlms")
IDENT_MAGNITUDE = 1 << 8
IDENT_RESIDUAL = 1 << 9
NLMS_EPS = F32(1e-6)
# SPEC "Large d": from this d on, the recurrence runs in chunks
CHUNK_MIN_D = 512
CHUNK = 32


# ---- projections ----------------------------------------------------------

def splitmix64(state0, n):
    """The first n outputs of splitmix64 started at state0 (uint64 array).

    Output k (0-based) is mix(state0 + (k + 1) * gamma); numpy uint64 array
    arithmetic wraps mod 2^64, which is the arithmetic the SPEC asks for."""
    k = np.arange(1, n + 1, dtype=U64)
    z = U64(state0 & MASK64) + k * U64(GOLDEN_GAMMA)
    z = (z ^ (z >> U64(30))) * U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> U64(27))) * U64(0x94D049BB133111EB)
    return z ^ (z >> U64(31))


def ternary(seed, matrix, rows, cols):
    """Projection `matrix` (0 = Down, 1 = Up, 2 = Down_v) as a rows x cols int8 array."""
    state0 = (seed ^ ((matrix + 1) * STREAM_MULT)) & MASK64
    z = splitmix64(state0, rows * cols)
    w = ((z >> U64(32)) * U64(3)) >> U64(32)
    return (w.astype(np.int64) - 1).astype(np.int8).reshape(rows, cols)


def fnv1a64(data, h=FNV_OFFSET):
    for b in bytes(data):
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


def _padded_bytes(w):
    """Weights as bytes w + 1, each row padded to a multiple of 64 with 1."""
    rows, cols = w.shape
    stride = -(-cols // 64) * 64
    buf = np.ones((rows, stride), dtype=np.uint8)
    buf[:, :cols] = (w + 1).astype(np.uint8)
    return buf.tobytes()


# ---- the SPEC steps -------------------------------------------------------

def quantise(v):
    """Step 1 on one finite f32 vector: (q as int64, absmax m as f32)."""
    m = F32(np.max(np.abs(v)))
    if m < ABSMAX_FLOOR:
        return np.zeros(v.shape, dtype=np.int64), F32(0)
    scale = F32(127) / m  # an f32 division is (f32)(127 / m), correctly rounded
    q = np.clip(np.rint(v * scale), -127, 127)
    return q.astype(np.int64), m


def unit(a):
    """Step 3 from the exact integers a: a / ||a|| in f32, 0 for a = 0."""
    ss = int(a @ a)
    if ss == 0:
        return np.zeros(a.shape, dtype=F32)
    inv = F32(1.0 / np.sqrt(np.float64(ss)))
    return a.astype(F32) * inv


def seq_sum(v):
    """Sum of a 1-D f32 array from +0.0f, left to right."""
    return seq_sum_rows(np.asarray(v, dtype=F32)[None, :])[0]


def seq_sum_rows(a):
    """Row sums of a 2-D f32 array, accumulated left to right from +0.0f.

    np.add.accumulate is sequential; it starts from the first element rather
    than from +0.0f, which differs only when every term is -0.0: adding +0.0
    at the end gives the same +0.0 as the C loop then."""
    return np.add.accumulate(a, axis=1, dtype=F32)[:, -1] + F32(0)


def sum_sq8(e):
    """SPEC step 5: the sum of e[j]^2 as eight sums u[k] over j = k (mod 8),
    each from +0.0f and left to right, combined as
    ((u0 + u4) + (u2 + u6)) + ((u1 + u5) + (u3 + u7))."""
    return dot8(e, e)


def dot8(a, b):
    """sum of a[j] * b[j] in the order of sum_sq8. Padding with +0.0 changes
    no u[k]: a sum from +0.0 is never -0.0. np.add.accumulate starts from the
    first term instead of +0.0, which differs only while every term so far
    is -0.0; the final + 0 gives +0.0 then, as the C loop does."""
    sq = np.asarray(a, dtype=F32) * np.asarray(b, dtype=F32)
    sq = np.concatenate([sq, np.zeros((-len(sq)) % 8, dtype=F32)])
    u = np.add.accumulate(sq.reshape(-1, 8), axis=0, dtype=F32)[-1] + F32(0)
    return ((u[0] + u[4]) + (u[2] + u[6])) + ((u[1] + u[5]) + (u[3] + u[7]))


class Reference:
    """One Bit-TTT layer. forward() takes (N, D) float32 tokens in order.

    objective, feature_norm, update, forget and residual are those of SPEC
    "Objectives" (names as in the Python binding); the defaults are the
    original per-token step."""

    def __init__(self, D, d=None, eta=DEFAULT_ETA, seed=DEFAULT_SEED, learning=True,
                 objective="reconstruct", feature_norm="auto", update="gradient",
                 forget=0.0, residual=False):
        d = D // 4 if not d else d
        if D < 4 or D % 4 or D > MAX_HIDDEN_DIM or not 1 <= d <= MAX_STATE_DIM:
            raise ValueError("bad shape D=%r d=%r" % (D, d))
        self.D, self.d, self.seed = D, d, seed & MASK64
        self.eta = F32(eta)
        if not (np.isfinite(self.eta) and 0 <= self.eta <= 2):
            raise ValueError("eta out of [0, 2]")
        if objective not in OBJECTIVES or feature_norm not in FEATURE_NORMS or update not in UPDATES:
            raise ValueError("unknown objective, feature_norm or update")
        alpha = F32(forget)
        if not (np.isfinite(alpha) and 0 <= alpha < 1):
            raise ValueError("forget out of [0, 1)")
        if residual and objective != "multiview":
            raise ValueError("residual needs multiview")
        if feature_norm == "auto":
            feature_norm = "l2" if objective == "reconstruct" else "none"
        if objective == "reconstruct" and feature_norm == "none" and update != "nlms":
            raise ValueError("reconstruct without normalisation needs NLMS")
        self.objective, self.feature_norm, self.update = objective, feature_norm, update
        self.residual = bool(residual)
        self.decay = F32(1) - alpha
        self.identity = (OBJECTIVES[objective] | (IDENT_MAGNITUDE if feature_norm == "none" else 0)
                         | (IDENT_RESIDUAL if self.residual else 0))
        self.learning = bool(learning)
        self.chunk_min_d = CHUNK_MIN_D  # a test may raise it: the per-token order at any d
        self.s_down = F32(np.sqrt(1.5 / D))  # binary64, then rounded
        self.s_up = F32(np.sqrt(1.5 / d))
        self.s_down_v = self.s_down
        self._seed_scales = (self.s_down, self.s_up, self.s_down_v)
        self.set_projections(ternary(self.seed, 0, d, D), ternary(self.seed, 1, D, d),
                             ternary(self.seed, 2, d, D) if objective == "multiview" else None)

    def set_projections(self, down, up, down_v=None, s_down=None, s_up=None, s_down_v=None):
        """Replace the projections (SPEC "Weight file"); scales left None keep
        theirs. Resets W, as loading a weight file does."""
        self.down, self.up = np.asarray(down, np.int8), np.asarray(up, np.int8)
        self.down_v = None if down_v is None else np.asarray(down_v, np.int8)
        if (self.down_v is None) != (self.objective != "multiview"):
            raise ValueError("down_v exactly for multiview")
        if s_down is not None:
            self.s_down = F32(s_down)
        if s_up is not None:
            self.s_up = F32(s_up)
        self.s_down_v = self.s_down if self.down_v is None else F32(
            s_down_v if s_down_v is not None else self.s_down_v)
        self._down64 = self.down.astype(np.int64)
        self._up64 = self.up.astype(np.int64)
        self._downv64 = None if self.down_v is None else self.down_v.astype(np.int64)
        self.reset()

    def reset(self):
        self.W = np.zeros((self.d, self.d), dtype=F32)
        self.chunk = []  # SPEC "Large d": the open chunk's (kin, c), oldest first
        self.prev = np.zeros(self.d, dtype=F32)
        self.tokens_seen = 0
        self.tokens_skipped = 0

    def projection_hash(self):
        data = _padded_bytes(self.down) + _padded_bytes(self.up)
        if self.down_v is not None:
            data += _padded_bytes(self.down_v)
        # SPEC "Weight file": the scales join the hash only when they are
        # not the seed-drawn ones
        mv = self.down_v is not None
        scales = (self.s_down, self.s_up, self.s_down_v)
        if any(x.tobytes() != y.tobytes() for x, y in zip(scales[:3 if mv else 2], self._seed_scales)):
            data += np.array(scales[:3 if mv else 2], dtype="<f4").tobytes()
        return fnv1a64(data)

    def _mag(self, a, m, s=None):
        """The dequantised projection: a * ((s * m) / 127), f32, s = s_down by default."""
        gd = (self.s_down if s is None else s) * m / F32(127)
        return a.astype(F32) * gd

    def key_target(self, q, m):
        """SPEC "Keys and targets": (key k, target v) of one quantised token."""
        a = self._down64 @ q                                   # step 2 (exact)
        none = self.feature_norm == "none"
        if self.objective == "reconstruct":
            k = self._mag(a, m) if none else unit(a)
            return k, k
        k = unit(a)
        if self.objective == "next":
            return k, (self._mag(a, m) if none else k)
        av = self._downv64 @ q
        v = self._mag(av, m, self.s_down_v) if none else unit(av)
        if self.residual:
            v = v - k
        return k, v

    def step(self, x):
        """One token (D f32): returns (out, surprise, g, p). Updates W."""
        self.tokens_seen += 1
        if not np.all(np.isfinite(x)):                        # step 0
            self.tokens_skipped += 1
            return x.copy(), F32(np.nan), F32(0), None
        q, m = quantise(x)                                     # step 1
        k, v = self.key_target(q, m)                           # steps 2, 3
        kin = self.prev if self.objective == "next" else k
        p = seq_sum_rows(self.W * kin[None, :])                # step 4
        for kl, cl in self.chunk:                              # "Large d"
            h = dot8(kl, kin)
            p = p - h * cl if self.decay == 1 else p * self.decay - h * cl
        e = p - v                                              # step 5
        s = sum_sq8(e) / F32(self.d)
        if not np.isfinite(s):
            self.tokens_skipped += 1
            return x.copy(), F32(np.nan), F32(0), None
        if self.learning:                                      # step 6
            r = self.eta
            if self.update == "nlms":
                r = self.eta / (seq_sum(kin * kin) + NLMS_EPS)
            c = r * e
            if self.d < self.chunk_min_d:
                self._learn(kin, c)
            else:
                self.chunk.append((kin.copy(), c))
                if len(self.chunk) == CHUNK:
                    self.close_chunk()
        if self.objective == "next":
            self.prev = k
        qp, mp = quantise(p)                                   # step 7
        b = self._up64 @ qp
        g = mp * self.s_up / F32(127)
        if g == 0:
            return x.copy(), s, g, p
        return x + b.astype(F32) * g, s, g, p

    def _learn(self, kin, c):
        if self.decay == 1:
            self.W = self.W - c[:, None] * kin[None, :]
        else:
            self.W = self.W * self.decay - c[:, None] * kin[None, :]

    def close_chunk(self):
        """SPEC "Large d": the chunk's tokens enter W in order, each as the
        per-token learn step; a full chunk and a save close it."""
        for kl, cl in self.chunk:
            self._learn(kl, cl)
        self.chunk = []

    def forward(self, x, trace=False):
        """x: (N, D) float32. Returns (out, surprise), and with trace=True
        also g (N) and the predictions p (N x d, NaN for skipped tokens)."""
        x = np.asarray(x, dtype=F32)
        if x.ndim != 2 or x.shape[1] != self.D:
            raise ValueError("expected (N, %d) tokens" % self.D)
        out = np.empty_like(x)
        sur = np.empty(x.shape[0], dtype=F32)
        gs = np.empty(x.shape[0], dtype=F32)
        ps = np.full((x.shape[0], self.d), np.nan, dtype=F32)
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            for t in range(x.shape[0]):
                out[t], sur[t], gs[t], p = self.step(x[t])
                if p is not None:
                    ps[t] = p
        return (out, sur, gs, ps) if trace else (out, sur)

    # ---- state format (SPEC "State format (version 1)", "Objectives") -----

    def state_bytes(self):
        self.close_chunk()
        version = STATE_VERSION if self.identity == 0 else STATE_VERSION_OBJ
        head = struct.pack("<8sIIIIQQQQQ", STATE_MAGIC, version, STATE_HEADER,
                           self.D, self.d, self.seed, self.projection_hash(),
                           self.tokens_seen, self.tokens_skipped, self.identity)
        body = head + self.W.astype("<f4").tobytes()
        if self.objective == "next":
            body += self.prev.astype("<f4").tobytes()
        return body + struct.pack("<Q", fnv1a64(body))


def parse_state(buf):
    """Decode a version 1 or 2 state buffer; raises ValueError when malformed."""
    buf = bytes(buf)
    if len(buf) < STATE_HEADER + 8 or buf[:8] != STATE_MAGIC:
        raise ValueError("bad magic or size")
    (_, version, header, D, d, seed, phash, seen, skipped,
     ident) = struct.unpack_from("<8sIIIIQQQQQ", buf)
    if version not in (STATE_VERSION, STATE_VERSION_OBJ) or header != STATE_HEADER:
        raise ValueError("bad version or header size")
    if (version == STATE_VERSION) != (ident == 0):
        raise ValueError("identity and version disagree")
    nprev = d if (ident & 0xFF) == OBJECTIVES["next"] else 0
    if len(buf) != STATE_HEADER + 4 * d * d + 4 * nprev + 8:
        raise ValueError("bad length")
    if struct.unpack_from("<Q", buf, len(buf) - 8)[0] != fnv1a64(buf[:-8]):
        raise ValueError("bad checksum")
    W = np.frombuffer(buf, dtype="<f4", count=d * d, offset=STATE_HEADER)
    prev = np.frombuffer(buf, dtype="<f4", count=nprev, offset=STATE_HEADER + 4 * d * d)
    return {"D": D, "d": d, "seed": seed, "projection_hash": phash,
            "tokens_seen": seen, "tokens_skipped": skipped, "reserved": ident, "identity": ident,
            "version": version, "W": W.astype(F32).reshape(d, d), "prev": prev.astype(F32)}


# ---- weight file (SPEC "Weight file") -------------------------------------

WEIGHTS_TENSORS = ("down", "up", "down_v", "down_scale", "up_scale", "down_v_scale")


def weights_bytes(model, training_data="", order=None, pad=0):
    """A weight file holding model's projections; order permutes the
    tensors in the data buffer, pad adds spaces to the header."""
    mv = model.down_v is not None
    arrays = {"down": model.down, "up": model.up,
              "down_scale": np.array([model.s_down], "<f4"), "up_scale": np.array([model.s_up], "<f4")}
    if mv:
        arrays.update(down_v=model.down_v, down_v_scale=np.array([model.s_down_v], "<f4"))
    header = {"__metadata__": {
        "format": "bitttt-weights", "format_version": "1", "hidden_dim": str(model.D),
        "state_dim": str(model.d), "objective": model.objective, "feature_norm": model.feature_norm,
        "residual": "1" if model.residual else "0", "training_data": training_data}}
    data, off = b"", 0
    for name in order or [n for n in WEIGHTS_TENSORS if n in arrays]:
        a = arrays[name]
        raw = a.astype("<f4" if a.dtype.kind == "f" else "i1").tobytes()
        header[name] = {"dtype": "F32" if a.dtype.kind == "f" else "I8", "shape": list(a.shape),
                        "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    text = json.dumps(header).encode() + b" " * pad
    return struct.pack("<Q", len(text)) + text + data


def parse_weights(buf):
    """(metadata, {name: array}) of a weight file; ValueError when malformed."""
    buf = bytes(buf)
    (n,) = struct.unpack_from("<Q", buf)
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__")
    data = buf[8 + n:]
    tensors, total = {}, 0
    for name, t in header.items():
        if name not in WEIGHTS_TENSORS:
            raise ValueError("unknown tensor " + name)
        b, e = t["data_offsets"]
        dt = {"I8": "i1", "F32": "<f4"}[t["dtype"]]
        a = np.frombuffer(data[b:e], dtype=dt).reshape(t["shape"])
        if dt == "i1" and not np.all(np.abs(a.astype(np.int64)) <= 1):
            raise ValueError("not ternary: " + name)
        if dt != "i1" and not (np.isfinite(a).all() and (a > 0).all()):
            raise ValueError("bad scale: " + name)
        tensors[name] = a
        total += e - b
    if total != len(data):
        raise ValueError("tensors do not fill the data")
    return meta, tensors
