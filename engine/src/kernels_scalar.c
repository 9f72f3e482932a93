/* The scalar kernels: the semantic reference for every ISA (see kernels.h). */
#include <math.h>
#include <string.h>

#include "kernels.h"

static uint32_t absmax_bits_c(const float *x, size_t n)
{
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &x[i], sizeof b);
        b &= 0x7fffffffu;
        if (b > m)
            m = b;
    }
    return m;
}

static int32_t quantize_c(const float *x, size_t n, float scale, int8_t *q)
{
    int32_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        /* lrintf rounds ties to even, as cvtps2dq does in the SIMD kernels */
        long v = lrintf(x[i] * scale);
        if (v > 127)
            v = 127;
        if (v < -127)
            v = -127;
        q[i] = (int8_t)v;
        sum += (int32_t)v;
    }
    return sum;
}

static size_t round64(size_t n)
{
    return (n + 63) / 64 * 64;
}

size_t ttt_tpack_rows_size(size_t rows, size_t cols)
{
    return rows * round64(cols);
}

void ttt_tpack_rows(const uint8_t *w, size_t wstride, size_t rows, size_t cols, uint8_t *packed)
{
    const size_t ps = round64(cols);
    for (size_t r = 0; r < rows; r++) {
        memcpy(packed + r * ps, w + r * wstride, cols);
        memset(packed + r * ps + cols, 1, ps - cols);
    }
}

static void tgemm_c(const uint8_t *w, size_t rows, size_t cols,
                    const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                    int32_t *out, size_t ostride)
{
    (void)vsum; /* the bias is undone per weight here; SIMD kernels use vsum */
    const size_t wstride = round64(cols);
    for (size_t t = 0; t < ntok; t++) {
        const int8_t *vt = v + t * vstride;
        for (size_t r = 0; r < rows; r++) {
            const uint8_t *wr = w + r * wstride;
            int32_t acc = 0;
            for (size_t c = 0; c < cols; c++)
                acc += ((int32_t)wr[c] - 1) * vt[c];
            out[t * ostride + r] = acc;
        }
    }
}

static void update_predict_c(float *Wt, size_t d, size_t ws, const float *c,
                             const float *fo, float decay, const float *fn, float *p)
{
    if (fn)
        for (size_t i = 0; i < d; i++)
            p[i] = 0.0f;
    for (size_t j = 0; j < d; j++) {
        float *col = Wt + j * ws;
        if (c && decay == 1.0f) {
            const float fj = fo[j];
            for (size_t i = 0; i < d; i++)
                col[i] -= c[i] * fj;
        } else if (c) {
            /* three roundings (the build forbids contraction): the SPEC order */
            const float fj = fo[j];
            for (size_t i = 0; i < d; i++)
                col[i] = col[i] * decay - c[i] * fj;
        }
        if (fn) {
            const float fj = fn[j];
            for (size_t i = 0; i < d; i++)
                p[i] += col[i] * fj;
        }
    }
}

/* the reference: the per-token order as the contract states it */
static void learn_run_c(float *Wt, size_t d, size_t ws, const float *c0, const float *x0, float decay,
                        const float *const *x, const float *const *tg, const float *r, size_t n, float *P,
                        size_t ps, float *cn)
{
    const float *c = c0, *fo = x0;
    for (size_t t = 0; t < n; t++) {
        float *p = P + t * ps;
        update_predict_c(Wt, d, ws, c, fo, decay, x[t], p);
        for (size_t i = 0; i < d; i++)
            cn[i] = r[t] * (p[i] - tg[t][i]);
        c = cn;
        fo = x[t];
    }
}

/* eight independent sums: each lane of the loop is its own chain */
static float error_c(const float *p, const float *tg, size_t d, float r, float *c, uint32_t *pmax)
{
    float u[8] = { 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f };
    for (size_t j = 0; j < d; j++) {
        const float e = p[j] - tg[j];
        c[j] = r * e;
        u[j % 8] += e * e;
    }
    *pmax = absmax_bits_c(p, d);
    return ((u[0] + u[4]) + (u[2] + u[6])) + ((u[1] + u[5]) + (u[3] + u[7]));
}

static void scale_i32_c(const int32_t *a, size_t d, float s, float *f)
{
    for (size_t j = 0; j < d; j++)
        f[j] = (float)a[j] * s;
}

