"""Python binding for libbitttt, the Bit-TTT layer (ctypes, no compiled code).

    import numpy as np, bitttt
    with bitttt.Model(256) as m:
        out, surprise = m.forward(np.zeros((10, 256), np.float32), surprise=True)

Tokens are numpy float32 arrays of shape (N, D) (or (D,) for one token).
Input goes to the library as is, without a copy, exactly when it is a
numpy.ndarray with dtype float32 in native byte order, C-contiguous and
aligned (read-only arrays included). Anything else is converted to a new
float32 array first: float64 or any other dtype, Fortran-order arrays,
strided views (x[:, ::2], x.T, x[::2]), byte-swapped or unaligned arrays,
lists. With strict=True (on the Model or Anomaly, or per call) such input
raises ValueError, naming what would need the copy, instead of being
copied. `out` must already be C-contiguous, writeable float32 of the right
shape (never converted); `out=x` processes in place.

The library is found through, in order: the BITTTT_LIBRARY environment
variable (a full path), ctypes.util.find_library("bitttt"), the soname
"libbitttt.so.1" on the loader path, and the lib directories of the prefix
this module is installed under (<prefix>/share/bitttt/python/bitttt).

A Model is not thread-safe (the library's rule): use one from one thread at
a time. The GIL is released while the library runs, so distinct models can
work in parallel threads.
"""
import ctypes
import ctypes.util
import os
from collections import namedtuple

import numpy as np

__all__ = ["Model", "BitTTTError", "Stats", "Config", "version", "cpu_isa",
           "library_path", "DEFAULT_SEED", "DEFAULT_INNER_LR"]

DEFAULT_SEED = 0x42177755
DEFAULT_INNER_LR = 0.01

# ttt_error
OK = 0
ERR_INVALID_ARG = -1
ERR_NOMEM = -2
ERR_OVERFLOW = -3
ERR_IO = -4
ERR_FORMAT = -5
ERR_VERSION = -6
ERR_MISMATCH = -7
ERR_BUFFER_SMALL = -8
ERR_UNSUPPORTED = -9
ERR_WEIGHTS = -10
ERR_WEIGHTS_MISMATCH = -11

# ttt_isa
ISA_NAMES = {"auto": 0, "scalar": 1, "avx2": 2, "avx512": 3, "neon": 4, "neon-dotprod": 5}
_ISA_BY_VALUE = {v: k for k, v in ISA_NAMES.items()}


