/*
 * ttt_anomaly: contracts, bad input, warm-up, behaviour on stationary and
 * changing streams, causality, split invariance, the range rule, skipped
 * tokens, and no allocation on update (malloc interposed as in
 * test_noalloc.c). Numbers against the numpy reference are checked in
 * tests/reference/test_anomaly.py.
 */
#define _GNU_SOURCE
#include <float.h>
#include <math.h> /* classification macros only */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bitttt/bitttt.h>

#include "tap.h"

#include "alloc_counter.h"

#define N 20000
#define W 3

static float sur[N], xs[N * W], sc[N], sc2[N], cal[N], cal2[N];

/* ln u for u in (0, 1], without libm (the engine tests link only
 * libbitttt): u = m 2^-e with m in [1, 2), ln m = 2 atanh((m-1)/(m+1)) */
static double test_log(double u)
{
    int e = 0;
    while (u < 1.0) {
        u *= 2.0;
        e++;
    }
    const double y = (u - 1.0) / (u + 1.0), y2 = y * y;
    double term = y, sum = 0.0;
    for (int k = 1; k < 60; k += 2) {
        sum += term / k;
        term *= y2;
    }
    return 2.0 * sum - e * 0.69314718055994530942;
}

/* i.i.d. exponential(1) surprises */
static float test_expf(void)
{
    return (float)-test_log(1.0 - (test_randf() + 1.0) / 2.0);
}

static ttt_anomaly *make(float margin)
{
    ttt_anomaly_config cfg;
    ttt_anomaly_config_default(&cfg);
    cfg.range_margin = margin;
    ttt_anomaly *a = NULL;
    if (ttt_anomaly_create(&cfg, &a) != TTT_OK)
        return NULL;
    return a;
}

static int run(float margin, const float *s, const float *x, size_t n, float *score, float *c)
{
    ttt_anomaly *a = make(margin);
    int r = a ? ttt_anomaly_update(a, s, x, W, n, score, c) : -100;
    ttt_anomaly_destroy(a);
    return r;
}

static int same(const float *p, const float *q, size_t n)
{
    return memcmp(p, q, n * sizeof *p) == 0;
}

static int bad_config(void (*edit)(ttt_anomaly_config *), const char *what)
{
    ttt_anomaly_config cfg;
    ttt_anomaly_config_default(&cfg);
    edit(&cfg);
    ttt_anomaly *a = (ttt_anomaly *)&cfg;
    int r = ttt_anomaly_create(&cfg, &a);
    return tap_ok(r == TTT_ERR_INVALID_ARG && a == NULL, "create rejects %s", what);
}

static void k_zero(ttt_anomaly_config *c) { c->k = 0.0f; }
static void k_neg(ttt_anomaly_config *c) { c->k = -1.0f; }
static void k_nan(ttt_anomaly_config *c) { c->k = NAN; }
static void k_inf(ttt_anomaly_config *c) { c->k = INFINITY; }
static void mean0(ttt_anomaly_config *c) { c->mean_window = 0; }
static void short0(ttt_anomaly_config *c) { c->short_window = 0; }
static void long0(ttt_anomaly_config *c) { c->long_window = 0; }
static void refit0(ttt_anomaly_config *c) { c->refit_every = 0; }
static void long_huge(ttt_anomaly_config *c) { c->long_window = UINT32_MAX; }
static void short_huge(ttt_anomaly_config *c) { c->short_window = TTT_ANOMALY_MAX_WINDOW + 1; }
static void margin_neg(ttt_anomaly_config *c) { c->range_margin = -0.1f; }
static void margin_nan(ttt_anomaly_config *c) { c->range_margin = NAN; }
static void margin_inf(ttt_anomaly_config *c) { c->range_margin = INFINITY; }
static void size_small(ttt_anomaly_config *c) { c->struct_size = 4; }
static void hold_huge(ttt_anomaly_config *c) { c->hold = TTT_ANOMALY_MAX_WINDOW + 1; }

