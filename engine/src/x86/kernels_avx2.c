/*
 * AVX2 + FMA kernels (built with -mavx2 -mfma). Contracts in kernels.h;
 * tests/engine/checkasm.c compares every function with the scalar reference.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels.h"

#define AI static inline __attribute__((always_inline))

/* 32 bytes of 0xff then 32 of 0: loadu(tail_bytes + 32 - n) keeps n lanes */
static const int8_t tail_bytes[64] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

AI __m256i byte_mask(size_t n)
{
    return _mm256_loadu_si256((const __m256i *)(tail_bytes + 32 - n));
}

/* int32 lane mask for the first n (< 8) lanes: for maskload/maskstore */
AI __m256i lane_mask(size_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static uint32_t absmax_bits_avx2(const float *x, size_t n)
{
    const __m256i abs = _mm256_set1_epi32(0x7fffffff);
    __m256i m0 = _mm256_setzero_si256(), m1 = m0, m2 = m0, m3 = m0;
    size_t i = 0;
    /* with the sign cleared the patterns are non-negative int32, so a signed
     * max orders them like the floats (NaN/Inf patterns sort above all) */
    for (; i + 32 <= n; i += 32) {
        m0 = _mm256_max_epi32(m0, _mm256_and_si256(abs, _mm256_loadu_si256((const __m256i *)(x + i))));
        m1 = _mm256_max_epi32(m1, _mm256_and_si256(abs, _mm256_loadu_si256((const __m256i *)(x + i + 8))));
        m2 = _mm256_max_epi32(m2, _mm256_and_si256(abs, _mm256_loadu_si256((const __m256i *)(x + i + 16))));
        m3 = _mm256_max_epi32(m3, _mm256_and_si256(abs, _mm256_loadu_si256((const __m256i *)(x + i + 24))));
    }
    for (; i + 8 <= n; i += 8)
        m0 = _mm256_max_epi32(m0, _mm256_and_si256(abs, _mm256_loadu_si256((const __m256i *)(x + i))));
    if (i < n) /* masked lanes load as 0, which never wins */
        m1 = _mm256_max_epi32(m1, _mm256_and_si256(abs, _mm256_maskload_epi32((const int *)(x + i), lane_mask(n - i))));
    m0 = _mm256_max_epi32(_mm256_max_epi32(m0, m1), _mm256_max_epi32(m2, m3));
    __m128i r = _mm_max_epi32(_mm256_castsi256_si128(m0), _mm256_extracti128_si256(m0, 1));
    r = _mm_max_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(1, 0, 3, 2)));
    r = _mm_max_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(2, 3, 0, 1)));
    return (uint32_t)_mm_cvtsi128_si32(r);
}

/* cvtps2dq rounds by MXCSR, nearest-even by default: the same as lrintf */
AI __m256i quant8(__m256 x, __m256 scale)
{
    const __m256i r = _mm256_cvtps_epi32(_mm256_mul_ps(x, scale));
    return _mm256_max_epi32(_mm256_min_epi32(r, _mm256_set1_epi32(127)), _mm256_set1_epi32(-127));
}

static int32_t quantize_avx2(const float *x, size_t n, float scale, int8_t *q)
{
    const __m256 s = _mm256_set1_ps(scale);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256i sum = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256i a = quant8(_mm256_loadu_ps(x + i), s);
        const __m256i b = quant8(_mm256_loadu_ps(x + i + 8), s);
        const __m256i c = quant8(_mm256_loadu_ps(x + i + 16), s);
        const __m256i d = quant8(_mm256_loadu_ps(x + i + 24), s);
        sum = _mm256_add_epi32(sum, _mm256_add_epi32(_mm256_add_epi32(a, b), _mm256_add_epi32(c, d)));
        /* the packs work per 128-bit lane; the permute restores the order */
        const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
        _mm256_storeu_si256((__m256i *)(q + i), _mm256_permutevar8x32_epi32(p, order));
    }
    for (; i < n; i += 8) {
        const size_t k = n - i < 8 ? n - i : 8;
        /* masked lanes load 0.0f and quantise to 0: they add nothing */
        const __m256i a = quant8(_mm256_maskload_ps(x + i, lane_mask(k)), s);
        sum = _mm256_add_epi32(sum, a);
        __m128i p = _mm_packs_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
        p = _mm_packs_epi16(p, p);
        int8_t tmp[16];
        _mm_storeu_si128((__m128i *)tmp, p);
        memcpy(q + i, tmp, k);
    }
    __m128i r = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(1, 0, 3, 2)));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(r);
}

