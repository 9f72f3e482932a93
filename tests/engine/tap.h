/* A tiny TAP producer for the engine tests: plan at the end, one line per check. */
#ifndef BITTTT_TESTS_TAP_H
#define BITTTT_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_n, tap_failed;

static inline int tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;
    printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond)
        tap_failed++;
    return cond;
}

static inline void tap_skip(const char *why)
{
    printf("ok %d # SKIP %s\n", ++tap_n, why);
}

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}



/* Test data: a fixed xorshift stream, so failures reproduce. */
#include <stdint.h>
static uint64_t test_rng = 0x9e3779b97f4a7c15u;

static inline float test_randf(void) /* uniform in [-1, 1) */
{
    test_rng ^= test_rng << 13;
    test_rng ^= test_rng >> 7;
    test_rng ^= test_rng << 17;
    return (float)((test_rng >> 40) / 8388608.0 - 1.0);
}

static inline void test_fill(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = test_randf();
}
#endif
