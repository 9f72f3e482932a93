/*
 * AVX-512 kernels (F/BW/VL; built with -mavx512f -mavx512bw -mavx512vl
 * -mavx512vnni). Two tables: ttt_kernels_avx512 uses no VNNI instruction,
 * ttt_kernels_avx512vnni differs only in tgemm, which uses vpdpbusd.
 * Contracts in kernels.h; the structure mirrors kernels_avx2.c, with opmasks
 * for every tail so nothing beyond n / cols / d is read or written.
 */
#include <immintrin.h>

#include "kernels.h"

#define AI static inline __attribute__((always_inline))

AI __mmask16 mask16(size_t n) /* n < 16 */
{
    return (__mmask16)((1u << n) - 1u);
}

AI __mmask64 mask64(size_t n) /* n < 64 */
{
    return (__mmask64)((UINT64_C(1) << n) - 1u);
}

static uint32_t absmax_bits_avx512(const float *x, size_t n)
{
    const __m512i abs = _mm512_set1_epi32(0x7fffffff);
    __m512i m0 = _mm512_setzero_si512(), m1 = m0;
    size_t i = 0;
    /* sign cleared: non-negative int32 patterns order like the floats */
    for (; i + 32 <= n; i += 32) {
        m0 = _mm512_max_epi32(m0, _mm512_and_si512(abs, _mm512_loadu_si512(x + i)));
        m1 = _mm512_max_epi32(m1, _mm512_and_si512(abs, _mm512_loadu_si512(x + i + 16)));
    }
    for (; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : mask16(n - i);
        m0 = _mm512_max_epi32(m0, _mm512_and_si512(abs, _mm512_maskz_loadu_epi32(k, x + i)));
    }
    return (uint32_t)_mm512_reduce_max_epi32(_mm512_max_epi32(m0, m1));
}

/* cvtps2dq rounds by MXCSR, nearest-even by default: the same as lrintf */
AI __m512i quant16(__m512 x, __m512 scale)
{
    const __m512i r = _mm512_cvtps_epi32(_mm512_mul_ps(x, scale));
    return _mm512_max_epi32(_mm512_min_epi32(r, _mm512_set1_epi32(127)), _mm512_set1_epi32(-127));
}

static int32_t quantize_avx512(const float *x, size_t n, float scale, int8_t *q)
{
    const __m512 s = _mm512_set1_ps(scale);
    __m512i sum = _mm512_setzero_si512();
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : mask16(n - i);
        /* masked lanes load 0.0f and quantise to 0: they add nothing */
        const __m512i a = quant16(_mm512_maskz_loadu_ps(k, x + i), s);
        sum = _mm512_add_epi32(sum, a);
        _mm_mask_storeu_epi8(q + i, k, _mm512_cvtepi32_epi8(a));
    }
    return _mm512_reduce_add_epi32(sum);
}

/* ---- tgemm: blocks of 2 tokens x 4 rows, as in kernels_avx2.c ---- */

typedef struct {
    const uint8_t *w[4];
    const int8_t *v[2];
} tg_ptrs;

AI __m256i fold16(__m512i a)
{
    return _mm256_add_epi16(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1));
}

AI __m256i fold32(__m512i a)
{
    return _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1));
}

