/*
 * Soak: a long mixed stream through six models (eta 0.001, 1, 2; D 64, 128)
 * to catch what short tests cannot: slow growth of W, counters drifting,
 * memory creeping up.
 *
 *   soak [TOKENS]      TOKENS in total across the models (default 1e7)
 *
 * Inputs come in segments of random kind and length: a periodic pattern,
 * noise, one constant token, zeros, huge tokens (1e30), NaN/Inf bursts; the
 * calls have random lengths. Checked on every call: outputs finite for
 * finite tokens, surprise NaN exactly for the non-finite ones. Every 1e6
 * tokens: W finite and |W| <= 2 (plus rounding slack; 0 <= eta <= 2 keeps
 * ||W - I|| <= 1, see docs/SPEC.md), and VmRSS no more than 1 MiB above its
 * value after the first 1e6 tokens. At the end: counters equal the tokens
 * pushed and the non-finite tokens injected. Exit 1 on any violation.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bitttt/bitttt.h>

#include "state_view.h"

#define NMODELS 6
#define MAX_D 128
#define MAX_CALL 256
#define NPAT 16
#define CHECK_EVERY 1000000ull
#define W_LIMIT 2.01f
#define RSS_SLACK_KB 1024L

enum kind { PERIODIC, NOISE, CONSTANT, ZERO, HUGE, NANBURST, NKINDS };

typedef struct {
    ttt_model *m;
    size_t D, d;
    float eta;
    uint64_t rng;
    float pat[NPAT][MAX_D];
    enum kind kind;
    size_t left, period, phase;   /* of the current segment */
    unsigned long long pushed, injected;
    float max_w, max_sd;          /* largest |W| and surprise * d seen */
    unsigned char *state;
    size_t state_n;
} lane;

static int failures;

static void fail(const char *what, const lane *l, unsigned long long at)
{
    if (failures++ < 20)
        fprintf(stderr, "FAIL: %s (D=%zu eta=%g, after %llu tokens of this model, %llu in all)\n",
                what, l->D, (double)l->eta, l->pushed, at);
}

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static float unif(uint64_t *s) /* [-1, 1) */
{
    return (float)((next(s) >> 40) / 8388608.0 - 1.0);
}

static long vmrss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static void new_segment(lane *l)
{
    l->kind = (enum kind)(next(&l->rng) % NKINDS);
    l->left = 1 + next(&l->rng) % (l->kind == NANBURST ? 50 : 5000);
    l->period = 2 + next(&l->rng) % (NPAT - 1);
    l->phase = next(&l->rng) % NPAT;
}

/* Next token of the lane's stream into x; returns 1 if it is non-finite. */
static int gen_token(lane *l, float *x)
{
    if (l->left == 0)
        new_segment(l);
    l->left--;
    const size_t D = l->D;
    switch (l->kind) {
    case PERIODIC:
        memcpy(x, l->pat[l->phase++ % l->period], D * sizeof *x);
        return 0;
    case CONSTANT:
        memcpy(x, l->pat[l->phase], D * sizeof *x);
        return 0;
    case ZERO:
        memset(x, 0, D * sizeof *x);
        return 0;
    case NOISE:
    case HUGE:
        for (size_t i = 0; i < D; i++)
            x[i] = unif(&l->rng) * (l->kind == HUGE ? 1e30f : 1.0f);
        return 0;
    default:
        for (size_t i = 0; i < D; i++)
            x[i] = unif(&l->rng);
        x[next(&l->rng) % D] = (next(&l->rng) & 1) ? NAN : -INFINITY;
        return 1;
    }
}

static void checkpoint(lane *l, unsigned long long at)
{
    float mx;
    if (ttt_state_save(l->m, l->state, l->state_n, NULL) != TTT_OK)
        fail("state_save failed", l, at);
    else if (!sv_w_scan(l->state, l->d, &mx))
        fail("W holds NaN or Inf", l, at);
    else {
        if (mx > l->max_w)
            l->max_w = mx;
        if (mx > W_LIMIT)
            fail("|W| above its bound", l, at);
    }
}