static void test_config(void)
{
    ttt_anomaly_config cfg;
    memset(&cfg, 0xff, sizeof cfg);
    ttt_anomaly_config_default(&cfg);
    tap_ok(cfg.struct_size == sizeof cfg && cfg.k == 30.0f && cfg.mean_window == 1000 &&
           cfg.short_window == 10 && cfg.long_window == 2000 && cfg.refit_every == 100 &&
           cfg.range_margin == 0.0f && cfg.hold == 0, "defaults as documented");
    ttt_anomaly_config_default(NULL);
    ttt_anomaly *a = (ttt_anomaly *)&cfg;
    tap_ok(ttt_anomaly_create(NULL, &a) == TTT_ERR_INVALID_ARG && a == NULL, "create(NULL cfg)");
    tap_ok(ttt_anomaly_create(&cfg, NULL) == TTT_ERR_INVALID_ARG, "create(NULL out)");
    bad_config(k_zero, "K = 0");
    bad_config(k_neg, "K < 0");
    bad_config(k_nan, "K = NaN");
    bad_config(k_inf, "K = Inf");
    bad_config(mean0, "mean_window 0");
    bad_config(short0, "short_window 0");
    bad_config(long0, "long_window 0");
    bad_config(refit0, "refit_every 0");
    bad_config(long_huge, "long_window UINT32_MAX");
    bad_config(short_huge, "short_window 2^24 + 1");
    bad_config(margin_neg, "margin < 0");
    bad_config(margin_nan, "margin NaN");
    bad_config(margin_inf, "margin Inf");
    bad_config(size_small, "struct_size 4");
    bad_config(hold_huge, "hold 2^24 + 1");
    ttt_anomaly_destroy(NULL);
    tap_ok(ttt_anomaly_reset(NULL) == TTT_ERR_INVALID_ARG, "reset(NULL); destroy(NULL) is a no-op");
}

static void test_bad_update(void)
{
    ttt_anomaly *a = make(0.1f), *fresh = make(0.1f);
    float s[4] = {1, 2, 3, 4}, x[4 * W] = {0}, out[4] = {-7, -7, -7, -7};
    tap_ok(ttt_anomaly_update(NULL, s, x, W, 4, out, NULL) == TTT_ERR_INVALID_ARG, "update(NULL scorer)");
    tap_ok(ttt_anomaly_update(a, NULL, x, W, 4, out, NULL) == TTT_ERR_INVALID_ARG, "update(NULL surprise)");
    tap_ok(ttt_anomaly_update(a, s, x, W, 4, NULL, NULL) == TTT_ERR_INVALID_ARG, "update(NULL score)");
    tap_ok(ttt_anomaly_update(a, s, x, W, 0, out, NULL) == TTT_ERR_INVALID_ARG, "update(n = 0)");
    tap_ok(ttt_anomaly_update(a, s, NULL, W, 4, out, NULL) == TTT_ERR_INVALID_ARG,
           "update(NULL x) while the range rule needs it");
    tap_ok(ttt_anomaly_update(a, s, x, SIZE_MAX / 2, 4, out, NULL) == TTT_ERR_OVERFLOW,
           "update: n * width overflows");
    s[2] = -1.0f;
    tap_ok(ttt_anomaly_update(a, s, x, W, 4, out, NULL) == TTT_ERR_INVALID_ARG, "update(negative surprise)");
    s[2] = -FLT_MIN;
    tap_ok(ttt_anomaly_update(a, s, x, W, 4, out, NULL) == TTT_ERR_INVALID_ARG, "update(surprise -FLT_MIN)");
    tap_ok(out[0] == -7 && out[3] == -7, "failed calls write nothing");
    s[2] = -0.0f;
    float o1[4], o2[4];
    tap_ok(ttt_anomaly_update(a, s, x, W, 4, o1, NULL) == TTT_OK &&
           ttt_anomaly_update(fresh, s, x, W, 4, o2, NULL) == TTT_OK && same(o1, o2, 4),
           "after failed calls the scorer is as new; -0 is a valid surprise");
    ttt_anomaly_destroy(a);
    ttt_anomaly_destroy(fresh);

    a = make(0.0f);
    tap_ok(a && ttt_anomaly_update(a, s, NULL, W, 4, o1, NULL) == TTT_OK, "range rule off: x may be NULL");
    ttt_anomaly_destroy(a);
    a = make(0.5f);
    tap_ok(a && ttt_anomaly_update(a, s, NULL, 0, 4, o1, NULL) == TTT_OK, "width 0: x may be NULL");
    ttt_anomaly_destroy(a);
}

