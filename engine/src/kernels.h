/*
 * The kernel table: the few loops that carry nearly all of the work, as pure
 * functions on plain arrays (no allocation, no global state). kernels_scalar.c
 * is the semantic reference; every ISA file must give the same results bit
 * for bit, integers and floats alike (tests/engine/checkasm.c).
 */
#ifndef BITTTT_KERNELS_H
#define BITTTT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ttt_kernels {
    const char *name;

    /* max over i < n of (bits(x[i]) & 0x7fffffff), 0 for n == 0. Non-negative
     * floats order like their bit patterns, so this is the bit pattern of
     * max|x[i]|, and a result >= 0x7f800000 means some x[i] is NaN or Inf. */
    uint32_t (*absmax_bits)(const float *x, size_t n);

    /* q[i] = clamp(rint(x[i] * scale), -127, 127) with ties to even; returns
     * the sum of q[i]. x must be finite and |x[i] * scale| < 127.5, which
     * scale = 127 / max|x| guarantees (the product is at most 127 (1 + 2^-23)):
     * the clamp then never acts, and a kernel may leave it out. */
    int32_t (*quantize)(const float *x, size_t n, float scale, int8_t *q);

    /* A ternary matrix in the layout this ISA's tgemm reads: tpack_size
     * bytes (64-byte aligned) for rows x cols, filled by tpack from w, the
     * matrix row-major with row stride wstride >= cols, biased by +1 (each
     * byte 0, 1 or 2). Only the rows x cols entries of w are read. */
    size_t (*tpack_size)(size_t rows, size_t cols);
    void (*tpack)(const uint8_t *w, size_t wstride, size_t rows, size_t cols, uint8_t *packed);

    /* The packed matrix times int8 vectors, exact in int32:
     *   out[t * ostride + r] = sum_{c < cols} (w[r][c] - 1) * v[t * vstride + c]
     * for r < rows, t < ntok. vsum[t] is sum_c v[t * vstride + c].
     * cols <= 65536; vstride >= cols, each row of v
     * readable up to vstride rounded up to 64 bytes. */
    void (*tgemm)(const uint8_t *packed, size_t rows, size_t cols,
                  const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                  int32_t *out, size_t ostride);

    /* W is stored by columns: W[i][j] at Wt[j * ws + i] (ws >= d floats).
     * For each column j < d, in this order:
     *   if c:  W[i][j] = W[i][j] * decay - c[i] * fo[j]    for i < d
     *   if fn: p[i] = p[i] + W[i][j] * fn[j]              for i < d
     * with p[i] = +0 before column 0: every p[i] is summed over j from left
     * to right, as the SPEC's reference order, yet the work runs across rows
     * i, which SIMD does without any horizontal reduction. Products are
     * rounded before they are added or subtracted (no fused multiply-add),
     * so every ISA must give results bit-identical to the scalar kernel.
     * Doing both in one pass reads W once per token instead of twice.
     * decay == 1 (no forgetting, the default) must keep the arithmetic of
     * W[i][j] -= c[i] * fo[j] exactly: no multiply by 1. decay is ignored
     * when c is NULL. Entries of Wt past row d - 1 are neither read nor
     * written. */
    void (*update_predict)(float *Wt, size_t d, size_t ws, const float *c,
                           const float *fo, float decay, const float *fn, float *p);

    /* n >= 1 learned tokens of the per-token order in one call, bit for bit
     * the same as, for t = 0 .. n-1 in order,
     *   update_predict(Wt, d, ws, t ? c_(t-1) : c0, t ? x[t-1] : x0, decay, x[t], P + t * ps)
     *   c_t[i] = r[t] * (P[t * ps + i] - tg[t][i])   for i < d (error's c)
     * and cn gets c_(n-1); cn may equal c0. c0 NULL: no update before token
     * 0 (x0 unused). Row i of W and of every P depends only on row i's past
     * (e and c are per row), so a kernel may run all n tokens over one band
     * of rows before the next: the band stays in L1 for n tokens, where the
     * per-token order streams all of W through it once a token. NULL in a
     * table without one: forward then runs update_predict token by token. */
    void (*learn_run)(float *Wt, size_t d, size_t ws, const float *c0, const float *x0, float decay,
                      const float *const *x, const float *const *tg, const float *r, size_t n, float *P,
                      size_t ps, float *cn);

    /* SPEC step 5 with the learn step's c, for j < d: e = p[j] - tg[j],
     * c[j] = r * e, and the return value is the sum of e^2 in the SPEC's
     * order: u[k] sums e^2 over j = k (mod 8) from +0, left to right, then
     * ((u[0] + u[4]) + (u[2] + u[6])) + ((u[1] + u[5]) + (u[3] + u[7])).
     * Every product rounded, no fused multiply-add. *pmax gets
     * absmax_bits(p, d), for the quantisation of p that follows. */
    float (*error)(const float *p, const float *tg, size_t d, float r, float *c, uint32_t *pmax);

    /* f[j] = (float)a[j] * s for j < d (the conversion is exact: |a| < 2^24) */
    void (*scale_i32)(const int32_t *a, size_t d, float s, float *f);

    /* sum of a[i]^2, exact in int64 (|a[i]| < 2^23 and n <= 65536, so no
     * partial sum can overflow whatever the order) */
    int64_t (*sumsq)(const int32_t *a, size_t n);

    /* out[i] = x[i] + (float)acc[i] * g; out may equal x. */
    void (*residual)(const float *x, const int32_t *acc, size_t n, float g, float *out);

    /* Up and the residual together: with b the tgemm product of packed and
     * v (ostride rows), for r < rows and t < ntok
     *   out[t * xstride + r] = x[t * xstride + r] + (float)b[t][r] * g[t]
     * where g[t] != 0, else x[t * xstride + r] unchanged; out may equal x.
     * acc (ntok x ttt_acc_stride(rows) int32) is scratch a kernel may use. A kernel that
     * fuses them converts each product while it is in a register instead of
     * storing it and reading it back. */
    void (*tgemm_residual)(const uint8_t *packed, size_t rows, size_t cols,
                           const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                           const float *x, const float *g, float *out, size_t xstride, int32_t *acc);

    /* SPEC step 1 for ntok vectors x_t of n floats (row stride n; q_t at
     * q + t * qstride): mx[t] = max|x_t| when finite and >= floor, 0 when
     * below floor, NaN when some x_t[i] is NaN or Inf. Where mx[t] > 0,
     * qsum[t] = quantize(x_t, n, 127 / mx[t], q_t); elsewhere q_t's n bytes
     * and qsum[t] are 0. One call per block lets a kernel keep its
     * constants and the divides of several tokens in flight. */
    void (*quantize_block)(const float *x, size_t n, size_t ntok, float floor, int8_t *q, size_t qstride,
                           int32_t *qsum, float *mx);

    /* The chunked recurrence for large d (docs/SPEC.md, "Large d"). Rows of
     * X, C and K are xs / cs floats apart. W by columns as above; rows past
     * d - 1 are neither read nor written.
     * chunk_predict, for t < n and i < d: P[t * xs + i] = sum_j W[i][j] * X[t * xs + j],
     *   each sum from +0 over j left to right, products rounded: each P row
     *   is what update_predict's p gives for fn = X row t, bit for bit.
     * chunk_update, for every j and i < d, for l = 0 .. n-1 in order:
     *   W[i][j] = W[i][j] * decay - C[l][i] * K[l][j]  (decay == 1: no multiply),
     *   bit for bit n calls of update_predict(c = C[l], fo = K[l]), in one pass.
     * chunk_correct: h[l] = sum_j K[l][j] * x[j] in error's order (eight sums
     *   u[j % 8], combined the same way) for l < n, then for l = 0 .. n-1 in
     *   order p[i] = p[i] * decay - h[l] * C[l][i] (decay == 1: no multiply). */
    void (*chunk_predict)(const float *Wt, size_t d, size_t ws, const float *X, size_t xs, size_t n, float *P);
    void (*chunk_update)(float *Wt, size_t d, size_t ws, const float *C, const float *K, size_t cs, size_t n,
                         float decay);
    void (*chunk_correct)(float *p, size_t d, const float *C, const float *K, size_t cs, size_t n,
                          const float *x, float decay);
} ttt_kernels;

