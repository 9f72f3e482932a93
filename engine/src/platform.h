/*
 * The engine's few needs from the OS, in one place: one-time initialisation,
 * one mutex and a monotonic clock. POSIX threads and clock_gettime, or on
 * Windows the system's own InitOnceExecuteOnce, SRW locks and
 * QueryPerformanceCounter (Vista and later), so the DLL needs no POSIX
 * threads library (libwinpthread-1.dll) beside it.
 */
#ifndef BITTTT_PLATFORM_H
#define BITTTT_PLATFORM_H

#include <stdint.h>

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

typedef INIT_ONCE ttt_once;
#define TTT_ONCE_INIT INIT_ONCE_STATIC_INIT

/* InitOnceExecuteOnce passes one pointer through; C cannot portably turn a
 * function pointer into a data pointer, so the function travels in a struct. */
struct ttt_once_fn {
    void (*fn)(void);
};

static inline BOOL CALLBACK ttt_once_call(PINIT_ONCE once, PVOID arg, PVOID *ctx)
{
    (void)once;
    (void)ctx;
    ((const struct ttt_once_fn *)arg)->fn();
    return TRUE;
}

static inline void ttt_once_run(ttt_once *once, void (*fn)(void))
{
    struct ttt_once_fn f = { fn };
    InitOnceExecuteOnce(once, ttt_once_call, &f, NULL);
}

/* an SRW lock needs no destruction, so a static one lives for the process */
typedef SRWLOCK ttt_mutex;
#define TTT_MUTEX_INIT SRWLOCK_INIT

static inline void ttt_mutex_lock(ttt_mutex *m)
{
    AcquireSRWLockExclusive(m);
}

static inline void ttt_mutex_unlock(ttt_mutex *m)
{
    ReleaseSRWLockExclusive(m);
}

static inline uint64_t ttt_now_ns(void)
{
    LARGE_INTEGER c, f;
    QueryPerformanceCounter(&c);
    QueryPerformanceFrequency(&f);
    /* split so that counts * 1e9 cannot overflow for any uptime */
    const uint64_t q = (uint64_t)c.QuadPart / (uint64_t)f.QuadPart;
    const uint64_t r = (uint64_t)c.QuadPart % (uint64_t)f.QuadPart;
    return q * 1000000000u + r * 1000000000u / (uint64_t)f.QuadPart;
}
#else
#include <pthread.h>
#include <time.h>

typedef pthread_once_t ttt_once;
#define TTT_ONCE_INIT PTHREAD_ONCE_INIT

static inline void ttt_once_run(ttt_once *once, void (*fn)(void))
{
    pthread_once(once, fn);
}

typedef pthread_mutex_t ttt_mutex;
#define TTT_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER

static inline void ttt_mutex_lock(ttt_mutex *m)
{
    pthread_mutex_lock(m);
}

static inline void ttt_mutex_unlock(ttt_mutex *m)
{
    pthread_mutex_unlock(m);
}

static inline uint64_t ttt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#endif

#endif
