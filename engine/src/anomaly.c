/*
 * The calibrated anomaly score of docs/SPEC.md ("Anomaly score"). Binary64
 * throughout, in the order the SPEC states, which
 * tests/reference/anomaly_ref.py follows.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Floor of the fitted standard deviation, in units of a (see SPEC). */
#define STD_FLOOR 1e-3

struct ttt_anomaly {
    ttt_anomaly_config cfg;
    double k, margin;
    uint32_t warmup;     /* averages needed before the first fit */

    uint64_t count;      /* finite tokens seen */
    double mean;         /* running mean of their surprises */

    double *shortw;      /* last short_window values of a */
    uint32_t short_pos;
    double short_sum;

    double *longw;       /* last long_window short averages */
    uint32_t long_pos, long_n;
    double long_sum, long_sq;

    int fitted;
    uint32_t since_fit;  /* tokens scored with the current fit */
    double fit_mean, fit_std;

    int have_range;
    double lo, hi;

    /* hold: the running maximum of the last cfg.hold raw scores, as a
     * monotonic queue (values falling from head to tail) of hold + 1 slots */
    double *hold_v;
    uint64_t *hold_t;
    uint32_t hold_head, hold_len;
    uint64_t scored;     /* raw scores pushed so far */
};

void ttt_anomaly_config_default(ttt_anomaly_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    cfg->k = TTT_ANOMALY_DEFAULT_K;
    cfg->mean_window = 1000;
    cfg->short_window = 10;
    cfg->long_window = 2000;
    cfg->refit_every = 100;
    cfg->range_margin = 0.0f;
    cfg->hold = 0;
}

static int valid_config(const ttt_anomaly_config *c)
{
    return isfinite(c->k) && c->k > 0.0f && c->mean_window >= 1 &&
           c->short_window >= 1 && c->short_window <= TTT_ANOMALY_MAX_WINDOW &&
           c->long_window >= 1 && c->long_window <= TTT_ANOMALY_MAX_WINDOW &&
           c->refit_every >= 1 && isfinite(c->range_margin) && c->range_margin >= 0.0f &&
           c->hold <= TTT_ANOMALY_MAX_WINDOW;
}

int ttt_anomaly_create(const ttt_anomaly_config *cfg, ttt_anomaly **out)
{
    if (!out)
        return TTT_ERR_INVALID_ARG;
    *out = NULL;
    if (!cfg || cfg->struct_size < TTT_ANOMALY_CONFIG_SIZE_1_1)
        return TTT_ERR_INVALID_ARG;
    /* an older caller's struct ends earlier: its missing fields default */
    ttt_anomaly_config full;
    ttt_anomaly_config_default(&full);
    memcpy(&full, cfg, cfg->struct_size < sizeof full ? cfg->struct_size : sizeof full);
    full.struct_size = sizeof full;
    if (!valid_config(&full))
        return TTT_ERR_INVALID_ARG;
    cfg = &full;
    ttt_anomaly *a = calloc(1, sizeof *a);
    if (!a)
        return TTT_ERR_NOMEM;
    memcpy(&a->cfg, cfg, sizeof *cfg);
    a->k = cfg->k;
    a->margin = cfg->range_margin;
    /* averages overlap by short_window - 1 tokens: fewer than short_window
     * of them hold barely one independent sample */
    uint32_t w = cfg->refit_every > cfg->short_window ? cfg->refit_every : cfg->short_window;
    a->warmup = w < cfg->long_window ? w : cfg->long_window;
    /* windows are capped at 2^24, so these products cannot overflow */
    a->shortw = calloc(cfg->short_window, sizeof *a->shortw);
    a->longw = calloc(cfg->long_window, sizeof *a->longw);
    if (cfg->hold) {
        a->hold_v = calloc((size_t)cfg->hold + 1, sizeof *a->hold_v);
        a->hold_t = calloc((size_t)cfg->hold + 1, sizeof *a->hold_t);
    }
    if (!a->shortw || !a->longw || (cfg->hold && (!a->hold_v || !a->hold_t))) {
        ttt_anomaly_destroy(a);
        return TTT_ERR_NOMEM;
    }
    *out = a;
    return TTT_OK;
}

void ttt_anomaly_destroy(ttt_anomaly *a)
{
    if (!a)
        return;
    free(a->shortw);
    free(a->longw);
    free(a->hold_v);
    free(a->hold_t);
    free(a);
}