extern const ttt_kernels ttt_kernels_scalar;

/* The plain packed layout, shared by the tables that read rows directly:
 * row-major, row stride cols rounded up to 64, padding bytes 1 (weight 0). */
size_t ttt_tpack_rows_size(size_t rows, size_t cols);
void ttt_tpack_rows(const uint8_t *w, size_t wstride, size_t rows, size_t cols, uint8_t *packed);
/* The row stride of tgemm_residual's scratch: rows, one cache line more
 * when rows int32 are a multiple of 2 KiB (the 32 rows of a block would
 * otherwise share one or two L1 sets) */
static inline size_t ttt_acc_stride(size_t rows)
{
    return rows * sizeof(int32_t) % 2048 ? rows : rows + 16;
}
/* tgemm_residual as k->tgemm into acc, then k->residual token by token */
void ttt_tgemm_residual_split(const ttt_kernels *k, const uint8_t *packed, size_t rows, size_t cols,
                              const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                              const float *x, const float *g, float *out, size_t xstride, int32_t *acc);
/* quantize_block from k->absmax_bits and k->quantize */
void ttt_quantize_block_split(const ttt_kernels *k, const float *x, size_t n, size_t ntok, float floor,
                              int8_t *q, size_t qstride, int32_t *qsum, float *mx);
