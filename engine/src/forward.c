/*
 * The forward pass: the per-token order of operations of docs/SPEC.md,
 * written once. Work is done a block of tokens at a time: the features of a
 * block come from one batched int8 product, the recurrence runs token by
 * token, and the outputs come from a second batched product.
 *
 * The W update of token t is fused with the prediction of token t + 1 (one
 * pass over W per token). The update is therefore held "pending" between the
 * two, across call boundaries if need be, which keeps results identical
 * however a stream is split into calls.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

static float from_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* Quantise v (n finite floats, absmax m) per SPEC step 1; returns m, or 0
 * when v is below the floor and quantises to all zeros. */
static float quantize_token(const ttt_kernels *k, const float *v, size_t n, float m, int8_t *q, int32_t *qsum)
{
    if (m < TTT_ABSMAX_FLOOR) {
        memset(q, 0, n);
        *qsum = 0;
        return 0.0f;
    }
    *qsum = k->quantize(v, n, 127.0f / m, q);
    return m;
}

/* f = y / ||y||. The dequantisation scale of y cancels in the ratio, so f is
 * computed from the exact integer accumulators: identical on every ISA.
 * feature_inv gives the factor (0 when y = 0); it is computed for a whole
 * block ahead of the recurrence, keeping sqrt and divide off its path. */
static float feature_inv(const int32_t *acc, size_t d)
{
    /* integer sums are exact in any order: four chains instead of one */
    int64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t j = 0;
    for (; j + 4 <= d; j += 4) {
        s0 += (int64_t)acc[j] * acc[j];
        s1 += (int64_t)acc[j + 1] * acc[j + 1];
        s2 += (int64_t)acc[j + 2] * acc[j + 2];
        s3 += (int64_t)acc[j + 3] * acc[j + 3];
    }
    for (; j < d; j++)
        s0 += (int64_t)acc[j] * acc[j];
    const int64_t ss = (s0 + s1) + (s2 + s3);
    return ss == 0 ? 0.0f : (float)(1.0 / sqrt((double)ss));
}

static void feature(const int32_t *acc, size_t d, float inv, float *f)
{
    if (inv == 0.0f) {
        memset(f, 0, d * sizeof *f);
        return;
    }
    for (size_t j = 0; j < d; j++)
        f[j] = (float)acc[j] * inv;
}

void ttt_flush_pending(ttt_model *m)
{
    if (m->pending)
        m->k->update_predict(m->W, m->d, m->ws, m->pend_c, m->pend_f, NULL, NULL);
    m->pending = 0;
}

static void forward_block(ttt_model *m, const float *in, size_t nb, float *out, float *surprise)
{
    const ttt_kernels *k = m->k;
    const size_t D = m->D, d = m->d;

    for (size_t t = 0; t < nb; t++) {
        const float *x = in + t * D;
        int8_t *q = m->q + t * m->Dq;
        /* one absmax serves both the finite check and the quantisation */
        const uint32_t mb = k->absmax_bits(x, D);
        m->ok[t] = mb < to_bits(INFINITY);
        if (m->ok[t]) {
            quantize_token(k, x, D, from_bits(mb), q, &m->qsum[t]);
        } else {
            memset(q, 0, D);
            m->qsum[t] = 0;
        }
    }
    k->tgemm(m->down, m->Dq, d, D, m->q, m->Dq, m->qsum, nb, m->acc_down, d);

    float inv[TTT_BLOCK];
    for (size_t t = 0; t < nb; t++)
        inv[t] = m->ok[t] ? feature_inv(m->acc_down + t * d, d) : 0.0f;

    const float eta = m->cfg.inner_lr;
    for (size_t t = 0; t < nb; t++) {
        int8_t *qp = m->qp + t * m->dq;
        float s = NAN;
        m->g[t] = 0.0f;
        if (m->ok[t]) {
            feature(m->acc_down + t * d, d, inv[t], m->f);
            k->update_predict(m->W, d, m->ws, m->pending ? m->pend_c : NULL, m->pend_f, m->f, m->p);
            m->pending = 0;
            /* pend_c is only used once pending is set below, so it can be
             * filled in the shadow of the sequential sum's latency chain */
            float acc = 0.0f;
            for (size_t j = 0; j < d; j++) {
                const float e = m->p[j] - m->f[j];
                acc += e * e;
                m->pend_c[j] = eta * e;
            }
            s = acc / (float)d;
            /* W is bounded for eta <= 2, so this cannot happen; the check
             * keeps the state safe even if that reasoning ever breaks */
            if (!isfinite(s))
                m->ok[t] = 0;
        }
        if (!m->ok[t]) {
            memset(qp, 0, d);
            m->qpsum[t] = 0;
            m->stats.tokens_skipped++;
            s = NAN;
        } else {
            if (m->cfg.learning) {
                /* the feature becomes the pending one: swap, don't copy */
                float *tmp = m->pend_f;
                m->pend_f = m->f;
                m->f = tmp;
                m->pending = 1;
            }
            const float mp = quantize_token(k, m->p, d, from_bits(k->absmax_bits(m->p, d)), qp, &m->qpsum[t]);
            m->g[t] = mp * m->s_up / 127.0f;
        }
        m->stats.tokens_seen++;
        if (surprise)
            surprise[t] = s;
    }

    k->tgemm(m->up, m->dq, D, d, m->qp, m->dq, m->qpsum, nb, m->acc_up, D);
    for (size_t t = 0; t < nb; t++) {
        const float *x = in + t * D;
        float *o = out + t * D;
        /* g == 0: no residual at all, so the output is the input bit for bit */
        if (m->g[t] != 0.0f)
            k->residual(x, m->acc_up + t * D, D, m->g[t], o);
        else if (o != x)
            memcpy(o, x, D * sizeof *o);
    }
}

int ttt_forward_ex(ttt_model *m, const float *in, size_t n, float *out, float *surprise)
{
    size_t count, bytes;
    if (!m || !in || !out || n == 0)
        return TTT_ERR_INVALID_ARG;
    if (ttt_mul_size(n, m->D, &count) || ttt_mul_size(count, sizeof(float), &bytes))
        return TTT_ERR_OVERFLOW;
    if (out != in) {
        const uintptr_t a = (uintptr_t)in, b = (uintptr_t)out;
        if (a < b + bytes && b < a + bytes)
            return TTT_ERR_INVALID_ARG;
    }
    for (size_t t0 = 0; t0 < n; t0 += TTT_BLOCK) {
        const size_t nb = n - t0 < TTT_BLOCK ? n - t0 : TTT_BLOCK;
        forward_block(m, in + t0 * m->D, nb, out + t0 * m->D, surprise ? surprise + t0 : NULL);
    }
    return TTT_OK;
}

int ttt_forward(void *model, const float *input, size_t seq_len, float *output)
{
    return ttt_forward_ex(model, input, seq_len, output, NULL);
}
