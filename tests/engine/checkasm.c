/*
 * Kernel cross-checks in the style of dav1d's checkasm: every SIMD table the
 * CPU can run is compared with the scalar reference (the semantic ground
 * truth) on random inputs with fixed seeds, odd sizes that reach every tail
 * loop, garbage in the padding the kernels may read, canaries after what
 * they may write, and edge values. Every kernel computes the scalar
 * arithmetic in the scalar order, so every result must match bit for bit,
 * floats included, for every decay (forgetting); the scalar update itself is
 * checked against the SPEC's arithmetic written out here. Then whole models
 * are compared: forced scalar against the best ISA, bit for bit.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS under -std=c99 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* n bytes (64-byte aligned) for a packed matrix. On Linux they end,
 * rounded up to 64, at an unmapped page: a kernel that reads past its
 * packed matrix faults there, where a masked load (which the sanitizers do
 * not see) would otherwise read heap slack unnoticed. */
typedef struct guarded {
    unsigned char *base, *p;
    size_t len;
} guarded;

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>

static unsigned char *guarded_alloc(guarded *g, size_t n)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), body = (n + 63) / 64 * 64;
    g->len = (body + page - 1) / page * page + page;
    g->base = mmap(NULL, g->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->base == MAP_FAILED || mprotect(g->base + g->len - page, page, PROT_NONE) != 0) {
        if (g->base != MAP_FAILED)
            munmap(g->base, g->len);
        g->base = g->p = NULL;
        return NULL;
    }
    return g->p = g->base + g->len - page - body;
}

static void guarded_free(guarded *g)
{
    if (g->base)
        munmap(g->base, g->len);
}
#else
static unsigned char *guarded_alloc(guarded *g, size_t n)
{
    return g->p = g->base = ttt_aligned_alloc(n);
}

static void guarded_free(guarded *g)
{
    ttt_aligned_free(g->base);
}
#endif

static int g_n, g_fail;

static void report(int ok, const char *fmt, const char *a, const char *b)
{
    g_n++;
    if (!ok)
        g_fail++;
    printf("%s %d - ", ok ? "ok" : "not ok", g_n);
    printf(fmt, a, b);
    printf("\n");
    fflush(stdout);
}

static uint64_t g_rng;

static uint32_t rnd(void)
{
    return (uint32_t)(ttt_splitmix64(&g_rng) >> 32);
}

static float frand(void) /* uniform in [-1, 1) */
{
    return (float)((int32_t)rnd()) * (1.0f / 2147483648.0f);
}

static float from_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static uint32_t bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* sizes that reach the 32/8/16-wide main loops and every tail length */
static const size_t g_sizes[] = {
    1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17,
    18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
    35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 127,
    128, 129, 200, 255, 256, 257, 300, 400, 511, 512, 1000,
};
#define NSIZES (sizeof g_sizes / sizeof g_sizes[0])

static size_t round64(size_t n)
{
    return (n + 63) / 64 * 64;
}

/* a few values the kernels must get exactly right */
static float edge_value(unsigned k)
{
    static const uint32_t e[] = {
        0x00000000u, 0x80000000u,              /* +-0 */
        0x00000001u, 0x807fffffu, 0x00400000u, /* denormals */
        0x7f7fffffu, 0xff7fffffu,              /* +-FLT_MAX */
        0x00800000u, 0x3f800000u, 0xbf000000u, /* FLT_MIN, 1, -0.5 */
    };
    return from_bits(e[k % (sizeof e / sizeof e[0])]);
}

/* ---- absmax_bits ---- */

static int check_absmax(const ttt_kernels *k)
{
    float *x = malloc((1000 + 16) * sizeof *x);
    int ok = 1;
    for (int rep = 0; rep < 4 && ok; rep++) {
        for (size_t s = 0; s < NSIZES && ok; s++) {
            const size_t n = g_sizes[s];
            /* garbage after n that would win if it were read */
            for (size_t i = 0; i < n + 16; i++)
                x[i] = i < n ? frand() * ldexpf(1.0f, (int)(rnd() % 40) - 20) : -FLT_MAX;
            if (rep == 1) /* edge values, the largest at a random place */
                for (size_t i = 0; i < n; i++)
                    x[i] = edge_value(rnd());
            if (rep == 2) { /* NaN/Inf: any pattern >= 0x7f800000 */
                x[rnd() % n] = from_bits(0xff800000u);
                x[rnd() % n] = from_bits(0x7fc01234u | (rnd() & 0x80000000u));
            }
            if (rep == 3) /* all tiny: only denormals and zeros */
                for (size_t i = 0; i < n; i++)
                    x[i] = from_bits(rnd() & 0x803fffffu);
            const uint32_t a = ttt_kernels_scalar.absmax_bits(x, n), b = k->absmax_bits(x, n);
            if (a != b) {
                printf("# absmax n=%zu rep=%d: scalar %08x %s %08x\n", n, rep, a, k->name, b);
                ok = 0;
            }
        }
    }
    if (ok && k->absmax_bits(x, 0) != 0)
        ok = 0;
    free(x);
    return ok;
}

/* ---- quantize ---- */

static int check_quantize(const ttt_kernels *k)
{
    float *x = malloc(1000 * sizeof *x);
    int8_t *qa = malloc(1000 + 64), *qb = malloc(1000 + 64);
    int ok = 1;
    for (int rep = 0; rep < 3 && ok; rep++) {
        for (size_t s = 0; s < NSIZES && ok; s++) {
            const size_t n = g_sizes[s];
            float scale;
            if (rep == 0) { /* as forward does: 127 / absmax */
                for (size_t i = 0; i < n; i++)
                    x[i] = frand() * 3.0f;
                const float m = from_bits(ttt_kernels_scalar.absmax_bits(x, n));
                scale = m > 0.0f ? 127.0f / m : 1.0f;
            } else if (rep == 1) { /* exact ties: x * scale = k + 0.5 */
                scale = 0.5f;
                for (size_t i = 0; i < n; i++)
                    x[i] = (float)((int)(rnd() % 255) - 127) * 2.0f; /* even: -254 .. 254 */
                for (size_t i = 0; i < n; i += 3)
                    x[i] = (float)(2 * (int)(rnd() % 254) - 253); /* odd: .5 ties, +-126.5 */
                x[0] = 254.99998f;  /* 127.49999: the largest product allowed */
                x[n - 1] = -254.99998f;
            } else { /* zeros, denormals, a value exactly at the limit */
                scale = 127.0f / FLT_MAX;
                for (size_t i = 0; i < n; i++)
                    x[i] = edge_value(rnd());
            }
            memset(qa, 0x5a, n + 64);
            memset(qb, 0x5a, n + 64);
            const int32_t sa = ttt_kernels_scalar.quantize(x, n, scale, qa);
            const int32_t sb = k->quantize(x, n, scale, qb);
            if (sa != sb || memcmp(qa, qb, n + 64) != 0) {
                size_t i = 0;
                while (i < n + 63 && qa[i] == qb[i])
                    i++;
                printf("# quantize n=%zu rep=%d: sum %d vs %d, first diff at %zu: %d vs %d\n",
                       n, rep, sa, sb, i, qa[i], qb[i]);
                ok = 0;
            }
        }
    }
    free(x);
    free(qa);
    free(qb);
    return ok;
}