/* 8 int32 vectors in the layout [t0 r0..r3 | t1 r0..r3] of their sums */
AI __m256i reduce8_epi32(const __m256i a[8])
{
    const __m256i x = _mm256_hadd_epi32(_mm256_hadd_epi32(a[0], a[1]), _mm256_hadd_epi32(a[2], a[3]));
    const __m256i y = _mm256_hadd_epi32(_mm256_hadd_epi32(a[4], a[5]), _mm256_hadd_epi32(a[6], a[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(x, y, 0x20), _mm256_permute2x128_si256(x, y, 0x31));
}

AI void tg_load(const tg_ptrs *p, size_t o, __mmask64 k, __m512i w[4], __m512i v[2])
{
    /* masked: bytes beyond cols are never read, so padding adds nothing */
    for (int r = 0; r < 4; r++)
        w[r] = _mm512_maskz_loadu_epi8(k, p->w[r] + o);
    v[0] = _mm512_maskz_loadu_epi8(k, p->v[0] + o);
    v[1] = _mm512_maskz_loadu_epi8(k, p->v[1] + o);
}

/* maddubs: int16 lanes hold sums over distinct columns of w*v (|w*v| <=
 * 256); such a sum over at most 127 columns cannot wrap (see kernels_avx2.c).
 * Blocks of 8 chunks of 64 give 16 columns per lane, 32 after the fold to
 * 256 bits, 64 after one phaddw. */
#define CHUNKS_PER_BLOCK 8

AI void tg_chunks_bw(__m512i acc[8], const tg_ptrs *p, size_t c0, size_t c1, size_t cols)
{
    for (size_t c = c0; c < c1; c++) {
        const size_t o = c * 64;
        const __mmask64 k = cols - o >= 64 ? ~(__mmask64)0 : mask64(cols - o);
        __m512i w[4], v[2];
        tg_load(p, o, k, w, v);
        for (int r = 0; r < 4; r++) {
            acc[r] = _mm512_add_epi16(acc[r], _mm512_maddubs_epi16(w[r], v[0]));
            acc[4 + r] = _mm512_add_epi16(acc[4 + r], _mm512_maddubs_epi16(w[r], v[1]));
        }
    }
}

AI __m256i tg_block_bw(const tg_ptrs *p, size_t cols)
{
    const size_t nchunks = (cols + 63) / 64;
    __m512i a[8];
    __m256i b[8];
    if (cols <= 127) {
        for (int k = 0; k < 8; k++)
            a[k] = _mm512_setzero_si512();
        tg_chunks_bw(a, p, 0, nchunks, cols);
        for (int k = 0; k < 8; k++)
            b[k] = fold16(a[k]);
        const __m256i b0 = _mm256_hadd_epi16(b[0], b[1]), b1 = _mm256_hadd_epi16(b[2], b[3]);
        const __m256i b2 = _mm256_hadd_epi16(b[4], b[5]), b3 = _mm256_hadd_epi16(b[6], b[7]);
        const __m256i c = _mm256_hadd_epi16(_mm256_hadd_epi16(b0, b1), _mm256_hadd_epi16(b2, b3));
        return _mm256_cvtepi16_epi32(_mm_add_epi16(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1)));
    }
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i s[4] = { _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256() };
    for (size_t c0 = 0; c0 < nchunks; c0 += CHUNKS_PER_BLOCK) {
        const size_t c1 = nchunks - c0 < CHUNKS_PER_BLOCK ? nchunks : c0 + CHUNKS_PER_BLOCK;
        for (int k = 0; k < 8; k++)
            a[k] = _mm512_setzero_si512();
        tg_chunks_bw(a, p, c0, c1, cols);
        for (int k = 0; k < 4; k++) {
            const __m256i h = _mm256_hadd_epi16(fold16(a[2 * k]), fold16(a[2 * k + 1]));
            s[k] = _mm256_add_epi32(s[k], _mm256_madd_epi16(h, ones));
        }
    }
    const __m256i x = _mm256_hadd_epi32(s[0], s[1]), y = _mm256_hadd_epi32(s[2], s[3]);
    return _mm256_add_epi32(_mm256_permute2x128_si256(x, y, 0x20), _mm256_permute2x128_si256(x, y, 0x31));
}

/* vpdpbusd accumulates u8 x s8 products straight into int32: no bound */
AI __m256i tg_block_vnni(const tg_ptrs *p, size_t cols)
{
    __m512i a[8];
    for (int k = 0; k < 8; k++)
        a[k] = _mm512_setzero_si512();
    for (size_t o = 0; o < cols; o += 64) {
        const __mmask64 k = cols - o >= 64 ? ~(__mmask64)0 : mask64(cols - o);
        __m512i w[4], v[2];
        tg_load(p, o, k, w, v);
        for (int r = 0; r < 4; r++) {
            a[r] = _mm512_dpbusd_epi32(a[r], w[r], v[0]);
            a[4 + r] = _mm512_dpbusd_epi32(a[4 + r], w[r], v[1]);
        }
    }
    __m256i b[8];
    for (int k = 0; k < 8; k++)
        b[k] = fold32(a[k]);
    return reduce8_epi32(b);
}

AI void tgemm_any(int VNNI, const uint8_t *w, size_t wstride, size_t rows, size_t cols,
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
            const __m256i blk = VNNI ? tg_block_vnni(&p, cols) : tg_block_bw(&p, cols);
            const __m256i res = _mm256_sub_epi32(blk, bias);
            const __mmask8 m = (__mmask8)((1u << nr) - 1u);
            _mm_mask_storeu_epi32(o0 + r, m, _mm256_castsi256_si128(res));
            if (two)
                _mm_mask_storeu_epi32(o1 + r, m, _mm256_extracti128_si256(res, 1));
        }
    }
}

