/*
 * The forward pass: the per-token order of operations of docs/SPEC.md,
 * written once. Work is done a block of tokens at a time: the features of a
 * block come from one batched int8 product, the recurrence runs token by
 * token (or, from TTT_RUN_MIN_D on, band of W's rows by band over the
 * block: recur_run; from TTT_CHUNK_MIN_D on, in chunks: recur_chunked),
 * and the outputs come from a second batched product.
 *
 * The W update of token t is fused with the prediction of token t + 1 (one
 * pass over W per token). The update is therefore held "pending" between the
 * two, across call boundaries if need be, which keeps results identical
 * however a stream is split into calls.
 */
#include <float.h>
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

/* SPEC step 7's input for learned token t: its prediction p (absmax bits
 * pmax) quantised as in step 1 into qp, and the residual scale g (0 when p
 * is below the floor and quantises to all zeros). skip_token is the
 * counterpart for a token not learned from. */
static void quantize_prediction(ttt_model *m, size_t t, const float *p, uint32_t pmax)
{
    const float mp = from_bits(pmax);
    int8_t *q = m->qp + t * m->dq;
    if (mp < TTT_ABSMAX_FLOOR) {
        memset(q, 0, m->d);
        m->qpsum[t] = 0;
        m->g[t] = 0.0f;
        return;
    }
    m->qpsum[t] = m->k->quantize(p, m->d, 127.0f / mp, q);
    m->g[t] = mp * m->s_up / 127.0f;
}

/* f = y / ||y||. The dequantisation scale of y cancels in the ratio, so f is
 * computed from the exact integer accumulators: identical on every ISA.
 * feature_inv gives the factor (0 when y = 0); it is computed for a whole
 * block ahead of the recurrence, keeping sqrt and divide off its path. */
static float feature_inv(const ttt_kernels *k, const int32_t *acc, size_t d)
{
    const int64_t ss = k->sumsq(acc, d);
    return ss == 0 ? 0.0f : (float)(1.0 / sqrt((double)ss));
}

static void feature(const ttt_kernels *k, const int32_t *acc, size_t d, float inv, float *f)
{
    if (inv == 0.0f)
        memset(f, 0, d * sizeof *f);
    else
        k->scale_i32(acc, d, inv, f);
}

/* NLMS's step for a key of squared norm kk (docs/SPEC.md, "Objectives") */
static float nlms_rate(float eta, float kk)
{
    return eta / (kk + 1e-6f);
}

/* ||k||^2 for NLMS, in f32 from +0, left to right */
static float sum_sq(const float *k, size_t d)
{
    float s = 0.0f;
    for (size_t j = 0; j < d; j++)
        s += k[j] * k[j];
    return s;
}


/* Applies every learned token to W: the pending update, or the open chunk,
 * which a save thereby closes (docs/SPEC.md, "Large d"). */
void ttt_flush_pending(ttt_model *m)
{
    if (m->pending)
        m->k->update_predict(m->W, m->d, m->ws, m->pend_c, m->pend_f, m->decay, NULL, NULL);
    m->pending = 0;
    if (m->chunk_n)
        m->k->chunk_update(m->W, m->d, m->ws, m->cc, m->ck, m->ws, m->chunk_n, m->decay);
    m->chunk_n = 0;
}

/* The key of finite token t (SPEC "Keys and targets") into f */
static inline void make_key(const ttt_model *m, size_t t, const float *inv, float *f)
{
    const int32_t *a = m->acc_down + t * m->as;
    if (m->key_mag)
        m->k->scale_i32(a, m->d, m->s_down * m->mx[t] / 127.0f, f); /* the dequantised projection */
    else
        feature(m->k, a, m->d, inv[t], f);
}

/* The target of finite token t whose key is f: f itself, or written to v */
static inline const float *make_target(const ttt_model *m, size_t t, const float *inv_v, const float *f, float *v)
{
    const ttt_kernels *k = m->k;
    const size_t d = m->d;
    const int32_t *a = m->acc_down + t * m->as;
    const float gd = m->s_down * m->mx[t] / 127.0f;
    if (m->cfg.objective == TTT_OBJECTIVE_MULTIVIEW) {
        if (m->val_mag)
            k->scale_i32(a + d, d, m->s_down_v * m->mx[t] / 127.0f, v);
        else
            feature(k, a + d, d, inv_v[t], v);
        if (m->cfg.residual)
            for (size_t j = 0; j < d; j++)
                v[j] -= f[j];
        return v;
    }
    if (m->cfg.objective == TTT_OBJECTIVE_NEXT && m->val_mag) {
        k->scale_i32(a, d, gd, v);
        return v;
    }
    return f;
}