/* ---- quantize_block ---- */

/* tokens of every kind against the scalar table; and the scalar table
 * against the contract: NaN for a non-finite token, 0 below the floor, and
 * zeros in q and qsum for both */
static int quantize_block_case(const ttt_kernels *k, size_t n, size_t ntok)
{
    const size_t qstride = round64(n) + 64 * (rnd() % 2);
    float *x = malloc(n * ntok * sizeof *x), ma[40], mb[40];
    int8_t *qa = malloc(qstride * ntok), *qb = malloc(qstride * ntok);
    int32_t sa[40], sb[40];
    int kind[40];
    for (size_t t = 0; t < ntok; t++) {
        kind[t] = (int)(rnd() % 6); /* 0-2 normal, 3 NaN or Inf, 4 below the floor, 5 zero */
        for (size_t i = 0; i < n; i++) {
            float v = kind[t] == 5 ? 0.0f : frand() * (kind[t] == 4 ? 1e-31f : 3.0f);
            if (kind[t] == 0 && rnd() % 8 == 0)
                v = edge_value(rnd());
            x[t * n + i] = v;
        }
        if (kind[t] == 3)
            x[t * n + rnd() % n] = rnd() % 2 ? NAN : -INFINITY;
    }
    memset(qa, 0x5a, qstride * ntok);
    memset(qb, 0x5a, qstride * ntok);
    ttt_kernels_scalar.quantize_block(x, n, ntok, 1e-30f, qa, qstride, sa, ma);
    k->quantize_block(x, n, ntok, 1e-30f, qb, qstride, sb, mb);
    int ok = memcmp(qa, qb, qstride * ntok) == 0 && memcmp(sa, sb, ntok * sizeof *sa) == 0 &&
             memcmp(ma, mb, ntok * sizeof *ma) == 0;
    for (size_t t = 0; t < ntok && ok; t++) {
        int zero = sa[t] == 0;
        for (size_t i = 0; i < n; i++)
            zero = zero && qa[t * qstride + i] == 0;
        if (kind[t] == 3)
            ok = isnan(ma[t]) && zero;
        else if (kind[t] >= 4)
            ok = ma[t] == 0.0f && zero;
        else { /* max|x|, or 0 when an edge value leaves it below the floor */
            float m = 0.0f;
            for (size_t i = 0; i < n; i++)
                m = fabsf(x[t * n + i]) > m ? fabsf(x[t * n + i]) : m;
            ok = m >= 1e-30f ? ma[t] == m : ma[t] == 0.0f && zero;
        }
    }
    if (!ok)
        printf("# quantize_block n=%zu ntok=%zu differs\n", n, ntok);
    free(x), free(qa), free(qb);
    return ok;
}

static int check_quantize_block(const ttt_kernels *k)
{
    int ok = 1;
    for (size_t s = 0; s < NSIZES && ok; s++)
        ok = quantize_block_case(k, g_sizes[s], 1 + rnd() % 40);
    return ok;
}

/* ---- tgemm ---- */

static int tgemm_case(const ttt_kernels *k, size_t rows, size_t cols, size_t ntok, int extreme)
{
    const size_t wstride = cols + (rnd() % 3) * 7, vstride = cols + (rnd() % 3) * 5;
    const size_t ostride = rows + rnd() % 3;
    /* each row readable up to its stride rounded up to 64 bytes */
    const size_t wbytes = (rows - 1) * wstride + round64(wstride);
    const size_t vbytes = (ntok - 1) * vstride + round64(vstride);
    const size_t obytes = (ntok * ostride + 16) * sizeof(int32_t);
    uint8_t *w = malloc(wbytes);
    int8_t *v = malloc(vbytes);
    int32_t *vsum = malloc(ntok * sizeof *vsum);
    int32_t *oa = malloc(obytes), *ob = malloc(obytes);
    /* padding holds garbage: it must never reach a result */
    for (size_t i = 0; i < wbytes; i++)
        w[i] = (uint8_t)rnd();
    for (size_t i = 0; i < vbytes; i++)
        v[i] = (int8_t)rnd();
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            w[r * wstride + c] = extreme ? (abs(extreme) == 1 ? 2 : 0) : (uint8_t)(rnd() % 3);
    for (size_t t = 0; t < ntok; t++) {
        int32_t s = 0;
        for (size_t c = 0; c < cols; c++) {
            int8_t val = (int8_t)rnd();
            if (extreme) /* the largest sums: every weight +1 or every -1 */
                val = extreme > 0 ? 127 : -128;
            v[t * vstride + c] = val;
            s += val;
        }
        vsum[t] = s;
    }
    memset(oa, 0x5a, obytes);
    memset(ob, 0x5a, obytes);
    /* each table packs the same matrix into its own layout */
    uint8_t *pa = ttt_aligned_alloc(ttt_kernels_scalar.tpack_size(rows, cols));
    guarded gb;
    uint8_t *pb = guarded_alloc(&gb, k->tpack_size(rows, cols));
    ttt_kernels_scalar.tpack(w, wstride, rows, cols, pa);
    k->tpack(w, wstride, rows, cols, pb);
    ttt_kernels_scalar.tgemm(pa, rows, cols, v, vstride, vsum, ntok, oa, ostride);
    k->tgemm(pb, rows, cols, v, vstride, vsum, ntok, ob, ostride);
    ttt_aligned_free(pa);
    guarded_free(&gb);
    int ok = memcmp(oa, ob, obytes) == 0;
    if (!ok) {
        size_t i = 0;
        while (oa[i] == ob[i])
            i++;
        printf("# tgemm rows=%zu cols=%zu ntok=%zu extreme=%d: out[%zu] %d vs %d\n",
               rows, cols, ntok, extreme, i, oa[i], ob[i]);
    }
    free(w);
    free(v);
    free(vsum);
    free(oa);
    free(ob);
    return ok;
}

