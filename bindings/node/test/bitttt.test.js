'use strict';
// The Node.js binding against the engine: the original's memory-effect
// check, forward without copies, state and weight file round trips, and
// the engine's codes in the errors.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const koffi = require('koffi');
const bitttt = require('..');

const D = 64, N = 40;

// the engine tests' xorshift stream, uniform in [-1, 1)
function fill(count) {
    const x = new Float32Array(count);
    let r = 0x9e3779b97f4a7c15n;
    const mask = (1n << 64n) - 1n;
    for (let i = 0; i < count; i++) {
        r ^= (r << 13n) & mask;
        r ^= r >> 7n;
        r ^= (r << 17n) & mask;
        x[i] = Number(r >> 40n) / 8388608.0 - 1.0;
    }
    return x;
}
const input = fill(N * D);

function sameBits(a, b) {
    return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength),
                          Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

// what String() would have turned into the files "undefined", "null", "42"
const BAD_PATHS = [undefined, null, '', 42];

function throwsCode(fn, code, text) {
    assert.throws(fn, (e) => e instanceof bitttt.BitTTTError && e instanceof Error &&
        e.code === code && e.status === Object.keys(bitttt.ERRORS).find((k) => bitttt.ERRORS[k] === code) &&
        e.message.includes(text));
}

// a and b, which ran the same forwards, run x: the same outputs, surprises
// and tokens seen, bit for bit
function assertTwins(a, b, x, what) {
    const n = x.length / a.hiddenDim;
    const sa = new Float32Array(n), sb = new Float32Array(n);
    const ya = a.forward(x, undefined, sa), yb = b.forward(x, undefined, sb);
    assert.ok(sameBits(ya, yb) && sameBits(sa, sb), `${what}: outputs and surprises`);
    assert.strictEqual(Number(a.stats().tokens_seen), Number(b.stats().tokens_seen), `${what}: tokens seen`);
}

test('a fresh model: configuration and kernels', () => {
    const m = new bitttt.Model(D);
    const cfg = m.config();
    assert.strictEqual(m.hiddenDim, D);
    assert.strictEqual(Number(cfg.state_dim), D / 4);
    assert.strictEqual(m.innerLr, Math.fround(0.01));
    assert.strictEqual(m.learning, true);
    // one table, or the table per slot when the measured choice mixes them
    const table = '(scalar|avx2|avx2-vnni|avx512|avx512-vnni)';
    assert.match(m.kernelName, new RegExp(`^(${table}|[a-z_]+=${table}( [a-z_]+=${table})*)$`));
    assert.match(bitttt.version(), /^\d+\.\d+\.\d+$/);
    m.close();
});

test("the original's check: first output equals its input, a repeated token's output moves", () => {
    const m = new bitttt.Model(D);
    const s = new Float32Array(1);
    const first = m.forward(input.subarray(0, D), undefined, s);
    assert.ok(sameBits(first, input.subarray(0, D)), 'first output equals its input bit for bit');
    assert.ok(Math.abs(s[0] - 1 / (D / 4)) < 1e-6, `first surprise is 1/d (${s[0]})`);

    const seq = new Float32Array(6 * D);
    for (let t = 0; t < 6; t++)
        seq.set(input.subarray((t % 3) * D, (t % 3 + 1) * D), t * D);
    m.reset();
    const out = m.forward(seq);
    let diff = 0;
    for (let i = 0; i < D; i++)
        diff += Math.abs(out[3 * D + i] - seq[3 * D + i]);
    assert.ok(sameBits(out.subarray(0, D), seq.subarray(0, D)));
    assert.ok(diff > 1e-3, `token 0 again differs by ${diff}`);
    m.close();
});

