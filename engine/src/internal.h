/* Engine internals shared by the files of engine/src. Not installed. */
#ifndef BITTTT_INTERNAL_H
#define BITTTT_INTERNAL_H

#include "bitttt/bitttt.h"
#include "kernels.h"

/* Tokens processed together per step of forward: features and outputs of a
 * block are computed by batched int8 products, the recurrence runs token by
 * token in between. Sized so the scratch stays in L2 for common D. */
#define TTT_BLOCK 32

/* From this state dim on the recurrence runs in chunks of TTT_CHUNK learned
 * tokens (docs/SPEC.md, "Large d"): W is then read twice per chunk instead
 * of twice per token. */
#define TTT_CHUNK_MIN_D 512
#define TTT_CHUNK 32

/* From this state dim up to TTT_CHUNK_MIN_D a block's learned tokens run
 * band of rows by band (kernels.h, learn_run). Below, W is a few vectors
 * wide and all of it stays in L1 token by token: the band order only adds
 * its bookkeeping (measured at d = 16: AVX2 1.05x slower, AVX-512 1.02x
 * faster). */
#define TTT_RUN_MIN_D 32

/* W's column stride in floats, also the row stride of the chunk's buffers:
 * d rounded up to a cache line. The chunk kernels walk a tile of rows across
 * columns, and a stride that is a multiple of 2 KiB piles those columns into
 * one or two L1 sets: one cache line more spreads them (measured: the
 * forward 1.09x faster at d = 512 with the extra line). */
static inline size_t ttt_w_stride(size_t d)
{
    const size_t ws = (d + 15) / 16 * 16;
    if (d >= TTT_CHUNK_MIN_D)
        return ws % 512 == 0 ? ws + 16 : ws;
    return d >= 64 && ws % 32 == 0 ? ws + 16 : ws;
}

/* Below this max|x| a vector quantises to all zeros (see docs/SPEC.md). */
#define TTT_ABSMAX_FLOOR 1e-30f

/* Byte alignment of every array: a cache line, and a whole zmm register. */
#define TTT_ALIGN 64

/* State identity flags, the u64 at offset 56 of a state (docs/SPEC.md):
 * the objective in the low byte, then what changes the meaning of W. */
#define TTT_IDENT_OBJECTIVE 0xffu
#define TTT_IDENT_MAGNITUDE (1u << 8) /* the target keeps its magnitude */
#define TTT_IDENT_RESIDUAL (1u << 9)  /* MULTIVIEW predicts v - k */

struct ttt_model {
    ttt_config cfg;          /* effective: state_dim resolved, isa resolved */
    const ttt_kernels *k;
    const ttt_kernels *kup;  /* the table whose tpack lays out up for k->tgemm_residual */

    size_t D, d;
    size_t Dq, dq;           /* int8 row strides: D, d rounded up to 64 */
    size_t ws;               /* float column stride of W: d rounded up to 16 */
    float s_down, s_up;      /* projection scales */
    float s_down_v;          /* Down_v's scale: s_down unless loaded from a weight file */
    uint64_t proj_hash;      /* identity of the projections, saved in state */
    uint8_t *src_down;       /* loaded from a weight file: the row-major projections as */
    uint8_t *src_up;         /* ttt_install_projections() took them; NULL when seed-drawn */

    uint8_t *down;           /* nd x D packed for k->tgemm: Down, then Down_v (MULTIVIEW) */
    uint8_t *up;             /* D x d packed for k->tgemm */
    size_t nd;               /* rows of down: d, or 2d with Down_v */
    size_t qs, as;           /* row strides of q (bytes) and acc_down (int32): Dq and nd,
                              * one cache line more when that is a multiple of 2 KiB */

    /* the objective (docs/SPEC.md, "Objectives"), resolved at creation */
    float decay;             /* (f32)(1 - forget): W's factor per learned token */
    int key_mag;             /* the key keeps its magnitude (RECONSTRUCT, NONE) */
    int val_mag;             /* the value keeps its magnitude */
    uint64_t ident;          /* state identity flags (TTT_IDENT_*), 0 for the original */

    /* learned state */
    float *W;                /* by columns: W[i][j] at W[j * ws + i] */
    int pending;             /* pend_c/pend_f hold an update not yet in W */
    float *pend_c;           /* the step c of the last learned token */
    float *pend_f;           /* the key it was learned with */
    float *prev;             /* NEXT: the previous token's key; 0 after reset */
    double wnorm;            /* an upper bound of ||W||_F with the pending update applied,
                              * INFINITY when not known (forward.c, run_bounded) */
    ttt_stats stats;
    /* the open chunk (d >= TTT_CHUNK_MIN_D): W is its start, and its
     * chunk_n learned tokens wait as rows of ck (keys) and cc (steps) */
    int chunked;
    size_t chunk_n;
    float *ck;               /* TTT_CHUNK x ws */
    float *cc;               /* TTT_CHUNK x ws */

    /* scratch for one block, reused by every call */
    int8_t *q;               /* TTT_BLOCK x Dq */
    int32_t *qsum;           /* TTT_BLOCK */
    int32_t *acc_down;       /* TTT_BLOCK x nd */
    int8_t *qp;              /* TTT_BLOCK x dq */
    int32_t *qpsum;          /* TTT_BLOCK */
    int32_t *acc_up;         /* TTT_BLOCK x ttt_acc_stride(D) */
    float *f;                /* d: the key */
    float *v;                /* d: the target, when it is not the key */
    float *p;                /* d */
    float *kb;               /* d >= TTT_RUN_MIN_D: TTT_BLOCK x ws, the keys of the block */
    float *xb;               /* TTT_BLOCK x ws: chunked NEXT, the inputs kin; learn_run, the
                              * targets that are not the keys */
    float *pb;               /* TTT_BLOCK x ws, the predictions */
    float mx[TTT_BLOCK];     /* absmax per token, 0 below the floor */
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

/* model.c */
/* Row-major projections, biased by +1 (bytes 0, 1, 2), rows padded with 1
 * (weight 0): down nd x Dq (Down, then Down_v), up D x dq. */
int ttt_draw_projections(const ttt_model *m, uint8_t **down, uint8_t **up);
void ttt_install_projections(ttt_model *m, const uint8_t *down, const uint8_t *up,
                             float s_down, float s_up, float s_down_v);

/* forward.c */
void ttt_flush_pending(ttt_model *m);

#endif