/* A token that is not learned from: input passed through, surprise NaN */
static void skip_token(ttt_model *m, size_t t)
{
    memset(m->qp + t * m->dq, 0, m->d);
    m->qpsum[t] = 0;
    m->g[t] = 0.0f;
    m->stats.tokens_skipped++;
}

/*
 * The recurrence of a block for d >= TTT_CHUNK_MIN_D (docs/SPEC.md, "Large
 * d"). W stays the chunk's start; a token's prediction is W kin, from one
 * product for a whole segment of tokens, corrected by the chunk's learned
 * tokens so far. A segment never crosses a chunk end: it holds at most as
 * many tokens as the chunk has room for learned ones. For NEXT the inputs
 * are the keys of the tokens before; a token skipped for its surprise does
 * not move that on, so the segment is restarted after it.
 */
static void recur_chunked(ttt_model *m, size_t nb, const float *inv, const float *inv_v, float *surprise)
{
    const ttt_kernels *k = m->k;
    const size_t d = m->d, ws = m->ws;
    const int next = m->cfg.objective == TTT_OBJECTIVE_NEXT;
    const int nlms = m->cfg.update == TTT_UPDATE_NLMS;
    const float eta = m->cfg.inner_lr;

    for (size_t t = 0; t < nb; t++) {
        if (m->ok[t])
            make_key(m, t, inv, m->kb + t * ws);
        else
            memset(m->kb + t * ws, 0, d * sizeof(float));
    }
    size_t t0 = 0;
    while (t0 < nb) {
        const size_t room = TTT_CHUNK - m->chunk_n;
        const size_t ns = nb - t0 < room ? nb - t0 : room;
        const float *X = m->kb + t0 * ws;
        if (next) {
            const float *cur = m->prev;
            for (size_t u = 0; u < ns; u++) {
                memcpy(m->xb + u * ws, cur, d * sizeof(float));
                if (m->ok[t0 + u])
                    cur = m->kb + (t0 + u) * ws;
            }
            X = m->xb;
        }
        k->chunk_predict(m->W, d, ws, X, ws, ns, m->pb);
        size_t u = 0;
        int restart = 0;
        for (; u < ns && !restart; u++) {
            const size_t t = t0 + u;
            float s = NAN;
            if (m->ok[t]) {
                float *p = m->pb + u * ws;
                const float *kin = X + u * ws;
                k->chunk_correct(p, d, m->cc, m->ck, ws, m->chunk_n, kin, m->decay);
                const float *tg = make_target(m, t, inv_v, m->kb + t * ws, m->v);
                const float r = nlms ? nlms_rate(eta, sum_sq(kin, d)) : eta;
                float *c = m->cfg.learning ? m->cc + m->chunk_n * ws : m->pend_c;
                uint32_t pmax;
                const float ss = k->error(p, tg, d, r, c, &pmax);
                s = ss / (float)d;
                if (isfinite(ss)) {
                    if (m->cfg.learning) {
                        memcpy(m->ck + m->chunk_n * ws, kin, d * sizeof(float));
                        m->chunk_n++;
                    }
                    if (next)
                        memcpy(m->prev, m->kb + t * ws, d * sizeof(float));
                    quantize_prediction(m, t, p, pmax);
                } else {
                    m->ok[t] = 0;
                    restart = next;
                }
            }
            if (!m->ok[t]) {
                skip_token(m, t);
                s = NAN;
            }
            m->stats.tokens_seen++;
            if (surprise)
                surprise[t] = s;
        }
        if (m->chunk_n == TTT_CHUNK) {
            k->chunk_update(m->W, d, ws, m->cc, m->ck, ws, m->chunk_n, m->decay);
            m->chunk_n = 0;
        }
        t0 += u;
    }
}

/*
 * The recurrence of a block for TTT_RUN_MIN_D <= d < TTT_CHUNK_MIN_D with
 * learning on, all its learned tokens in one learn_run call (kernels.h):
 * the per-token order bit for bit, with a band of W's rows kept in L1 for
 * the whole block.
 *
 * One thing of the per-token order does not split by rows: a token whose
 * surprise is not finite is skipped, which a band kernel would only find
 * after it had learned the token. So a block takes this path only when
 * none of its tokens can have such a surprise, which run_bounded proves
 * from a bound B of ||W||_F: the prediction error is at most
 * B ||x|| + ||tg||, and a step leaves W' = W (decay I - r x x^T) + r tg x^T,
 * so ||W'|| <= rho B + r ||tg|| ||x|| with rho = max(decay, r ||x||^2 - decay)
 * (for unit keys and no forgetting rho is 1 up to the margins below while
 * eta <= 2, and B grows by about 2 eta a token; grown past the limit, it
 * is recomputed from W). Errors below RUN_E_MAX keep every sum of squares
 * far below FLT_MAX; RUN_SLACK per token covers f32 rounding many times
 * over.
 */
