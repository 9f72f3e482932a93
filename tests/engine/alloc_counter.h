/*
 * Counts heap allocations: malloc and friends are interposed in the test
 * executable, so the calls of libbitttt, GLib and GStreamer resolve to these
 * and go through the counter. Include it in exactly one file per program.
 * Under AddressSanitizer, which owns malloc, and on Windows nothing is
 * interposed: ALLOC_COUNTER_ACTIVE is 0 and tests skip their allocation
 * checks, saying why (ALLOC_COUNTER_WHY).
 */
#ifndef BITTTT_TESTS_ALLOC_COUNTER_H
#define BITTTT_TESTS_ALLOC_COUNTER_H

#include <stddef.h>

#if defined(_WIN32)
/* a DLL's imports are bound to msvcrt.dll: the program cannot interpose */
#define ALLOC_COUNTER_ACTIVE 0
#define ALLOC_COUNTER_WHY "a Windows DLL's malloc cannot be interposed; counted on Linux"
#elif defined(__SANITIZE_ADDRESS__)
#define ALLOC_COUNTER_ACTIVE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALLOC_COUNTER_ACTIVE 0
#endif
#endif
#ifndef ALLOC_COUNTER_ACTIVE
#define ALLOC_COUNTER_ACTIVE 1
#endif
#ifndef ALLOC_COUNTER_WHY
#define ALLOC_COUNTER_WHY "the sanitizer owns malloc; counted in the plain build"
#endif

static volatile long n_alloc;

#if ALLOC_COUNTER_ACTIVE
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

void *malloc(size_t n);
void *calloc(size_t a, size_t b);
void *realloc(void *p, size_t n);
int posix_memalign(void **p, size_t align, size_t n);

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

#endif
