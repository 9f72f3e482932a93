/*
 * The threading rule of bitttt.h: distinct models are independent and may
 * be driven from different threads at once, and the functions without a
 * model are thread-safe. Threads each drive their own model through the
 * same stream (in calls of different lengths) while calling the model-less
 * functions; every thread must produce the single-threaded result bit for
 * bit. Run it under a sanitizer build to catch races in shared state.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <bitttt/bitttt.h>

#include "../engine/tap.h"

#define NTHREADS 4
#define HD 64
#define NTOK 3000

static float in[NTOK * HD], ref[NTOK * HD];
static float out[NTHREADS][NTOK * HD];

static ttt_model *make(void)
{
    ttt_config c;
    ttt_model *m = NULL;
    ttt_config_default(&c);
    c.hidden_dim = HD;
    c.inner_lr = 0.5f;
    return ttt_create_ex(&c, &m) == TTT_OK ? m : NULL;
}

static void *worker(void *arg)
{
    const size_t id = (size_t)arg;
    ttt_model *m = make();
    int bad = !m;
    for (size_t t = 0; !bad && t < NTOK;) {
        size_t n = 1 + (t * 7 + id * 13) % 50;
        if (n > NTOK - t)
            n = NTOK - t;
        bad |= ttt_forward(m, in + t * HD, n, out[id] + t * HD) != TTT_OK;
        /* the model-less functions, racing with the other threads */
        bad |= ttt_cpu_isa() < TTT_ISA_SCALAR || !*ttt_strerror(TTT_ERR_IO) ||
               ttt_version() != TTT_VERSION || !*ttt_version_string();
        t += n;
    }
    ttt_destroy(m);
    return bad ? arg : NULL;
}

int main(void)
{
    test_fill(in, NTOK * HD);
    for (size_t i = 0; i < NTOK * HD; i++)
        in[i] *= (float)(1 + (i / HD) % 5); /* repeats make W learn */
    ttt_model *m = make();
    tap_ok(m && ttt_forward(m, in, NTOK, ref) == TTT_OK, "single-threaded reference");
    ttt_destroy(m);

    pthread_t th[NTHREADS];
    int started = 0;
    for (size_t i = 0; i < NTHREADS; i++)
        started += pthread_create(&th[i], NULL, worker, (void *)i) == 0;
    tap_ok(started == NTHREADS, "%d threads started", started);
    int failed = 0;
    for (int i = 0; i < started; i++) {
        void *r;
        pthread_join(th[i], &r);
        failed += r != NULL;
    }
    tap_ok(failed == 0, "every call in every thread succeeded");
    for (int i = 0; i < started; i++)
        tap_ok(memcmp(out[i], ref, sizeof ref) == 0, "thread %d output equals the reference", i);
    return tap_done();
}
