/*
 * The kernel choice by measurement (engine/src/dispatch.c): the setting that
 * turns it off, its cost (bounded), and models created by many threads at
 * once, which must agree on the choice and on every output bit with a model
 * whose kernels were picked by ISA.
 */
#define _POSIX_C_SOURCE 199309L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bitttt/bitttt.h>

#include "tap.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ttt_model *make(size_t D, uint32_t dispatch)
{
    ttt_config cfg;
    ttt_model *m = NULL;
    ttt_config_default(&cfg);
    cfg.hidden_dim = D;
    cfg.dispatch = dispatch;
    return ttt_create_ex(&cfg, &m) == TTT_OK ? m : NULL;
}

/* How long creating the first model of a shape takes beyond creating one
 * by ISA: the cost of measuring. Generous: the design aims at well under
 * 1 ms on a SIMD CPU; a loaded machine slows it several-fold, and the
 * sanitizers (shadow memory for every probe buffer) tenfold more. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MEASURE_BOUND_S 1.0
#else
#define MEASURE_BOUND_S 0.05
#endif

/* the least time of n creations of a model of D, or -1 on failure */
static double least_create(size_t D, uint32_t dispatch, int n, char *name, size_t len)
{
    double least = 1e30;
    for (int i = 0; i < n; i++) {
        const double t0 = now();
        ttt_model *m = make(D, dispatch);
        const double t = now() - t0;
        if (!m)
            return -1.0;
        if (name)
            snprintf(name, len, "%s", ttt_get_kernel_name(m));
        ttt_destroy(m);
        least = t < least ? t : least;
    }
    return least;
}

static void test_cost(void)
{
    static const size_t Ds[] = { 96, 384, 1536 };
    /* what the process pays once (first touch of the kernels and of fresh
     * memory) is not the cost of a shape */
    ttt_destroy(make(40, TTT_DISPATCH_MEASURE));
    for (size_t i = 0; i < sizeof Ds / sizeof Ds[0]; i++) {
        char first[512], again[512];
        /* least of several: a loaded machine only ever adds time */
        const double t_isa = least_create(Ds[i], TTT_DISPATCH_ISA, 5, NULL, 0);
        const double t_first = least_create(Ds[i], TTT_DISPATCH_MEASURE, 1, first, sizeof first);
        const double t_again = least_create(Ds[i], TTT_DISPATCH_MEASURE, 5, again, sizeof again);
        tap_ok(t_isa >= 0 && t_first >= 0 && t_again >= 0, "D=%zu: models", Ds[i]);
        tap_ok(t_first - t_isa < MEASURE_BOUND_S, "D=%zu: measuring costs %.0f us (bound %.0f us)", Ds[i],
               1e6 * (t_first - t_isa), 1e6 * MEASURE_BOUND_S);
        /* the cached choice: no second measurement */
        tap_ok(t_again - t_isa < MEASURE_BOUND_S / 10, "D=%zu: later models cost %.0f us more than by ISA",
               Ds[i], 1e6 * (t_again - t_isa));
        tap_ok(!strcmp(first, again), "D=%zu: later models have the first one's kernels (%s)", Ds[i], first);
    }
}

#define NTHREADS 6
#define NSHAPES 3
#define TOKENS 70
static const size_t g_shapes[NSHAPES] = { 48, 200, 2080 };

typedef struct job {
    int id;
    float *in[NSHAPES];
    float *out[NSHAPES]; /* TOKENS x D each */
    char name[NSHAPES][512];
    int ok;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    j->ok = 1;
    for (int k = 0; k < NSHAPES; k++) {
        const int s = (k + j->id) % NSHAPES; /* every thread in its own order */
        ttt_model *m = make(g_shapes[s], TTT_DISPATCH_MEASURE);
        if (!m || ttt_forward(m, j->in[s], TOKENS, j->out[s]) != TTT_OK)
            j->ok = 0;
        snprintf(j->name[s], sizeof j->name[s], "%s", m ? ttt_get_kernel_name(m) : "");
        ttt_destroy(m);
    }
    return NULL;
}

static void test_threads(void)
{
    job jobs[NTHREADS];
    pthread_t th[NTHREADS];
    int ok = 1;
    float *in[NSHAPES];
    for (int s = 0; s < NSHAPES; s++) {
        in[s] = malloc(TOKENS * g_shapes[s] * sizeof(float));
        ok &= in[s] != NULL;
        if (in[s])
            test_fill(in[s], TOKENS * g_shapes[s]);
    }
    for (int i = 0; i < NTHREADS && ok; i++) {
        jobs[i].id = i;
        for (int s = 0; s < NSHAPES; s++) {
            jobs[i].in[s] = in[s];
            jobs[i].out[s] = malloc(TOKENS * g_shapes[s] * sizeof(float));
            ok &= jobs[i].out[s] != NULL;
        }
    }
    if (!tap_ok(ok, "buffers"))
        return;
    int started = 0;
    for (int i = 0; i < NTHREADS; i++)
        started += pthread_create(&th[i], NULL, worker, &jobs[i]) == 0;
    tap_ok(started == NTHREADS, "%d threads started", started);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    for (int s = 0; s < NSHAPES; s++) {
        const size_t n = TOKENS * g_shapes[s];
        float *ref = malloc(n * sizeof(float));
        ttt_model *m = make(g_shapes[s], TTT_DISPATCH_ISA);
        int same = ref && m && ttt_forward(m, in[s], TOKENS, ref) == TTT_OK, named = 1;
        for (int i = 0; i < started; i++) {
            same &= jobs[i].ok && memcmp(jobs[i].out[s], ref, n * sizeof(float)) == 0;
            named &= !strcmp(jobs[i].name[s], jobs[0].name[s]);
        }
        tap_ok(same, "D=%zu: %d threads' outputs == the model by ISA (%s), bit for bit", g_shapes[s], started,
               m ? ttt_get_kernel_name(m) : "");
        tap_ok(named, "D=%zu: every thread got the same kernels (%s)", g_shapes[s], jobs[0].name[s]);
        ttt_destroy(m);
        free(ref);
    }
    for (int i = 0; i < NTHREADS; i++)
        for (int s = 0; s < NSHAPES; s++)
            free(jobs[i].out[s]);
    for (int s = 0; s < NSHAPES; s++)
        free(in[s]);
}

int main(void)
{
    ttt_config cfg;
    ttt_model *m = NULL;
    ttt_config_default(&cfg);
    tap_ok(cfg.dispatch == TTT_DISPATCH_MEASURE, "measurement is the default");
    cfg.hidden_dim = 64;
    cfg.dispatch = 2;
    tap_ok(ttt_create_ex(&cfg, &m) == TTT_ERR_INVALID_ARG && !m, "an unknown dispatch is rejected");
    m = make(64, TTT_DISPATCH_ISA);
    tap_ok(m && !strchr(ttt_get_kernel_name(m), '='), "by ISA: one table (%s)", m ? ttt_get_kernel_name(m) : "");
    ttt_destroy(m);
    test_cost();
    test_threads();
    return tap_done();
}
