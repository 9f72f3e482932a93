/*
 * Where a token's time goes: each kernel of the table timed alone on the
 * work one token of ttt_forward() gives it, beside the whole forward, for
 * every ISA the CPU runs (the --bench of dav1d's checkasm, as its own
 * program). The kernels run on data that stays in L1, so the sum of their
 * times against the forward's shows what the glue between them costs and
 * what the caches do.
 *
 *   bench_kernels [D ...]      (default: 128 1024; d = D / 4)
 *
 * From d = TTT_CHUNK_MIN_D on, the recurrence runs the chunk kernels
 * instead of update_predict (docs/SPEC.md, "Large d"), timed per token as
 * forward spreads them: chunk_predict on a block of 32 tokens, chunk_update
 * of 32 learned tokens, chunk_correct with a chunk half full (the mean).
 *   bench_kernels --once ISA D KERNEL REPS
 *       no timing: REPS calls of kernel number KERNEL (the order of the
 *       table printed; one past the last: the forward) of ISA (a ttt_isa
 *       value), for counting instructions
 *       under an emulator (cross/count-aarch64.sh)
 *
 * Times are ns per token, the best of several runs: the lower bound that is
 * stable on a shared machine.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define NTOK TTT_BLOCK /* tokens per kernel call, as forward_block */
#define RUNS 31

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static volatile float g_sink;
static uint64_t g_rng = 1;

static float frand(void) /* uniform in [-1, 1) */
{
    return (float)(ttt_splitmix64(&g_rng) >> 40) * 0x1p-23f - 1.0f;
}

/* Everything one kernel call needs, sized for D (row strides rounded to 64
 * bytes, as the model's buffers, since kernels may read that far). */
typedef struct {
    size_t D, d, Dq, dq, as, ws;
    float *x, *out, *Wt, *c, *fo, *fn, *p, *f, mx[NTOK], g[NTOK];
    float *X, *P, *C, *K; /* NTOK x ws each: the chunk kernels', learn_run's */
    int8_t *q, *qp;
    int32_t *acc_down, *acc_up, qsum[NTOK], qpsum[NTOK];
    uint8_t *down, *up;
} bufs;

static void *zalloc(size_t n)
{
    void *p = ttt_aligned_alloc((n + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "bench_kernels: out of memory\n");
        exit(2);
    }
    memset(p, 0, (n + 63) / 64 * 64);
    return p;
}

static void fill(float *v, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        v[i] = scale * frand();
}

