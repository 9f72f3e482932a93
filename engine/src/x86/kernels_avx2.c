/*
 * AVX2 + FMA kernels (built with -mavx2 -mfma). Contracts in kernels.h;
 * tests/engine/checkasm.c compares every function with the scalar reference.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "x86/avx2_inline.h"

#define AI static inline __attribute__((always_inline))

AI uint32_t absmax_bits_body(const float *x, size_t n)
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

/* cvtps2dq rounds by MXCSR, nearest-even by default: the same as lrintf.
 * Within the contract (|x * scale| < 127.5) no clamp is needed. */
AI __m256i quant8(__m256 x, __m256 scale)
{
    return _mm256_cvtps_epi32(_mm256_mul_ps(x, scale));
}

AI int32_t quantize_body(const float *x, size_t n, float scale, int8_t *q)
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

static uint32_t absmax_bits_avx2(const float *x, size_t n)
{
    return absmax_bits_body(x, n);
}

static int32_t quantize_avx2(const float *x, size_t n, float scale, int8_t *q)
{
    return quantize_body(x, n, scale, q);
}

/* the bodies inlined: no calls, the constants loaded once per block */
static void quantize_block_avx2(const float *x, size_t n, size_t ntok, float floor, int8_t *q, size_t qstride,
                                int32_t *qsum, float *mx)
{
    for (size_t t = 0; t < ntok; t++) {
        const uint32_t mb = absmax_bits_body(x + t * n, n);
        float m;
        memcpy(&m, &mb, sizeof m);
        mx[t] = mb >= 0x7f800000u ? NAN : m < floor ? 0.0f : m;
    }
    for (size_t t = 0; t < ntok; t++) {
        if (mx[t] > 0.0f) {
            qsum[t] = quantize_body(x + t * n, n, 127.0f / mx[t], q + t * qstride);
        } else {
            memset(q + t * qstride, 0, n);
            qsum[t] = 0;
        }
    }
}

#include "x86/tgemm_avx2.h"

static size_t tpack_size_avx2(size_t rows, size_t cols)
{
    if (cols > SMALL_COLS)
        return ttt_tpack_rows_size(rows, cols);
    return (rows + 7) / 8 * (256 + 8 * sizeof(int32_t));
}

/* tile g, register q, row r: bytes w - 1 at columns 4q .. 4q + 3; then the
 * row sums */
static void tpack_avx2(const uint8_t *w, size_t wstride, size_t rows, size_t cols, uint8_t *packed)
{
    if (cols > SMALL_COLS) {
        ttt_tpack_rows(w, wstride, rows, cols, packed);
        return;
    }
    const size_t G = (rows + 7) / 8;
    int32_t *rs = (int32_t *)(packed + G * 256);
    for (size_t g = 0; g < G; g++)
        for (size_t q = 0; q < 8; q++)
            for (size_t r = 0; r < 8; r++)
                for (size_t i = 0; i < 4; i++) {
                    const size_t row = 8 * g + r, col = 4 * q + i;
                    const int wv = row < rows && col < cols ? (int)w[row * wstride + col] - 1 : 0;
                    packed[g * 256 + q * 32 + r * 4 + i] = (uint8_t)(int8_t)wv;
                }
    for (size_t row = 0; row < 8 * G; row++) {
        int32_t sum = 0;
        for (size_t c = 0; row < rows && c < cols; c++)
            sum += (int32_t)w[row * wstride + c] - 1;
        rs[row] = 128 * sum;
    }
}

static void tgemm_avx2(const uint8_t *w, size_t rows, size_t cols,
                       const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                       int32_t *out, size_t ostride)
{
    tgemm_any(0, w, rows, cols, v, vstride, vsum, ntok, out, ostride);
}

