/*
 * aarch64 Advanced SIMD with the Armv8.2 dot product (built with
 * -march=armv8.2-a+dotprod): SDOT for the int8 products of tgemm, the rest
 * shared with the NEON table (float kernels and quantisation have no int8
 * products). Contracts in kernels.h; tests/engine/checkasm.c compares every
 * function with the scalar reference.
 */
#include <arm_neon.h>

#include "kernels.h"

#define AI static inline __attribute__((always_inline))

/*
 * SDOT adds four products of a row's weights (ttt_tpack_signed: -1, 0, 1)
 * and a token's bytes into each int32 lane: exact for any cols <= 65536.
 * The rows are padded with weight 0 to 64 columns and v is readable that
 * far (kernels.h), so whole 16-byte steps up to cols rounded up to 16 run
 * with no tail. A tile is four
 * rows by NT (1, 2) tokens: each load of weights serves NT tokens and each
 * load of a token four rows, 4 NT independent SDOT chains.
 */
AI void tile(int NT, const int8_t *w, size_t ps, size_t c16, const int8_t *v, size_t vstride, int32_t *out,
             size_t ostride)
{
    int32x4_t a[2][4];
    for (int t = 0; t < NT; t++)
        for (int r = 0; r < 4; r++)
            a[t][r] = vdupq_n_s32(0);
    for (size_t c = 0; c < c16; c += 16) {
        int8x16_t wv[4];
        for (int r = 0; r < 4; r++)
            wv[r] = vld1q_s8(w + r * ps + c);
        for (int t = 0; t < NT; t++) {
            const int8x16_t vv = vld1q_s8(v + t * vstride + c);
            for (int r = 0; r < 4; r++)
                a[t][r] = vdotq_s32(a[t][r], wv[r], vv);
        }
    }
    /* pairwise adds: lane r is the sum of a[t][r] */
    for (int t = 0; t < NT; t++)
        vst1q_s32(out + t * ostride,
                  vpaddq_s32(vpaddq_s32(a[t][0], a[t][1]), vpaddq_s32(a[t][2], a[t][3])));
}

static void tgemm_dotprod(const uint8_t *packed, size_t rows, size_t cols, const int8_t *v, size_t vstride,
                          const int32_t *vsum, size_t ntok, int32_t *out, size_t ostride)
{
    (void)vsum;
    const int8_t *w = (const int8_t *)packed;
    const size_t ps = ttt_tpack_rows_size(1, cols), c16 = (cols + 15) / 16 * 16;
    size_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        size_t t = 0;
        for (; t + 2 <= ntok; t += 2)
            tile(2, w + r * ps, ps, c16, v + t * vstride, vstride, out + t * ostride + r, ostride);
        if (t < ntok)
            tile(1, w + r * ps, ps, c16, v + t * vstride, vstride, out + t * ostride + r, ostride);
    }
    for (; r < rows; r++)
        for (size_t t = 0; t < ntok; t++) {
            int32x4_t a = vdupq_n_s32(0);
            for (size_t c = 0; c < c16; c += 16)
                a = vdotq_s32(a, vld1q_s8(w + r * ps + c), vld1q_s8(v + t * vstride + c));
            out[t * ostride + r] = vaddvq_s32(a);
        }
}

static void tgemm_residual_dotprod(const uint8_t *packed, size_t rows, size_t cols, const int8_t *v,
                                   size_t vstride, const int32_t *vsum, size_t ntok, const float *x,
                                   const float *g, float *out, size_t xstride, int32_t *acc)
{
    ttt_tgemm_residual_split(&ttt_kernels_neon_dotprod, packed, rows, cols, v, vstride, vsum, ntok, x, g, out,
                             xstride, acc);
}

const ttt_kernels ttt_kernels_neon_dotprod = {
    "neon-dotprod", ttt_absmax_bits_neon, ttt_quantize_neon, ttt_tpack_rows_size, ttt_tpack_signed, tgemm_dotprod,
    ttt_update_predict_neon, NULL, ttt_error_neon, ttt_scale_i32_neon, ttt_sumsq_neon, ttt_residual_neon,
    tgemm_residual_dotprod, ttt_quantize_block_neon, ttt_chunk_predict_neon, ttt_chunk_update_neon,
    ttt_chunk_correct_neon,
};