int main(int argc, char **argv)
{
    const double total_d = argc > 1 ? strtod(argv[1], NULL) : 1e7;
    if (!(total_d >= 1) || total_d > 1e15) {
        fprintf(stderr, "usage: %s [TOKENS]\n", argv[0]);
        return 2;
    }
    const unsigned long long total = (unsigned long long)total_d;
    static const float etas[3] = {0.001f, 1.0f, 2.0f};
    static lane lanes[NMODELS];
    static float in[MAX_CALL * MAX_D], out[MAX_CALL * MAX_D], sur[MAX_CALL];
    static unsigned char bad[MAX_CALL];
    uint64_t call_rng = 0x853c49e6748fea9bu;

    for (int k = 0; k < NMODELS; k++) {
        lane *l = &lanes[k];
        ttt_config c;
        ttt_config_default(&c);
        l->D = c.hidden_dim = k < 3 ? 64 : 128;
        l->d = l->D / 4;
        l->eta = c.inner_lr = etas[k % 3];
        l->rng = 0x9e3779b97f4a7c15u + 0x1000193u * (uint64_t)k;
        if (ttt_create_ex(&c, &l->m) != TTT_OK) {
            fprintf(stderr, "cannot create model %d\n", k);
            return 1;
        }
        for (int p = 0; p < NPAT; p++)
            for (size_t i = 0; i < l->D; i++)
                l->pat[p][i] = unif(&l->rng);
        l->state_n = ttt_state_size(l->m);
        l->state = malloc(l->state_n);
        if (!l->state)
            return 1;
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long long done = 0, next_check = CHECK_EVERY;
    long rss_base = -1, rss_max = 0;
    while (done < total) {
        lane *l = &lanes[next(&call_rng) % NMODELS];
        size_t n = 1 + next(&call_rng) % MAX_CALL;
        if (n > total - done)
            n = (size_t)(total - done);
        for (size_t t = 0; t < n; t++) {
            bad[t] = (unsigned char)gen_token(l, in + t * l->D);
            l->injected += bad[t];
        }
        if (ttt_forward_ex(l->m, in, n, out, sur) != TTT_OK)
            fail("forward failed", l, done);
        for (size_t t = 0; t < n; t++) {
            if ((isnan(sur[t]) != 0) != bad[t])
                fail("surprise NaN for a finite token, or not NaN for a non-finite one", l, done);
            if (bad[t])
                continue;
            if (sur[t] * (float)l->d > l->max_sd)
                l->max_sd = sur[t] * (float)l->d;
            for (size_t i = 0; i < l->D; i++)
                if (!isfinite(out[t * l->D + i])) {
                    fail("non-finite output for a finite token", l, done);
                    break;
                }
        }
        l->pushed += n;
        done += n;
        if (done >= next_check || done == total) {
            next_check += CHECK_EVERY;
            for (int k = 0; k < NMODELS; k++)
                checkpoint(&lanes[k], done);
            const long rss = vmrss_kb();
            if (rss_base < 0)
                rss_base = rss; /* warm: every buffer touched by now */
            if (rss > rss_max)
                rss_max = rss;
            if (rss > rss_base + RSS_SLACK_KB)
                fail("VmRSS grew", l, done);
            if (done % (100 * CHECK_EVERY) < CHECK_EVERY) {
                /* progress of long runs, so a stopped run still tells something */
                printf("# %llu tokens, VmRSS %ld kB, max|W|", done, rss);
                for (int k = 0; k < NMODELS; k++)
                    printf(" %.4f", (double)lanes[k].max_w);
                printf("\n");
                fflush(stdout);
            }
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);

    printf("soak: %llu tokens in %.1f s (%.2f Mtok/s), kernels %s\n", done, secs,
           (double)done / secs / 1e6, ttt_get_kernel_name(lanes[0].m));
    for (int k = 0; k < NMODELS; k++) {
        lane *l = &lanes[k];
        ttt_stats st;
        if (ttt_get_stats(l->m, &st) != TTT_OK || st.tokens_seen != l->pushed || st.tokens_skipped != l->injected)
            fail("counters differ from the tokens pushed and injected", l, done);
        printf("  D=%3zu eta=%-5g tokens %llu, non-finite %llu, skipped %llu, max|W| %.6f, max surprise*d %.6f\n",
               l->D, (double)l->eta, l->pushed, l->injected, (unsigned long long)st.tokens_skipped,
               (double)l->max_w, (double)l->max_sd);
        ttt_destroy(l->m);
        free(l->state);
    }
    printf("  VmRSS after warm-up %ld kB, max %ld kB\n", rss_base, rss_max);
    printf("%s: %d violation(s)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