/*
 * update_predict on NV vectors of 8 rows (NV <= 4: c and p stay in
 * registers), walking every column of W (stored by columns). Each p lane is
 * its row's sum in column order, so the result is the scalar one bit for
 * bit: products are rounded and then added (mul + add, never fma). On Zen 3
 * and recent Intel the multiplies and the adds issue on separate pipes, so
 * this costs about what fma would; stores bound the update either way.
 * MASKED: the last vector holds fewer than 8 rows; the others are neither
 * read nor written.
 */
/* one column's piece, NV vectors: W updated by the step (-c in cv) times a,
 * then with PR summed against b into acc */
AI void up_col(int NV, int MASKED, int UP, int DK, int PR, float *col, __m256i m, const __m256 *cv, __m256 a,
               __m256 b, __m256 dv, __m256 *acc)
{
    for (int k = 0; k < NV; k++) {
        const int mk = MASKED && k == NV - 1;
        __m256 x = mk ? _mm256_maskload_ps(col + 8 * k, m) : _mm256_loadu_ps(col + 8 * k);
        if (UP) {
            if (DK)
                x = _mm256_mul_ps(x, dv);
            x = _mm256_add_ps(x, _mm256_mul_ps(cv[k], a));
            if (mk)
                _mm256_maskstore_ps(col + 8 * k, m, x);
            else
                _mm256_storeu_ps(col + 8 * k, x);
        }
        if (PR)
            acc[k] = _mm256_add_ps(acc[k], _mm256_mul_ps(x, b));
    }
}

AI void up_chunk(int NV, int MASKED, int UP, int DK, int PR, float *Wt, size_t ws, size_t d,
                 size_t nlast, const float *c, const float *fo, float decay, const float *fn, float *p)
{
    const __m256 dv = _mm256_set1_ps(decay);
    const __m256i m = lane_mask(nlast);
    __m256 cv[4], acc[4];
    for (int k = 0; k < NV; k++) {
        const int mk = MASKED && k == NV - 1;
        /* -c: W + (-c) a equals W - c a exactly, signed zeros included,
         * and an add can take W straight from memory */
        if (UP)
            cv[k] = _mm256_xor_ps(mk ? _mm256_maskload_ps(c + 8 * k, m) : _mm256_loadu_ps(c + 8 * k),
                                  _mm256_set1_ps(-0.0f));
        acc[k] = _mm256_setzero_ps();
    }
    /* two columns per iteration: the loop's own bookkeeping is a good part
     * of the instructions at d = 32 */
#pragma GCC unroll 2
    for (size_t j = 0; j < d; j++)
        up_col(NV, MASKED, UP, DK, PR, Wt + j * ws, m, cv, UP ? _mm256_broadcast_ss(fo + j) : dv,
               PR ? _mm256_broadcast_ss(fn + j) : dv, dv, acc);
    if (PR)
        for (int k = 0; k < NV; k++) {
            if (MASKED && k == NV - 1)
                _mm256_maskstore_ps(p + 8 * k, m, acc[k]);
            else
                _mm256_storeu_ps(p + 8 * k, acc[k]);
        }
}

/*
 * Large W (beyond L2) is streamed four whole columns at a time, in memory
 * order: walking 32 rows over every column instead touches one 128-byte
 * piece per column at a stride of ws floats, which defeats the prefetchers
 * and, with ws a multiple of 1024, maps every piece to the same L1 set. The
 * sums p[i] then live in memory (L1), still one per row, still added in
 * column order: the same arithmetic.
 */
#define STREAM_D 512