static int check_tgemm(const ttt_kernels *k)
{
    static const size_t ntoks[] = { 1, 2, 3, 4, 5, 33 };
    int ok = 1;
    for (size_t s = 0; s < NSIZES && ok; s++)
        for (size_t t = 0; t < 6 && ok; t++)
            ok = tgemm_case(k, 1 + 2 * (rnd() % 9), g_sizes[s], ntoks[t], 0);
    /* typical Down/Up shapes, and the int16 bound at its limits */
    static const size_t shapes[][3] = {
        { 32, 128, 32 }, { 128, 32, 32 }, { 16, 64, 5 }, { 64, 16, 7 },
        { 256, 1024, 3 }, { 1024, 256, 2 }, { 5, 4096, 2 }, { 3, 65536, 1 },
        { 20, 100, 3 }, { 33, 200, 4 }, { 64, 256, 2 }, { 1, 256, 1 }, { 40, 33, 3 },
        /* large: more than one block of 32 tokens, rows not a multiple of
         * 8, columns past 2^15 with a ragged end */
        { 133, 1025, 33 }, { 1023, 259, 40 }, { 7, 40001, 35 }, { 4096, 33, 65 },
        /* AVX-512's tiles of 16 rows: rows 8 and 17 around the halves,
         * columns ending inside either 32-column half of a 64-column step,
         * and at the 64 and 1024 column cuts between its three paths */
        { 17, 96, 33 }, { 8, 65, 3 }, { 9, 161, 5 }, { 47, 1024, 2 }, { 31, 1025, 3 }, { 16, 64, 33 },
        { 23, 48, 4 }, { 50, 63, 2 },
        /* its groups of 32 rows in 32-column steps, with 8 or 16 rows left for the 16-row tiles */
        { 72, 1000, 5 }, { 48, 97, 33 }, { 96, 31, 3 },
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0] && ok; i++)
        ok = tgemm_case(k, shapes[i][0], shapes[i][1], shapes[i][2], 0);
    static const size_t xcols[] = { 31, 32, 63, 64, 126, 127, 128, 129, 255, 256, 257, 511, 512, 513, 1000, 65536 };
    for (size_t i = 0; i < sizeof xcols / sizeof xcols[0] && ok; i++)
        for (int e = -2; e <= 2 && ok; e++)
            ok = e == 0 || (tgemm_case(k, 5, xcols[i], 3, e) && tgemm_case(k, 64, xcols[i] < 4096 ? xcols[i] : 4096, 2, e));
    return ok;
}

/* ---- update_predict ---- */

/* W is stored by columns (kernels.h): W[i][j] at Wt[j * ws + i] */

/* decay 1 is the default path; the others come from forget = 0.5, 0.01 and
 * 1e-6 (the smallest decay step a float near 1 can express is 2^-24) */
static const float g_decays[] = { 1.0f, 0.5f, 1.0f - 0.01f, 1.0f - 1e-6f };
#define NDECAYS (sizeof g_decays / sizeof g_decays[0])

/*
 * The scalar reference against the SPEC's arithmetic, written out here: decay
 * 1 is the original two-rounding update W - c f, any other decay three
 * roundings, W * decay - c f; p[i] sums W[i][j] * f[j] from +0, j = 0 first,
 * each product rounded before it is added (this file is built without
 * contraction, like the engine).
 */
static int check_update_scalar(void)
{
    int ok = 1;
    const size_t d = 37, ws = 40;
    float *W = malloc(d * ws * sizeof(float)), *W0 = malloc(d * ws * sizeof(float));
    float c[37], fo[37], fn[37], p[37];
    for (size_t i = 0; i < d * ws; i++)
        W0[i] = frand();
    for (size_t i = 0; i < d; i++)
        c[i] = frand() * 0.02f, fo[i] = frand(), fn[i] = frand();
    for (size_t di = 0; di < NDECAYS; di++) {
        const float dk = g_decays[di];
        memcpy(W, W0, d * ws * sizeof(float));
        ttt_kernels_scalar.update_predict(W, d, ws, c, fo, dk, fn, p);
        for (size_t i = 0; i < d; i++) {
            float acc = 0.0f;
            for (size_t j = 0; j < d; j++) {
                const float cf = c[i] * fo[j];
                const float w0 = W0[j * ws + i];
                float want = w0 - cf;
                if (dk != 1.0f) {
                    const float wd = w0 * dk;
                    want = wd - cf;
                }
                ok &= bits(want) == bits(W[j * ws + i]);
                const float wf = want * fn[j];
                acc = acc + wf;
            }
            ok &= bits(acc) == bits(p[i]);
        }
        for (size_t j = 0; j < d; j++) /* padding rows untouched */
            for (size_t i = d; i < ws; i++)
                ok &= bits(W[j * ws + i]) == bits(W0[j * ws + i]);
    }
    free(W), free(W0);
    return ok;
}

/* first differing float of two arrays, or n */
static size_t first_diff(const float *a, const float *b, size_t n)
{
    size_t i = 0;
    while (i < n && bits(a[i]) == bits(b[i]))
        i++;
    return i;
}

/*
 * Every ISA computes exactly the scalar arithmetic in exactly its order, so
 * W and p must match bit for bit: fused, update only, predict only. The
 * update alone must also round as the fused pass did, so splitting the work
 * across calls changes nothing. NaN in the padding rows poisons any read of
 * them, and they must never be written.
 */