/* the weights in the plain row layout (ttt_tpack_rows): stride cols rounded up to 64 */
static void tgemm_avx512(const uint8_t *w, size_t rows, size_t cols,
                         const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                         int32_t *out, size_t ostride)
{
    tgemm_any(0, w, (cols + 63) / 64 * 64, rows, cols, v, vstride, vsum, ntok, out, ostride);
}

static void tgemm_avx512vnni(const uint8_t *w, size_t rows, size_t cols,
                             const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                             int32_t *out, size_t ostride)
{
    tgemm_any(1, w, (cols + 63) / 64 * 64, rows, cols, v, vstride, vsum, ntok, out, ostride);
}

/* ---- update_predict: by columns, mul + add (see kernels_avx2.c) ---- */

/* NV vectors of 16 rows (NV <= 4), the rows of vector k enabled by mk[k] */
AI void up_chunk(int NV, int UP, int DK, int PR, float *Wt, size_t ws, size_t d, const __mmask16 *mk,
                 const float *c, const float *fo, float decay, const float *fn, float *p)
{
    const __m512 dv = _mm512_set1_ps(decay);
    __m512 cv[4], acc[4];
    for (int k = 0; k < NV; k++) {
        /* -c: W + (-c) a equals W - c a exactly (see kernels_avx2.c) */
        if (UP)
            cv[k] = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_maskz_loadu_epi32(mk[k], c + 16 * k),
                                                         _mm512_set1_epi32(INT32_MIN)));
        acc[k] = _mm512_setzero_ps();
    }
    for (size_t j = 0; j < d; j++) {
        float *col = Wt + j * ws;
        const __m512 a = UP ? _mm512_set1_ps(fo[j]) : _mm512_setzero_ps();
        const __m512 b = PR ? _mm512_set1_ps(fn[j]) : _mm512_setzero_ps();
        for (int k = 0; k < NV; k++) {
            __m512 x = _mm512_maskz_loadu_ps(mk[k], col + 16 * k);
            if (UP) {
                if (DK)
                    x = _mm512_mul_ps(x, dv);
                x = _mm512_add_ps(x, _mm512_mul_ps(cv[k], a));
                _mm512_mask_storeu_ps(col + 16 * k, mk[k], x);
            }
            if (PR)
                acc[k] = _mm512_add_ps(acc[k], _mm512_mul_ps(x, b));
        }
    }
    if (PR)
        for (int k = 0; k < NV; k++)
            _mm512_mask_storeu_ps(p + 16 * k, mk[k], acc[k]);
}

/* Large W: four whole columns at a time, in memory order (see kernels_avx2.c) */
#define STREAM_D 512

AI void up_stream_pass(int NC, int UP, int DK, int PR, float *Wt, size_t ws, size_t d, size_t j,
                       const float *c, const float *fo, const float *fn, __m512 dv, float *p)
{
    __m512 a[4], b[4];
    for (int k = 0; k < NC; k++) {
        a[k] = UP ? _mm512_set1_ps(fo[j + k]) : _mm512_setzero_ps();
        b[k] = PR ? _mm512_set1_ps(fn[j + k]) : _mm512_setzero_ps();
    }
    for (size_t i = 0; i < d; i += 16) {
        const __mmask16 m = d - i >= 16 ? (__mmask16)0xffff : mask16(d - i);
        const __m512 ci = UP ? _mm512_maskz_loadu_ps(m, c + i) : _mm512_setzero_ps();
        __m512 acc = PR ? _mm512_maskz_loadu_ps(m, p + i) : _mm512_setzero_ps();
        for (int k = 0; k < NC; k++) {
            float *w = Wt + (j + k) * ws + i;
            __m512 x = _mm512_maskz_loadu_ps(m, w);
            if (UP) {
                if (DK)
                    x = _mm512_mul_ps(x, dv);
                x = _mm512_sub_ps(x, _mm512_mul_ps(ci, a[k]));
                _mm512_mask_storeu_ps(w, m, x);
            }
            if (PR)
                acc = _mm512_add_ps(acc, _mm512_mul_ps(x, b[k]));
        }
        if (PR)
            _mm512_mask_storeu_ps(p + i, m, acc);
    }
}

