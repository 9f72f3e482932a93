/* Engine internals shared by the files of engine/src. Not installed. */
#ifndef BITTTT_INTERNAL_H
#define BITTTT_INTERNAL_H

#include "bitttt/bitttt.h"
#include "kernels.h"

/* Tokens processed together per step of forward: features and outputs of a
 * block are computed by batched int8 products, the recurrence runs token by
 * token in between. Sized so the scratch stays in L2 for common D. */
#define TTT_BLOCK 32

/* Below this max|x| a vector quantises to all zeros (see docs/SPEC.md). */
#define TTT_ABSMAX_FLOOR 1e-30f

/* Byte alignment of every array: a cache line, and a whole zmm register. */
#define TTT_ALIGN 64

struct ttt_model {
    ttt_config cfg;          /* effective: state_dim resolved, isa resolved */
    const ttt_kernels *k;

    size_t D, d;
    size_t Dq, dq;           /* int8 row strides: D, d rounded up to 64 */
    size_t ws;               /* float row stride of W: d rounded up to 16 */
    float s_down, s_up;      /* projection scales */
    uint64_t proj_hash;      /* identity of the projections, saved in state */

    uint8_t *down;           /* d x Dq, ternary + 1 */
    uint8_t *up;             /* D x dq, ternary + 1 */

    /* learned state */
    float *W;                /* d x ws */
    int pending;             /* pend_c/pend_f hold an update not yet in W */
    float *pend_c;           /* eta * e of the last learned token */
    float *pend_f;           /* its feature */
    ttt_stats stats;

    /* scratch for one block, reused by every call */
    int8_t *q;               /* TTT_BLOCK x Dq */
    int32_t *qsum;           /* TTT_BLOCK */
    int32_t *acc_down;       /* TTT_BLOCK x d */
    int8_t *qp;              /* TTT_BLOCK x dq */
    int32_t *qpsum;          /* TTT_BLOCK */
    int32_t *acc_up;         /* TTT_BLOCK x D */
    float *f;                /* d */
    float *p;                /* d */
    float g[TTT_BLOCK];      /* residual scale per token */
    unsigned char ok[TTT_BLOCK]; /* token finite */
};

/* prng.c */
uint64_t ttt_splitmix64(uint64_t *state);
void ttt_ternary_fill(uint8_t *w, size_t rows, size_t cols, size_t stride, uint64_t seed, unsigned matrix);

/* util.c */
void *ttt_aligned_alloc(size_t size);
void ttt_aligned_free(void *p);
int ttt_mul_size(size_t a, size_t b, size_t *out);
uint64_t ttt_fnv1a64(uint64_t h, const void *data, size_t len);

/* forward.c */
void ttt_flush_pending(ttt_model *m);

#endif