/* NC columns from j on, for the rows in [i, i + 8) (masked: the last d % 8) */
AI void up_stream_cols(int NC, int MK, int UP, int DK, int PR, float *Wt, size_t ws, size_t j, size_t i,
                       __m256i m, const float *c, const __m256 *a, const __m256 *b, __m256 dv, float *p)
{
    __m256 ci = _mm256_setzero_ps(), acc = _mm256_setzero_ps();
    if (UP)
        ci = MK ? _mm256_maskload_ps(c + i, m) : _mm256_loadu_ps(c + i);
    if (PR)
        acc = MK ? _mm256_maskload_ps(p + i, m) : _mm256_loadu_ps(p + i);
    for (int k = 0; k < NC; k++) {
        float *w = Wt + (j + k) * ws + i;
        __m256 x = MK ? _mm256_maskload_ps(w, m) : _mm256_loadu_ps(w);
        if (UP) {
            if (DK)
                x = _mm256_mul_ps(x, dv);
            x = _mm256_sub_ps(x, _mm256_mul_ps(ci, a[k]));
            if (MK)
                _mm256_maskstore_ps(w, m, x);
            else
                _mm256_storeu_ps(w, x);
        }
        if (PR)
            acc = _mm256_add_ps(acc, _mm256_mul_ps(x, b[k]));
    }
    if (PR) {
        if (MK)
            _mm256_maskstore_ps(p + i, m, acc);
        else
            _mm256_storeu_ps(p + i, acc);
    }
}

/* NC columns from j on, every row */
AI void up_stream_pass(int NC, int UP, int DK, int PR, float *Wt, size_t ws, size_t d, size_t j,
                       const float *c, const float *fo, const float *fn, __m256 dv, float *p)
{
    __m256 a[4], b[4];
    for (int k = 0; k < NC; k++) {
        a[k] = UP ? _mm256_broadcast_ss(fo + j + k) : _mm256_setzero_ps();
        b[k] = PR ? _mm256_broadcast_ss(fn + j + k) : _mm256_setzero_ps();
    }
    const __m256i m = lane_mask(d % 8);
    size_t i = 0;
    for (; i + 8 <= d; i += 8)
        up_stream_cols(NC, 0, UP, DK, PR, Wt, ws, j, i, m, c, a, b, dv, p);
    if (i < d)
        up_stream_cols(NC, 1, UP, DK, PR, Wt, ws, j, i, m, c, a, b, dv, p);
}

AI void up_stream(int UP, int DK, int PR, float *Wt, size_t d, size_t ws, const float *c,
                  const float *fo, float decay, const float *fn, float *p)
{
    const __m256 dv = _mm256_set1_ps(decay);
    if (PR)
        memset(p, 0, d * sizeof *p);
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
    size_t i = 0;
    for (; i + 32 <= d; i += 32)
        up_chunk(4, 0, UP, DK, PR, Wt + i, ws, d, 8, UP ? c + i : NULL, fo, decay, fn, PR ? p + i : NULL);
    if (i == d)
        return;
    const size_t nv = (d - i + 7) / 8, nlast = d - i - 8 * (nv - 1);
    float *w = Wt + i;
    const float *ci = UP ? c + i : NULL;
    float *pi = PR ? p + i : NULL;
#define UP_REST(NV)                                                                     \
    if (nlast == 8)                                                                     \
        up_chunk(NV, 0, UP, DK, PR, w, ws, d, nlast, ci, fo, decay, fn, pi);            \
    else                                                                                \
        up_chunk(NV, 1, UP, DK, PR, w, ws, d, nlast, ci, fo, decay, fn, pi);            \
    break;
    switch (nv) {
    case 1: UP_REST(1)
    case 2: UP_REST(2)
    case 3: UP_REST(3)
    default: UP_REST(4)
    }
#undef UP_REST
}

