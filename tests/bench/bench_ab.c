/*
 * A/B of two builds of libbitttt in one process: both libraries are loaded
 * side by side (dlopen, RTLD_LOCAL: each keeps its own symbols), each gets
 * a model of the same shape and the same input, and their ttt_forward()
 * calls alternate, the order swapped every round. A slow spell on a shared
 * machine then hits both sides of a round alike, which two processes run
 * one after the other cannot promise (docs/PERFORMANCE.md).
 *
 *   bench_ab LIB_A LIB_B D [ROUNDS]
 *
 * LIB_A and LIB_B must be different paths (the loader maps one path once):
 * copy one of them if need be. Prints the median ns/token of each and the
 * median over rounds of time(B) / time(A): below 1, B is faster.
 * Environment variables reach both libraries (TTT_FORCE_ISA, TTT_DISPATCH).
 */
#define _POSIX_C_SOURCE 199309L
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define TOKENS 1000
#define MAX_ROUNDS 101

typedef void *(*create_fn)(size_t, float);
typedef int (*forward_fn)(void *, const float *, size_t, float *);
typedef void (*destroy_fn)(void *);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    if (argc < 4 || atoi(argv[3]) < 4 || atoi(argv[3]) % 4) {
        fprintf(stderr, "usage: %s LIB_A LIB_B D [ROUNDS]   (D a multiple of 4)\n", argv[0]);
        return 2;
    }
    const size_t D = (size_t)atoi(argv[3]);
    int rounds = argc > 4 ? atoi(argv[4]) : 15;
    if (rounds < 1 || rounds > MAX_ROUNDS)
        rounds = 15;
    void *model[2];
    forward_fn fwd[2];
    destroy_fn destroy[2];
    for (int k = 0; k < 2; k++) {
        void *h = dlopen(argv[1 + k], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            fprintf(stderr, "bench_ab: %s\n", dlerror());
            return 1;
        }
        create_fn create = (create_fn)dlsym(h, "ttt_create");
        fwd[k] = (forward_fn)dlsym(h, "ttt_forward");
        destroy[k] = (destroy_fn)dlsym(h, "ttt_destroy");
        model[k] = create && fwd[k] && destroy[k] ? create(D, 0.01f) : NULL;
        if (!model[k]) {
            fprintf(stderr, "bench_ab: %s: no model of D = %zu\n", argv[1 + k], D);
            return 1;
        }
    }
    float *in = malloc(sizeof(float) * TOKENS * D), *out = malloc(sizeof(float) * TOKENS * D);
    if (!in || !out)
        return 1;
    /* bench_engine's input: a few repeating patterns with noise */
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < (size_t)TOKENS * D; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        const float noise = (float)(int32_t)(s >> 32) * (1.0f / 2147483648.0f);
        in[i] = (float)((i % (8 * D)) % 7) - 3.0f + 0.2f * noise;
    }
    for (int k = 0; k < 2; k++)
        for (int w = 0; w < 2; w++)
            fwd[k](model[k], in, TOKENS, out);
    double ta[MAX_ROUNDS], tb[MAX_ROUNDS], ratio[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        double t[2];
        for (int i = 0; i < 2; i++) {
            const int k = r & 1 ? 1 - i : i;
            const double t0 = now();
            fwd[k](model[k], in, TOKENS, out);
            t[k] = now() - t0;
        }
        ta[r] = t[0], tb[r] = t[1], ratio[r] = t[1] / t[0];
    }
    printf("D=%zu: A %.1f ns/token, B %.1f ns/token, time B/A %.3f (median of %d alternating rounds)\n", D,
           median(ta, rounds) / TOKENS * 1e9, median(tb, rounds) / TOKENS * 1e9, median(ratio, rounds), rounds);
    for (int k = 0; k < 2; k++)
        destroy[k](model[k]);
    free(in), free(out);
    return 0;
}
