/*
 * The kernel choice by measurement. Every table gives the same bits, so any
 * mix of their kernels does too; which one is fastest depends on the shape
 * (an AVX-512 kernel can lose to the AVX2 one at small d and win at large
 * D). So the table a model gets is composed slot by slot: each slot's
 * candidates (the tables cpu.c lists) are timed on the model's own shapes,
 * the work of one call cut down to a few microseconds, and the fastest is
 * kept, once per shape and process.
 */
#define _POSIX_C_SOURCE 199309L
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "platform.h"

typedef void (*fnptr)(void);

/* One slot: the fields that move together (the timed one first; tpack with
 * the tgemm that reads its layout), and the timed call. */
typedef struct probe probe;
typedef struct slot {
    const char *name;
    size_t field[6];
    size_t nfield;
    void (*prepare)(probe *pr, const ttt_kernels *k, size_t ci);
    void (*run)(probe *pr, const ttt_kernels *k, size_t ci);
} slot;

/* The timing data, sized from the model's shapes. */
struct probe {
    size_t d;
    size_t qn, qtok;              /* quantize_block: n, tokens */
    size_t mrows, mcols, mtok;    /* the matrix product being timed */
    size_t ws, cd, cn;            /* update_predict's column stride; chunk d and n */
    int small;                    /* the cut-down call that weeds out slow candidates */
    float *x, *y, *z, *w;         /* float data (x: tokens, w: W) */
    float mx[TTT_BLOCK], g[TTT_BLOCK];
    int32_t *acc, vsum[TTT_BLOCK];
    int8_t *q;
    uint8_t *tern;                /* biased ternary, mrows x mcols */
    uint8_t *packed[TTT_MAX_TABLES];
};

static fnptr get_fn(const ttt_kernels *k, size_t off)
{
    fnptr f;
    memcpy(&f, (const char *)k + off, sizeof f);
    return f;
}

static void set_fn(ttt_kernels *k, size_t off, fnptr f)
{
    memcpy((char *)k + off, &f, sizeof f);
}

static size_t round_up(size_t v, size_t a)
{
    return (v + a - 1) / a * a;
}

/* About this many int8 products per timed matrix call: 2 to 5 us on the
 * SIMD tables. A block of TTT_BLOCK tokens, as forward runs, since a tile's
 * loads (and, in some tables, its transposition) are paid once per block;
 * rows are cut to a multiple of PROBE_ROWS
 * (every table's tile height divides it: fewer rows would favour narrow
 * tiles), columns to PROBE_COLS (every cut between paths is below it, and
 * longer rows repeat the same 64-column steps). */
#define PROBE_MACS ((size_t)1 << 19)
#define PROBE_ROWS 32
#define PROBE_COLS 1024

static void probe_matrix(probe *pr, size_t rows, size_t cols)
{
    pr->mcols = cols < PROBE_COLS ? cols : PROBE_COLS;
    pr->mtok = TTT_BLOCK;
    /* the kernels work in steps of 64 columns, padded */
    size_t r = PROBE_MACS / (round_up(pr->mcols, 64) * pr->mtok) / PROBE_ROWS * PROBE_ROWS;
    pr->mrows = r < PROBE_ROWS ? PROBE_ROWS : r;
    if (pr->mrows > rows)
        pr->mrows = rows;
}

static void prepare_matrix(probe *pr, const ttt_kernels *k, size_t ci)
{
    if (!pr->packed[ci])
        pr->packed[ci] = ttt_aligned_alloc(k->tpack_size(pr->mrows, pr->mcols));
    if (pr->packed[ci])
        k->tpack(pr->tern, pr->mcols, pr->mrows, pr->mcols, pr->packed[ci]);
}

static void run_quantize(probe *pr, const ttt_kernels *k, size_t ci)
{
    (void)ci;
    k->quantize_block(pr->x, pr->qn, pr->small ? 1 : pr->qtok, TTT_ABSMAX_FLOOR, pr->q, round_up(pr->qn, TTT_ALIGN),
                      pr->acc, pr->mx);
}

