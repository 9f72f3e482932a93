'use strict';
// Node.js binding for libbitttt, the Bit-TTT layer: koffi FFI over the C ABI
// of <bitttt/bitttt.h>, no maths of its own, no compiled code.
//
//     const { Model } = require('bitttt');
//     const m = new Model(128);
//     const x = new Float32Array(10 * 128), s = new Float32Array(10);
//     m.forward(x, x, s);          // 10 tokens in place, their surprise in s
//     m.close();
//
// Tokens are Float32Arrays: koffi hands the native code a pointer to the
// typed array's own memory, so forward() copies nothing and allocates only
// when no output array is given.
//
// The library: $BITTTT_LIBRARY (a full path), else the platform's name
// (libbitttt.so.1, libbitttt.1.dylib, bitttt.dll) on the loader's path.
//
// Ownership: a Model owns its native model until close() (or
// [Symbol.dispose], for `using`); a Model that is garbage-collected unclosed
// is freed by a FinalizationRegistry. A call on a closed Model throws
// BitTTTError with code TTT_ERR_INVALID_ARG.
//
// Threading: every call is synchronous on the calling thread; a Model must
// not be shared between worker threads (the C library's rule).
//
// Errors: a failing call throws BitTTTError: code is the engine's ttt_error
// (negative number), status its name, message the call and ttt_strerror().
const koffi = require('koffi');

const ERRORS = {
    TTT_OK: 0,
    TTT_ERR_INVALID_ARG: -1,
    TTT_ERR_NOMEM: -2,
    TTT_ERR_OVERFLOW: -3,
    TTT_ERR_IO: -4,
    TTT_ERR_FORMAT: -5,
    TTT_ERR_VERSION: -6,
    TTT_ERR_MISMATCH: -7,
    TTT_ERR_BUFFER_SMALL: -8,
    TTT_ERR_UNSUPPORTED: -9,
    TTT_ERR_WEIGHTS: -10,
    TTT_ERR_WEIGHTS_MISMATCH: -11,
};
const STATUS = Object.fromEntries(Object.entries(ERRORS).map(([k, v]) => [v, k]));

function defaultLibrary() {
    switch (process.platform) {
    case 'win32': return 'bitttt.dll';
    case 'darwin': return 'libbitttt.1.dylib';
    default: return 'libbitttt.so.1';
    }
}

const libraryPath = process.env.BITTTT_LIBRARY || defaultLibrary();
const lib = koffi.load(libraryPath);

// struct ttt_config, field order and C types exactly as in bitttt.h
const Config = koffi.struct('ttt_config', {
    struct_size: 'uint32_t',
    max_isa: 'uint32_t',
    hidden_dim: 'size_t',
    state_dim: 'size_t',
    inner_lr: 'float',
    learning: 'int',
    seed: 'uint64_t',
    objective: 'uint32_t',
    feature_norm: 'uint32_t',
    update: 'uint32_t',
    forget: 'float',
    residual: 'int',
});
const Stats = koffi.struct('ttt_stats', { tokens_seen: 'uint64_t', tokens_skipped: 'uint64_t' });
koffi.opaque('ttt_model');

const c = {
    config_default: lib.func('void ttt_config_default(_Out_ ttt_config *cfg)'),
    create_ex: lib.func('int ttt_create_ex(const ttt_config *cfg, _Out_ ttt_model **out)'),
    destroy: lib.func('void ttt_destroy(ttt_model *m)'),
    forward_ex: lib.func('int ttt_forward_ex(ttt_model *m, const float *input, size_t n, float *output, float *surprise)'),
    reset: lib.func('int ttt_reset(ttt_model *m)'),
    set_inner_lr: lib.func('int ttt_set_inner_lr(ttt_model *m, float eta)'),
    get_inner_lr: lib.func('float ttt_get_inner_lr(ttt_model *m)'),
    set_learning: lib.func('int ttt_set_learning(ttt_model *m, int on)'),
    get_learning: lib.func('int ttt_get_learning(ttt_model *m)'),
    get_config: lib.func('int ttt_get_config(ttt_model *m, _Inout_ ttt_config *cfg)'),
    get_stats: lib.func('int ttt_get_stats(ttt_model *m, _Out_ ttt_stats *st)'),
    get_kernel_name: lib.func('const char *ttt_get_kernel_name(ttt_model *m)'),
    state_size: lib.func('size_t ttt_state_size(ttt_model *m)'),
    state_save: lib.func('int ttt_state_save(ttt_model *m, uint8_t *buf, size_t cap, _Out_ size_t *written)'),
    state_load: lib.func('int ttt_state_load(ttt_model *m, const uint8_t *buf, size_t len)'),
    // the path goes as UTF-8, what the engine takes
    state_save_file: lib.func('int ttt_state_save_file(ttt_model *m, const char *path)'),
    state_load_file: lib.func('int ttt_state_load_file(ttt_model *m, const char *path)'),
    strerror: lib.func('const char *ttt_strerror(int err)'),
    version_string: lib.func('const char *ttt_version_string(void)'),
    cpu_isa: lib.func('int ttt_cpu_isa(void)'),
};