#define RUN_E_MAX 1e17
#define RUN_SLACK (1.0 + 1e-3)

/* d max|W| + ||pend_c|| ||pend_f||: INFINITY if W holds a non-finite value */
static double w_norm_bound(const ttt_model *m)
{
    const size_t d = m->d;
    uint32_t b = 0;
    for (size_t j = 0; j < d; j++) {
        const uint32_t c = m->k->absmax_bits(m->W + j * m->ws, d);
        b = c > b ? c : b;
    }
    if (b >= 0x7f800000u)
        return INFINITY;
    double n = (double)d * from_bits(b);
    if (m->pending) {
        double sc = 0.0, sf = 0.0;
        for (size_t i = 0; i < d; i++) {
            sc += (double)m->pend_c[i] * m->pend_c[i];
            sf += (double)m->pend_f[i] * m->pend_f[i];
        }
        n += sqrt(sc) * sqrt(sf);
    }
    return n;
}

/* xx[u]: ||x[u]||^2 or more (see recur_run) */
static int run_bounded(ttt_model *m, size_t n, const float *const *x, const float *const *tg, const float *r,
                       const double *xx)
{
    const double decay = m->decay, rd = sqrt((double)m->d);
    double kt[TTT_BLOCK];
    for (size_t u = 0; u < n; u++)
        kt[u] = tg[u] == x[u] ? sqrt(xx[u]) : rd * from_bits(m->k->absmax_bits(tg[u], m->d));
    int exact = 0;
    if (!(m->wnorm < RUN_E_MAX)) {
        m->wnorm = w_norm_bound(m);
        exact = 1;
    }
    for (;;) {
        double B = m->wnorm;
        size_t u = 0;
        for (; u < n; u++) {
            const double kx = sqrt(xx[u]), rs = r[u] * xx[u];
            if (!((B * kx + kt[u]) * RUN_SLACK <= RUN_E_MAX))
                break;
            const double rho = rs - decay > decay ? rs - decay : decay;
            B = (rho * B + r[u] * kt[u] * kx) * RUN_SLACK;
        }
        if (u == n) {
            m->wnorm = B;
            return 1;
        }
        if (exact)
            return 0;
        m->wnorm = w_norm_bound(m); /* B may have grown far past ||W|| */
        exact = 1;
    }
}

/* 0, with nothing changed but scratch, when run_bounded says no */
static int recur_run(ttt_model *m, size_t nb, const float *inv, const float *inv_v, float *surprise)
{
    const ttt_kernels *k = m->k;
    const size_t d = m->d, ws = m->ws;
    const int next = m->cfg.objective == TTT_OBJECTIVE_NEXT;
    const int nlms = m->cfg.update == TTT_UPDATE_NLMS;
    const float eta = m->cfg.inner_lr;
    const float *x[TTT_BLOCK], *tg[TTT_BLOCK];
    float r[TTT_BLOCK];
    double xx[TTT_BLOCK];
    const float *prev = m->prev;
    size_t n = 0;
    for (size_t t = 0; t < nb; t++) {
        if (!m->ok[t])
            continue;
        float *f = m->kb + t * ws;
        make_key(m, t, inv, f);
        tg[n] = make_target(m, t, inv_v, f, m->xb + t * ws);
        /* NEXT predicts a token from the key of the one learned before */
        x[n] = next ? prev : f;
        if (nlms) {
            const float s = sum_sq(x[n], d);
            r[n] = nlms_rate(eta, s);
            /* an f32 sum of d <= 511 squares: relative rounding, and each
             * square below FLT_MIN lost at worst (flushed to 0 where the
             * host sets FTZ/DAZ), so a tiny key never counts as 0 */
            xx[n] = (double)s * (1.0 + 1e-4) + 2.0 * (double)d * FLT_MIN;
        } else {
            r[n] = eta;
            /* without NLMS every key has unit norm, or is 0; a loaded
             * previous key (NEXT) up to 1 + 1e-3 (state.c) */
            xx[n] = 1.0 + 1e-3;
        }
        prev = f;
        n++;
    }
    if (n && !run_bounded(m, n, x, tg, r, xx))
        return 0;
    if (n) {
        k->learn_run(m->W, d, ws, m->pending ? m->pend_c : NULL, m->pend_f, m->decay, x, tg, r, n, m->pb, ws,
                     m->pend_c);
        memcpy(m->pend_f, x[n - 1], d * sizeof(float));
        m->pending = 1;
        if (next)
            memcpy(m->prev, prev, d * sizeof(float));
    }
    for (size_t t = 0, u = 0; t < nb; t++) {
        float s = NAN;
        if (m->ok[t]) {
            const float *p = m->pb + u * ws;
            uint32_t pmax;
            s = k->error(p, tg[u], d, r[u], m->p, &pmax) / (float)d;
            quantize_prediction(m, t, p, pmax);
            u++;
        } else {
            skip_token(m, t);
        }
        m->stats.tokens_seen++;
        if (surprise)
            surprise[t] = s;
    }
    return 1;
}