AI void up_stream(int UP, int DK, int PR, float *Wt, size_t d, size_t ws, const float *c,
                  const float *fo, float decay, const float *fn, float *p)
{
    const __m512 dv = _mm512_set1_ps(decay);
    if (PR)
        for (size_t i = 0; i < d; i += 16)
            _mm512_mask_storeu_ps(p + i, d - i >= 16 ? (__mmask16)0xffff : mask16(d - i), _mm512_setzero_ps());
    size_t j = 0;
    for (; j + 4 <= d; j += 4)
        up_stream_pass(4, UP, DK, PR, Wt, ws, d, j, c, fo, fn, dv, p);
    for (; j < d; j++)
        up_stream_pass(1, UP, DK, PR, Wt, ws, d, j, c, fo, fn, dv, p);
}

AI void up_all(int UP, int DK, int PR, float *Wt, size_t d, size_t ws, const float *c,
               const float *fo, float decay, const float *fn, float *p)
{
    if (d >= STREAM_D) {
        up_stream(UP, DK, PR, Wt, d, ws, c, fo, decay, fn, p);
        return;
    }
    __mmask16 mk[4] = { 0xffff, 0xffff, 0xffff, 0xffff };
    size_t i = 0;
    for (; i + 64 <= d; i += 64)
        up_chunk(4, UP, DK, PR, Wt + i, ws, d, mk, UP ? c + i : NULL, fo, decay, fn, PR ? p + i : NULL);
    if (i == d)
        return;
    const size_t nv = (d - i + 15) / 16, nlast = d - i - 16 * (nv - 1);
    if (nlast < 16)
        mk[nv - 1] = mask16(nlast);
    float *w = Wt + i;
    const float *ci = UP ? c + i : NULL;
    float *pi = PR ? p + i : NULL;
    switch (nv) {
    case 1:
        up_chunk(1, UP, DK, PR, w, ws, d, mk, ci, fo, decay, fn, pi);
        break;
    case 2:
        up_chunk(2, UP, DK, PR, w, ws, d, mk, ci, fo, decay, fn, pi);
        break;
    case 3:
        up_chunk(3, UP, DK, PR, w, ws, d, mk, ci, fo, decay, fn, pi);
        break;
    default:
        up_chunk(4, UP, DK, PR, w, ws, d, mk, ci, fo, decay, fn, pi);
        break;
    }
}

static void update_predict_avx512(float *Wt, size_t d, size_t ws, const float *c,
                                  const float *fo, float decay, const float *fn, float *p)
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