test('forward reads and writes the typed arrays in place, without copies', () => {
    // libc's memset returns the pointer it was given: a pointer into the
    // typed array's own memory, so a write through it after the call shows
    // in the array (a copy would have been gone by then)
    const libc = koffi.load('libc.so.6');
    for (const type of ['float *', 'const float *']) {
        const memset = libc.func(`void *memset(${type}s, int c, size_t n)`);
        const probe = new Float32Array(4);
        koffi.encode(memset(probe.subarray(1), 0, 0), 'float', 42);
        assert.strictEqual(probe[1], 42, `koffi passes a Float32Array as ${type} by its own memory`);
    }

    const m = new bitttt.Model(D);
    const ref = m.forward(input, new Float32Array(N * D), new Float32Array(N));
    // a view into a bigger buffer, at an offset: the results land inside it
    const big = new Float32Array(N * D + 8);
    big.set(input, 4);
    const view = big.subarray(4, 4 + N * D);
    m.reset();
    assert.strictEqual(m.forward(view, view), view);
    assert.ok(sameBits(view, ref), 'in place in a subarray == out of place');
    assert.ok(big[3] === 0 && big[4 + N * D] === 0, 'nothing written outside the view');
    assert.strictEqual(Number(m.stats().tokens_seen), N);
    m.close();
});

test('bad input throws BitTTTError with the engine code', () => {
    const INVALID = bitttt.ERRORS.TTT_ERR_INVALID_ARG;
    throwsCode(() => new bitttt.Model(6), INVALID, 'invalid argument');
    throwsCode(() => new bitttt.Model({ hidden_dim: 16, objective: 99 }), INVALID, 'invalid argument');
    const m = new bitttt.Model(D);
    throwsCode(() => m.forward(new Float32Array(D + 1)), INVALID, 'whole tokens');
    throwsCode(() => m.forward(input, new Float32Array(D)), INVALID, 'whole tokens');
    throwsCode(() => m.forward(new Float64Array(D)), INVALID, 'Float32Array');
    throwsCode(() => m.forward(Array.from(input)), INVALID, 'Float32Array');
    throwsCode(() => m.forward(input, undefined, new Float32Array(1)), INVALID, 'one float per token');
    throwsCode(() => m.forward(new Float32Array(0)), INVALID, 'ttt_forward_ex: invalid argument');
    throwsCode(() => { m.innerLr = NaN; }, INVALID, 'ttt_set_inner_lr');
    assert.strictEqual(m.innerLr, Math.fround(0.01), 'a failed call changes nothing');
    m.close();
    throwsCode(() => m.forward(input), INVALID, 'closed model');
    m.close(); // idempotent
});

test('state: save, load, replay; corrupt and mismatched states are refused', () => {
    const m = new bitttt.Model(D);
    const ref = m.forward(input);
    m.reset();
    m.forward(input.subarray(0, N / 2 * D));
    const state = m.saveState();
    const tail = input.subarray(N / 2 * D);
    const t1 = m.forward(tail);
    m.loadState(state);
    assert.ok(sameBits(m.forward(tail), t1) && sameBits(t1, ref.subarray(N / 2 * D)), 'replay == first run');

    const corrupt = state.slice();
    corrupt[corrupt.length >> 1] ^= 1;
    throwsCode(() => m.loadState(corrupt), bitttt.ERRORS.TTT_ERR_FORMAT, 'corrupt');
    const m7 = new bitttt.Model({ ...bitttt.defaultConfig(D), seed: 7 });
    throwsCode(() => m7.loadState(state), bitttt.ERRORS.TTT_ERR_MISMATCH, 'another shape');
    m7.close();

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bitttt-node-'));
    try {
        const file = path.join(dir, 'm\u00e9.state');
        m.loadState(state);
        m.saveFile(file);
        const a = m.forward(tail);
        m.loadFile(file);
        assert.ok(sameBits(m.forward(tail), a) && fs.existsSync(file), 'saveFile, loadFile (UTF-8 path), replay');
        throwsCode(() => m.loadFile(path.join(dir, 'missing')), bitttt.ERRORS.TTT_ERR_IO, 'input/output');
        for (const bad of BAD_PATHS) {
            throwsCode(() => m.saveFile(bad), bitttt.ERRORS.TTT_ERR_INVALID_ARG, 'saveFile: path must be');
            throwsCode(() => m.loadFile(bad), bitttt.ERRORS.TTT_ERR_INVALID_ARG, 'loadFile: path must be');
        }
    } finally {
        fs.rmSync(dir, { recursive: true });
    }
    m.close();
});