static void forward_block(ttt_model *m, const float *in, size_t nb, float *out, float *surprise)
{
    const ttt_kernels *k = m->k;
    const size_t D = m->D, d = m->d, nd = m->nd;

    /* one absmax serves both the finite check and the quantisation */
    k->quantize_block(in, D, nb, TTT_ABSMAX_FLOOR, m->q, m->qs, m->qsum, m->mx);
    for (size_t t = 0; t < nb; t++) {
        m->ok[t] = !isnan(m->mx[t]);
        if (!m->ok[t])
            m->mx[t] = 0.0f;
    }
    /* Down and, for MULTIVIEW, Down_v in one product: rows d..2d-1 */
    k->tgemm(m->down, nd, D, m->q, m->qs, m->qsum, nb, m->acc_down, m->as);

    const unsigned obj = m->cfg.objective;
    const int mview = obj == TTT_OBJECTIVE_MULTIVIEW, next = obj == TTT_OBJECTIVE_NEXT;
    float inv[TTT_BLOCK], inv_v[TTT_BLOCK];
    for (size_t t = 0; t < nb; t++) {
        inv[t] = m->ok[t] && !m->key_mag ? feature_inv(k, m->acc_down + t * m->as, d) : 0.0f;
        if (mview && !m->val_mag)
            inv_v[t] = m->ok[t] ? feature_inv(k, m->acc_down + t * m->as + d, d) : 0.0f;
    }

    if (m->chunked) {
        recur_chunked(m, nb, inv, inv_v, surprise);
        k->tgemm_residual(m->up, D, d, m->qp, m->dq, m->qpsum, nb, in, m->g, out, D, m->acc_up);
        return;
    }
    if (k->learn_run && d >= TTT_RUN_MIN_D && m->cfg.learning && recur_run(m, nb, inv, inv_v, surprise)) {
        k->tgemm_residual(m->up, D, d, m->qp, m->dq, m->qpsum, nb, in, m->g, out, D, m->acc_up);
        return;
    }
    if (m->cfg.learning)
        m->wnorm = INFINITY; /* learned below without a bound */
    const float eta = m->cfg.inner_lr;
    const int nlms = m->cfg.update == TTT_UPDATE_NLMS;
    for (size_t t = 0; t < nb; t++) {
        float s = NAN;
        uint32_t pmax = 0; /* absmax bits of p */
        m->g[t] = 0.0f;
        if (m->ok[t]) {
            make_key(m, t, inv, m->f);
            const float *tg = make_target(m, t, inv_v, m->f, m->v);
            /* NEXT predicts this token from the previous one's key */
            const float *kin = next ? m->prev : m->f;
            k->update_predict(m->W, d, m->ws, m->pending ? m->pend_c : NULL, m->pend_f, m->decay,
                              kin, m->p);
            m->pending = 0;
            const float r = nlms ? nlms_rate(eta, sum_sq(kin, d)) : eta;
            /* pend_c is only used once pending is set below */
            const float ss = k->error(m->p, tg, d, r, m->pend_c, &pmax);
            /* With unit keys and targets W stays bounded for eta <= 2; a
             * target with magnitude can still overflow near FLT_MAX: such
             * a token is skipped rather than let into W. ss / d (d >= 1) is
             * finite exactly when ss is: the test need not wait for the
             * division. */
            s = ss / (float)d;
            if (!isfinite(ss))
                m->ok[t] = 0;
        }
        if (!m->ok[t]) {
            skip_token(m, t);
            s = NAN;
        } else {
            /* keys move by swapping buffers, never by copying: the key that
             * was learned with becomes the pending one, and for NEXT this
             * token's key becomes the previous one */
            float *tmp = m->f;
            if (m->cfg.learning) {
                if (next) {
                    m->f = m->pend_f;
                    m->pend_f = m->prev;
                    m->prev = tmp;
                } else {
                    m->f = m->pend_f;
                    m->pend_f = tmp;
                }
                m->pending = 1;
            } else if (next) {
                m->f = m->prev;
                m->prev = tmp;
            }
            quantize_prediction(m, t, m->p, pmax);
        }
        m->stats.tokens_seen++;
        if (surprise)
            surprise[t] = s;
    }

    k->tgemm_residual(m->up, D, d, m->qp, m->dq, m->qpsum, nb, in, m->g, out, D, m->acc_up);
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