/* kup packs Up: in a mix (dispatch.c) it is the table of tgemm_residual */
static void setup(bufs *b, const ttt_kernels *k, const ttt_kernels *kup, size_t D)
{
    memset(b, 0, sizeof *b);
    b->D = D;
    b->d = D / 4;
    /* the model's strides (engine/src/model.c): rows of 4 KiB would share
     * L1 sets and time something forward never runs */
    b->Dq = (D + 63) / 64 * 64;
    if (b->Dq % 2048 == 0)
        b->Dq += 64;
    b->dq = (b->d + 63) / 64 * 64;
    const size_t d = b->d;
    b->ws = ttt_w_stride(d);
    b->x = zalloc(NTOK * D * sizeof(float));
    b->out = zalloc(NTOK * D * sizeof(float));
    b->Wt = zalloc(d * b->ws * sizeof(float));
    b->c = zalloc(d * sizeof(float));
    b->fo = zalloc(d * sizeof(float));
    b->fn = zalloc(d * sizeof(float));
    b->p = zalloc(d * sizeof(float));
    b->f = zalloc(d * sizeof(float));
    b->q = zalloc(NTOK * b->Dq);
    b->qp = zalloc(NTOK * b->dq);
    b->as = d * sizeof(int32_t) % 2048 ? d : d + 16;
    b->acc_down = zalloc(NTOK * b->as * sizeof(int32_t));
    b->acc_up = zalloc(NTOK * ttt_acc_stride(D) * sizeof(int32_t));
    fill(b->x, NTOK * D, 1.0f);
    fill(b->Wt, d * b->ws, 0.01f);
    b->X = zalloc(NTOK * b->ws * sizeof(float));
    b->P = zalloc(NTOK * b->ws * sizeof(float));
    b->C = zalloc(NTOK * b->ws * sizeof(float));
    b->K = zalloc(NTOK * b->ws * sizeof(float));
    fill(b->X, NTOK * b->ws, 0.2f);
    fill(b->C, NTOK * b->ws, 1e-4f);
    fill(b->K, NTOK * b->ws, 0.2f);
    fill(b->c, d, 0.01f);
    fill(b->fo, d, 0.2f);
    fill(b->fn, d, 0.2f);
    uint8_t *w = zalloc(D * D);
    for (size_t i = 0; i < D * D; i++)
        w[i] = (uint8_t)(ttt_splitmix64(&g_rng) % 3);
    b->down = zalloc(k->tpack_size(d, D));
    b->up = zalloc(kup->tpack_size(D, d));
    k->tpack(w, D, d, D, b->down);
    kup->tpack(w, d, D, d, b->up);
    ttt_aligned_free(w);
    for (size_t t = 0; t < NTOK; t++) {
        b->g[t] = 1e-3f;
        for (size_t i = 0; i < d; i++)
            b->qp[t * b->dq + i] = (int8_t)(ttt_splitmix64(&g_rng) % 255 - 127);
        for (size_t i = 0; i < d; i++)
            b->qpsum[t] += b->qp[t * b->dq + i];
    }
}

static void teardown(bufs *b)
{
    void *all[] = { b->x, b->out, b->Wt, b->c, b->fo, b->fn, b->p, b->f, b->q, b->qp,
                    b->acc_down, b->acc_up, b->down, b->up, b->X, b->P, b->C, b->K };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        ttt_aligned_free(all[i]);
}

enum { K_QUANT, K_DOWN, K_NORM, K_KEY, K_UPDATE, K_ERROR, K_QUANT_P, K_UP, K_CPRED, K_CUPD, K_CCORR, K_RUN, K_COUNT };
static const char *const k_names[K_COUNT] = {
    "quantize_block (x)", "tgemm (Down)", "sumsq (norm)", "scale_i32 (key)",
    "update_predict (W)", "error", "quantize (p)", "tgemm_residual (Up)",
    "chunk_predict", "chunk_update", "chunk_correct", "learn_run (W, block)",
};

/* does forward run kernel w at state dim d? */
static int runs_at(int w, size_t d)
{
    const int chunked = d >= TTT_CHUNK_MIN_D;
    if (w == K_UPDATE)
        return !chunked;
    if (w == K_RUN)
        return !chunked;
    if (w >= K_CPRED)
        return chunked;
    return 1;
}

/* One call of kernel `which` on a block of NTOK tokens (the per-token
 * kernels NTOK times), as forward_block makes them. */
