/*
 * aarch64 Advanced SIMD kernels (Armv8.0, every aarch64 CPU). Contracts in
 * kernels.h; tests/engine/checkasm.c compares every function with the scalar
 * reference. As on x86, every float sum is added in the scalar order (the
 * vectors run across independent sums, never along one), products are
 * rounded before they are added (the build sets -ffp-contract=off, and no
 * vfma/vmla is used), and tails that do not fill a vector run the scalar
 * arithmetic, mostly by calling the scalar kernel on them. Integer sums are
 * exact, in any order.
 *
 * The float kernels here also serve the dot-product table
 * (kernels_neon_dotprod.c), which only replaces the int8 products.
 */
#include <arm_neon.h>
#include <string.h>

#include "kernels.h"

#define AI static inline __attribute__((always_inline))

uint32_t ttt_absmax_bits_neon(const float *x, size_t n)
{
    const uint32x4_t abs = vdupq_n_u32(0x7fffffffu);
    uint32x4_t m0 = vdupq_n_u32(0), m1 = m0, m2 = m0, m3 = m0;
    size_t i = 0;
    /* with the sign cleared the patterns order like the floats */
    for (; i + 16 <= n; i += 16) {
        m0 = vmaxq_u32(m0, vandq_u32(abs, vreinterpretq_u32_f32(vld1q_f32(x + i))));
        m1 = vmaxq_u32(m1, vandq_u32(abs, vreinterpretq_u32_f32(vld1q_f32(x + i + 4))));
        m2 = vmaxq_u32(m2, vandq_u32(abs, vreinterpretq_u32_f32(vld1q_f32(x + i + 8))));
        m3 = vmaxq_u32(m3, vandq_u32(abs, vreinterpretq_u32_f32(vld1q_f32(x + i + 12))));
    }
    for (; i + 4 <= n; i += 4)
        m0 = vmaxq_u32(m0, vandq_u32(abs, vreinterpretq_u32_f32(vld1q_f32(x + i))));
    const uint32_t m = vmaxvq_u32(vmaxq_u32(vmaxq_u32(m0, m1), vmaxq_u32(m2, m3)));
    const uint32_t t = ttt_kernels_scalar.absmax_bits(x + i, n - i);
    return m > t ? m : t;
}

/* FCVTNS rounds to nearest with ties to even, as lrintf does by default;
 * within the contract (|x * scale| < 127.5) the narrowing never saturates */
int32_t ttt_quantize_neon(const float *x, size_t n, float scale, int8_t *q)
{
    const float32x4_t s = vdupq_n_f32(scale);
    int32x4_t sum = vdupq_n_s32(0);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const int32x4_t a = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + i), s));
        const int32x4_t b = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + i + 4), s));
        const int32x4_t c = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + i + 8), s));
        const int32x4_t d = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + i + 12), s));
        sum = vaddq_s32(sum, vaddq_s32(vaddq_s32(a, b), vaddq_s32(c, d)));
        const int16x8_t ab = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
        const int16x8_t cd = vcombine_s16(vqmovn_s32(c), vqmovn_s32(d));
        vst1q_s8(q + i, vcombine_s8(vqmovn_s16(ab), vqmovn_s16(cd)));
    }
    return vaddvq_s32(sum) + ttt_kernels_scalar.quantize(x + i, n - i, scale, q + i);
}

void ttt_quantize_block_neon(const float *x, size_t n, size_t ntok, float floor, int8_t *q, size_t qstride,
                             int32_t *qsum, float *mx)
{
    ttt_quantize_block_split(&ttt_kernels_neon, x, n, ntok, floor, q, qstride, qsum, mx);
}

/*
 * The packed layout of both aarch64 tables: ttt_tpack_rows' rows (stride
 * cols rounded up to 64), each byte the weight itself (-1, 0, 1) as int8 and
 * the padding 0, so the products need no unbiasing.
 */
void ttt_tpack_signed(const uint8_t *w, size_t wstride, size_t rows, size_t cols, uint8_t *packed)
{
    const size_t ps = ttt_tpack_rows_size(1, cols);
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < cols; c++)
            packed[r * ps + c] = (uint8_t)(w[r * wstride + c] - 1);
        memset(packed + r * ps + cols, 0, ps - cols);
    }
}