static int check_update_predict(const ttt_kernels *k, int *same_update, int *same_predict)
{
    int ok = 1;
    *same_update = *same_predict = 1;
    for (size_t s = 0; s < NSIZES * NDECAYS && ok && *same_update && *same_predict; s++) {
        const size_t d = g_sizes[s % NSIZES], ws = d + rnd() % 17;
        const float decay = g_decays[s / NSIZES];
        const size_t wn = d * ws + 16;
        float *W0 = malloc(wn * sizeof(float)), *Wa = malloc(wn * sizeof(float));
        float *Wb = malloc(wn * sizeof(float)), *Wc = malloc(wn * sizeof(float));
        float *c = malloc((d + 16) * sizeof(float)), *fo = malloc((d + 16) * sizeof(float));
        float *fn = malloc((d + 16) * sizeof(float));
        float *pa = malloc((d + 16) * sizeof(float)), *pb = malloc((d + 16) * sizeof(float));
        float *pc = malloc((d + 16) * sizeof(float));
        for (size_t i = 0; i < wn; i++) /* NaN in the padding poisons any read */
            W0[i] = from_bits(0x7fc00000u | rnd());
        for (size_t j = 0; j < d; j++)
            for (size_t i = 0; i < d; i++)
                W0[j * ws + i] = frand();
        for (size_t j = 0; j < d + 16; j++) {
            fo[j] = j < d ? frand() : NAN;
            fn[j] = j < d ? frand() : NAN;
            c[j] = j < d ? frand() * 0.02f : NAN;
        }
        c[0] = 0.0f;
        if (d > 2) /* a denormal and a negative zero */
            fo[1] = from_bits(0x00012345u), c[2] = -0.0f;
        if (d > 4) /* products that round to denormals and to -0 */
            fn[3] = from_bits(0x00800001u), c[4] = from_bits(0x80000001u);
        memcpy(Wa, W0, wn * sizeof(float));
        memcpy(Wb, W0, wn * sizeof(float));
        memcpy(Wc, W0, wn * sizeof(float));
        for (size_t i = 0; i < d + 16; i++)
            pa[i] = pb[i] = pc[i] = -7.0f;

        ttt_kernels_scalar.update_predict(Wa, d, ws, c, fo, decay, fn, pa);
        k->update_predict(Wb, d, ws, c, fo, decay, fn, pb);
        size_t i = first_diff(Wa, Wb, wn);
        if (i < wn) {
            printf("# %s d=%zu ws=%zu decay=%.9g: W[%zu][%zu] %.9g vs scalar %.9g\n", k->name, d, ws,
                   decay, i % ws, i / ws, Wb[i], Wa[i]);
            ok = 0;
        }
        i = first_diff(pa, pb, d + 16);
        if (ok && i < d + 16) {
            printf("# %s d=%zu decay=%.9g: p[%zu] %.9g vs scalar %.9g\n", k->name, d, decay, i, pb[i], pa[i]);
            ok = 0;
        }

        /* the update alone must round exactly as the fused pass did */
        k->update_predict(Wc, d, ws, c, fo, decay, NULL, NULL);
        if (memcmp(Wb, Wc, wn * sizeof(float)) != 0) {
            printf("# %s d=%zu decay=%.9g: update-only W differs from fused W\n", k->name, d, decay);
            *same_update = 0;
        }
        /* prediction alone: W untouched, p as the scalar one */
        k->update_predict(Wc, d, ws, NULL, NULL, decay, fn, pc);
        ttt_kernels_scalar.update_predict(Wb, d, ws, NULL, NULL, decay, fn, pa);
        if (memcmp(Wb, Wc, wn * sizeof(float)) != 0 || first_diff(pa, pc, d + 16) < d + 16) {
            printf("# %s d=%zu: predict-only differs from scalar\n", k->name, d);
            *same_predict = 0;
        }
        /* neither: nothing happens */
        k->update_predict(Wc, d, ws, NULL, NULL, decay, NULL, NULL);
        ok &= memcmp(Wb, Wc, wn * sizeof(float)) == 0;
        free(W0), free(Wa), free(Wb), free(Wc), free(c), free(fo), free(fn);
        free(pa), free(pb), free(pc);
    }
    return ok;
}

/* ---- learn_run: the tokens of a block band by band ---- */

/*
 * learn_run against its contract, run out with the scalar kernels: for each
 * token update_predict (the step before, or c0) and error's c. Then every
 * table's learn_run against that, bit for bit: W, every P and cn, for
 * sizes across every band height and tail, 1 to 32 tokens, every decay,
 * with and without c0, targets apart from the keys or the keys themselves,
 * cn in place of c0. NaN in every padding poisons a read of it, and
 * padding must never be written.
 */
static int learn_case(const ttt_kernels *k, size_t d, size_t n, float decay, int with_c0, int tg_is_x)
{
    const size_t ws = d + rnd() % 17, ps = d + 16 + rnd() % 9, wn = d * ws + 16, vn = d + 16;
    float *W0 = malloc(wn * sizeof(float)), *Wa = malloc(wn * sizeof(float)), *Wb = malloc(wn * sizeof(float));
    float *X = malloc(n * vn * sizeof(float)), *T = malloc(n * vn * sizeof(float));
    float *Pa = malloc(n * ps * sizeof(float)), *Pb = malloc(n * ps * sizeof(float));
    float *c0 = malloc(vn * sizeof(float)), *x0 = malloc(vn * sizeof(float));
    float *ca = malloc(vn * sizeof(float)), *cb = malloc(vn * sizeof(float)), *e = malloc(vn * sizeof(float));
    const float *x[32], *tg[32];
    float r[32];
    for (size_t i = 0; i < wn; i++)
        W0[i] = from_bits(0x7fc00000u | rnd());
    for (size_t j = 0; j < d; j++)
        for (size_t i = 0; i < d; i++)
            W0[j * ws + i] = frand() * 0.1f;
    for (size_t i = 0; i < vn; i++) {
        c0[i] = i < d ? frand() * 0.02f : NAN;
        x0[i] = i < d ? frand() * 0.2f : NAN;
    }
    for (size_t t = 0; t < n; t++) {
        for (size_t i = 0; i < vn; i++) {
            X[t * vn + i] = i < d ? frand() * 0.2f : NAN;
            T[t * vn + i] = i < d ? frand() * 0.2f : NAN;
        }
        x[t] = X + t * vn;
        tg[t] = tg_is_x ? x[t] : T + t * vn;
        r[t] = t % 3 ? 0.5f + 0.5f * frand() : 1.0f;
    }
    if (d > 4 && n > 1) { /* a denormal, a negative zero, a product that rounds to a denormal */
        X[1] = from_bits(0x00012345u), X[vn + 2] = -0.0f, X[3] = from_bits(0x00800001u);
        r[1] = 2.0f;
    }
    memcpy(Wa, W0, wn * sizeof(float));
    memcpy(Wb, W0, wn * sizeof(float));
    for (size_t i = 0; i < n * ps; i++)
        Pa[i] = Pb[i] = -7.0f;
    for (size_t i = 0; i < vn; i++)
        ca[i] = cb[i] = i < d ? c0[i] : -7.0f;

    /* the contract, with the scalar kernels; the reference's c in ca */
    const float *c = with_c0 ? c0 : NULL;
    for (size_t t = 0; t < n; t++) {
        ttt_kernels_scalar.update_predict(Wa, d, ws, c, t ? x[t - 1] : x0, decay, x[t], Pa + t * ps);
        uint32_t pmax;
        (void)ttt_kernels_scalar.error(Pa + t * ps, tg[t], d, r[t], ca, &pmax);
        c = ca;
    }
    /* cn in place of c0 */
    k->learn_run(Wb, d, ws, with_c0 ? cb : NULL, x0, decay, x, tg, r, n, Pb, ps, cb);
    int ok = 1;
    size_t i = first_diff(Wa, Wb, wn);
    if (i < wn) {
        printf("# %s learn_run d=%zu n=%zu decay=%.9g c0=%d: W[%zu][%zu] %.9g vs %.9g\n", k->name, d, n, decay,
               with_c0, i % ws, i / ws, Wb[i], Wa[i]);
        ok = 0;
    }
    i = first_diff(Pa, Pb, n * ps);
    if (ok && i < n * ps) {
        printf("# %s learn_run d=%zu n=%zu decay=%.9g: P[%zu][%zu] %.9g vs %.9g\n", k->name, d, n, decay, i / ps,
               i % ps, Pb[i], Pa[i]);
        ok = 0;
    }
    i = first_diff(ca, cb, vn);
    if (ok && i < vn) {
        printf("# %s learn_run d=%zu n=%zu decay=%.9g: cn[%zu] %.9g vs %.9g\n", k->name, d, n, decay, i, cb[i],
               ca[i]);
        ok = 0;
    }
    free(W0), free(Wa), free(Wb), free(X), free(T), free(Pa), free(Pb);
    free(c0), free(x0), free(ca), free(cb), free(e);
    return ok;
}