class _Config(ctypes.Structure):
    """struct ttt_config; field order and C types exactly as in bitttt.h."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("max_isa", ctypes.c_uint32),
        ("hidden_dim", ctypes.c_size_t),
        ("state_dim", ctypes.c_size_t),
        ("inner_lr", ctypes.c_float),
        ("learning", ctypes.c_int),
        ("seed", ctypes.c_uint64),
        ("objective", ctypes.c_uint32),
        ("feature_norm", ctypes.c_uint32),
        ("update", ctypes.c_uint32),
        ("forget", ctypes.c_float),
        ("residual", ctypes.c_int),
    ]

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        # the library reads and writes only struct_size bytes
        self.struct_size = ctypes.sizeof(self)


class _Stats(ctypes.Structure):
    _fields_ = [
        ("tokens_seen", ctypes.c_uint64),
        ("tokens_skipped", ctypes.c_uint64),
    ]


Stats = namedtuple("Stats", "tokens_seen tokens_skipped")
# The 1.1 fields have the original objective's values as defaults, so a
# Config written with the 1.0 fields alone still compares equal.
Config = namedtuple("Config", "hidden_dim state_dim inner_lr learning seed max_isa "
                    "objective feature_norm update forget residual",
                    defaults=("reconstruct", "l2", "gradient", 0.0, False))

# ttt_objective, ttt_feature_norm, ttt_update (docs/SPEC.md, "Objectives")
OBJECTIVES = {"reconstruct": 0, "multiview": 1, "next": 2}
FEATURE_NORMS = {"auto": 0, "l2": 1, "none": 2}
UPDATES = {"gradient": 0, "nlms": 1}


class BitTTTError(Exception):
    """A libbitttt call failed; .code is the negative ttt_error."""

    def __init__(self, code, message=None):
        self.code = code
        self.message = message or _strerror(code)
        super().__init__(code, self.message)

    def __str__(self):
        return "%s (%d)" % (self.message, self.code)


def _candidates():
    env = os.environ.get("BITTTT_LIBRARY")
    if env:
        # an explicit choice is never silently replaced by another library
        return [env]
    names = []
    found = ctypes.util.find_library("bitttt")
    if found:
        names.append(found)
    names.append("libbitttt.so.1")
    prefix = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 4))
    for sub in ("lib", "lib64", os.path.join("lib", "x86_64-linux-gnu"),
                os.path.join("lib", "aarch64-linux-gnu")):
        names.append(os.path.join(prefix, sub, "libbitttt.so.1"))
    return names


def _load():
    errors = []
    for name in _candidates():
        try:
            return ctypes.CDLL(name), name
        except OSError as e:
            errors.append(str(e))
    raise ImportError("libbitttt not found (set BITTTT_LIBRARY to its full path): "
                      + "; ".join(errors))


_lib, library_path = _load()

_P = ctypes.c_void_p
_FP = ctypes.POINTER(ctypes.c_float)
_SZ = ctypes.c_size_t
_API = {
    "ttt_create": (_P, [_SZ, ctypes.c_float]),
    "ttt_forward": (ctypes.c_int, [_P, _FP, _SZ, _FP]),
    "ttt_destroy": (None, [_P]),
    "ttt_config_default": (None, [ctypes.POINTER(_Config)]),
    "ttt_create_ex": (ctypes.c_int, [ctypes.POINTER(_Config), ctypes.POINTER(_P)]),
    "ttt_forward_ex": (ctypes.c_int, [_P, _FP, _SZ, _FP, _FP]),
    "ttt_reset": (ctypes.c_int, [_P]),
    "ttt_set_inner_lr": (ctypes.c_int, [_P, ctypes.c_float]),
    "ttt_get_inner_lr": (ctypes.c_float, [_P]),
    "ttt_set_learning": (ctypes.c_int, [_P, ctypes.c_int]),
    "ttt_get_learning": (ctypes.c_int, [_P]),
    "ttt_get_config": (ctypes.c_int, [_P, ctypes.POINTER(_Config)]),
    "ttt_get_stats": (ctypes.c_int, [_P, ctypes.POINTER(_Stats)]),
    "ttt_get_kernel_name": (ctypes.c_char_p, [_P]),
    "ttt_cpu_isa": (ctypes.c_int, []),
    "ttt_state_size": (_SZ, [_P]),
    "ttt_state_save": (ctypes.c_int, [_P, _P, _SZ, ctypes.POINTER(_SZ)]),
    "ttt_state_load": (ctypes.c_int, [_P, _P, _SZ]),
    "ttt_state_save_file": (ctypes.c_int, [_P, ctypes.c_char_p]),
    "ttt_state_load_file": (ctypes.c_int, [_P, ctypes.c_char_p]),
    "ttt_strerror": (ctypes.c_char_p, [ctypes.c_int]),
    "ttt_version": (ctypes.c_uint, []),
    "ttt_version_string": (ctypes.c_char_p, []),
}
for _name, (_res, _args) in _API.items():
    _fn = getattr(_lib, _name)
    _fn.restype = _res
    _fn.argtypes = _args

# Weight files (library 1.2): a library without them makes the methods
# raise BitTTTError(ERR_UNSUPPORTED), like a build without json-c.
_WEIGHTS_API = {
    "ttt_load_weights": (ctypes.c_int, [_P, ctypes.c_char_p]),
    "ttt_load_weights_mem": (ctypes.c_int, [_P, _P, _SZ]),
    "ttt_save_weights": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_char_p]),
}
for _name, (_res, _args) in _WEIGHTS_API.items():
    _fn = getattr(_lib, _name, None)
    if _fn is not None:
        _fn.restype = _res
        _fn.argtypes = _args


def _weights_call(name, *args):
    fn = getattr(_lib, name, None)
    return fn(*args) if fn is not None else ERR_UNSUPPORTED


def _strerror(code):
    return _lib.ttt_strerror(code).decode()


def _check(code):
    if code != OK:
        raise BitTTTError(code)


def version():
    """The loaded library's version string, e.g. "1.0.0"."""
    return _lib.ttt_version_string().decode()


def cpu_isa():
    """Best ISA of this CPU after TTT_FORCE_ISA: "scalar", "avx2", "avx512",
    "neon" or "neon-dotprod"."""
    return _ISA_BY_VALUE.get(_lib.ttt_cpu_isa(), "unknown")