/*
 * tgemm works on blocks of 2 tokens x 4 rows: each weight load serves two
 * tokens, and the 8 dot products are reduced together (one tree of phadd for
 * 8 outputs instead of one horizontal sum each). Missing rows or tokens at
 * the edges repeat the last valid one and their results are not stored.
 *
 * maddubs(w, v) with w in 0..2 and |v| <= 128 gives int16 pair sums of at
 * most 512 in magnitude, and any int16 lane only ever holds a sum of terms
 * w[c] * v[c] over distinct columns. Such a sum over at most 127 columns is
 * below 2 * 128 * 127 = 32512 < 32768, so int16 never wraps while a lane
 * covers at most 127 columns. Rows of up to 127 columns are reduced in int16
 * to the end; longer ones in blocks of 16 chunks (32 columns per lane, 64
 * after the one phaddw level before widening to int32).
 */
#define CHUNKS_PER_BLOCK 16

typedef struct {
    const uint8_t *w[4];
    const int8_t *v[2];
} tg_ptrs;

/* acc[k * 4 + r] += maddubs(w row r, v token k) over chunks [c0, c1) */
AI void tg_chunks(__m256i acc[8], const tg_ptrs *p, size_t c0, size_t c1, size_t full, size_t rem)
{
    for (size_t c = c0; c < c1; c++) {
        const size_t o = c * 32;
        __m256i v0 = _mm256_loadu_si256((const __m256i *)(p->v[0] + o));
        __m256i v1 = _mm256_loadu_si256((const __m256i *)(p->v[1] + o));
        if (c == full) { /* the tail chunk: zero v beyond cols, so whatever
                          * the padding holds adds nothing */
            const __m256i m = byte_mask(rem);
            v0 = _mm256_and_si256(v0, m);
            v1 = _mm256_and_si256(v1, m);
        }
        for (int r = 0; r < 4; r++) {
            const __m256i w = _mm256_loadu_si256((const __m256i *)(p->w[r] + o));
            acc[r] = _mm256_add_epi16(acc[r], _mm256_maddubs_epi16(w, v0));
            acc[4 + r] = _mm256_add_epi16(acc[4 + r], _mm256_maddubs_epi16(w, v1));
        }
    }
}

/* returns [t0 r0..r3 | t1 r0..r3], the biased sums */
AI __m256i tg_block(const tg_ptrs *p, size_t cols)
{
    const size_t full = cols / 32, rem = cols % 32, nchunks = full + (rem != 0);
    __m256i a[8];
    if (cols <= 127) {
        /* whole rows fit int16 (see above): reduce in int16 to the end */
        for (int k = 0; k < 8; k++)
            a[k] = _mm256_setzero_si256();
        tg_chunks(a, p, 0, nchunks, full, rem);
        const __m256i b0 = _mm256_hadd_epi16(a[0], a[1]), b1 = _mm256_hadd_epi16(a[2], a[3]);
        const __m256i b2 = _mm256_hadd_epi16(a[4], a[5]), b3 = _mm256_hadd_epi16(a[6], a[7]);
        const __m256i c = _mm256_hadd_epi16(_mm256_hadd_epi16(b0, b1), _mm256_hadd_epi16(b2, b3));
        const __m128i s = _mm_add_epi16(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
        return _mm256_cvtepi16_epi32(s);
    }
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i s[4] = { _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256() };
    for (size_t c0 = 0; c0 < nchunks; c0 += CHUNKS_PER_BLOCK) {
        const size_t c1 = nchunks - c0 < CHUNKS_PER_BLOCK ? nchunks : c0 + CHUNKS_PER_BLOCK;
        for (int k = 0; k < 8; k++)
            a[k] = _mm256_setzero_si256();
        tg_chunks(a, p, c0, c1, full, rem);
        /* one phaddw level, then widen: s[k] lanes = [row 2k x2, row 2k+1 x2] */
        for (int k = 0; k < 4; k++)
            s[k] = _mm256_add_epi32(s[k], _mm256_madd_epi16(_mm256_hadd_epi16(a[2 * k], a[2 * k + 1]), ones));
    }
    const __m256i x = _mm256_hadd_epi32(s[0], s[1]), y = _mm256_hadd_epi32(s[2], s[3]);
    return _mm256_add_epi32(_mm256_permute2x128_si256(x, y, 0x20), _mm256_permute2x128_si256(x, y, 0x31));
}

static void tgemm_avx2(const uint8_t *w, size_t wstride, size_t rows, size_t cols,
                       const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                       int32_t *out, size_t ostride)
{
    for (size_t t = 0; t < ntok; t += 2) {
        const int two = t + 1 < ntok;
        const size_t t1 = two ? t + 1 : t;
        tg_ptrs p;
        p.v[0] = v + t * vstride;
        p.v[1] = v + t1 * vstride;
        const __m256i bias = _mm256_setr_m128i(_mm_set1_epi32(vsum[t]), _mm_set1_epi32(vsum[t1]));
        int32_t *o0 = out + t * ostride, *o1 = out + t1 * ostride;
        for (size_t r = 0; r < rows; r += 4) {
            const size_t nr = rows - r < 4 ? rows - r : 4;
            for (size_t k = 0; k < 4; k++)
                p.w[k] = w + (r + (k < nr ? k : nr - 1)) * wstride;
            const __m256i res = _mm256_sub_epi32(tg_block(&p, cols), bias);
            if (nr == 4) {
                _mm_storeu_si128((__m128i *)(o0 + r), _mm256_castsi256_si128(res));
                if (two)
                    _mm_storeu_si128((__m128i *)(o1 + r), _mm256_extracti128_si256(res, 1));
            } else {
                const __m128i m = _mm256_castsi256_si128(lane_mask(nr));
                _mm_maskstore_epi32((int *)(o0 + r), m, _mm256_castsi256_si128(res));
                if (two)
                    _mm_maskstore_epi32((int *)(o1 + r), m, _mm256_extracti128_si256(res, 1));
            }
        }
    }
}

/*
 * update_predict on NR rows at once (4, or 1 for the last rows). The update
 * is fnmadd (one rounding: w - c*f exactly rounded) on both the fused and the
 * update-only path, so the two always agree. Columns beyond d are masked:
 * they are neither read nor written.
 */
AI void up_rows(int NR, int UP, int PR, float *W, size_t ws, size_t d, const float *c,
                const float *fo, const float *fn, float *p)
{
    __m256 ci[4], acc[4];
    for (int k = 0; k < NR; k++) {
        if (UP)
            ci[k] = _mm256_set1_ps(c[k]);
        acc[k] = _mm256_setzero_ps();
    }
    size_t j = 0;
    for (; j + 8 <= d; j += 8) {
        const __m256 a = UP ? _mm256_loadu_ps(fo + j) : _mm256_setzero_ps();
        const __m256 b = PR ? _mm256_loadu_ps(fn + j) : _mm256_setzero_ps();
        for (int k = 0; k < NR; k++) {
            float *row = W + k * ws + j;
            __m256 x = _mm256_loadu_ps(row);
            if (UP) {
                x = _mm256_fnmadd_ps(ci[k], a, x);
                _mm256_storeu_ps(row, x);
            }
            if (PR)
                acc[k] = _mm256_fmadd_ps(x, b, acc[k]);
        }
    }
    if (j < d) {
        const __m256i m = lane_mask(d - j);
        const __m256 a = UP ? _mm256_maskload_ps(fo + j, m) : _mm256_setzero_ps();
        const __m256 b = PR ? _mm256_maskload_ps(fn + j, m) : _mm256_setzero_ps();
        for (int k = 0; k < NR; k++) {
            float *row = W + k * ws + j;
            __m256 x = _mm256_maskload_ps(row, m);
            if (UP) {
                x = _mm256_fnmadd_ps(ci[k], a, x);
                _mm256_maskstore_ps(row, m, x);
            }
            if (PR)
                acc[k] = _mm256_fmadd_ps(x, b, acc[k]);
        }
    }
    if (!PR)
        return;
    if (NR == 4) {
        const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(acc[0], acc[1]), _mm256_hadd_ps(acc[2], acc[3]));
        _mm_storeu_ps(p, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
    } else {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[0]), _mm256_extractf128_ps(acc[0], 1));
        s = _mm_hadd_ps(s, s);
        s = _mm_hadd_ps(s, s);
        p[0] = _mm_cvtss_f32(s);
    }
}