int ttt_anomaly_reset(ttt_anomaly *a)
{
    if (!a)
        return TTT_ERR_INVALID_ARG;
    memset(a->shortw, 0, a->cfg.short_window * sizeof *a->shortw);
    memset(a->longw, 0, a->cfg.long_window * sizeof *a->longw);
    a->count = 0;
    a->mean = 0.0;
    a->short_pos = 0;
    a->short_sum = 0.0;
    a->long_pos = a->long_n = 0;
    a->long_sum = a->long_sq = 0.0;
    a->fitted = 0;
    a->since_fit = 0;
    a->fit_mean = a->fit_std = 0.0;
    a->have_range = 0;
    a->lo = a->hi = 0.0;
    a->hold_head = a->hold_len = 0;
    a->scored = 0;
    return TTT_OK;
}

static int range_reads_x(const ttt_anomaly *a, size_t width)
{
    return a->margin > 0.0 && width > 0;
}

/* Step 1: a_t from the mean of earlier surprises, then the mean moves on. */
static double calibrate(ttt_anomaly *a, double s)
{
    double c;
    if (a->count == 0) {
        c = 0.0;
    } else {
        const double km = a->k * a->mean;
        c = km > 0.0 ? s / (s + km) : (s > 0.0 ? 1.0 : 0.0);
    }
    a->count++;
    const uint64_t div = a->count < a->cfg.mean_window ? a->count : a->cfg.mean_window;
    a->mean += (s - a->mean) / (double)div;
    return c;
}

/* Running sums drift by a rounding per token; recomputing them whenever a
 * ring wraps bounds the drift to one window's worth, forever. */
static void push_short(ttt_anomaly *a, double c)
{
    a->short_sum += c - a->shortw[a->short_pos];
    a->shortw[a->short_pos] = c;
    if (++a->short_pos == a->cfg.short_window) {
        a->short_pos = 0;
        double sum = 0.0;
        for (uint32_t i = 0; i < a->cfg.short_window; i++)
            sum += a->shortw[i];
        a->short_sum = sum;
    }
}

static void push_long(ttt_anomaly *a, double v)
{
    const double old = a->longw[a->long_pos];
    a->long_sum += v - old;
    a->long_sq += v * v - old * old;
    a->longw[a->long_pos] = v;
    if (a->long_n < a->cfg.long_window)
        a->long_n++;
    if (++a->long_pos == a->cfg.long_window) {
        a->long_pos = 0;
        double sum = 0.0, sq = 0.0;
        for (uint32_t i = 0; i < a->cfg.long_window; i++) {
            sum += a->longw[i];
            sq += a->longw[i] * a->longw[i];
        }
        a->long_sum = sum;
        a->long_sq = sq;
    }
}

static void fit(ttt_anomaly *a)
{
    const double n = (double)a->long_n;
    const double mean = a->long_sum / n;
    double var = a->long_sq / n - mean * mean;
    if (var < 0.0)
        var = 0.0;
    const double sd = sqrt(var);
    a->fit_mean = mean;
    a->fit_std = sd > STD_FLOOR ? sd : STD_FLOOR;
    a->fitted = 1;
    a->since_fit = 0;
}

/* HTM's computeLogLikelihood of the Gaussian tail probability of avg. */
static double log_likelihood(const ttt_anomaly *a, double avg)
{
    const double z = (avg - a->fit_mean) / a->fit_std;
    const double q = 0.5 * erfc(z * 0.70710678118654752440);
    const double l = 1.0 - q;
    const double r = log(1.0000000001 - l) / log(1.0 - 0.9999999999);
    return r < 0.0 ? 0.0 : r > 1.0 ? 1.0 : r;
}

/* The smallest and largest of a token's values; 0 when a value is NaN or
 * infinite (all exponent bits set). Four lanes break the compare-select
 * dependency chain; min and max are exact, so the lanes change no result. */