static void update_predict_avx2(float *Wt, size_t d, size_t ws, const float *c,
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

/* one register is the SPEC's eight sums u[0..7]; masked lanes add +0,
 * which changes no sum (squares are never -0) */
float ttt_error_avx2(const float *p, const float *tg, size_t d, float r, float *c, uint32_t *pmax)
{
    const __m256 rv = _mm256_set1_ps(r);
    const __m256i abs = _mm256_set1_epi32(0x7fffffff);
    __m256 u = _mm256_setzero_ps();
    __m256i mx = _mm256_setzero_si256();
    for (size_t j = 0; j < d; j += 8) {
        const int full = j + 8 <= d;
        const __m256i m = lane_mask(d - j);
        const __m256 pv = full ? _mm256_loadu_ps(p + j) : _mm256_maskload_ps(p + j, m);
        const __m256 e = _mm256_sub_ps(pv, full ? _mm256_loadu_ps(tg + j) : _mm256_maskload_ps(tg + j, m));
        if (full)
            _mm256_storeu_ps(c + j, _mm256_mul_ps(rv, e));
        else
            _mm256_maskstore_ps(c + j, m, _mm256_mul_ps(rv, e));
        u = _mm256_add_ps(u, _mm256_mul_ps(e, e));
        mx = _mm256_max_epi32(mx, _mm256_and_si256(abs, _mm256_castps_si256(pv)));
    }
    __m128i r4 = _mm_max_epi32(_mm256_castsi256_si128(mx), _mm256_extracti128_si256(mx, 1));
    r4 = _mm_max_epi32(r4, _mm_shuffle_epi32(r4, _MM_SHUFFLE(1, 0, 3, 2)));
    r4 = _mm_max_epi32(r4, _mm_shuffle_epi32(r4, _MM_SHUFFLE(2, 3, 0, 1)));
    *pmax = (uint32_t)_mm_cvtsi128_si32(r4);
    /* (u0+u4, u1+u5, u2+u6, u3+u7), then (.. + u2+u6, .. + u3+u7), then the two */
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

static void scale_i32_avx2(const int32_t *a, size_t d, float s, float *f)
{
    const __m256 sv = _mm256_set1_ps(s);
    size_t j = 0;
    for (; j + 8 <= d; j += 8)
        _mm256_storeu_ps(f + j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(a + j))), sv));
    if (j < d) {
        const __m256i m = lane_mask(d - j);
        _mm256_maskstore_ps(f + j, m, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_maskload_epi32((const int *)(a + j), m)), sv));
    }
}

/* vpmuldq squares the even int32 lanes into int64; the odd ones are shifted
 * down into even position first */
static int64_t sumsq_avx2(const int32_t *a, size_t n)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = s0;
    size_t i = 0;
    for (; i < n; i += 8) {
        const __m256i x = i + 8 <= n ? _mm256_loadu_si256((const __m256i *)(a + i))
                                     : _mm256_maskload_epi32((const int *)(a + i), lane_mask(n - i));
        s0 = _mm256_add_epi64(s0, _mm256_mul_epi32(x, x));
        const __m256i y = _mm256_srli_epi64(x, 32);
        s1 = _mm256_add_epi64(s1, _mm256_mul_epi32(y, y));
    }
    s0 = _mm256_add_epi64(s0, s1);
    const __m128i r = _mm_add_epi64(_mm256_castsi256_si128(s0), _mm256_extracti128_si256(s0, 1));
    return _mm_cvtsi128_si64(r) + _mm_extract_epi64(r, 1);
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

static void tgemm_residual_avx2(const uint8_t *packed, size_t rows, size_t cols,
                                const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                                const float *x, const float *g, float *out, size_t xstride, int32_t *acc)
{
    tgemm_residual_any(0, &ttt_kernels_avx2, packed, rows, cols, v, vstride, vsum, ntok, x, g, out, xstride,
                       acc);
}


/*
 * The chunk kernels (SPEC "Large d"). chunk_predict streams W in memory
 * order, CP_JB whole columns at a time (contiguous, so the prefetchers
 * follow and nothing aliases in L1/L2); the sums of a tile of 16 rows x up
 * to 6 tokens run in registers over the block's columns and wait in P
 * between blocks, still added in column order: update_predict's arithmetic.
 */
#define CP_JB 16

AI __m256 ld(const float *x, int mk, __m256i m)
{
    return mk ? _mm256_maskload_ps(x, m) : _mm256_loadu_ps(x);
}

AI void st(float *x, int mk, __m256i m, __m256 v)
{
    if (mk)
        _mm256_maskstore_ps(x, m, v);
    else
        _mm256_storeu_ps(x, v);
}