AI void up_all(int UP, int PR, float *W, size_t d, size_t ws, const float *c,
               const float *fo, const float *fn, float *p)
{
    size_t i = 0;
    for (; i + 4 <= d; i += 4)
        up_rows(4, UP, PR, W + i * ws, ws, d, UP ? c + i : NULL, fo, fn, PR ? p + i : NULL);
    for (; i < d; i++)
        up_rows(1, UP, PR, W + i * ws, ws, d, UP ? c + i : NULL, fo, fn, PR ? p + i : NULL);
}

static void update_predict_avx2(float *W, size_t d, size_t ws, const float *c,
                                const float *fo, const float *fn, float *p)
{
    if (c && fn)
        up_all(1, 1, W, d, ws, c, fo, fn, p);
    else if (c)
        up_all(1, 0, W, d, ws, c, fo, NULL, NULL);
    else if (fn)
        up_all(0, 1, W, d, ws, NULL, NULL, fn, p);
}

/* mul then add, never fma: bit-identical to the scalar reference */
static void residual_avx2(const float *x, const int32_t *acc, size_t n, float g, float *out)
{
    const __m256 gv = _mm256_set1_ps(g);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 a = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(acc + i)));
        _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_mul_ps(a, gv)));
    }
    if (i < n) {
        const __m256i m = lane_mask(n - i);
        const __m256 a = _mm256_cvtepi32_ps(_mm256_maskload_epi32((const int *)(acc + i), m));
        _mm256_maskstore_ps(out + i, m, _mm256_add_ps(_mm256_maskload_ps(x + i, m), _mm256_mul_ps(a, gv)));
    }
}

const ttt_kernels ttt_kernels_avx2 = {
    "avx2", absmax_bits_avx2, quantize_avx2, tgemm_avx2, update_predict_avx2, residual_avx2,
};