// The weight file calls are new in library 1.2: bound only if the library
// has them, else they fail with TTT_ERR_UNSUPPORTED, like a build without
// json-c, and the rest of the binding still loads.
function optionalFunc(signature) {
    try {
        return lib.func(signature);
    } catch (e) {
        return null;
    }
}
const w = {
    load_weights: optionalFunc('int ttt_load_weights(ttt_model *m, const char *path)'),
    load_weights_mem: optionalFunc('int ttt_load_weights_mem(ttt_model *m, const uint8_t *buf, size_t len)'),
    save_weights: optionalFunc('int ttt_save_weights(ttt_model *m, const char *path, const char *training_data)'),
};

function weightsCall(name, ...args) {
    return w[name] ? w[name](...args) : ERRORS.TTT_ERR_UNSUPPORTED;
}

class BitTTTError extends Error {
    constructor(code, where) {
        super(`${where}: ${c.strerror(code)}`);
        this.name = 'BitTTTError';
        this.code = code;
        this.status = STATUS[code] || 'unknown';
    }
}

function check(rc, where) {
    if (rc !== 0)
        throw new BitTTTError(rc, where);
}

function invalid(where) {
    return new BitTTTError(ERRORS.TTT_ERR_INVALID_ARG, where);
}

// String(path) would turn undefined or null into a file named "undefined"
// or "null" in the working directory; a caller's slip must not become a file.
function pathArg(p, where) {
    if (typeof p !== 'string' || p === '')
        throw invalid(`${where}: path must be a non-empty string`);
    return p;
}

/** ttt_config_default() with hidden_dim set: change fields, then new Model(cfg). */
function defaultConfig(hiddenDim = 0) {
    const cfg = {};
    c.config_default(cfg);
    cfg.hidden_dim = hiddenDim;
    return cfg;
}

const finalizer = new FinalizationRegistry((handle) => c.destroy(handle));

class Model {
    /**
     * new Model(hiddenDim, innerLr = 0.01): the original ttt_create().
     * new Model(cfg): ttt_create_ex() with a config from defaultConfig().
     */
    constructor(dimOrConfig, innerLr = 0.01) {
        const cfg = typeof dimOrConfig === 'object' ? { ...defaultConfig(), ...dimOrConfig }
            : { ...defaultConfig(dimOrConfig), inner_lr: innerLr };
        const out = [null];
        check(c.create_ex(cfg, out), 'ttt_create_ex');
        this._m = out[0];
        this.hiddenDim = Number(cfg.hidden_dim);
        finalizer.register(this, this._m, this);
    }

    _live() {
        if (this._m === null)
            throw invalid('bitttt.Model: closed model');
        return this._m;
    }

    /**
     * ttt_forward_ex(): input, a Float32Array of whole tokens (hiddenDim
     * floats each, row-major); output as long (it may be input: in place;
     * default a new array); surprise, if given, one float per token.
     * Returns output.
     */
    forward(input, output = new Float32Array(input ? input.length : 0), surprise = null) {
        const m = this._live();
        if (!(input instanceof Float32Array) || !(output instanceof Float32Array) ||
            input.length % this.hiddenDim !== 0 || output.length !== input.length)
            throw invalid('bitttt.Model.forward: input and output must be Float32Arrays of the same whole tokens');
        const n = input.length / this.hiddenDim;
        if (surprise !== null && (!(surprise instanceof Float32Array) || surprise.length !== n))
            throw invalid('bitttt.Model.forward: surprise must be a Float32Array of one float per token');
        check(c.forward_ex(m, input, n, output, surprise), 'ttt_forward_ex');
        return output;
    }