static void test_range_of_scores(void)
{
    static const float wild[] = {0, 0, FLT_MAX, 1e-45f, 0, 1e30f, NAN, INFINITY, 1, 0, FLT_MAX,
                                 FLT_MAX, 1e-38f, 3, NAN, 0, 0, 0, 1e20f};
    const size_t nw = sizeof wild / sizeof *wild;
    for (size_t i = 0; i < N; i++) {
        sur[i] = i % 7 == 3 ? wild[(i / 7) % nw] : test_expf() * (i / 500 % 2 ? 1e6f : 1e-6f);
        for (size_t j = 0; j < W; j++)
            xs[i * W + j] = i % 13 == 5 ? (i % 3 ? FLT_MAX : -FLT_MAX) : test_randf() * (float)(i % 50);
    }
    int ok = run(0.05f, sur, xs, N, sc, cal) == TTT_OK, in_range = 1, nan_ok = 1;
    for (size_t i = 0; i < N; i++) {
        if (isnan(sc[i]) != !isfinite(sur[i]) || isnan(cal[i]) != isnan(sc[i]))
            nan_ok = 0;
        if (!isnan(sc[i]) && !(sc[i] >= 0.0f && sc[i] <= 1.0f && cal[i] >= 0.0f && cal[i] <= 1.0f))
            in_range = 0;
    }
    tap_ok(ok && in_range, "wild stream (0, denormals, FLT_MAX, 1e±6 regimes): scores and a in [0, 1]");
    tap_ok(ok && nan_ok, "NaN exactly for the non-finite surprises");
}

/* defaults: warm-up = min(2000, max(100, 10)) = 100 averages; the first
 * average is at the 10th token, so the 110th token is the first scored */
static void test_warmup(void)
{
    float v = 1.0f;
    for (size_t i = 0; i < 300; i++, v *= 1.1f) {
        sur[i] = test_expf();
        for (size_t j = 0; j < W; j++)
            xs[i * W + j] = v; /* 1.1^i: every token leaves the range by > 1% */
    }
    sur[60] = 1e6f; /* a huge spike inside the warm-up */
    int ok = run(0.01f, sur, xs, 300, sc, cal) == TTT_OK, zero = 1;
    for (size_t i = 0; i < 109; i++)
        zero &= sc[i] == 0.0f;
    tap_ok(ok && cal[0] == 0.0f, "first token: no past, a = 0");
    tap_ok(ok && zero, "warm-up: tokens 0..108 score 0 (spike at 60, range broken every token)");
    tap_ok(ok && sc[109] == 1.0f && sc[299] == 1.0f, "token 109 is scored (range rule: 1)");

    sur[60] = test_expf();
    for (size_t i = 40; i < 50; i++)
        sur[i] = NAN;
    ok = run(0.0f, sur, NULL, 300, sc, cal) == TTT_OK;
    zero = 1;
    for (size_t i = 0; i < 119; i++)
        zero &= sc[i] == 0.0f || isnan(sc[i]);
    tap_ok(ok && zero && sc[119] > 0.0f && sc[119] <= 1.0f,
           "skipped tokens do not count towards the warm-up (first score at 119: %g)", sc[119]);
}

static int cmp_float(const void *p, const void *q)
{
    const float a = *(const float *)p, b = *(const float *)q;
    return (a > b) - (a < b);
}