AI void cp_tile(int NV, int NT, int MK, const float *Wt, size_t ws, size_t i, size_t j0, size_t j1, __m256i m,
                const float *X, size_t xs, float *P)
{
    __m256 acc[2][6];
    for (int k = 0; k < NV; k++)
        for (int t = 0; t < NT; t++)
            acc[k][t] = j0 ? ld(P + t * xs + i + 8 * k, MK && k == NV - 1, m) : _mm256_setzero_ps();
    for (size_t j = j0; j < j1; j++) {
        const float *col = Wt + j * ws + i;
        __m256 w[2];
        for (int k = 0; k < NV; k++)
            w[k] = ld(col + 8 * k, MK && k == NV - 1, m);
        for (int t = 0; t < NT; t++) {
            const __m256 b = _mm256_broadcast_ss(X + t * xs + j);
            for (int k = 0; k < NV; k++)
                acc[k][t] = _mm256_add_ps(acc[k][t], _mm256_mul_ps(w[k], b));
        }
    }
    for (int k = 0; k < NV; k++)
        for (int t = 0; t < NT; t++)
            st(P + t * xs + i + 8 * k, MK && k == NV - 1, m, acc[k][t]);
}

/* every token group for the rows [i, i + 8 NV) */
AI void cp_rows(int NV, int MK, const float *Wt, size_t ws, size_t i, size_t j0, size_t j1, __m256i m,
                const float *X, size_t xs, size_t n, float *P)
{
    size_t t = 0;
    for (; t + 6 <= n; t += 6)
        cp_tile(NV, 6, MK, Wt, ws, i, j0, j1, m, X + t * xs, xs, P + t * xs);
    switch (n - t) {
    case 5: cp_tile(NV, 5, MK, Wt, ws, i, j0, j1, m, X + t * xs, xs, P + t * xs); break;
    case 4: cp_tile(NV, 4, MK, Wt, ws, i, j0, j1, m, X + t * xs, xs, P + t * xs); break;
    case 3: cp_tile(NV, 3, MK, Wt, ws, i, j0, j1, m, X + t * xs, xs, P + t * xs); break;
    case 2: cp_tile(NV, 2, MK, Wt, ws, i, j0, j1, m, X + t * xs, xs, P + t * xs); break;
    case 1: cp_tile(NV, 1, MK, Wt, ws, i, j0, j1, m, X + t * xs, xs, P + t * xs); break;
    default: break;
    }
}

void ttt_chunk_predict_avx2(const float *Wt, size_t d, size_t ws, const float *X, size_t xs, size_t n, float *P)
{
    const __m256i m = lane_mask(d % 8);
    if (n == 0)
        return;
    for (size_t j0 = 0; j0 < d; j0 += CP_JB) {
        const size_t j1 = d - j0 < CP_JB ? d : j0 + CP_JB;
        size_t i = 0;
        for (; i + 16 <= d; i += 16)
            cp_rows(2, 0, Wt, ws, i, j0, j1, m, X, xs, n, P);
        if (d - i > 8)
            cp_rows(2, d % 8 != 0, Wt, ws, i, j0, j1, m, X, xs, n, P);
        else if (d - i == 8)
            cp_rows(1, 0, Wt, ws, i, j0, j1, m, X, xs, n, P);
        else if (d > i)
            cp_rows(1, 1, Wt, ws, i, j0, j1, m, X, xs, n, P);
    }
}

/* rows [i, i + 8 NV) of NC columns from j, through all n rank-1 terms: the
 * W values stay in registers, one dependency chain per register */
