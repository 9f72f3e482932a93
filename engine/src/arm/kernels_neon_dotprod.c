/*
 * aarch64 Advanced SIMD with the Armv8.2 dot product (built with
 * -march=armv8.2-a+dotprod): SDOT for the int8 products of tgemm, the rest
 * shared with the NEON table (float kernels and quantisation have no int8
 * products). Contracts in kernels.h; tests/engine/checkasm.c compares every
 * function with the scalar reference.
 */
#include <arm_neon.h>

#include "kernels.h"

/* SDOT adds four products of one row's weights (biased 0..2, made -1..1)
 * and the token's bytes into each int32 lane: exact for any cols <= 65536.
 * The rows are padded with weight 0 to 64 columns and v is readable that
 * far (kernels.h), so whole 16-byte steps run with no tail. Four rows share
 * each load of the token. */
static void tgemm_dotprod(const uint8_t *w, size_t rows, size_t cols, const int8_t *v, size_t vstride,
                          const int32_t *vsum, size_t ntok, int32_t *out, size_t ostride)
{
    (void)vsum;
    const uint8x16_t one = vdupq_n_u8(1);
    const size_t ps = ttt_tpack_rows_size(1, cols);
    size_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        const uint8_t *w0 = w + r * ps;
        for (size_t t = 0; t < ntok; t++) {
            const int8_t *vt = v + t * vstride;
            int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
            for (size_t c = 0; c < ps; c += 16) {
                const int8x16_t vv = vld1q_s8(vt + c);
                a0 = vdotq_s32(a0, vreinterpretq_s8_u8(vsubq_u8(vld1q_u8(w0 + c), one)), vv);
                a1 = vdotq_s32(a1, vreinterpretq_s8_u8(vsubq_u8(vld1q_u8(w0 + ps + c), one)), vv);
                a2 = vdotq_s32(a2, vreinterpretq_s8_u8(vsubq_u8(vld1q_u8(w0 + 2 * ps + c), one)), vv);
                a3 = vdotq_s32(a3, vreinterpretq_s8_u8(vsubq_u8(vld1q_u8(w0 + 3 * ps + c), one)), vv);
            }
            vst1q_s32(out + t * ostride + r, vpaddq_s32(vpaddq_s32(a0, a1), vpaddq_s32(a2, a3)));
        }
    }
    for (; r < rows; r++)
        for (size_t t = 0; t < ntok; t++) {
            int32x4_t a = vdupq_n_s32(0);
            for (size_t c = 0; c < ps; c += 16)
                a = vdotq_s32(a, vreinterpretq_s8_u8(vsubq_u8(vld1q_u8(w + r * ps + c), one)),
                              vld1q_s8(v + t * vstride + c));
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
    "neon-dotprod", ttt_absmax_bits_neon, ttt_quantize_neon, ttt_tpack_rows_size, ttt_tpack_rows, tgemm_dotprod,
    ttt_update_predict_neon, ttt_error_neon, ttt_scale_i32_neon, ttt_sumsq_neon, ttt_residual_neon,
    tgemm_residual_dotprod, ttt_quantize_block_neon, ttt_chunk_predict_neon, ttt_chunk_update_neon,
    ttt_chunk_correct_neon,
};