static void run_tgemm(probe *pr, const ttt_kernels *k, size_t ci)
{
    k->tgemm(pr->packed[ci], pr->mrows, pr->mcols, pr->q, round_up(pr->mcols, TTT_ALIGN), pr->vsum,
             pr->small ? 1 : pr->mtok, pr->acc, pr->mrows);
}

static void run_tgemm_residual(probe *pr, const ttt_kernels *k, size_t ci)
{
    k->tgemm_residual(pr->packed[ci], pr->mrows, pr->mcols, pr->q, round_up(pr->mcols, TTT_ALIGN), pr->vsum,
                      pr->small ? 1 : pr->mtok, pr->x, pr->g, pr->y, pr->mrows, pr->acc);
}

/* Tokens of the timed recurrence: learn_run keeps a band of W in L1 for a
 * whole block, which one or two tokens would not show. A whole block where
 * a call is short (d <= 128), 8 tokens above: there the band order wins by
 * 15% or more even so (measured at d = 128: equal over 8 tokens, 1.15x
 * over 32), and 32 tokens at d = 511 would take 0.3 ms a call. */
#define PROBE_RUN TTT_BLOCK
static size_t probe_tokens(size_t d)
{
    return d <= 128 ? PROBE_RUN : 8;
}

/* The token-by-token recurrence as forward runs it: the key from the
 * Down sums, the fused update and prediction, the error, the quantised
 * prediction. Its kernels pass vectors to one another every token, and the
 * handover between two tables can cost more than either kernel: a vector
 * stored in two ymm halves and read back as one zmm does not forward from
 * the stores (measured: 12 ns a token at D = 64 with AVX2's update_predict
 * before AVX-512's quantize, 20% of the forward). So they are timed, and
 * chosen, together. c and the keys small: W stays far from overflow and
 * from subnormals. */
static void run_recurrence(probe *pr, const ttt_kernels *k, size_t ci)
{
    const size_t d = pr->small ? (pr->d + 3) / 4 : pr->d, ws = pr->ws, nt = pr->small ? 1 : probe_tokens(pr->d);
    float *c = pr->y, *tg = pr->z + PROBE_RUN * ws;
    uint32_t pmax;
    (void)ci;
    if (k->learn_run && pr->d >= TTT_RUN_MIN_D) { /* as forward runs it: the keys, one run, each token's error */
        const float *x[PROBE_RUN], *t[PROBE_RUN];
        float r[PROBE_RUN];
        for (size_t u = 0; u < nt; u++) {
            (void)k->sumsq(pr->acc, d);
            k->scale_i32(pr->acc, d, 1e-4f, pr->x + (u + 1) * ws);
            x[u] = pr->x + (u + 1) * ws, t[u] = tg, r[u] = 0.01f;
        }
        k->learn_run(pr->w, d, ws, c, pr->x, 1.0f, x, t, r, nt, pr->z, ws, c);
        for (size_t u = 0; u < nt; u++) {
            k->error(pr->z + u * ws, tg, d, 0.01f, pr->y + ws, &pmax);
            (void)k->quantize(pr->z + u * ws, d, 1.0f, pr->q);
        }
        return;
    }
    for (size_t u = 0; u < nt; u++) {
        float *f = pr->x + (u % 2) * ws, *fo = pr->x + (1 - u % 2) * ws;
        (void)k->sumsq(pr->acc, d);
        k->scale_i32(pr->acc, d, 1e-4f, f);
        k->update_predict(pr->w, d, ws, c, fo, 1.0f, f, pr->z);
        k->error(pr->z, tg, d, 0.01f, c, &pmax);
        (void)k->quantize(pr->z, d, 1.0f, pr->q);
    }
}

static void run_chunk(probe *pr, const ttt_kernels *k, size_t ci)
{
    const size_t cs = round_up(pr->cd, 16);
    (void)ci;
    const size_t n = pr->small ? 1 : pr->cn;
    k->chunk_predict(pr->w, pr->cd, cs, pr->x, cs, n, pr->z);
    k->chunk_correct(pr->z, pr->cd, pr->y, pr->x, cs, n, pr->x, 1.0f);
    k->chunk_update(pr->w, pr->cd, cs, pr->y, pr->x, cs, n, 1.0f);
}