AI void cu_tile(int NV, int NC, int MK, int DK, float *Wt, size_t ws, size_t i, size_t j, __m256i m,
                const float *C, const float *K, size_t cs, size_t n, __m256 dv)
{
    __m256 w[2][4];
    for (int c = 0; c < NC; c++)
        for (int k = 0; k < NV; k++)
            w[c][k] = ld(Wt + (j + c) * ws + i + 8 * k, MK && k == NV - 1, m);
    for (size_t l = 0; l < n; l++) {
        __m256 cv[4];
        for (int k = 0; k < NV; k++)
            cv[k] = ld(C + l * cs + i + 8 * k, MK && k == NV - 1, m);
        for (int c = 0; c < NC; c++) {
            const __m256 b = _mm256_broadcast_ss(K + l * cs + j + c);
            for (int k = 0; k < NV; k++) {
                __m256 x = w[c][k];
                if (DK)
                    x = _mm256_mul_ps(x, dv);
                w[c][k] = _mm256_sub_ps(x, _mm256_mul_ps(cv[k], b));
            }
        }
    }
    for (int c = 0; c < NC; c++)
        for (int k = 0; k < NV; k++)
            st(Wt + (j + c) * ws + i + 8 * k, MK && k == NV - 1, m, w[c][k]);
}

/* rows [i0, i1) of NC columns from j */
AI void cu_cols(int NC, int DK, float *Wt, size_t i0, size_t i1, size_t d, size_t ws, size_t j, const float *C,
                const float *K, size_t cs, size_t n, __m256 dv)
{
    const __m256i m = lane_mask(d % 8);
    size_t i = i0;
    for (; i + 32 <= i1; i += 32)
        cu_tile(4, NC, 0, DK, Wt, ws, i, j, m, C, K, cs, n, dv);
    for (; i + 8 <= i1; i += 8)
        cu_tile(1, NC, 0, DK, Wt, ws, i, j, m, C, K, cs, n, dv);
    if (i < i1)
        cu_tile(1, NC, 1, DK, Wt, ws, i, j, m, C, K, cs, n, dv);
}

/* A band of CU_BAND rows at a time: its rows of C (n x CU_BAND floats) stay
 * in L1 while the band walks every column; the next columns' pieces of W are
 * prefetched, the hardware prefetchers not following a column stride. */
#define CU_BAND 64

AI void cu_all(int DK, float *Wt, size_t d, size_t ws, const float *C, const float *K, size_t cs, size_t n,
               float decay)
{
    const __m256 dv = _mm256_set1_ps(decay);
    for (size_t i0 = 0; i0 < d; i0 += CU_BAND) {
        const size_t i1 = d - i0 < CU_BAND ? d : i0 + CU_BAND;
        size_t j = 0;
        for (; j + 2 <= d; j += 2) {
            for (size_t r = i0; r < i1; r += 16) {
                _mm_prefetch((const char *)(Wt + (j + 4) * ws + r), _MM_HINT_T0);
                _mm_prefetch((const char *)(Wt + (j + 5) * ws + r), _MM_HINT_T0);
            }
            cu_cols(2, DK, Wt, i0, i1, d, ws, j, C, K, cs, n, dv);
        }
        if (j < d)
            cu_cols(1, DK, Wt, i0, i1, d, ws, j, C, K, cs, n, dv);
    }
}

void ttt_chunk_update_avx2(float *Wt, size_t d, size_t ws, const float *C, const float *K, size_t cs, size_t n,
                           float decay)
{
    if (n == 0)
        return;
    if (decay == 1.0f)
        cu_all(0, Wt, d, ws, C, K, cs, n, decay);
    else
        cu_all(1, Wt, d, ws, C, K, cs, n, decay);
}

/* u (the eight sums) folded in error_avx2's order */
AI float fold8(__m256 u)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

/* h = K[l] . x for four l at once (independent chains); masked lanes add +0,
 * which changes no sum (a sum from +0 is never -0) */