static int token_range(const float *x, size_t width, float *mn, float *mx)
{
    float lo[4], hi[4];
    uint32_t special = 0;
    for (size_t l = 0; l < 4; l++)
        lo[l] = hi[l] = x[0];
    for (size_t i = 0; i < width; i += 4) {
        for (size_t l = 0; l < 4 && i + l < width; l++) {
            const float v = x[i + l];
            uint32_t b;
            memcpy(&b, &v, sizeof b);
            special |= (b & 0x7f800000u) == 0x7f800000u;
            lo[l] = v < lo[l] ? v : lo[l];
            hi[l] = v > hi[l] ? v : hi[l];
        }
    }
    for (size_t l = 1; l < 4; l++) {
        lo[0] = lo[l] < lo[0] ? lo[l] : lo[0];
        hi[0] = hi[l] > hi[0] ? hi[l] : hi[0];
    }
    *mn = lo[0];
    *mx = hi[0];
    return !special;
}

/* Step 5: 1 when a value leaves [lo, hi] by more than margin * (hi - lo);
 * the token's values then widen the range. */
static double range_rule(ttt_anomaly *a, double mn, double mx, int active)
{
    if (!a->have_range) {
        a->lo = mn;
        a->hi = mx;
        a->have_range = 1;
    }
    const double slack = a->margin * (a->hi - a->lo);
    const int out = mn < a->lo - slack || mx > a->hi + slack;
    if (mn < a->lo)
        a->lo = mn;
    if (mx > a->hi)
        a->hi = mx;
    return active && out ? 1.0 : 0.0;
}

/* Step 7: v unless one of the last hold raw scores is >= v, then v joins
 * them. Each value enters and leaves the queue once: O(1) per token. */
static double hold_rule(ttt_anomaly *a, double v)
{
    const uint32_t cap = a->cfg.hold + 1;
    const uint64_t t = a->scored++;
    /* drop the head once it is older than the last hold tokens */
    if (a->hold_len && a->hold_t[a->hold_head] + a->cfg.hold < t) {
        a->hold_head = a->hold_head + 1 == cap ? 0 : a->hold_head + 1;
        a->hold_len--;
    }
    const double out = a->hold_len && a->hold_v[a->hold_head] >= v ? 0.0 : v;
    /* values no larger than v can never be the maximum again */
    while (a->hold_len) {
        uint32_t tail = a->hold_head + a->hold_len - 1;
        tail = tail >= cap ? tail - cap : tail;
        if (a->hold_v[tail] > v)
            break;
        a->hold_len--;
    }
    uint32_t pos = a->hold_head + a->hold_len;
    pos = pos >= cap ? pos - cap : pos;
    a->hold_v[pos] = v;
    a->hold_t[pos] = t;
    a->hold_len++;
    return out;
}

int ttt_anomaly_update(ttt_anomaly *a, const float *surprise, const float *x,
                       size_t width, size_t n, float *score, float *calibrated)
{
    size_t values;
    if (!a || !surprise || !score || n == 0)
        return TTT_ERR_INVALID_ARG;
    const int use_x = range_reads_x(a, width);
    if (use_x && !x)
        return TTT_ERR_INVALID_ARG;
    if (use_x && ttt_mul_size(n, width, &values))
        return TTT_ERR_OVERFLOW;
    /* validated whole before anything changes */
    for (size_t i = 0; i < n; i++)
        if (surprise[i] < 0.0f)
            return TTT_ERR_INVALID_ARG;

    for (size_t i = 0; i < n; i++) {
        float mn = 0.0f, mx = 0.0f;
        if (!isfinite(surprise[i]) || (use_x && !token_range(x + i * width, width, &mn, &mx))) {
            score[i] = NAN;
            if (calibrated)
                calibrated[i] = NAN;
            continue;
        }
        const double c = calibrate(a, surprise[i]);
        if (calibrated)
            calibrated[i] = (float)c;
        push_short(a, c);
        double ll = 0.0;
        if (a->count >= a->cfg.short_window) {
            const double avg = a->short_sum / (double)a->cfg.short_window;
            if (a->fitted ? a->since_fit >= a->cfg.refit_every : a->long_n >= a->warmup)
                fit(a);
            if (a->fitted) {
                ll = log_likelihood(a, avg);
                a->since_fit++;
            }
            push_long(a, avg);
        }
        const double rr = use_x ? range_rule(a, mn, mx, a->fitted) : 0.0;
        const double raw = ll > rr ? ll : rr;
        score[i] = (float)(a->cfg.hold ? hold_rule(a, raw) : raw);
    }
    return TTT_OK;
}