/*
 * tgemm: four rows against one token at a time, the token's 16 bytes loaded
 * once for the four rows. The rows are padded with weight 0 up to a multiple
 * of 64 columns and v is readable that far (kernels.h), so the columns run
 * in whole steps of 16 with no tail: the padding of v multiplies 0. Per
 * block of up to 64, SMLAL sums 8 products of at most 128 in each int16
 * lane (<= 1024), which SADALP adds into int32. SMLAL issues on one pipe of a Cortex-A76 only, so
 * it bounds the kernel whatever the tiling: tokens are not tiled.
 */
AI int32x4_t dot16n(int N, int32x4_t acc, const int8_t *w, const int8_t *v)
{
    int16x8_t s = vdupq_n_s16(0);
    for (int k = 0; k < N; k++) {
        const int8x16_t wv = vld1q_s8(w + 16 * k), vv = vld1q_s8(v + 16 * k);
        s = vmlal_s8(s, vget_low_s8(wv), vget_low_s8(vv));
        s = vmlal_high_s8(s, wv, vv);
    }
    return vpadalq_s16(acc, s);
}

/* the columns up to cols rounded up to 16 (the padding past them weighs 0):
 * blocks of 64, then of 16 */
AI int32x4_t dot(int32x4_t acc, const int8_t *w, const int8_t *v, size_t c16)
{
    size_t c = 0;
    for (; c + 64 <= c16; c += 64)
        acc = dot16n(4, acc, w + c, v + c);
    for (; c < c16; c += 16)
        acc = dot16n(1, acc, w + c, v + c);
    return acc;
}

static void tgemm_neon(const uint8_t *packed, size_t rows, size_t cols, const int8_t *v, size_t vstride,
                       const int32_t *vsum, size_t ntok, int32_t *out, size_t ostride)
{
    (void)vsum;
    const int8_t *w = (const int8_t *)packed;
    const size_t ps = ttt_tpack_rows_size(1, cols), c16 = (cols + 15) / 16 * 16;
    size_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        const int8_t *w0 = w + r * ps;
        for (size_t t = 0; t < ntok; t++) {
            const int8_t *vt = v + t * vstride;
            int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
            size_t c = 0;
            for (; c + 64 <= c16; c += 64) {
                a0 = dot16n(4, a0, w0 + c, vt + c);
                a1 = dot16n(4, a1, w0 + ps + c, vt + c);
                a2 = dot16n(4, a2, w0 + 2 * ps + c, vt + c);
                a3 = dot16n(4, a3, w0 + 3 * ps + c, vt + c);
            }
            for (; c < c16; c += 16) {
                a0 = dot16n(1, a0, w0 + c, vt + c);
                a1 = dot16n(1, a1, w0 + ps + c, vt + c);
                a2 = dot16n(1, a2, w0 + 2 * ps + c, vt + c);
                a3 = dot16n(1, a3, w0 + 3 * ps + c, vt + c);
            }
            /* pairwise adds: lane k is the sum of ak */
            vst1q_s32(out + t * ostride + r, vpaddq_s32(vpaddq_s32(a0, a1), vpaddq_s32(a2, a3)));
        }
    }
    for (; r < rows; r++)
        for (size_t t = 0; t < ntok; t++)
            out[t * ostride + r] = vaddvq_s32(dot(vdupq_n_s32(0), w + r * ps, v + t * vstride, c16));
}

/*
 * update_predict: blocks of NV vectors of rows, every column in order, the
 * block's sums p in registers; the last d % 4 rows run the scalar
 * arithmetic, each row on its own as the scalar kernel does it.
 */
AI void up_block(int NV, int UP, int DK, int PR, float *Wt, size_t d, size_t ws, size_t i, const float *c,
                 const float *fo, float decay, const float *fn, float *p)
{
    const float32x4_t dv = vdupq_n_f32(decay);
    float32x4_t acc[8], cv[8];
    for (int k = 0; k < NV; k++) {
        acc[k] = vdupq_n_f32(0.0f);
        cv[k] = UP ? vld1q_f32(c + i + 4 * k) : acc[k];
    }
    for (size_t j = 0; j < d; j++) {
        float *col = Wt + j * ws + i;
        const float32x4_t a = vdupq_n_f32(UP ? fo[j] : 0.0f), b = vdupq_n_f32(PR ? fn[j] : 0.0f);
        for (int k = 0; k < NV; k++) {
            float32x4_t x = vld1q_f32(col + 4 * k);
            if (UP) {
                if (DK)
                    x = vmulq_f32(x, dv);
                x = vsubq_f32(x, vmulq_f32(cv[k], a));
                vst1q_f32(col + 4 * k, x);
            }
            if (PR)
                acc[k] = vaddq_f32(acc[k], vmulq_f32(x, b));
        }
    }
    if (PR)
        for (int k = 0; k < NV; k++)
            vst1q_f32(p + i + 4 * k, acc[k]);
}