/*
 * A score above 0.5 means Q < 1e-5, z > 4.26. The average of 10 i.i.d. a
 * from exponential surprises is skewed, roughly Gamma(10): its tail beyond
 * 4.26 standard deviations holds about 1.5e-4, not the Gaussian 1e-5. A
 * bound of 1e-2 leaves a factor of ~60 for the noise of the fitted mean
 * and std (2000 overlapping averages, refitted every 100).
 */
static void test_stationary(void)
{
    for (size_t i = 0; i < N; i++)
        sur[i] = test_expf() * 0.37f;
    int ok = run(0.0f, sur, NULL, N, sc, NULL) == TTT_OK;
    size_t above = 0;
    for (size_t i = 0; i < N; i++)
        above += sc[i] > 0.5f;
    memcpy(sc2, sc, sizeof sc);
    qsort(sc2, N, sizeof *sc2, cmp_float);
    const float p99 = sc2[N * 99 / 100];
    tap_ok(ok && above < N / 100, "stationary exponential stream: %zu of %d scores > 0.5 (< 1%%)", above, N);
    tap_ok(ok && p99 < 0.5f, "stationary: 99th percentile %g < 0.5", p99);
}

/* x10 surprise: a jumps from ~1/31 to ~10/40 and the 10-token average
 * climbs by ~0.02 per token against a std of ~0.01: z > 6 within a few */
static void test_step(void)
{
    for (size_t i = 0; i < 6000; i++)
        sur[i] = test_expf() * (i >= 5000 ? 10.0f : 1.0f);
    int ok = run(0.0f, sur, NULL, 6000, sc, NULL) == TTT_OK;
    size_t first = 0;
    while (first < 10 && !(sc[5000 + first] > 0.9f))
        first++;
    tap_ok(ok && first < 10, "x10 step at 5000: score > 0.9 after %zu tokens (< 10)", first);
}

static void fill_mixed(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sur[i] = i % 97 == 5 ? NAN : test_expf() * (i > 3000 ? 4.0f : 1.0f);
        for (size_t j = 0; j < W; j++)
            xs[i * W + j] = test_randf() * (i % 400 == 399 ? 3.0f : 1.0f);
    }
}

static void test_causality_and_splits(void)
{
    const size_t n = 6000, T = 3500;
    fill_mixed(n);
    int ok = run(0.2f, sur, xs, n, sc, cal) == TTT_OK;
    for (size_t i = T + 1; i < n; i++) {
        sur[i] = i % 5 ? test_expf() * 1000.0f : NAN;
        for (size_t j = 0; j < W; j++)
            xs[i * W + j] = test_randf() * 100.0f;
    }
    ok &= run(0.2f, sur, xs, n, sc2, cal2) == TTT_OK;
    tap_ok(ok && same(sc, sc2, T + 1) && same(cal, cal2, T + 1) && !same(sc, sc2, n),
           "causal: the future changed after %zu, scores 0..%zu bit-identical", T, T);

    ttt_anomaly *a = make(0.2f);
    ok = a != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = ttt_anomaly_update(a, sur + i, xs + i * W, W, 1, sc + i, cal + i) == TTT_OK;
    tap_ok(ok && same(sc, sc2, n) && same(cal, cal2, n), "n = 1 calls == one call, bit for bit");
    ttt_anomaly_reset(a);
    size_t i = 0, step = 1;
    while (ok && i < n) {
        size_t m = step < n - i ? step : n - i;
        ok = ttt_anomaly_update(a, sur + i, xs + i * W, W, m, sc + i, NULL) == TTT_OK;
        i += m;
        step = step * 7 % 101 + 1;
    }
    tap_ok(ok && same(sc, sc2, n), "uneven calls after reset == one call on a fresh scorer");
    ttt_anomaly_destroy(a);
}