test('weight files: save, load from a path and from bytes; bad files and another D are refused', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bitttt-node-w-'));
    try {
        // the projections of a seed-7 model, into default-seed models
        const file = path.join(dir, 'layer\u00e9.safetensors');
        const m7 = new bitttt.Model({ ...bitttt.defaultConfig(D), seed: 7 });
        m7.saveWeights(file, 'Node test: seed 7');
        const sWant = new Float32Array(N);
        const want = m7.forward(input, undefined, sWant);
        m7.close();
        const plain = new bitttt.Model(D);
        const seedDrawn = plain.forward(input);
        plain.close();

        const m = new bitttt.Model(D);
        m.loadWeights(file);
        const sGot = new Float32Array(N);
        assert.ok(sameBits(m.forward(input, undefined, sGot), want) && sameBits(sGot, sWant),
            'loadWeights (UTF-8 path): the seed-7 outputs bit for bit');
        assert.ok(!sameBits(want, seedDrawn), 'which are not the seed-drawn ones');
        m.close();

        const bytes = new Uint8Array(fs.readFileSync(file));
        assert.ok(Buffer.from(bytes).includes('Node test: seed 7'), 'the file holds the training_data text');
        const mb = new bitttt.Model(D);
        mb.loadWeightsBytes(bytes);
        assert.ok(sameBits(mb.forward(input), want), 'loadWeightsBytes: the same outputs');

        throwsCode(() => mb.saveWeights(path.join(dir, 'no', 'such.safetensors')), bitttt.ERRORS.TTT_ERR_IO,
            'ttt_save_weights: input/output');
        for (const bad of BAD_PATHS) {
            throwsCode(() => mb.saveWeights(bad), bitttt.ERRORS.TTT_ERR_INVALID_ARG, 'saveWeights: path must be');
            throwsCode(() => mb.loadWeights(bad), bitttt.ERRORS.TTT_ERR_INVALID_ARG, 'loadWeights: path must be');
        }
        mb.close();
        throwsCode(() => mb.loadWeights(file), bitttt.ERRORS.TTT_ERR_INVALID_ARG, 'closed model');

        // bad files: the engine's code and text. They go into a
        // default-seed model that has learned from a forward, so a load
        // that applied part of the seed-7 file, or reset the learned state,
        // before refusing it sets the model apart from its twin, which ran
        // the same forwards and no loads.
        const victim = new bitttt.Model(D), twin = new bitttt.Model(D);
        victim.forward(input);
        twin.forward(input);
        throwsCode(() => victim.loadWeights(path.join(dir, 'missing')), bitttt.ERRORS.TTT_ERR_IO, 'input/output');
        const corrupt = bytes.slice();
        corrupt[8] = '['.charCodeAt(0); // the header's JSON no longer an object
        throwsCode(() => victim.loadWeightsBytes(corrupt), bitttt.ERRORS.TTT_ERR_WEIGHTS, 'weight file malformed');
        throwsCode(() => victim.loadWeightsBytes(bytes.subarray(0, bytes.length - 1)), bitttt.ERRORS.TTT_ERR_WEIGHTS,
            'weight file malformed');
        const bad = path.join(dir, 'bad.safetensors');
        fs.writeFileSync(bad, Buffer.from([1, 2, 3]));
        throwsCode(() => victim.loadWeights(bad), bitttt.ERRORS.TTT_ERR_WEIGHTS, 'ttt_load_weights: weight file malformed');
        throwsCode(() => victim.loadWeightsBytes(Array.from(bytes)), bitttt.ERRORS.TTT_ERR_INVALID_ARG, 'Uint8Array');
        assertTwins(victim, twin, input, 'after the failed loads: the projections and learned state untouched');
        victim.close();
        twin.close();

        // a D = 64 file into a D = 32 model
        const m32 = new bitttt.Model(32), twin32 = new bitttt.Model(32);
        const x32 = input.subarray(0, 4 * 32);
        m32.forward(x32);
        twin32.forward(x32);
        throwsCode(() => m32.loadWeights(file), bitttt.ERRORS.TTT_ERR_WEIGHTS_MISMATCH, 'another shape');
        throwsCode(() => m32.loadWeightsBytes(bytes), bitttt.ERRORS.TTT_ERR_WEIGHTS_MISMATCH, 'another shape');
        assertTwins(m32, twin32, x32, 'the D=32 model is unchanged and still runs');
        m32.close();
        twin32.close();
    } finally {
        fs.rmSync(dir, { recursive: true });
    }
});