AI void up_all(int UP, int DK, int PR, float *Wt, size_t d, size_t ws, const float *c, const float *fo,
               float decay, const float *fn, float *p)
{
    size_t i = 0;
    for (; i + 32 <= d; i += 32)
        up_block(8, UP, DK, PR, Wt, d, ws, i, c, fo, decay, fn, p);
    for (; i + 4 <= d; i += 4)
        up_block(1, UP, DK, PR, Wt, d, ws, i, c, fo, decay, fn, p);
    for (; i < d; i++) {
        float acc = 0.0f;
        for (size_t j = 0; j < d; j++) {
            float *w = Wt + j * ws + i;
            if (UP)
                *w = DK ? *w * decay - c[i] * fo[j] : *w - c[i] * fo[j];
            if (PR)
                acc += *w * fn[j];
        }
        if (PR)
            p[i] = acc;
    }
}

void ttt_update_predict_neon(float *Wt, size_t d, size_t ws, const float *c, const float *fo, float decay,
                             const float *fn, float *p)
{
    /* decay == 1 keeps the plain update: the default path never multiplies by 1 */
    const int dk = decay != 1.0f;
    if (c && fn && !dk)
        up_all(1, 0, 1, Wt, d, ws, c, fo, decay, fn, p);
    else if (c && fn)
        up_all(1, 1, 1, Wt, d, ws, c, fo, decay, fn, p);
    else if (c && !dk)
        up_all(1, 0, 0, Wt, d, ws, c, fo, decay, NULL, NULL);
    else if (c)
        up_all(1, 1, 0, Wt, d, ws, c, fo, decay, NULL, NULL);
    else if (fn)
        up_all(0, 0, 1, Wt, d, ws, NULL, NULL, decay, fn, p);
}

/* the SPEC's eight sums u[0..7] folded in its order */
AI float fold8(const float u[8])
{
    return ((u[0] + u[4]) + (u[2] + u[6])) + ((u[1] + u[5]) + (u[3] + u[7]));
}

/* two registers are the SPEC's eight sums: u0 = u[0..3], u1 = u[4..7] */
float ttt_error_neon(const float *p, const float *tg, size_t d, float r, float *c, uint32_t *pmax)
{
    const float32x4_t rv = vdupq_n_f32(r);
    float32x4_t u0 = vdupq_n_f32(0.0f), u1 = u0;
    size_t j = 0;
    for (; j + 8 <= d; j += 8) {
        const float32x4_t e0 = vsubq_f32(vld1q_f32(p + j), vld1q_f32(tg + j));
        const float32x4_t e1 = vsubq_f32(vld1q_f32(p + j + 4), vld1q_f32(tg + j + 4));
        vst1q_f32(c + j, vmulq_f32(rv, e0));
        vst1q_f32(c + j + 4, vmulq_f32(rv, e1));
        u0 = vaddq_f32(u0, vmulq_f32(e0, e0));
        u1 = vaddq_f32(u1, vmulq_f32(e1, e1));
    }
    float u[8];
    vst1q_f32(u, u0);
    vst1q_f32(u + 4, u1);
    for (; j < d; j++) {
        const float e = p[j] - tg[j];
        c[j] = r * e;
        u[j % 8] += e * e;
    }
    *pmax = ttt_absmax_bits_neon(p, d);
    return fold8(u);
}

void ttt_scale_i32_neon(const int32_t *a, size_t d, float s, float *f)
{
    const float32x4_t sv = vdupq_n_f32(s);
    size_t j = 0;
    for (; j + 4 <= d; j += 4)
        vst1q_f32(f + j, vmulq_f32(vcvtq_f32_s32(vld1q_s32(a + j)), sv));
    ttt_kernels_scalar.scale_i32(a + j, d - j, s, f + j);
}