def _fptr(a):
    return a.ctypes.data_as(_FP)


def _why_copy(a):
    """Why a would need a copy to reach the library, or None if it goes as is."""
    if not isinstance(a, np.ndarray):
        return "a %s is not a numpy array" % type(a).__name__
    if a.dtype != np.float32:
        return "dtype %s (%s) is not float32 in native byte order" % (a.dtype.name, a.dtype.str)
    if not a.flags.c_contiguous:
        return ("Fortran-order array" if a.flags.f_contiguous else
                "strided (non-contiguous) array, strides %r" % (a.strides,))
    if not a.flags.aligned:
        return "unaligned array"
    return None


def _as_f32(a, strict, what):
    """a as C-contiguous float32: itself when it already is one, else a
    converted copy, or ValueError with strict."""
    why = _why_copy(a)
    if why is None:
        return a
    if strict:
        raise ValueError("%s would need a copy (%s) and strict=True" % (what, why))
    return np.ascontiguousarray(a, dtype=np.float32)


class _Owned:
    """A library handle owned by a Python object: close(), a context manager,
    and freed when collected. Subclasses name their destroy function."""
    _h = None
    _destroy = None  # name of the ttt_*_destroy function
    _what = "object"

    def close(self):
        # at interpreter exit the module's globals may already be gone
        if self._h and _lib is not None:
            getattr(_lib, self._destroy)(self._h)
        self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _handle(self):
        if not self._h:
            raise ValueError(self._what + " is closed")
        return self._h