AI void dots4(int NL, const float *K, size_t cs, const float *x, size_t d, float *h)
{
    __m256 u[4];
    for (int l = 0; l < NL; l++)
        u[l] = _mm256_setzero_ps();
    for (size_t j = 0; j < d; j += 8) {
        const int mk = j + 8 > d;
        const __m256i m = lane_mask(d - j);
        const __m256 xv = ld(x + j, mk, m);
        for (int l = 0; l < NL; l++)
            u[l] = _mm256_add_ps(u[l], _mm256_mul_ps(ld(K + l * cs + j, mk, m), xv));
    }
    for (int l = 0; l < NL; l++)
        h[l] = fold8(u[l]);
}

AI void cc_rows(int DK, float *p, size_t i, int mk, __m256i m, const float *C, size_t cs, size_t n,
                const float *h, __m256 dv)
{
    __m256 pv = ld(p + i, mk, m);
    for (size_t l = 0; l < n; l++) {
        if (DK)
            pv = _mm256_mul_ps(pv, dv);
        pv = _mm256_sub_ps(pv, _mm256_mul_ps(_mm256_set1_ps(h[l]), ld(C + l * cs + i, mk, m)));
    }
    st(p + i, mk, m, pv);
}

void ttt_chunk_correct_avx2(float *p, size_t d, const float *C, const float *K, size_t cs, size_t n,
                            const float *x, float decay)
{
    float h[64];
    const __m256 dv = _mm256_set1_ps(decay);
    const __m256i m = lane_mask(d % 8);
    while (n) {
        /* the engine passes n < 32; a larger n goes in pieces of 64, the
         * same sequence of steps */
        const size_t nn = n < 64 ? n : 64;
        size_t l = 0;
        for (; l + 4 <= nn; l += 4)
            dots4(4, K + l * cs, cs, x, d, h + l);
        for (; l < nn; l++)
            dots4(1, K + l * cs, cs, x, d, h + l);
        size_t i = 0;
        for (; i + 8 <= d; i += 8) {
            if (decay == 1.0f)
                cc_rows(0, p, i, 0, m, C, cs, nn, h, dv);
            else
                cc_rows(1, p, i, 0, m, C, cs, nn, h, dv);
        }
        if (i < d) {
            if (decay == 1.0f)
                cc_rows(0, p, i, 1, m, C, cs, nn, h, dv);
            else
                cc_rows(1, p, i, 1, m, C, cs, nn, h, dv);
        }
        C += nn * cs;
        K += nn * cs;
        n -= nn;
    }
}

/*
 * learn_run: the tokens of a block band of rows by band (kernels.h), each
 * band's step kept in registers, negated, from one token to the next. The
 * column pass is up_chunk's arithmetic, so the rounding is its own.
 */
AI void run_band(int NV, int MK, int DK, float *Wt, size_t ws, size_t d, size_t i, size_t nlast, const float *c0,
                 const float *x0, float decay, const float *const *x, const float *const *tg, const float *r,
                 size_t n, float *P, size_t ps, float *cn)
{
    const __m256 dv = _mm256_set1_ps(decay), sign = _mm256_set1_ps(-0.0f);
    const __m256i m = lane_mask(nlast);
    __m256 cv[4], acc[4];
    float *w = Wt + i;
    for (int k = 0; k < NV; k++)
        cv[k] = c0 ? _mm256_xor_ps(ld(c0 + i + 8 * k, MK && k == NV - 1, m), sign) : _mm256_setzero_ps();
    for (size_t t = 0; t < n; t++) {
        const float *fo = t ? x[t - 1] : x0, *fn = x[t];
        for (int k = 0; k < NV; k++)
            acc[k] = _mm256_setzero_ps();
        if (t || c0) {
#pragma GCC unroll 2
            for (size_t j = 0; j < d; j++)
                up_col(NV, MK, 1, DK, 1, w + j * ws, m, cv, _mm256_broadcast_ss(fo + j), _mm256_broadcast_ss(fn + j),
                       dv, acc);
        } else {
            for (size_t j = 0; j < d; j++)
                up_col(NV, MK, 0, 0, 1, w + j * ws, m, cv, dv, _mm256_broadcast_ss(fn + j), dv, acc);
        }
        const __m256 nr = _mm256_set1_ps(-r[t]);
        for (int k = 0; k < NV; k++) {
            const int mk = MK && k == NV - 1;
            st(P + t * ps + i + 8 * k, mk, m, acc[k]);
            cv[k] = _mm256_mul_ps(nr, _mm256_sub_ps(acc[k], ld(tg[t] + i + 8 * k, mk, m)));
        }
    }
    for (int k = 0; k < NV; k++)
        st(cn + i + 8 * k, MK && k == NV - 1, m, _mm256_xor_ps(cv[k], sign));
}