static void test_range_rule(void)
{
    const size_t n = 400;
    for (size_t i = 0; i < n; i++) {
        sur[i] = test_expf();
        for (size_t j = 0; j < W; j++)
            xs[i * W + j] = test_randf() * 0.99f;
    }
    xs[0] = -1.0f; /* range [-1, 1]: span 2, margin 0.5, bounds [-2, 2] */
    xs[1] = 1.0f;
    static const float probe[] = {2.01f, -2.01f, 1.99f, -1.99f, 2.0f, -2.0f};
    static const int fires[] = {1, 1, 0, 0, 0, 0};
    const size_t T = 300;
    for (size_t p = 0; p < sizeof probe / sizeof *probe; p++) {
        xs[T * W + 2] = probe[p];
        int ok = run(0.5f, sur, xs, n, sc, NULL) == TTT_OK;
        if (fires[p])
            tap_ok(ok && sc[T] == 1.0f, "range [-1, 1], margin 0.5: %g fires (score 1)", probe[p]);
        else
            tap_ok(ok && sc[T] < 0.9f, "range [-1, 1], margin 0.5: %g does not (score %g)", probe[p], sc[T]);
    }
    xs[T * W + 2] = 3.0f;
    int ok = run(0.5f, sur, xs, n, sc, NULL) == TTT_OK;
    ok &= run(0.0f, sur, xs, n, sc2, NULL) == TTT_OK;
    tap_ok(ok && sc[T] == 1.0f && sc2[T] < 0.9f && same(sc, sc2, T), "margin 0 disables the rule");
    xs[(T + 1) * W] = 3.5f; /* within [-1, 3] widened by 2: the range learns */
    ok = run(0.5f, sur, xs, n, sc, NULL) == TTT_OK;
    tap_ok(ok && sc[T + 1] < 0.9f, "an outlier widens the range for later tokens");
}

static void test_skipped(void)
{
    const size_t n = 3000;
    fill_mixed(n);
    for (size_t i = 0; i < n; i++)
        if (isnan(sur[i]))
            sur[i] = 1.0f;
    /* the same stream with tokens inserted, in turn: a NaN surprise, an Inf
     * surprise, a NaN value (skipped because the rule reads x) */
    static float s2[3100], x2[3100 * W];
    static unsigned char inserted[3100];
    size_t m = 0, bad_surprise = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 50 == 7) {
            const int kind = (int)(i / 50 % 3);
            s2[m] = kind == 0 ? NAN : kind == 1 ? INFINITY : 2.0f;
            bad_surprise += kind != 2;
            for (size_t j = 0; j < W; j++)
                x2[m * W + j] = kind == 2 && j == 1 ? NAN : 1e30f;
            inserted[m++] = 1;
        }
        s2[m] = sur[i];
        memcpy(x2 + m * W, xs + i * W, W * sizeof *xs);
        inserted[m++] = 0;
    }
    int ok = run(0.2f, sur, xs, n, sc, cal) == TTT_OK;
    ok &= run(0.2f, s2, x2, m, sc2, cal2) == TTT_OK;
    size_t k = 0;
    int match = 1;
    for (size_t i = 0; i < m; i++) {
        if (inserted[i]) {
            match &= isnan(sc2[i]) && isnan(cal2[i]);
            continue;
        }
        match &= memcmp(&sc2[i], &sc[k], sizeof *sc) == 0 && memcmp(&cal2[i], &cal[k], sizeof *cal) == 0;
        k++;
    }
    tap_ok(ok && match && k == n,
           "%zu skipped tokens (NaN/Inf surprise, NaN value) score NaN and change nothing", m - n);
    /* with the rule off the values are not read: a NaN value is no reason to skip */
    ok = run(0.0f, s2, x2, m, sc2, NULL) == TTT_OK;
    size_t nans = 0;
    for (size_t i = 0; i < m; i++)
        nans += isnan(sc2[i]) != 0;
    tap_ok(ok && nans == bad_surprise, "range rule off: only the %zu non-finite surprises skip (%zu)",
           bad_surprise, nans);
}