/* the SPEC's eight sums are eight lanes: ymm, with AVX-512VL masks */
static float error_avx512(const float *p, const float *tg, size_t d, float r, float *c, uint32_t *pmax)
{
    const __m256 rv = _mm256_set1_ps(r);
    const __m256i abs = _mm256_set1_epi32(0x7fffffff);
    __m256 u = _mm256_setzero_ps();
    __m256i mx = _mm256_setzero_si256();
    for (size_t j = 0; j < d; j += 8) {
        const __mmask8 m = d - j >= 8 ? (__mmask8)0xff : (__mmask8)((1u << (d - j)) - 1u);
        const __m256 pv = _mm256_maskz_loadu_ps(m, p + j);
        const __m256 e = _mm256_sub_ps(pv, _mm256_maskz_loadu_ps(m, tg + j));
        _mm256_mask_storeu_ps(c + j, m, _mm256_mul_ps(rv, e));
        u = _mm256_add_ps(u, _mm256_mul_ps(e, e));
        mx = _mm256_max_epi32(mx, _mm256_and_si256(abs, _mm256_castps_si256(pv)));
    }
    __m128i r4 = _mm_max_epi32(_mm256_castsi256_si128(mx), _mm256_extracti128_si256(mx, 1));
    r4 = _mm_max_epi32(r4, _mm_shuffle_epi32(r4, _MM_SHUFFLE(1, 0, 3, 2)));
    r4 = _mm_max_epi32(r4, _mm_shuffle_epi32(r4, _MM_SHUFFLE(2, 3, 0, 1)));
    *pmax = (uint32_t)_mm_cvtsi128_si32(r4);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

static void scale_i32_avx512(const int32_t *a, size_t d, float s, float *f)
{
    const __m512 sv = _mm512_set1_ps(s);
    for (size_t j = 0; j < d; j += 16) {
        const __mmask16 m = d - j >= 16 ? (__mmask16)0xffff : mask16(d - j);
        _mm512_mask_storeu_ps(f + j, m, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, a + j)), sv));
    }
}

/* vpmuldq squares the even int32 lanes into int64 (see kernels_avx2.c) */
static int64_t sumsq_avx512(const int32_t *a, size_t n)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = s0;
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : mask16(n - i);
        const __m512i x = _mm512_maskz_loadu_epi32(m, a + i);
        s0 = _mm512_add_epi64(s0, _mm512_mul_epi32(x, x));
        const __m512i y = _mm512_srli_epi64(x, 32);
        s1 = _mm512_add_epi64(s1, _mm512_mul_epi32(y, y));
    }
    return (int64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(s0, s1));
}

/* mul then add, never fma: bit-identical to the scalar reference */
static void residual_avx512(const float *x, const int32_t *acc, size_t n, float g, float *out)
{
    const __m512 gv = _mm512_set1_ps(g);
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : mask16(n - i);
        const __m512 a = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, acc + i));
        _mm512_mask_storeu_ps(out + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_mul_ps(a, gv)));
    }
}

static void tgemm_residual_avx512(const uint8_t *packed, size_t rows, size_t cols,
                                  const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                                  const float *x, const float *g, float *out, size_t xstride, int32_t *acc)
{
    ttt_tgemm_residual_split(&ttt_kernels_avx512, packed, rows, cols, v, vstride, vsum, ntok, x, g, out,
                             xstride, acc);
}

static void tgemm_residual_avx512vnni(const uint8_t *packed, size_t rows, size_t cols,
                                      const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                                      const float *x, const float *g, float *out, size_t xstride, int32_t *acc)
{
    ttt_tgemm_residual_split(&ttt_kernels_avx512vnni, packed, rows, cols, v, vstride, vsum, ntok, x, g, out,
                             xstride, acc);
}

static void quantize_block_avx512(const float *x, size_t n, size_t ntok, float floor, int8_t *q, size_t qstride,
                                  int32_t *qsum, float *mx)
{
    ttt_quantize_block_split(&ttt_kernels_avx512, x, n, ntok, floor, q, qstride, qsum, mx);
}

const ttt_kernels ttt_kernels_avx512 = {
    "avx512", absmax_bits_avx512, quantize_avx512, ttt_tpack_rows_size, ttt_tpack_rows, tgemm_avx512,
    update_predict_avx512, error_avx512, scale_i32_avx512, sumsq_avx512, residual_avx512,
    tgemm_residual_avx512, quantize_block_avx512,
    ttt_chunk_predict_avx2, ttt_chunk_update_avx2, ttt_chunk_correct_avx2,
};

const ttt_kernels ttt_kernels_avx512vnni = {
    "avx512-vnni", absmax_bits_avx512, quantize_avx512, ttt_tpack_rows_size, ttt_tpack_rows,
    tgemm_avx512vnni, update_predict_avx512, error_avx512, scale_i32_avx512, sumsq_avx512, residual_avx512,
    tgemm_residual_avx512vnni, quantize_block_avx512,
    ttt_chunk_predict_avx2, ttt_chunk_update_avx2, ttt_chunk_correct_avx2,
};