static int check_learn_run(const ttt_kernels *k)
{
    static const size_t ds[] = { 1, 5, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 100, 127, 128, 129,
                                 150, 176, 192, 200, 255, 256, 257, 300, 511 };
    static const size_t ns[] = { 1, 2, 7, 32 };
    int ok = 1;
    for (size_t a = 0; a < sizeof ds / sizeof ds[0] && ok; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0] && ok; b++)
            for (size_t di = 0; di < NDECAYS && ok; di++) {
                /* the long cases once per decay and size, the short ones every way */
                const int ways = ns[b] == 32 && ds[a] > 64 ? 1 : 4;
                for (int w = 0; w < ways && ok; w++)
                    ok = learn_case(k, ds[a], ns[b], g_decays[di], ways == 1 ? (int)(di & 1) : w & 1,
                                    ways == 1 ? (int)(a & 1) : w >> 1);
            }
    return ok;
}

/* ---- the chunk kernels (SPEC "Large d") ---- */

/*
 * chunk_predict, chunk_update and chunk_correct against the scalar ones, bit
 * for bit, for d around every vector and tile width, every chunk fill (and
 * n past 64: chunk_correct's pieces) and every decay. NaN in the padding of
 * W, X, C and K poisons any read of it; padding must never be written.
 */
static int check_chunk(const ttt_kernels *k, int which)
{
    static const size_t ds[] = { 1, 7, 8, 9, 15, 16, 17, 31, 33, 47, 64, 65, 100, 130, 515 };
    static const size_t ns[] = { 0, 1, 2, 5, 6, 7, 13, 15, 16, 17, 31, 32, 70 };
    int ok = 1;
    for (size_t a = 0; a < sizeof ds / sizeof ds[0] && ok; a++) {
        for (size_t b = 0; b < sizeof ns / sizeof ns[0] && ok; b++) {
            const size_t d = ds[a], n = ns[b], ws = d + rnd() % 17, cs = d + rnd() % 9;
            const float decay = g_decays[(a + b) % NDECAYS];
            const size_t wn = d * ws + 16, xn = (n + 1) * cs + 16;
            float *W0 = malloc(wn * sizeof(float)), *Wa = malloc(wn * sizeof(float));
            float *Wb = malloc(wn * sizeof(float)), *X = malloc(xn * sizeof(float));
            float *C = malloc(xn * sizeof(float)), *K = malloc(xn * sizeof(float));
            float *Pa = malloc(xn * sizeof(float)), *Pb = malloc(xn * sizeof(float));
            for (size_t i = 0; i < wn; i++)
                W0[i] = from_bits(0x7fc00000u | rnd());
            for (size_t j = 0; j < d; j++)
                for (size_t i = 0; i < d; i++)
                    W0[j * ws + i] = frand();
            for (size_t i = 0; i < xn; i++) {
                const int in = i % cs < d && i < (n + 1) * cs;
                X[i] = in ? frand() : NAN;
                K[i] = in ? frand() : NAN;
                C[i] = in ? frand() * 0.02f : NAN;
                Pa[i] = Pb[i] = in ? frand() : -7.0f;
            }
            if (d > 4 && n > 1) /* a denormal, a negative zero, products rounding to -0 */
                K[cs + 1] = from_bits(0x00012345u), C[2] = -0.0f, X[3] = from_bits(0x80000001u);
            memcpy(Wa, W0, wn * sizeof(float));
            memcpy(Wb, W0, wn * sizeof(float));
            if (which == 0) {
                ttt_kernels_scalar.chunk_predict(Wa, d, ws, X, cs, n, Pa);
                k->chunk_predict(Wb, d, ws, X, cs, n, Pb);
            } else if (which == 1) {
                ttt_kernels_scalar.chunk_update(Wa, d, ws, C, K, cs, n, decay);
                k->chunk_update(Wb, d, ws, C, K, cs, n, decay);
            } else {
                for (size_t t = 0; t <= n; t++) { /* x = each key, then one more row */
                    ttt_kernels_scalar.chunk_correct(Pa + t * cs, d, C, K, cs, n, X + t * cs, decay);
                    k->chunk_correct(Pb + t * cs, d, C, K, cs, n, X + t * cs, decay);
                }
            }
            size_t i = first_diff(Wa, Wb, wn);
            if (i < wn) {
                printf("# %s d=%zu n=%zu decay=%.9g: W[%zu][%zu] %.9g vs scalar %.9g\n", k->name, d, n, decay,
                       i % ws, i / ws, Wb[i], Wa[i]);
                ok = 0;
            }
            i = first_diff(Pa, Pb, xn);
            if (ok && i < xn) {
                printf("# %s d=%zu n=%zu decay=%.9g: P[%zu] %.9g vs scalar %.9g\n", k->name, d, n, decay, i,
                       Pb[i], Pa[i]);
                ok = 0;
            }
            free(W0), free(Wa), free(Wb), free(X), free(C), free(K), free(Pa), free(Pb);
        }
    }
    return ok;
}

/* the scalar chunk kernels against their definitions in kernels.h: n
 * per-token updates, n per-token predictions, the corrections written out */
static int check_chunk_scalar(void)
{
    int ok = 1;
    const size_t d = 37, ws = 40, cs = 41, n = 5;
    float *W = malloc(d * ws * sizeof(float)), *W2 = malloc(d * ws * sizeof(float));
    float X[5 * 41], C[5 * 41], K[5 * 41], P[5 * 41], p[37], q[37];
    for (size_t i = 0; i < d * ws; i++)
        W[i] = W2[i] = frand();
    for (size_t i = 0; i < n * cs; i++)
        X[i] = frand(), K[i] = frand(), C[i] = frand() * 0.02f;
    for (size_t di = 0; di < NDECAYS; di++) {
        const float dk = g_decays[di];
        ttt_kernels_scalar.chunk_predict(W, d, ws, X, cs, n, P);
        for (size_t t = 0; t < n; t++) {
            ttt_kernels_scalar.update_predict(W2, d, ws, NULL, NULL, 1.0f, X + t * cs, p);
            ok &= memcmp(p, P + t * cs, d * sizeof(float)) == 0;
        }
        ttt_kernels_scalar.chunk_update(W, d, ws, C, K, cs, n, dk);
        for (size_t l = 0; l < n; l++)
            ttt_kernels_scalar.update_predict(W2, d, ws, C + l * cs, K + l * cs, dk, NULL, NULL);
        ok &= memcmp(W, W2, d * ws * sizeof(float)) == 0;
        for (size_t i = 0; i < d; i++)
            p[i] = q[i] = frand();
        ttt_kernels_scalar.chunk_correct(p, d, C, K, cs, n, X, dk);
        for (size_t l = 0; l < n; l++) {
            float u[8] = { 0 };
            for (size_t j = 0; j < d; j++) {
                const float kx = K[l * cs + j] * X[j];
                u[j % 8] = u[j % 8] + kx;
            }
            const float h = ((u[0] + u[4]) + (u[2] + u[6])) + ((u[1] + u[5]) + (u[3] + u[7]));
            for (size_t i = 0; i < d; i++) {
                const float hc = h * C[l * cs + i];
                if (dk == 1.0f) {
                    q[i] = q[i] - hc;
                } else {
                    const float qd = q[i] * dk;
                    q[i] = qd - hc;
                }
            }
        }
        ok &= memcmp(p, q, d * sizeof(float)) == 0;
    }
    free(W), free(W2);
    return ok;
}