/* the SPEC's eight-lane dot product (chunk_correct's h) */
float ttt_dot8(const float *a, const float *b, size_t d);
#if defined(TTT_HAVE_X86)
extern const ttt_kernels ttt_kernels_avx2;
/* AVX2 with AVX-VNNI's vpdpbusd ymm for the products (kernels_avx2vnni.c),
 * all else the AVX2 table's */
extern const ttt_kernels ttt_kernels_avx2vnni;
void ttt_tgemm_avx2vnni(const uint8_t *w, size_t rows, size_t cols, const int8_t *v, size_t vstride,
                        const int32_t *vsum, size_t ntok, int32_t *out, size_t ostride);
void ttt_tgemm_residual_avx2vnni(const uint8_t *packed, size_t rows, size_t cols, const int8_t *v, size_t vstride,
                                 const int32_t *vsum, size_t ntok, const float *x, const float *g, float *out,
                                 size_t xstride, int32_t *acc);
/* AVX2 chunk kernels, shared by the AVX-512 tables */
void ttt_chunk_predict_avx2(const float *Wt, size_t d, size_t ws, const float *X, size_t xs, size_t n, float *P);
void ttt_chunk_update_avx2(float *Wt, size_t d, size_t ws, const float *C, const float *K, size_t cs, size_t n,
                           float decay);
void ttt_chunk_correct_avx2(float *p, size_t d, const float *C, const float *K, size_t cs, size_t n,
                            const float *x, float decay);
/* AVX2's error, shared too: the SPEC's eight sums fill one ymm exactly,
 * and opmasks only made the AVX-512 copy slower (bench_kernels, d <= 64) */
float ttt_error_avx2(const float *p, const float *tg, size_t d, float r, float *c, uint32_t *pmax);
extern const ttt_kernels ttt_kernels_avx512;
extern const ttt_kernels ttt_kernels_avx512vnni;
#endif
#if defined(TTT_HAVE_AARCH64)
extern const ttt_kernels ttt_kernels_neon;
extern const ttt_kernels ttt_kernels_neon_dotprod;
/* the NEON kernels the dot-product table shares (no int8 products in
 * them), and the packed layout both read (the weights as int8 -1/0/1) */
void ttt_tpack_signed(const uint8_t *w, size_t wstride, size_t rows, size_t cols, uint8_t *packed);
uint32_t ttt_absmax_bits_neon(const float *x, size_t n);
int32_t ttt_quantize_neon(const float *x, size_t n, float scale, int8_t *q);
void ttt_quantize_block_neon(const float *x, size_t n, size_t ntok, float floor, int8_t *q, size_t qstride,
                             int32_t *qsum, float *mx);
void ttt_update_predict_neon(float *Wt, size_t d, size_t ws, const float *c, const float *fo, float decay,
                             const float *fn, float *p);
float ttt_error_neon(const float *p, const float *tg, size_t d, float r, float *c, uint32_t *pmax);
void ttt_scale_i32_neon(const int32_t *a, size_t d, float s, float *f);
int64_t ttt_sumsq_neon(const int32_t *a, size_t n);
void ttt_residual_neon(const float *x, const int32_t *acc, size_t n, float g, float *out);
void ttt_chunk_predict_neon(const float *Wt, size_t d, size_t ws, const float *X, size_t xs, size_t n, float *P);
void ttt_chunk_update_neon(float *Wt, size_t d, size_t ws, const float *C, const float *K, size_t cs, size_t n,
                           float decay);
void ttt_chunk_correct_neon(float *p, size_t d, const float *C, const float *K, size_t cs, size_t n,
                            const float *x, float decay);
#endif

/* cpu.c. The tables this CPU runs under an ISA cap (TTT_ISA_*) and the
 * TTT_FORCE_ISA environment variable, lowest first, into out (room for
 * TTT_MAX_TABLES); returns how many (>= 1: scalar always runs). The last is
 * the choice by ISA. Thread-safe; CPU detection runs once. */
#define TTT_MAX_TABLES 8
size_t ttt_kernels_candidates(unsigned max_isa, const ttt_kernels **out);
/* the last of ttt_kernels_candidates */
const ttt_kernels *ttt_kernels_select(unsigned max_isa);

/* dispatch.c. The kernels for a model of these shapes (D = hidden_dim,
 * d = state_dim, nd = rows of Down) under an ISA cap: each slot of the
 * table from the candidate that ran it fastest on these shapes, or, with
 * measure == 0 (or TTT_DISPATCH=isa in the environment), the choice by ISA.
 * The first model of a shape pays for the timing (bounded, a few hundred
 * microseconds); later ones reuse the cached choice. *up gets the table
 * whose tpack lays out Up for the returned table's tgemm_residual (in a mix,
 * tpack belongs to tgemm, i.e. Down). Both pointers live for the process.
 * Thread-safe. */
const ttt_kernels *ttt_kernels_dispatch(unsigned max_isa, int measure, size_t D, size_t d, size_t nd,
                                        const ttt_kernels **up);

#endif