static int64_t sumsq_c(const int32_t *a, size_t n)
{
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += (int64_t)a[i] * a[i];
    return s;
}

static void residual_c(const float *x, const int32_t *acc, size_t n, float g, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = x[i] + (float)acc[i] * g;
}

void ttt_tgemm_residual_split(const ttt_kernels *k, const uint8_t *packed, size_t rows, size_t cols,
                              const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                              const float *x, const float *g, float *out, size_t xstride, int32_t *acc)
{
    const size_t as = ttt_acc_stride(rows);
    k->tgemm(packed, rows, cols, v, vstride, vsum, ntok, acc, as);
    for (size_t t = 0; t < ntok; t++) {
        const float *xt = x + t * xstride;
        float *o = out + t * xstride;
        /* g == 0: no residual at all, so the output is the input bit for bit */
        if (g[t] != 0.0f)
            k->residual(xt, acc + t * as, rows, g[t], o);
        else if (o != xt)
            memcpy(o, xt, rows * sizeof *o);
    }
}

static void tgemm_residual_c(const uint8_t *packed, size_t rows, size_t cols,
                             const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                             const float *x, const float *g, float *out, size_t xstride, int32_t *acc)
{
    ttt_tgemm_residual_split(&ttt_kernels_scalar, packed, rows, cols, v, vstride, vsum, ntok, x, g, out,
                             xstride, acc);
}

void ttt_quantize_block_split(const ttt_kernels *k, const float *x, size_t n, size_t ntok, float floor,
                              int8_t *q, size_t qstride, int32_t *qsum, float *mx)
{
    for (size_t t = 0; t < ntok; t++) {
        const uint32_t mb = k->absmax_bits(x + t * n, n);
        float m;
        memcpy(&m, &mb, sizeof m);
        mx[t] = mb >= 0x7f800000u ? NAN : m < floor ? 0.0f : m;
    }
    /* every absmax, then every quantisation: the divides run side by side */
    for (size_t t = 0; t < ntok; t++) {
        if (mx[t] > 0.0f) {
            qsum[t] = k->quantize(x + t * n, n, 127.0f / mx[t], q + t * qstride);
        } else {
            memset(q + t * qstride, 0, n);
            qsum[t] = 0;
        }
    }
}

static void quantize_block_c(const float *x, size_t n, size_t ntok, float floor, int8_t *q, size_t qstride,
                             int32_t *qsum, float *mx)
{
    ttt_quantize_block_split(&ttt_kernels_scalar, x, n, ntok, floor, q, qstride, qsum, mx);
}

static void chunk_predict_c(const float *Wt, size_t d, size_t ws, const float *X, size_t xs, size_t n, float *P)
{
    for (size_t t = 0; t < n; t++)
        update_predict_c((float *)Wt, d, ws, NULL, NULL, 1.0f, X + t * xs, P + t * xs);
}

static void chunk_update_c(float *Wt, size_t d, size_t ws, const float *C, const float *K, size_t cs, size_t n,
                           float decay)
{
    for (size_t l = 0; l < n; l++)
        update_predict_c(Wt, d, ws, C + l * cs, K + l * cs, decay, NULL, NULL);
}

float ttt_dot8(const float *a, const float *b, size_t d)
{
    float u[8] = { 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f };
    for (size_t j = 0; j < d; j++)
        u[j % 8] += a[j] * b[j];
    return ((u[0] + u[4]) + (u[2] + u[6])) + ((u[1] + u[5]) + (u[3] + u[7]));
}

static void chunk_correct_c(float *p, size_t d, const float *C, const float *K, size_t cs, size_t n,
                            const float *x, float decay)
{
    for (size_t l = 0; l < n; l++) {
        const float h = ttt_dot8(K + l * cs, x, d);
        const float *c = C + l * cs;
        if (decay == 1.0f)
            for (size_t i = 0; i < d; i++)
                p[i] -= h * c[i];
        else
            for (size_t i = 0; i < d; i++)
                p[i] = p[i] * decay - h * c[i];
    }
}

const ttt_kernels ttt_kernels_scalar = {
    "scalar", absmax_bits_c, quantize_c, ttt_tpack_rows_size, ttt_tpack_rows, tgemm_c,
    update_predict_c, learn_run_c, error_c, scale_i32_c, sumsq_c, residual_c, tgemm_residual_c,
    quantize_block_c, chunk_predict_c, chunk_update_c, chunk_correct_c,
};