static void run_kernel(const ttt_kernels *k, bufs *b, int which)
{
    const size_t D = b->D, d = b->d;
    uint32_t pmax;
    float s = 0.0f;
    switch (which) {
    case K_QUANT:
        k->quantize_block(b->x, D, NTOK, TTT_ABSMAX_FLOOR, b->q, b->Dq, b->qsum, b->mx);
        break;
    case K_DOWN:
        k->tgemm(b->down, d, D, b->q, b->Dq, b->qsum, NTOK, b->acc_down, b->as);
        break;
    case K_NORM:
        for (size_t t = 0; t < NTOK; t++)
            s += (float)k->sumsq(b->acc_down + t * b->as, d);
        break;
    case K_KEY:
        for (size_t t = 0; t < NTOK; t++)
            k->scale_i32(b->acc_down + t * b->as, d, 1e-3f, b->f);
        break;
    case K_UPDATE:
        for (size_t t = 0; t < NTOK; t++)
            k->update_predict(b->Wt, d, b->ws, b->c, b->fo, 1.0f, b->fn, b->p);
        break;
    case K_ERROR:
        for (size_t t = 0; t < NTOK; t++)
            s += k->error(b->p, b->fn, d, 1e-3f, b->c, &pmax);
        break;
    case K_QUANT_P:
        for (size_t t = 0; t < NTOK; t++)
            b->qpsum[t] = k->quantize(b->p, d, 1.0f, b->qp + t * b->dq);
        break;
    case K_UP:
        k->tgemm_residual(b->up, D, d, b->qp, b->dq, b->qpsum, NTOK, b->x, b->g, b->out, D, b->acc_up);
        break;
    case K_CPRED:
        k->chunk_predict(b->Wt, d, b->ws, b->X, b->ws, NTOK, b->P);
        break;
    case K_CUPD:
        k->chunk_update(b->Wt, d, b->ws, b->C, b->K, b->ws, TTT_CHUNK, 1.0f);
        break;
    case K_RUN:
        if (k->learn_run) {
            const float *x[NTOK];
            float r[NTOK];
            for (size_t t = 0; t < NTOK; t++) {
                x[t] = b->X + t * b->ws;
                r[t] = 1e-3f;
            }
            k->learn_run(b->Wt, d, b->ws, b->c, b->fo, 1.0f, x, x, r, NTOK, b->P, b->ws, b->c);
        }
        break;
    case K_CCORR:
        for (size_t t = 0; t < NTOK; t++)
            k->chunk_correct(b->P + t * b->ws, d, b->C, b->K, b->ws, TTT_CHUNK / 2, b->X + t * b->ws, 1.0f);
        break;
    }
    g_sink = s;
}

/* best ns per token of fn over RUNS runs of `reps` calls (NTOK tokens each) */
static double best_ns(const ttt_kernels *k, bufs *b, int which, ttt_model *m, long reps)
{
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        const double t0 = now();
        for (long i = 0; i < reps; i++) {
            if (m)
                ttt_forward(m, b->x, NTOK, b->out);
            else
                run_kernel(k, b, which);
        }
        const double t = now() - t0;
        if (t < best)
            best = t;
    }
    return best / (double)(reps * NTOK) * 1e9;
}

/* A model with these kernels, or NULL when the API cannot ask for them (a
 * table below the best of its ISA level: avx512 beside avx512-vnni) */
static ttt_model *model_for(size_t D, const ttt_kernels *k, int is_auto)
{
    static const unsigned isas[] = { TTT_ISA_SCALAR, TTT_ISA_AVX2, TTT_ISA_AVX512 };
    ttt_config cfg;
    ttt_model *m = NULL;
    ttt_config_default(&cfg);
    cfg.hidden_dim = D;
    if (!is_auto) {
        size_t i = 0;
        while (i < 3 && ttt_kernels_select(isas[i]) != k)
            i++;
        if (i == 3)
            return NULL;
        cfg.max_isa = isas[i];
        cfg.dispatch = TTT_DISPATCH_ISA;
    }
    return ttt_create_ex(&cfg, &m) == TTT_OK ? m : NULL;
}

/* Every slot for every table the CPU runs, side by side, and AUTO: the mix
 * the dispatch measured for this shape (engine/src/dispatch.c). */