/* ---- error and scale_i32 ---- */

/* the SPEC's step 5 order, written out: u[k] over j = k (mod 8), left to
 * right from +0, then the fixed tree */
static float spec_sum8(const float *p, const float *tg, size_t d)
{
    float u[8] = { 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f };
    for (size_t k = 0; k < 8; k++)
        for (size_t j = k; j < d; j += 8) {
            const float e = p[j] - tg[j];
            const float e2 = e * e;
            u[k] = u[k] + e2;
        }
    const float a = u[0] + u[4], b = u[2] + u[6], c = u[1] + u[5], dd = u[3] + u[7];
    const float ab = a + b, cd = c + dd;
    return ab + cd;
}

static int check_error(const ttt_kernels *k)
{
    float *p = malloc(1016 * sizeof *p), *tg = malloc(1016 * sizeof *tg);
    float *ca = malloc(1016 * sizeof *ca), *cb = malloc(1016 * sizeof *cb);
    int32_t *a = malloc(1016 * sizeof *a);
    int ok = 1;
    for (int rep = 0; rep < 4 && ok; rep++) {
        for (size_t s = 0; s < NSIZES && ok; s++) {
            const size_t d = g_sizes[s];
            const float r = rep == 3 ? 1e30f : frand();
            for (size_t j = 0; j < d + 16; j++) { /* NaN after d poisons any read */
                const float big = rep == 2 ? ldexpf(1.0f, (int)(rnd() % 140) - 10) : 1.0f;
                p[j] = j < d ? frand() * big : NAN;
                tg[j] = j < d ? (rep == 1 ? edge_value(rnd()) : frand()) : NAN;
                a[j] = j < d ? (int32_t)rnd() >> 9 : 0x7fffffff;
                ca[j] = cb[j] = -5.0f;
            }
            uint32_t ma = 1, mb = 2;
            const float sa = ttt_kernels_scalar.error(p, tg, d, r, ca, &ma);
            const float sb = k->error(p, tg, d, r, cb, &mb);
            const float want = spec_sum8(p, tg, d);
            int good = bits(sa) == bits(want) && bits(sb) == bits(want) && ma == mb &&
                       ma == ttt_kernels_scalar.absmax_bits(p, d) && first_diff(ca, cb, d + 16) == d + 16;
            for (size_t j = 0; j < d && good; j++) {
                const float e = p[j] - tg[j];
                good = bits(ca[j]) == bits(r * e);
            }
            if (!good) {
                printf("# error d=%zu rep=%d: sum %.9g %s %.9g want %.9g, max %08x %08x\n", d, rep, sa,
                       k->name, sb, want, ma, mb);
                ok = 0;
            }
            const float sc = rep == 1 ? 0.0f : frand() * 1e-3f;
            for (size_t j = 0; j < d + 16; j++)
                ca[j] = cb[j] = -5.0f;
            ttt_kernels_scalar.scale_i32(a, d, sc, ca);
            k->scale_i32(a, d, sc, cb);
            good = first_diff(ca, cb, d + 16) == d + 16;
            for (size_t j = 0; j < d && good; j++)
                good = bits(ca[j]) == bits((float)a[j] * sc);
            if (!good) {
                printf("# scale_i32 d=%zu differs\n", d);
                ok = 0;
            }
        }
    }
    free(p), free(tg), free(ca), free(cb), free(a);
    return ok;
}

/* ---- sumsq ---- */

static int check_sumsq(const ttt_kernels *k)
{
    int32_t *a = malloc((1000 + 16) * sizeof *a);
    int ok = 1;
    for (int rep = 0; rep < 3 && ok; rep++) {
        for (size_t s = 0; s < NSIZES && ok; s++) {
            const size_t n = g_sizes[s];
            for (size_t i = 0; i < n + 16; i++) /* the largest |a|: 127 * 65536 */
                a[i] = rep == 0 ? (int32_t)rnd() >> 9 : rep == 1 ? ((rnd() & 1) ? 8323072 : -8323072)
                                                                 : (int32_t)(rnd() % 7) - 3;
            for (size_t i = n; i < n + 16; i++) /* garbage after n would count */
                a[i] = 8323072;
            const int64_t x = ttt_kernels_scalar.sumsq(a, n), y = k->sumsq(a, n);
            int64_t want = 0;
            for (size_t i = 0; i < n; i++)
                want += (int64_t)a[i] * a[i];
            if (x != want || y != want) {
                printf("# sumsq n=%zu rep=%d: scalar %lld %s %lld, want %lld\n", n, rep, (long long)x,
                       k->name, (long long)y, (long long)want);
                ok = 0;
            }
        }
    }
    ok &= k->sumsq(a, 0) == 0;
    free(a);
    return ok;
}

/* ---- residual ---- */

static int check_residual(const ttt_kernels *k)
{
    float *x = malloc(1016 * sizeof *x), *oa = malloc(1016 * sizeof *oa), *ob = malloc(1016 * sizeof *ob);
    int32_t *acc = malloc(1016 * sizeof *acc);
    int ok = 1;
    for (int rep = 0; rep < 4 && ok; rep++) {
        for (size_t s = 0; s < NSIZES && ok; s++) {
            const size_t n = g_sizes[s];
            static const float gs[] = { 1e-3f, -0.37f, 1.4e-45f, 3.0e7f };
            const float g = gs[rep];
            for (size_t i = 0; i < n; i++) {
                x[i] = rep == 2 ? edge_value(rnd()) : frand() * 4.0f;
                acc[i] = (int32_t)rnd() >> (rnd() % 31); /* up to +-2^31 */
            }
            for (size_t i = 0; i < n + 16; i++)
                oa[i] = ob[i] = -3.0f;
            ttt_kernels_scalar.residual(x, acc, n, g, oa);
            if (rep == 3) { /* in place */
                memcpy(ob, x, n * sizeof *x);
                k->residual(ob, acc, n, g, ob);
            } else {
                k->residual(x, acc, n, g, ob);
            }
            if (memcmp(oa, ob, (n + 16) * sizeof *oa) != 0) {
                size_t i = 0;
                while (bits(oa[i]) == bits(ob[i]))
                    i++;
                printf("# residual n=%zu g=%g: out[%zu] %.9g vs %.9g\n", n, g, i, oa[i], ob[i]);
                ok = 0;
            }
        }
    }
    free(x), free(oa), free(ob), free(acc);
    return ok;
}

