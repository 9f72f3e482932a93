/*
 * The kernel table: the few loops that carry nearly all of the work, as pure
 * functions on plain arrays (no allocation, no global state). kernels_scalar.c
 * is the semantic reference; every ISA file must give the same integers
 * exactly and the same floats within rounding (tests/engine/checkasm.c).
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
     * the sum of q[i]. x must be finite and |x[i] * scale| <= 128. */
    int32_t (*quantize)(const float *x, size_t n, float scale, int8_t *q);

    /* Ternary matrix times int8 vectors, exact in int32:
     *   out[t * ostride + r] = sum_{c < cols} (w[r * wstride + c] - 1) * v[t * vstride + c]
     * for r < rows, t < ntok. w holds ternary weights biased by +1, so each
     * byte is 0, 1 or 2 (an unsigned operand for maddubs/VNNI); vsum[t] is
     * sum_c v[t * vstride + c]. cols <= 65536; wstride, vstride >= cols and
     * both buffers readable up to their stride rounded up to 64 bytes. */
    void (*tgemm)(const uint8_t *w, size_t wstride, size_t rows, size_t cols,
                  const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                  int32_t *out, size_t ostride);

    /* For each row i < d of W (row stride ws floats), in this order:
     *   if c:  W[i][j] = W[i][j] * decay - c[i] * fo[j]    for j < d
     *   if fn: p[i] = sum_j W[i][j] * fn[j]       (with the updated row)
     * Doing both in one pass reads W once per token instead of twice. The
     * update of a row must round the same way whether or not fn is given, so
     * that splitting the work across calls never changes a result.
     * decay == 1 (no forgetting, the default) must keep the arithmetic of
     * W[i][j] -= c[i] * fo[j] exactly: no multiply by 1 in another rounding
     * order, so the original objective's results never move. decay is
     * ignored when c is NULL. */
    void (*update_predict)(float *W, size_t d, size_t ws, const float *c,
                           const float *fo, float decay, const float *fn, float *p);

    /* out[i] = x[i] + (float)acc[i] * g; out may equal x. */
    void (*residual)(const float *x, const int32_t *acc, size_t n, float g, float *out);
} ttt_kernels;

extern const ttt_kernels ttt_kernels_scalar;
#if defined(TTT_HAVE_X86)
extern const ttt_kernels ttt_kernels_avx2;
extern const ttt_kernels ttt_kernels_avx512;
extern const ttt_kernels ttt_kernels_avx512vnni;
#endif

/* The kernel set for an ISA cap (TTT_ISA_*), limited by the CPU and by the
 * TTT_FORCE_ISA environment variable. Thread-safe; CPU detection runs once. */
const ttt_kernels *ttt_kernels_select(unsigned max_isa);

#endif
