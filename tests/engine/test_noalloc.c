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

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#ifndef UNDER_ASAN
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static volatile long n_alloc;

void *malloc(size_t n)
{
    n_alloc++;
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    n_alloc++;
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    n_alloc++;
    return __libc_realloc(p, n);
}

int posix_memalign(void **p, size_t align, size_t n)
{
    n_alloc++;
    *p = __libc_memalign(align, n);
    return *p ? 0 : 12 /* ENOMEM */;
}
#endif

int main(void)
{
#ifdef UNDER_ASAN
    tap_skip("the sanitizer owns malloc; counted in the plain build");
#else
    static const size_t dims[] = {4, 64, 128, 1024};
    static float in[300 * 1024], out[300 * 1024], s[300];
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