class Model(_Owned):
    """One Bit-TTT layer (a ttt_model). Close it, or use it as a context manager.

    objective ("reconstruct", "multiview", "next"), feature_norm ("auto",
    "l2", "none"), update ("gradient", "nlms"), forget (alpha in [0, 1))
    and residual (multiview only) choose what W learns: docs/MEMORY.md."""

    _destroy = "ttt_destroy"
    _what = "model"

    def __init__(self, hidden_dim, inner_lr=DEFAULT_INNER_LR, state_dim=0,
                 seed=DEFAULT_SEED, learning=True, max_isa="auto", objective="reconstruct",
                 feature_norm="auto", update="gradient", forget=0.0, residual=False,
                 strict=False, weights=None):
        """weights: a weight file's path to load instead of the seed-drawn
        projections (see load_weights)."""
        self._h = None
        self.strict = bool(strict)
        for name, value, names in (("max_isa", max_isa, ISA_NAMES), ("objective", objective, OBJECTIVES),
                                   ("feature_norm", feature_norm, FEATURE_NORMS),
                                   ("update", update, UPDATES)):
            if value not in names:
                raise ValueError("%s must be one of %s" % (name, ", ".join(names)))
        cfg = _Config()
        _lib.ttt_config_default(ctypes.byref(cfg))
        if hidden_dim < 0 or state_dim < 0 or not 0 <= seed < 1 << 64:
            raise BitTTTError(ERR_INVALID_ARG)
        cfg.hidden_dim = hidden_dim
        cfg.state_dim = state_dim
        cfg.inner_lr = inner_lr
        cfg.learning = 1 if learning else 0
        cfg.seed = seed
        cfg.max_isa = ISA_NAMES[max_isa]
        cfg.objective = OBJECTIVES[objective]
        cfg.feature_norm = FEATURE_NORMS[feature_norm]
        cfg.update = UPDATES[update]
        cfg.forget = forget
        cfg.residual = 1 if residual else 0
        h = _P()
        _check(_lib.ttt_create_ex(ctypes.byref(cfg), ctypes.byref(h)))
        self._h = h
        self._cfg = _Config()
        _check(_lib.ttt_get_config(self._h, ctypes.byref(self._cfg)))
        self.hidden_dim = self._cfg.hidden_dim
        self.state_dim = self._cfg.state_dim
        if weights is not None:
            try:
                self.load_weights(weights)
            except BaseException:
                self.close()
                raise

    # ---- processing ----
    def forward(self, x, out=None, surprise=False, strict=None):
        """Run tokens x ((N, D) or (D,)) through the layer, learning from each.
        strict (default: the model's): raise ValueError rather than copy an
        x that is not C-contiguous aligned float32 (see the module doc).

        Returns out, or (out, surprise) with surprise=True (float32, N)."""
        h = self._handle()
        D = self.hidden_dim
        x = _as_f32(x, self.strict if strict is None else strict, "tokens")
        if x.ndim not in (1, 2) or x.shape[-1] != D:
            raise ValueError("tokens must have shape (N, %d) or (%d,), got %r" % (D, D, x.shape))
        n = x.shape[0] if x.ndim == 2 else 1
        if out is None:
            out = np.empty_like(x)
        elif not (isinstance(out, np.ndarray) and out.dtype == np.float32
                  and out.flags.c_contiguous and out.flags.writeable and out.shape == x.shape):
            raise ValueError("out must be a writeable C-contiguous float32 array of shape %r"
                             % (x.shape,))
        sur = np.empty(n, dtype=np.float32) if surprise else None
        if n:
            _check(_lib.ttt_forward_ex(h, _fptr(x), n, _fptr(out),
                                       _fptr(sur) if surprise else None))
        return (out, sur) if surprise else out

    __call__ = forward

    def reset(self):
        _check(_lib.ttt_reset(self._handle()))

    # ---- settings and introspection ----
    @property
    def inner_lr(self):
        return float(_lib.ttt_get_inner_lr(self._handle()))

    @inner_lr.setter
    def inner_lr(self, value):
        _check(_lib.ttt_set_inner_lr(self._handle(), value))

    @property
    def learning(self):
        return bool(_lib.ttt_get_learning(self._handle()))

    @learning.setter
    def learning(self, value):
        _check(_lib.ttt_set_learning(self._handle(), 1 if value else 0))

    @property
    def kernel(self):
        """Name of the kernels in use: one table ("scalar", "avx2", "avx2-vnni",
        "avx512", "avx512-vnni", "neon", "neon-dotprod"), or the table per slot ("tgemm=avx2 update_predict=avx512 ...")."""
        return _lib.ttt_get_kernel_name(self._handle()).decode()

    @property
    def stats(self):
        s = _Stats()
        _check(_lib.ttt_get_stats(self._handle(), ctypes.byref(s)))
        return Stats(s.tokens_seen, s.tokens_skipped)

    @property
    def config(self):
        c = _Config()
        _check(_lib.ttt_get_config(self._handle(), ctypes.byref(c)))
        def name(table, v):
            return next((k for k, x in table.items() if x == v), v)
        return Config(c.hidden_dim, c.state_dim, c.inner_lr, bool(c.learning), c.seed,
                      _ISA_BY_VALUE.get(c.max_isa, c.max_isa), name(OBJECTIVES, c.objective),
                      name(FEATURE_NORMS, c.feature_norm), name(UPDATES, c.update),
                      float(c.forget), bool(c.residual))

    # ---- state ----
    def to_bytes(self):
        h = self._handle()
        n = _lib.ttt_state_size(h)
        buf = ctypes.create_string_buffer(n)
        written = _SZ()
        _check(_lib.ttt_state_save(h, buf, n, ctypes.byref(written)))
        return buf.raw[:written.value]

    def from_bytes(self, data):
        data = bytes(data)
        _check(_lib.ttt_state_load(self._handle(), data, len(data)))

    def save(self, path):
        """Write the state to path atomically (old or new file, never a mix)."""
        _check(_lib.ttt_state_save_file(self._handle(), os.fsencode(path)))

    def load(self, path):
        _check(_lib.ttt_state_load_file(self._handle(), os.fsencode(path)))

    # ---- weight files (docs/SPEC.md, "Weight file") ----
    def load_weights(self, path):
        """Replace the projections with a weight file's; W and the counters
        are reset. BitTTTError: ERR_WEIGHTS (malformed file),
        ERR_WEIGHTS_MISMATCH (other D, d, objective, feature_norm or
        residual), ERR_VERSION, ERR_IO, ERR_UNSUPPORTED (no json-c)."""
        _check(_weights_call("ttt_load_weights", self._handle(), os.fsencode(path)))

    def load_weights_bytes(self, data):
        """load_weights from the bytes of a weight file."""
        data = bytes(data)
        _check(_weights_call("ttt_load_weights_mem", self._handle(), data, len(data)))

    def save_weights(self, path, training_data=""):
        """Write the projections (seed-drawn or loaded) as a weight file;
        training_data is its free-text description (str)."""
        _check(_weights_call("ttt_save_weights", self._handle(), os.fsencode(path),
                             training_data.encode("utf-8")))

    def __repr__(self):
        if not self._h:
            return "<bitttt.Model closed>"
        return "<bitttt.Model D=%d d=%d kernel=%s>" % (self.hidden_dim, self.state_dim, self.kernel)


