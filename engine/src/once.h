/*
 * One-time initialisation, the engine's only threading need: pthread_once,
 * or on Windows the system's own InitOnceExecuteOnce (Vista and later), so
 * the DLL needs no POSIX threads library (libwinpthread-1.dll) beside it.
 */
#ifndef BITTTT_ONCE_H
#define BITTTT_ONCE_H

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
#else
#include <pthread.h>

typedef pthread_once_t ttt_once;
#define TTT_ONCE_INIT PTHREAD_ONCE_INIT

static inline void ttt_once_run(ttt_once *once, void (*fn)(void))
{
    pthread_once(once, fn);
}
#endif

#endif