int64_t ttt_sumsq_neon(const int32_t *a, size_t n)
{
    int64x2_t s0 = vdupq_n_s64(0), s1 = s0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const int32x4_t x = vld1q_s32(a + i);
        s0 = vmlal_s32(s0, vget_low_s32(x), vget_low_s32(x));
        s1 = vmlal_high_s32(s1, x, x);
    }
    return vaddvq_s64(vaddq_s64(s0, s1)) + ttt_kernels_scalar.sumsq(a + i, n - i);
}

/* mul then add, never fused: bit-identical to the scalar reference */
void ttt_residual_neon(const float *x, const int32_t *acc, size_t n, float g, float *out)
{
    const float32x4_t gv = vdupq_n_f32(g);
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(out + i, vaddq_f32(vld1q_f32(x + i), vmulq_f32(vcvtq_f32_s32(vld1q_s32(acc + i)), gv)));
    ttt_kernels_scalar.residual(x + i, acc + i, n - i, g, out + i);
}

static void tgemm_residual_neon(const uint8_t *packed, size_t rows, size_t cols, const int8_t *v,
                                size_t vstride, const int32_t *vsum, size_t ntok, const float *x,
                                const float *g, float *out, size_t xstride, int32_t *acc)
{
    ttt_tgemm_residual_split(&ttt_kernels_neon, packed, rows, cols, v, vstride, vsum, ntok, x, g, out, xstride,
                             acc);
}

/* The chunk kernels (SPEC "Large d") as the scalar table builds them: the
 * n per-token passes of update_predict, which are their definition. */
void ttt_chunk_predict_neon(const float *Wt, size_t d, size_t ws, const float *X, size_t xs, size_t n, float *P)
{
    for (size_t t = 0; t < n; t++)
        up_all(0, 0, 1, (float *)Wt, d, ws, NULL, NULL, 1.0f, X + t * xs, P + t * xs);
}

void ttt_chunk_update_neon(float *Wt, size_t d, size_t ws, const float *C, const float *K, size_t cs, size_t n,
                           float decay)
{
    for (size_t l = 0; l < n; l++)
        ttt_update_predict_neon(Wt, d, ws, C + l * cs, K + l * cs, decay, NULL, NULL);
}

/* ttt_dot8: the eight sums in two registers, as error's */
AI float dot8(const float *a, const float *b, size_t d)
{
    float32x4_t u0 = vdupq_n_f32(0.0f), u1 = u0;
    size_t j = 0;
    for (; j + 8 <= d; j += 8) {
        u0 = vaddq_f32(u0, vmulq_f32(vld1q_f32(a + j), vld1q_f32(b + j)));
        u1 = vaddq_f32(u1, vmulq_f32(vld1q_f32(a + j + 4), vld1q_f32(b + j + 4)));
    }
    float u[8];
    vst1q_f32(u, u0);
    vst1q_f32(u + 4, u1);
    for (; j < d; j++)
        u[j % 8] += a[j] * b[j];
    return fold8(u);
}

void ttt_chunk_correct_neon(float *p, size_t d, const float *C, const float *K, size_t cs, size_t n,
                            const float *x, float decay)
{
    const float32x4_t dv = vdupq_n_f32(decay);
    for (size_t l = 0; l < n; l++) {
        const float h = dot8(K + l * cs, x, d);
        const float32x4_t hv = vdupq_n_f32(h);
        const float *c = C + l * cs;
        size_t i = 0;
        if (decay == 1.0f) {
            for (; i + 4 <= d; i += 4)
                vst1q_f32(p + i, vsubq_f32(vld1q_f32(p + i), vmulq_f32(hv, vld1q_f32(c + i))));
            for (; i < d; i++)
                p[i] -= h * c[i];
        } else {
            for (; i + 4 <= d; i += 4)
                vst1q_f32(p + i, vsubq_f32(vmulq_f32(vld1q_f32(p + i), dv), vmulq_f32(hv, vld1q_f32(c + i))));
            for (; i < d; i++)
                p[i] = p[i] * decay - h * c[i];
        }
    }
}

const ttt_kernels ttt_kernels_neon = {
    "neon", ttt_absmax_bits_neon, ttt_quantize_neon, ttt_tpack_rows_size, ttt_tpack_signed, tgemm_neon,
    ttt_update_predict_neon, NULL, ttt_error_neon, ttt_scale_i32_neon, ttt_sumsq_neon, ttt_residual_neon,
    tgemm_residual_neon, ttt_quantize_block_neon, ttt_chunk_predict_neon, ttt_chunk_update_neon,
    ttt_chunk_correct_neon,
};
