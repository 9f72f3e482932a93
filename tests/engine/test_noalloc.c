/*
 * No heap allocation on the streaming path: malloc and friends are
 * interposed in this executable (libbitttt's calls resolve to them), and
 * counted around steady-state forward calls of every shape of call.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <bitttt/bitttt.h>

#include "tap.h"

#include "alloc_counter.h"

int main(void)
{
#if !ALLOC_COUNTER_ACTIVE
    tap_skip(ALLOC_COUNTER_WHY);
#else
    static const size_t dims[] = {4, 64, 128, 1024, 2048}; /* 2048: the chunked recurrence */
    static float in[300 * 2048], out[300 * 2048], s[300];
    test_fill(in, sizeof in / sizeof *in);
    in[7 * 64 + 3] = 0.0f / 0.0f; /* a skipped token takes its own path */
    for (size_t k = 0; k < sizeof dims / sizeof *dims; k++) {
        const size_t D = dims[k];
        long before = n_alloc;
        void *m = ttt_create(D, 0.1f);
        tap_ok(n_alloc > before, "D %zu: creation allocates (%ld calls), so the counter works", D, n_alloc - before);
        before = n_alloc;
        ttt_forward_ex(m, in, 300, out, s);
        for (size_t n = 1; n < 40; n++)
            ttt_forward_ex(m, in, n, out, n % 2 ? s : NULL);
        ttt_forward(m, out, 100, out);
        ttt_set_learning(m, 0);
        ttt_forward(m, in, 33, out);
        ttt_reset(m);
        ttt_forward(m, in, 5, out);
        tap_ok(n_alloc == before, "D %zu: forward, reset and settings allocate nothing (%ld calls)", D, n_alloc - before);
        ttt_destroy(m);
    }
#endif
    return tap_done();
}