/* Bands of 32 rows while one stays within 24 KiB (L1 is 32 KiB on Zen 3
 * and older Intel), 24 rows up to d = 256; past that W's band is read
 * from L2 each token, as token by token. */
AI void run_all(int DK, float *Wt, size_t d, size_t ws, const float *c0, const float *x0, float decay,
                const float *const *x, const float *const *tg, const float *r, size_t n, float *P, size_t ps,
                float *cn)
{
    const size_t rows = d > 192 && d <= 256 ? 24 : 32;
    size_t i = 0;
    for (; i + rows <= d; i += rows) {
        if (rows == 24)
            run_band(3, 0, DK, Wt, ws, d, i, 8, c0, x0, decay, x, tg, r, n, P, ps, cn);
        else
            run_band(4, 0, DK, Wt, ws, d, i, 8, c0, x0, decay, x, tg, r, n, P, ps, cn);
    }
    if (i == d)
        return;
    const size_t nv = (d - i + 7) / 8, nlast = d - i - 8 * (nv - 1);
#define RUN_REST(NV)                                                                        \
    if (nlast == 8)                                                                         \
        run_band(NV, 0, DK, Wt, ws, d, i, nlast, c0, x0, decay, x, tg, r, n, P, ps, cn);    \
    else                                                                                    \
        run_band(NV, 1, DK, Wt, ws, d, i, nlast, c0, x0, decay, x, tg, r, n, P, ps, cn);    \
    break;
    switch (nv) {
    case 1: RUN_REST(1)
    case 2: RUN_REST(2)
    case 3: RUN_REST(3)
    default: RUN_REST(4)
    }
#undef RUN_REST
}

static void learn_run_avx2(float *Wt, size_t d, size_t ws, const float *c0, const float *x0, float decay,
                           const float *const *x, const float *const *tg, const float *r, size_t n, float *P,
                           size_t ps, float *cn)
{
    if (decay != 1.0f)
        run_all(1, Wt, d, ws, c0, x0, decay, x, tg, r, n, P, ps, cn);
    else
        run_all(0, Wt, d, ws, c0, x0, decay, x, tg, r, n, P, ps, cn);
}

const ttt_kernels ttt_kernels_avx2 = {
    "avx2", absmax_bits_avx2, quantize_avx2, tpack_size_avx2, tpack_avx2, tgemm_avx2,
    update_predict_avx2, learn_run_avx2, ttt_error_avx2, scale_i32_avx2, sumsq_avx2, residual_avx2,
    tgemm_residual_avx2, quantize_block_avx2, ttt_chunk_predict_avx2, ttt_chunk_update_avx2,
    ttt_chunk_correct_avx2,
};

/* the same with AVX-VNNI products (kernels_avx2vnni.c) */
const ttt_kernels ttt_kernels_avx2vnni = {
    "avx2-vnni", absmax_bits_avx2, quantize_avx2, tpack_size_avx2, tpack_avx2, ttt_tgemm_avx2vnni,
    update_predict_avx2, learn_run_avx2, ttt_error_avx2, scale_i32_avx2, sumsq_avx2, residual_avx2,
    ttt_tgemm_residual_avx2vnni, quantize_block_avx2, ttt_chunk_predict_avx2, ttt_chunk_update_avx2,
    ttt_chunk_correct_avx2,
};