/* ---- tgemm_residual ---- */

/* against the scalar tgemm and residual, for Up's shapes (the fused paths)
 * and others; tokens with g = 0 must come out as their input */
static int tgemm_residual_case(const ttt_kernels *k, size_t rows, size_t cols, size_t ntok, int inplace)
{
    const size_t vstride = round64(cols);
    uint8_t *w = malloc(rows * cols);
    int8_t *v = malloc(ntok * vstride);
    int32_t *vsum = malloc(ntok * sizeof *vsum), *acc = malloc(ntok * ttt_acc_stride(rows) * sizeof *acc);
    float *x = malloc(ntok * rows * sizeof *x), *g = malloc(ntok * sizeof *g);
    float *oa = malloc((ntok * rows + 16) * sizeof *oa), *ob = malloc((ntok * rows + 16) * sizeof *ob);
    for (size_t i = 0; i < rows * cols; i++)
        w[i] = (uint8_t)(rnd() % 3);
    for (size_t t = 0; t < ntok; t++) {
        int32_t s = 0;
        for (size_t c = 0; c < vstride; c++) {
            v[t * vstride + c] = (int8_t)rnd();
            s += c < cols ? v[t * vstride + c] : 0;
        }
        vsum[t] = s;
        static const float gs[] = { 0.0f, 1e-3f, -0.37f, 1.4e-45f, 3.0e7f, -0.0f };
        g[t] = gs[rnd() % 6];
    }
    for (size_t i = 0; i < ntok * rows; i++)
        x[i] = rnd() % 4 == 0 ? edge_value(rnd()) : frand() * 4.0f;
    for (size_t i = 0; i < ntok * rows + 16; i++)
        oa[i] = ob[i] = -3.0f;
    uint8_t *pa = ttt_aligned_alloc(ttt_kernels_scalar.tpack_size(rows, cols));
    guarded gb;
    uint8_t *pb = guarded_alloc(&gb, k->tpack_size(rows, cols));
    ttt_kernels_scalar.tpack(w, cols, rows, cols, pa);
    k->tpack(w, cols, rows, cols, pb);
    ttt_kernels_scalar.tgemm(pa, rows, cols, v, vstride, vsum, ntok, acc, rows);
    for (size_t t = 0; t < ntok; t++)
        if (g[t] != 0.0f)
            ttt_kernels_scalar.residual(x + t * rows, acc + t * rows, rows, g[t], oa + t * rows);
        else
            memcpy(oa + t * rows, x + t * rows, rows * sizeof *oa);
    if (inplace) {
        memcpy(ob, x, ntok * rows * sizeof *x);
        k->tgemm_residual(pb, rows, cols, v, vstride, vsum, ntok, ob, g, ob, rows, acc);
    } else {
        k->tgemm_residual(pb, rows, cols, v, vstride, vsum, ntok, x, g, ob, rows, acc);
    }
    ttt_aligned_free(pa);
    guarded_free(&gb);
    const size_t i = first_diff(oa, ob, ntok * rows + 16);
    if (i < ntok * rows + 16)
        printf("# tgemm_residual rows=%zu cols=%zu ntok=%zu: out[%zu] %.9g vs %.9g\n", rows, cols, ntok, i,
               oa[i], ob[i]);
    free(w), free(v), free(vsum), free(acc), free(x), free(g), free(oa), free(ob);
    return i == ntok * rows + 16;
}

static int check_tgemm_residual(const ttt_kernels *k)
{
    static const size_t shapes[][3] = {
        { 128, 32, 32 }, { 64, 16, 7 }, { 20, 8, 5 }, { 13, 32, 3 }, { 8, 1, 2 }, { 1, 5, 4 },
        { 256, 64, 5 }, { 33, 100, 3 },
        /* AVX-512's groups of 16 rows with 8 or 16 registers: 33..64 columns */
        { 17, 33, 3 }, { 31, 64, 33 }, { 100, 48, 5 }, { 15, 65, 2 }, { 16, 31, 2 },
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0] && ok; i++)
        for (int inplace = 0; inplace < 2 && ok; inplace++)
            ok = tgemm_residual_case(k, shapes[i][0], shapes[i][1], shapes[i][2], inplace);
    return ok;
}

/* ---- whole models ---- */

static int make_model(size_t D, unsigned isa, ttt_model **m)
{
    ttt_config cfg;
    ttt_config_default(&cfg);
    cfg.hidden_dim = D;
    cfg.max_isa = isa;
    cfg.inner_lr = 0.1f;
    cfg.dispatch = TTT_DISPATCH_ISA; /* whole tables: these tests are about each one */
    return ttt_create_ex(&cfg, m);
}

/*
 * The same stream through a scalar and a SIMD model, one token per call and
 * in blocks: every kernel computes the scalar arithmetic in the scalar
 * order, so outputs and surprises must be bit-identical, and so must the
 * saved states.
 */
static int check_models(size_t D, const char **why)
{
    ttt_model *a = NULL, *b = NULL;
    int ok = make_model(D, TTT_ISA_SCALAR, &a) == TTT_OK && make_model(D, TTT_ISA_AUTO, &b) == TTT_OK;
    *why = "create";
    const size_t T = 2000, P = 8, B = 37;
    float *proto = malloc(P * D * sizeof(float)), *x = malloc(B * D * sizeof(float));
    float *oa = malloc(B * D * sizeof(float)), *ob = malloc(B * D * sizeof(float));
    float sa[37], sb[37];
    for (size_t i = 0; i < P * D; i++)
        proto[i] = frand();
    for (size_t t = 0; t < T && ok;) {
        /* single tokens, then blocks that straddle TTT_BLOCK */
        const size_t n = t < T / 2 ? 1 : B;
        /* repeated patterns plus noise: W learns, so p and g are not 0 */
        for (size_t u = 0; u < n; u++) {
            const float *pr = proto + (rnd() % P) * D;
            for (size_t i = 0; i < D; i++)
                x[u * D + i] = pr[i] + 0.1f * frand();
        }
        if (t == 777 || t == T / 2 + 5 * B)
            x[D / 2] = NAN; /* skipped by both */
        if (ttt_forward_ex(a, x, n, oa, sa) != TTT_OK || ttt_forward_ex(b, x, n, ob, sb) != TTT_OK) {
            *why = "forward failed";
            ok = 0;
            break;
        }
        const size_t io = first_diff(oa, ob, n * D), is = first_diff(sa, sb, n);
        if (io < n * D || is < n) {
            if (io < n * D)
                printf("# D=%zu token %zu: out[%zu] %.9g vs %.9g\n", D, t + io / D, io % D, oa[io], ob[io]);
            else
                printf("# D=%zu token %zu: surprise %.9g vs %.9g\n", D, t + is, sa[is], sb[is]);
            *why = "not bit-identical";
            ok = 0;
        }
        t += n;
    }
    if (ok) {
        const size_t len = ttt_state_size(a);
        unsigned char *ba = malloc(len), *bb = malloc(len);
        ok = len == ttt_state_size(b) && ttt_state_save(a, ba, len, NULL) == TTT_OK &&
             ttt_state_save(b, bb, len, NULL) == TTT_OK && memcmp(ba, bb, len) == 0;
        if (!ok)
            *why = "saved states differ";
        free(ba), free(bb);
    }
    ttt_destroy(a);
    ttt_destroy(b);
    free(proto), free(x), free(oa), free(ob);
    return ok;
}