static int bench(size_t D)
{
    const ttt_kernels *tab[TTT_MAX_TABLES + 1], *up[TTT_MAX_TABLES + 1];
    const size_t nt = ttt_kernels_candidates(TTT_ISA_AUTO, tab);
    for (size_t i = 0; i < nt; i++)
        up[i] = tab[i];
    tab[nt] = ttt_kernels_dispatch(TTT_ISA_AUTO, 1, D, D / 4, D / 4, &up[nt]);
    double ns[TTT_MAX_TABLES + 1][K_COUNT + 1];
    /* about 20 ms a run for D = 128 on AVX2, fewer reps as work grows */
    const long reps = (long)(4e6 / ((double)D * (double)D)) + 1;
    for (size_t i = 0; i <= nt; i++) {
        bufs b;
        setup(&b, tab[i], up[i], D);
        ttt_model *m = model_for(D, tab[i], i == nt);
        ns[i][K_COUNT] = m ? best_ns(tab[i], &b, 0, m, reps) : 0.0;
        for (int w = 0; w < K_COUNT; w++) {
            ns[i][w] = 0.0;
            if (!runs_at(w, D / 4) || (w == K_RUN && !tab[i]->learn_run))
                continue;
            for (int r = 0; r < 3; r++) /* warm the caches and the branch predictors */
                run_kernel(tab[i], &b, w);
            ns[i][w] = best_ns(tab[i], &b, w, NULL, reps);
        }
        teardown(&b);
        ttt_destroy(m);
    }
    printf("\nD = %zu, d = %zu, ns/token\n  %-22s", D, D / 4, "kernel");
    for (size_t i = 0; i < nt; i++)
        printf(" %12s", tab[i]->name);
    printf(" %12s\n", "AUTO");
    for (int w = 0; w <= K_COUNT; w++) {
        if (w < K_COUNT && !runs_at(w, D / 4))
            continue;
        printf("  %-22s", w == K_COUNT ? "forward" : k_names[w]);
        for (size_t i = 0; i <= nt; i++) {
            if (ns[i][w] > 0.0)
                printf(" %12.1f", ns[i][w]);
            else
                printf(" %12s", "-");
        }
        printf("\n");
    }
    printf("  %-22s", "forward M tokens/s");
    for (size_t i = 0; i <= nt; i++) {
        if (ns[i][K_COUNT] > 0.0)
            printf(" %12.2f", 1e3 / ns[i][K_COUNT]);
        else
            printf(" %12s", "-");
    }
    printf("\n  AUTO = %s\n", tab[nt]->name);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "--once")) {
        const unsigned isa = (unsigned)atoi(argv[2]);
        const size_t D = (size_t)atol(argv[3]);
        const int w = atoi(argv[4]);
        const long reps = atol(argv[5]);
        ttt_config cfg;
        ttt_config_default(&cfg);
        cfg.hidden_dim = D;
        cfg.max_isa = isa;
        cfg.dispatch = TTT_DISPATCH_ISA; /* the table whole, as counted */
        ttt_model *m = NULL;
        if (D < 4 || D % 4 || w < 0 || w > K_COUNT || (w < K_COUNT && !runs_at(w, D / 4)) ||
            ttt_create_ex(&cfg, &m) != TTT_OK)
            return 2;
        const ttt_kernels *k = ttt_kernels_select(isa);
        bufs b;
        setup(&b, k, k, D);
        for (long i = 0; i < reps; i++) {
            if (w == K_COUNT) /* one past the kernels: the whole forward */
                ttt_forward(m, b.x, NTOK, b.out);
            else
                run_kernel(k, &b, w);
        }
        printf("%s %s\n", k->name, w == K_COUNT ? "forward (whole)" : k_names[w]);
        teardown(&b);
        ttt_destroy(m);
        return 0;
    }
    size_t dims[16] = { 128, 1024 };
    size_t nd = 2;
    if (argc > 1) {
        nd = 0;
        for (int i = 1; i < argc && nd < 16; i++) {
            char *end;
            const unsigned long v = strtoul(argv[i], &end, 10);
            if (*end || v < 4 || v % 4 || v > 16384) {
                fprintf(stderr, "usage: %s [D ...]  (D a multiple of 4, 4 to 16384)\n", argv[0]);
                return 2;
            }
            dims[nd++] = v;
        }
    }
    printf("bench_kernels: each kernel alone on one block of %d tokens, best of %d runs "
           "(forward: a whole call of %d tokens; '-': no API to ask for that table)\n", NTOK, RUNS, NTOK);
    int rc = 0;
    for (size_t j = 0; j < nd; j++)
        rc |= bench(dims[j]);
    return rc;
}