    /** Forget what was learned (W = 0, counters 0); the projections stay. */
    reset() { check(c.reset(this._live()), 'ttt_reset'); }

    get innerLr() { return c.get_inner_lr(this._live()); }
    set innerLr(eta) { check(c.set_inner_lr(this._live(), eta), 'ttt_set_inner_lr'); }
    get learning() { return c.get_learning(this._live()) !== 0; }
    set learning(on) { check(c.set_learning(this._live(), on ? 1 : 0), 'ttt_set_learning'); }

    /** The effective configuration (state_dim and feature_norm resolved). */
    config() {
        const cfg = defaultConfig();
        check(c.get_config(this._live(), cfg), 'ttt_get_config');
        return cfg;
    }

    /** { tokens_seen, tokens_skipped } */
    stats() {
        const st = {};
        check(c.get_stats(this._live(), st), 'ttt_get_stats');
        return st;
    }

    /** "scalar", "avx2", "avx2-vnni", "avx512", "avx512-vnni", "neon" or "neon-dotprod" (one table), or the table per slot. */
    get kernelName() { return c.get_kernel_name(this._live()); }

    /** ttt_state_save() into a new Uint8Array of exactly ttt_state_size() bytes. */
    saveState() {
        const m = this._live();
        const buf = new Uint8Array(Number(c.state_size(m)));
        check(c.state_save(m, buf, buf.length, [0]), 'ttt_state_save');
        return buf;
    }

    /** ttt_state_load() from a Uint8Array: validated first; on any error the model is unchanged. */
    loadState(buf) {
        if (!(buf instanceof Uint8Array))
            throw invalid('bitttt.Model.loadState: state must be a Uint8Array');
        check(c.state_load(this._live(), buf, buf.length), 'ttt_state_load');
    }

    /** ttt_state_save_file(): atomic replace of path (a non-empty string, else TTT_ERR_INVALID_ARG). */
    saveFile(path) {
        check(c.state_save_file(this._live(), pathArg(path, 'bitttt.Model.saveFile')), 'ttt_state_save_file');
    }
    loadFile(path) {
        check(c.state_load_file(this._live(), pathArg(path, 'bitttt.Model.loadFile')), 'ttt_state_load_file');
    }

    /**
     * ttt_load_weights(): the projections of a weight file (safetensors,
     * docs/TRAINING.md) instead of the seed-drawn ones. Its shape,
     * objective, feature norm and residual must be the model's
     * (TTT_ERR_WEIGHTS_MISMATCH). Resets the learned state; on any error
     * the model is unchanged.
     */
    loadWeights(path) {
        check(weightsCall('load_weights', this._live(), pathArg(path, 'bitttt.Model.loadWeights')), 'ttt_load_weights');
    }

    /** ttt_load_weights_mem(): loadWeights from the bytes of a weight file (a Uint8Array). */
    loadWeightsBytes(buf) {
        if (!(buf instanceof Uint8Array))
            throw invalid('bitttt.Model.loadWeightsBytes: the file must be a Uint8Array');
        check(weightsCall('load_weights_mem', this._live(), buf, buf.length), 'ttt_load_weights_mem');
    }

    /**
     * ttt_save_weights(): the model's projections (seed-drawn or loaded) as
     * a weight file at path (written beside it, then renamed over it);
     * trainingData is stored as its free-text description.
     */
    saveWeights(path, trainingData = '') {
        check(weightsCall('save_weights', this._live(), pathArg(path, 'bitttt.Model.saveWeights'), String(trainingData)),
            'ttt_save_weights');
    }

    /** Free the native model now. Idempotent. */
    close() {
        if (this._m !== null) {
            finalizer.unregister(this);
            c.destroy(this._m);
            this._m = null;
        }
    }
}
if (typeof Symbol.dispose === 'symbol')
    Model.prototype[Symbol.dispose] = Model.prototype.close;

module.exports = {
    Model,
    BitTTTError,
    ERRORS,
    defaultConfig,
    libraryPath,
    version: () => c.version_string(),
    cpuIsa: () => c.cpu_isa(),
};