#define F(x) offsetof(ttt_kernels, x)
enum { S_QUANT, S_DOWN, S_UP, S_UPDATE, S_CHUNK, S_COUNT };
static const slot g_slots[S_COUNT] = {
    { "quantize_block", { F(quantize_block), F(absmax_bits) }, 2, NULL, run_quantize },
    { "tgemm", { F(tgemm), F(tpack_size), F(tpack) }, 3, prepare_matrix, run_tgemm },
    { "tgemm_residual", { F(tgemm_residual), F(residual) }, 2, prepare_matrix, run_tgemm_residual },
    { "update_predict", { F(update_predict), F(learn_run), F(error), F(scale_i32), F(sumsq), F(quantize) }, 6,
      NULL, run_recurrence },
    { "chunk", { F(chunk_predict), F(chunk_update), F(chunk_correct) }, 3, NULL, run_chunk },
};
#undef F

/* Per slot: a candidate has to beat the one by ISA by this much to be
 * taken, so that noise does not flip near-equal choices. */
#define MARGIN 0.97
/* The same for token by token against learn_run, which the probe sees as
 * slower than forward does: forward adds per-token work the probe leaves
 * out (measured at D = 256: the probe had token by token 3% faster, while
 * forward runs 8% faster with learn_run). So token by token is taken only
 * when clearly faster: a CPU on which the band order really loses. */
#define RUN_MARGIN 0.90
/* Stop timing a slot after this long (the first round always completes) */
#define SLOT_BUDGET_NS 30000u
#define ROUNDS 4

/* reps calls of the slot's kernel from cand[i], in ns */
static uint64_t time_one(probe *pr, const slot *s, const ttt_kernels *k, size_t i, unsigned reps)
{
    const uint64_t a = ttt_now_ns();
    for (unsigned r = 0; r < reps; r++)
        s->run(pr, k, i);
    return ttt_now_ns() - a;
}

/* A timed sample lasts at least this long: shorter ones are all jitter */
#define SAMPLE_NS 2000u

/* The index into cand of the slot's fastest candidate; the last (by ISA)
 * unless another is faster by margin (MARGIN for the slots). Candidates that share all the
 * slot's functions are timed once. A first, cut-down call (one token, or a
 * quarter of d) weeds out the far slower ones, scalar mostly, before they
 * cost a full call. */