static void test_noalloc(void)
{
#if !ALLOC_COUNTER_ACTIVE
    tap_skip(ALLOC_COUNTER_WHY);
#else
    fill_mixed(5000);
    long before = n_alloc;
    ttt_anomaly *a = make(0.1f);
    tap_ok(a && n_alloc > before, "creation allocates (%ld calls), so the counter works", n_alloc - before);
    before = n_alloc;
    ttt_anomaly_update(a, sur, xs, W, 5000, sc, cal);
    for (size_t i = 1; i < 100; i++)
        ttt_anomaly_update(a, sur + i, xs, W, i, sc, i % 2 ? cal : NULL);
    ttt_anomaly_reset(a);
    ttt_anomaly_update(a, sur, NULL, 0, 3000, sc, NULL);
    tap_ok(n_alloc == before, "update and reset allocate nothing (%ld calls)", n_alloc - before);
    ttt_anomaly_destroy(a);
#endif
}

/* hold: the scores with hold = H are those without it, zeroed where one of
 * the H previous non-skipped scores is as large; checked by a plain scan. A
 * 1.1-sized config (no hold field) scores as hold = 0. */
static void test_hold(void)
{
    static float held[N];
    const uint32_t holds[] = {1, 5, 300};
    fill_mixed(6000);
    for (size_t i = 2000; i < 2040; i++)
        sur[i] *= 40.0f;
    ttt_anomaly_config cfg;
    ttt_anomaly_config_default(&cfg);
    cfg.short_window = 2;
    cfg.long_window = 300;
    cfg.refit_every = 20;
    ttt_anomaly *a = NULL;
    int ok = ttt_anomaly_create(&cfg, &a) == TTT_OK &&
             ttt_anomaly_update(a, sur, NULL, 0, 6000, sc, NULL) == TTT_OK;
    ttt_anomaly_destroy(a);
    cfg.hold = 77;
    cfg.struct_size = TTT_ANOMALY_CONFIG_SIZE_1_1;
    a = NULL;
    ok = ok && ttt_anomaly_create(&cfg, &a) == TTT_OK &&
         ttt_anomaly_update(a, sur, NULL, 0, 6000, held, NULL) == TTT_OK;
    ttt_anomaly_destroy(a);
    tap_ok(ok && same(sc, held, 6000), "a 1.1-sized config ignores the bytes past it: hold 0");
    cfg.struct_size = sizeof cfg;
    for (size_t h = 0; h < sizeof holds / sizeof holds[0]; h++) {
        cfg.hold = holds[h];
        a = NULL;
        int r = ttt_anomaly_create(&cfg, &a) == TTT_OK;
        for (size_t i = 0; r && i < 6000; i += 611)
            r = ttt_anomaly_update(a, sur + i, NULL, 0, i + 611 <= 6000 ? 611 : 6000 - i,
                                   held + i, NULL) == TTT_OK;
        ttt_anomaly_destroy(a);
        size_t bad = 0, kept = 0, alarms = 0, alarms0 = 0;
        for (size_t i = 0; r && i < 6000; i++) {
            if (isnan(sc[i])) {
                bad += !isnan(held[i]);
                continue;
            }
            float prev = -1.0f;
            size_t seen = 0;
            for (size_t j = i; j-- > 0 && seen < holds[h];) {
                if (isnan(sc[j]))
                    continue;
                prev = sc[j] > prev ? sc[j] : prev;
                seen++;
            }
            const float want = sc[i] > prev ? sc[i] : 0.0f;
            bad += held[i] != want;
            kept += held[i] > 0.0f;
            alarms += held[i] > 0.5f;
            alarms0 += sc[i] > 0.5f;
        }
        tap_ok(r && bad == 0 && alarms < alarms0,
               "hold %u: %zu tokens differ from the scan; %zu non-zero, %zu alarms > 0.5 (%zu without)",
               (unsigned)holds[h], bad, kept, alarms, alarms0);
    }
}

int main(void)
{
    test_config();
    test_bad_update();
    test_range_of_scores();
    test_warmup();
    test_stationary();
    test_step();
    test_causality_and_splits();
    test_range_rule();
    test_skipped();
    test_hold();
    test_noalloc();
    return tap_done();
}