int main(void)
{
    const ttt_isa isa = ttt_cpu_isa();
    /* the SIMD tables of this architecture, then an end mark (none on
     * armhf and others: the scalar checks below still run) */
    const struct {
        const ttt_kernels *k;
        const char *need;
        int avail;
    } tables[] = {
#if defined(TTT_HAVE_X86)
        { &ttt_kernels_avx2, "AVX2", isa >= TTT_ISA_AVX2 },
        /* VNNI is not an ISA level of its own: ask the selection */
        { &ttt_kernels_avx2vnni, "AVX-VNNI",
          isa >= TTT_ISA_AVX2 && ttt_kernels_select(TTT_ISA_AVX2) == &ttt_kernels_avx2vnni },
        { &ttt_kernels_avx512, "AVX-512", isa >= TTT_ISA_AVX512 },
        { &ttt_kernels_avx512vnni, "AVX-512 VNNI",
          isa >= TTT_ISA_AVX512 && ttt_kernels_select(TTT_ISA_AVX512) == &ttt_kernels_avx512vnni },
#elif defined(TTT_HAVE_AARCH64)
        { &ttt_kernels_neon, "NEON", isa >= TTT_ISA_NEON },
        { &ttt_kernels_neon_dotprod, "NEON dot product", isa >= TTT_ISA_NEON_DOTPROD },
#endif
        { NULL, NULL, 0 },
    };
    for (size_t i = 0; tables[i].k; i++) {
        const ttt_kernels *k = tables[i].k;
        static const char *names[] = { "absmax_bits", "quantize", "tgemm",
                                       "update_predict == scalar bit for bit",
                                       "update_predict update-only == fused", "residual",
                                       "update_predict predict-only == scalar bit for bit",
                                       "sumsq", "error and scale_i32", "tgemm_residual",
                                       "quantize_block", "chunk_predict == scalar bit for bit",
                                       "chunk_update == scalar bit for bit",
                                       "chunk_correct == scalar bit for bit",
                                       "learn_run == scalar bit for bit" };
        if (!tables[i].avail) {
            for (size_t j = 0; j < sizeof names / sizeof names[0]; j++)
                printf("ok %d - %s %s # SKIP no %s on this CPU\n", ++g_n, k->name, names[j], tables[i].need);
            continue;
        }
        g_rng = 0x5eed0000u + i; /* each table sees the same cases */
        report(check_absmax(k), "%s %s", k->name, names[0]);
        report(check_quantize(k), "%s %s", k->name, names[1]);
        report(check_tgemm(k), "%s %s", k->name, names[2]);
        int same, same_p;
        report(check_update_predict(k, &same, &same_p), "%s %s", k->name, names[3]);
        report(same, "%s %s", k->name, names[4]);
        report(check_residual(k), "%s %s", k->name, names[5]);
        report(same_p, "%s %s", k->name, names[6]);
        report(check_sumsq(k), "%s %s", k->name, names[7]);
        report(check_error(k), "%s %s", k->name, names[8]);
        report(check_tgemm_residual(k), "%s %s", k->name, names[9]);
        report(check_quantize_block(k), "%s %s", k->name, names[10]);
        for (int c = 0; c < 3; c++)
            report(check_chunk(k, c), "%s %s", k->name, names[11 + c]);
        if (k->learn_run)
            report(check_learn_run(k), "%s %s", k->name, names[14]);
        else /* forward runs update_predict token by token with this table */
            printf("ok %d - %s %s # SKIP this table has none\n", ++g_n, k->name, names[14]);
    }

    report(check_learn_run(&ttt_kernels_scalar), "%s%s", "scalar learn_run: n tokens of update_predict ",
           "and error's c, bit for bit");

    report(check_update_scalar(), "%s%s", "scalar update_predict: W - c f for decay 1, ",
           "W * decay - c f otherwise, p summed left to right");

    report(check_chunk_scalar(), "%s%s", "scalar chunk kernels: n per-token predictions and updates, ",
           "the corrections in the eight-sum order");

    ttt_model *m = NULL;
    const int ok = make_model(64, TTT_ISA_SCALAR, &m) == TTT_OK;
    report(ok && strcmp(ttt_get_kernel_name(m), "scalar") == 0, "%s%s", "max_isa SCALAR selects",
           " the scalar kernels");
    ttt_destroy(m);
    m = NULL;
    const char *want = isa >= TTT_ISA_NEON_DOTPROD ? "neon-dotprod"
                       : isa >= TTT_ISA_NEON                 ? "neon"
                       : isa >= TTT_ISA_AVX512               ? "avx512"
                       : isa >= TTT_ISA_AVX2                 ? "avx2"
                                                             : "scalar";
    const int ok2 = make_model(64, TTT_ISA_AUTO, &m) == TTT_OK;
    /* "avx512" is a prefix of "avx512-vnni"; "neon" must not match "neon-dotprod" */
    report(ok2 && strncmp(ttt_get_kernel_name(m), want, strlen(want)) == 0 &&
               (isa < TTT_ISA_NEON || strcmp(ttt_get_kernel_name(m), want) == 0),
           "AUTO selects %s%s", want, " kernels");
    ttt_destroy(m);

    static const size_t Ds[] = { 4, 12, 64, 132, 256 };
    g_rng = 0xabcdef;
    for (size_t i = 0; i < sizeof Ds / sizeof Ds[0]; i++) {
        const char *why = "";
        char name[64];
        snprintf(name, sizeof name, "D=%zu", Ds[i]);
        const int r = check_models(Ds[i], &why);
        if (!r)
            printf("# D=%zu failed: %s\n", Ds[i], why);
        report(r, "scalar and best-ISA models agree, %s%s", name, "");
    }
    printf("1..%d\n", g_n);
    return g_fail != 0;
}