static size_t race(probe *pr, const slot *s, const ttt_kernels *const *cand, size_t n, double margin)
{
    uint64_t best[TTT_MAX_TABLES], quick = UINT64_MAX;
    int live[TTT_MAX_TABLES];
    pr->small = 1;
    for (size_t i = 0; i < n; i++) {
        live[i] = 1;
        best[i] = UINT64_MAX;
        for (size_t j = i + 1; j < n && live[i]; j++) {
            int same = 1;
            for (size_t f = 0; f < s->nfield; f++)
                same &= get_fn(cand[i], s->field[f]) == get_fn(cand[j], s->field[f]);
            live[i] = !same; /* the same code as a later table: let that one stand */
        }
        if (live[i] && s->prepare) {
            s->prepare(pr, cand[i], i);
            live[i] = pr->packed[i] != NULL;
        }
        if (live[i]) {
            s->run(pr, cand[i], i); /* warm: caches, branch predictors, page faults */
            best[i] = time_one(pr, s, cand[i], i, 1);
            quick = best[i] < quick ? best[i] : quick;
        }
    }
    if (!live[n - 1])
        return n - 1; /* no memory to time with: the choice by ISA */
    pr->small = 0;
    size_t nlive = 0;
    for (size_t i = 0; i < n; i++) {
        if (live[i] && i + 1 < n && best[i] > 2 * quick)
            live[i] = 0;
        best[i] = UINT64_MAX;
        if (live[i])
            nlive++;
    }
    if (nlive == 1)
        return n - 1;
    const uint64_t full = time_one(pr, s, cand[n - 1], n - 1, 1);
    const unsigned reps = full >= SAMPLE_NS       ? 1u
                          : full * 16 < SAMPLE_NS ? 16u
                                                  : (unsigned)(SAMPLE_NS / (full + 1)) + 1;
    for (size_t i = 0; i + 1 < n; i++)
        if (live[i])
            s->run(pr, cand[i], i); /* warm at full size */
    const uint64_t t0 = ttt_now_ns();
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t i = n; i-- > 0;) {
            if (live[i]) {
                const uint64_t t = time_one(pr, s, cand[i], i, reps);
                best[i] = t < best[i] ? t : best[i];
            }
        }
        if (ttt_now_ns() - t0 > SLOT_BUDGET_NS)
            break;
    }
    size_t w = n - 1;
    for (size_t i = 0; i + 1 < n; i++)
        if (live[i] && (double)best[i] < margin * (double)best[n - 1] && best[i] < best[w])
            w = i;
    if (w == n - 1)
        return w;
    /* Noise only slows a sample down, so a minimum is never too low, but
     * every sample of the choice by ISA may have been slowed: before it is
     * overruled, both run again, and the other has to win again. */
    for (int round = 0; round < 2 * ROUNDS; round++) {
        const uint64_t tw = time_one(pr, s, cand[w], w, reps), td = time_one(pr, s, cand[n - 1], n - 1, reps);
        best[w] = tw < best[w] ? tw : best[w];
        best[n - 1] = td < best[n - 1] ? td : best[n - 1];
    }
    return (double)best[w] < margin * (double)best[n - 1] ? w : n - 1;
}

static void probe_free(probe *pr)
{
    ttt_aligned_free(pr->x);
    ttt_aligned_free(pr->y);
    ttt_aligned_free(pr->z);
    ttt_aligned_free(pr->w);
    ttt_aligned_free(pr->acc);
    ttt_aligned_free(pr->q);
    ttt_aligned_free(pr->tern);
    for (size_t i = 0; i < TTT_MAX_TABLES; i++)
        ttt_aligned_free(pr->packed[i]);
    memset(pr, 0, sizeof *pr);
}