# ---- anomaly score (docs/SPEC.md, "Anomaly score") ----

class _AnomalyConfig(ctypes.Structure):
    """struct ttt_anomaly_config; field order and C types exactly as in bitttt.h."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("k", ctypes.c_float),
        ("mean_window", ctypes.c_uint32),
        ("short_window", ctypes.c_uint32),
        ("long_window", ctypes.c_uint32),
        ("refit_every", ctypes.c_uint32),
        ("range_margin", ctypes.c_float),
        ("hold", ctypes.c_uint32),
    ]

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.struct_size = ctypes.sizeof(self)


_ANOMALY_API = {
    "ttt_anomaly_config_default": (None, [ctypes.POINTER(_AnomalyConfig)]),
    "ttt_anomaly_create": (ctypes.c_int, [ctypes.POINTER(_AnomalyConfig), ctypes.POINTER(_P)]),
    "ttt_anomaly_destroy": (None, [_P]),
    "ttt_anomaly_reset": (ctypes.c_int, [_P]),
    "ttt_anomaly_update": (ctypes.c_int, [_P, _FP, _FP, _SZ, _SZ, _FP, _FP]),
}
for _name, (_res, _args) in _ANOMALY_API.items():
    _fn = getattr(_lib, _name)
    _fn.restype = _res
    _fn.argtypes = _args
__all__.append("Anomaly")


class Anomaly(_Owned):
    """A calibrated anomaly scorer (a ttt_anomaly): surprises in, scores in
    [0, 1] out (NaN for skipped tokens). Close it, or use it as a context
    manager. Not thread-safe, like Model."""

    _destroy = "ttt_anomaly_destroy"
    _what = "anomaly scorer"

    def __init__(self, k=30.0, mean_window=1000, short_window=10, long_window=2000,
                 refit_every=100, range_margin=0.0, hold=0, strict=False):
        self._h = None
        self.strict = bool(strict)
        cfg = _AnomalyConfig()
        _lib.ttt_anomaly_config_default(ctypes.byref(cfg))
        ints = (mean_window, short_window, long_window, refit_every, hold)
        if not all(0 <= v < 1 << 32 for v in ints):
            raise BitTTTError(ERR_INVALID_ARG)
        cfg.hold = hold
        cfg.k = k
        cfg.mean_window, cfg.short_window, cfg.long_window, cfg.refit_every = ints[:4]
        cfg.range_margin = range_margin
        h = _P()
        _check(_lib.ttt_anomaly_create(ctypes.byref(cfg), ctypes.byref(h)))
        self._h = h

    def update(self, surprise, x=None, calibrated=False, strict=None):
        """Score surprises (N,) (from Model.forward(..., surprise=True)); x,
        the tokens ((N, D)), is read by the range rule only. strict (default:
        the scorer's): raise rather than copy (see the module doc).

        Returns score (float32, N), or (score, calibrated) with calibrated=True."""
        h = self._handle()
        strict = self.strict if strict is None else strict
        s = _as_f32(surprise, strict, "surprise").reshape(-1)
        n = s.shape[0]
        width = 0
        if x is not None:
            x = _as_f32(x, strict, "x")
            if x.ndim == 1 and n == 1:
                x = x.reshape(1, -1)
            if x.ndim != 2 or x.shape[0] != n:
                raise ValueError("x must have shape (%d, width), got %r" % (n, x.shape))
            width = x.shape[1]
        score = np.empty(n, dtype=np.float32)
        cal = np.empty(n, dtype=np.float32) if calibrated else None
        if n:
            _check(_lib.ttt_anomaly_update(h, _fptr(s), _fptr(x) if width else None, width, n,
                                           _fptr(score), _fptr(cal) if calibrated else None))
        return (score, cal) if calibrated else score

    __call__ = update

    def reset(self):
        _check(_lib.ttt_anomaly_reset(self._handle()))

    def __repr__(self):
        return "<bitttt.Anomaly %s>" % ("open" if self._h else "closed")