static size_t max2(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* Buffers for every slot, the largest each needs (a few hundred KiB at
 * most, whatever the shape); 0 when out of memory. */
static int probe_alloc(probe *pr, size_t D, size_t d, size_t nd)
{
    memset(pr, 0, sizeof *pr);
    pr->d = d;
    pr->qn = D;
    pr->qtok = max2(8192 / D, 1);
    if (pr->qtok > TTT_BLOCK)
        pr->qtok = TTT_BLOCK;
    pr->ws = d < TTT_CHUNK_MIN_D ? ttt_w_stride(d) : round_up(d, 16);
    pr->cd = d < 128 ? d : 128;
    pr->cn = 8;
    /* the two matrices as probe_set_matrix will cut them */
    probe_matrix(pr, nd, D);
    const size_t r1 = pr->mrows, c1 = pr->mcols;
    probe_matrix(pr, D, d);
    const size_t r2 = pr->mrows, c2 = pr->mcols, mr = max2(r1, r2);
    /* floats: tokens (quantize_block, the residual's x and out), two
     * vectors, or the chunk's rows; W: d columns (token by token, d < 512),
     * or the chunk's */
    const size_t cs = round_up(pr->cd, 16);
    const size_t nf = max2(max2(pr->qn * pr->qtok, mr * TTT_BLOCK),
                           max2(2 * pr->ws + 2 * pr->cn * cs, (PROBE_RUN + 2) * pr->ws));
    const size_t nw = d >= TTT_CHUNK_MIN_D ? pr->cd * cs : pr->ws * d;
    const size_t nq = max2(pr->qtok * round_up(pr->qn, TTT_ALIGN), TTT_BLOCK * round_up(max2(c1, c2), TTT_ALIGN));
    const size_t nacc = max2(TTT_BLOCK * ttt_acc_stride(mr), d);
    pr->x = ttt_aligned_alloc(nf * sizeof(float));
    pr->y = ttt_aligned_alloc(nf * sizeof(float));
    pr->z = ttt_aligned_alloc(nf * sizeof(float));
    pr->w = ttt_aligned_alloc(nw * sizeof(float));
    pr->acc = ttt_aligned_alloc(nacc * sizeof(int32_t));
    pr->q = ttt_aligned_alloc(nq);
    pr->tern = ttt_aligned_alloc(max2(r1 * c1, r2 * c2));
    if (!pr->x || !pr->y || !pr->z || !pr->w || !pr->acc || !pr->q || !pr->tern) {
        probe_free(pr);
        return 0;
    }
    uint64_t s = UINT64_C(0x9e3779b97f4a7c15);
    for (size_t i = 0; i < nf; i++) {
        const uint64_t r = ttt_splitmix64(&s);
        pr->x[i] = (float)(int32_t)(r >> 32) * (1.0f / 2147483648.0f) * 0.1f;
        pr->y[i] = (float)(int32_t)r * (1.0f / 2147483648.0f) * 0.001f;
    }
    memset(pr->z, 0, nf * sizeof(float));
    memset(pr->w, 0, nw * sizeof(float));
    for (size_t i = 0; i < nacc; i++)
        pr->acc[i] = (int32_t)(ttt_splitmix64(&s) % 2001) - 1000;
    for (size_t i = 0; i < nq; i++)
        pr->q[i] = (int8_t)((int)(ttt_splitmix64(&s) % 255) - 127);
    for (size_t i = 0; i < TTT_BLOCK; i++)
        pr->g[i] = 0.001f;
    return 1;
}

/* The matrix a tgemm slot is timed on: rows x cols of the model's product,
 * cut down (probe_matrix), ternary weights and the token sums */
static void probe_set_matrix(probe *pr, size_t rows, size_t cols)
{
    for (size_t i = 0; i < TTT_MAX_TABLES; i++) {
        ttt_aligned_free(pr->packed[i]);
        pr->packed[i] = NULL;
    }
    probe_matrix(pr, rows, cols);
    uint64_t s = rows * 31 + cols, r = 0;
    for (size_t i = 0; i < pr->mrows * pr->mcols; i++, r >>= 8)
        pr->tern[i] = (uint8_t)((i % 8 ? r : (r = ttt_splitmix64(&s))) % 3);
    const size_t vs = round_up(pr->mcols, TTT_ALIGN);
    for (size_t t = 0; t < pr->mtok; t++) {
        int32_t sum = 0;
        for (size_t c = 0; c < pr->mcols; c++)
            sum += pr->q[t * vs + c];
        pr->vsum[t] = sum;
    }
}

/* A cached choice: the composed table and its name */
typedef struct entry {
    size_t D, d, nd;
    size_t ncand;
    ttt_kernels k;
    const ttt_kernels *up;
    char name[256];
} entry;

/* Distinct shapes in one process are few; past this many, models get the
 * choice by ISA rather than an unbounded cache. */
#define MAX_ENTRIES 64
static entry g_cache[MAX_ENTRIES];
static size_t g_ncache;
static ttt_mutex g_lock = TTT_MUTEX_INIT;

/* TTT_DISPATCH: "isa" turns measurement off; "cycle" (for tests) takes
 * slot i from candidate (i + D / 4) mod n, untimed, to run mixes that
 * measurement would seldom pick. Anything else: measure. */
static int env_mode(void)
{
    const char *e = getenv("TTT_DISPATCH");
    if (e && !strcmp(e, "isa"))
        return 0;
    if (e && !strcmp(e, "cycle"))
        return 2;
    return 1;
}

static void compose(entry *e, const ttt_kernels *const *cand, size_t n, int mode)
{
    size_t pick[S_COUNT];
    probe pr;
    const int timed = mode == 1 && probe_alloc(&pr, e->D, e->d, e->nd);
    for (size_t s = 0; s < S_COUNT; s++) {
        pick[s] = n - 1;
        if (mode == 2) {
            pick[s] = (s + e->D / 4) % n;
            continue;
        }
        /* the recurrence runs either token by token or in chunks */
        const int chunked = e->d >= TTT_CHUNK_MIN_D;
        if (!timed || (s == S_UPDATE && chunked) || (s == S_CHUNK && !chunked))
            continue;
        if (s == S_DOWN)
            probe_set_matrix(&pr, e->nd, e->D);
        else if (s == S_UP)
            probe_set_matrix(&pr, e->D, e->d);
        pick[s] = race(&pr, &g_slots[s], cand, n, MARGIN);
    }
    /* learn_run or token by token (kernels.h): the same arithmetic, and
     * which is faster depends on the caches as much as on the ISA */
    int by_token = 0;
    const ttt_kernels *rec = cand[pick[S_UPDATE]];
    if (timed && e->d >= TTT_RUN_MIN_D && e->d < TTT_CHUNK_MIN_D && rec->learn_run) {
        ttt_kernels none = *rec;
        none.learn_run = NULL;
        const ttt_kernels *two[2] = { &none, rec };
        by_token = race(&pr, &g_slots[S_UPDATE], two, 2, RUN_MARGIN) == 0;
    }
    if (timed)
        probe_free(&pr);
    /* a model runs either update_predict or the chunk kernels per token,
     * beside error, scale_i32 and sumsq: the slot it does not run follows
     * the one it does, so the recurrence's kernels come from one table */
    if (mode != 2) {
        if (e->d >= TTT_CHUNK_MIN_D)
            pick[S_UPDATE] = pick[S_CHUNK];
        else
            pick[S_CHUNK] = pick[S_UPDATE];
    }
    e->k = *cand[n - 1];
    e->up = cand[pick[S_UP]];
    int mixed = 0;
    for (size_t s = 0; s < S_COUNT; s++) {
        for (size_t f = 0; f < g_slots[s].nfield; f++)
            set_fn(&e->k, g_slots[s].field[f], get_fn(cand[pick[s]], g_slots[s].field[f]));
        mixed |= pick[s] != pick[0];
    }
    if (by_token)
        e->k.learn_run = NULL;
    if (!mixed && !by_token) {
        snprintf(e->name, sizeof e->name, "%s", cand[pick[0]]->name);
    } else {
        size_t len = 0;
        for (size_t s = 0; s < S_COUNT; s++)
            len += (size_t)snprintf(e->name + len, sizeof e->name - len, "%s%s=%s", s ? " " : "",
                                    g_slots[s].name, cand[pick[s]]->name);
        if (by_token)
            snprintf(e->name + len, sizeof e->name - len, " learn_run=none");
    }
    e->k.name = e->name;
}

const ttt_kernels *ttt_kernels_dispatch(unsigned max_isa, int measure, size_t D, size_t d, size_t nd,
                                        const ttt_kernels **up)
{
    const ttt_kernels *cand[TTT_MAX_TABLES];
    const size_t n = ttt_kernels_candidates(max_isa, cand);
    const int mode = measure ? env_mode() : 0;
    *up = cand[n - 1];
    if (n == 1 || mode == 0)
        return cand[n - 1];
    /* the candidates are always a prefix of one list, so their count is
     * the ISA cap's part of the key; the mode is fixed for the process */
    const size_t ncand = n;
    ttt_mutex_lock(&g_lock);
    const ttt_kernels *k = cand[n - 1];
    entry *e = NULL;
    for (size_t i = 0; i < g_ncache && !e; i++)
        if (g_cache[i].D == D && g_cache[i].d == d && g_cache[i].nd == nd && g_cache[i].ncand == ncand)
            e = &g_cache[i];
    if (!e && g_ncache < MAX_ENTRIES) {
        e = &g_cache[g_ncache];
        e->D = D, e->d = d, e->nd = nd, e->ncand = ncand;
        compose(e, cand, n, mode);
        g_ncache++; /* only now visible to lookups, complete */
    }
    if (e) {
        k = &e->k;
        *up = e->up;
    }
    ttt_mutex_unlock(&g_lock);
    return k;
}
