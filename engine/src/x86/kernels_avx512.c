/*
 * AVX-512 kernels (F/BW/VL; built with -mavx512f -mavx512bw -mavx512vl
 * -mavx512vnni). Two tables: ttt_kernels_avx512 uses no VNNI instruction,
 * ttt_kernels_avx512vnni differs only in tgemm and tgemm_residual, which
 * use vpdpbusd.
 * Contracts in kernels.h; the structure mirrors kernels_avx2.c, with opmasks
 * for every tail so nothing beyond n / cols / d is read or written.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "x86/avx2_inline.h"

#define AI static inline __attribute__((always_inline))

AI __mmask16 mask16(size_t n) /* n < 16 */
{
    return (__mmask16)((1u << n) - 1u);
}

/* the opmask of the last of the vectors that hold n lanes: every lane when
 * n is a multiple of 16 */
AI __mmask16 last_mask(size_t n)
{
    return n % 16 ? mask16(n % 16) : (__mmask16)0xffff;
}

AI uint32_t absmax_body(const float *x, size_t n)
{
    const __m512i abs = _mm512_set1_epi32(0x7fffffff);
    __m512i m0 = _mm512_setzero_si512(), m1 = m0;
    size_t i = 0;
    /* sign cleared: non-negative int32 patterns order like the floats.
     * The prefetch 2 KiB ahead: a forward's input comes from memory, and
     * the hardware prefetchers stop at every 4 KiB page of a token's row
     * (measured: the forward 1.02x faster at D = 1024 with it). */
    for (; i + 32 <= n; i += 32) {
        _mm_prefetch((const char *)(x + i + 512), _MM_HINT_T0);
        _mm_prefetch((const char *)(x + i + 528), _MM_HINT_T0);
        m0 = _mm512_max_epi32(m0, _mm512_and_si512(abs, _mm512_loadu_si512(x + i)));
        m1 = _mm512_max_epi32(m1, _mm512_and_si512(abs, _mm512_loadu_si512(x + i + 16)));
    }
    for (; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : mask16(n - i);
        m0 = _mm512_max_epi32(m0, _mm512_and_si512(abs, _mm512_maskz_loadu_epi32(k, x + i)));
    }
    return (uint32_t)_mm512_reduce_max_epi32(_mm512_max_epi32(m0, m1));
}

/* cvtps2dq rounds by MXCSR, nearest-even by default: the same as lrintf.
 * Within the contract (|x * scale| < 127.5) no clamp is needed, and the
 * saturating packs below never saturate. */
AI __m512i quant16(__m512 x, __m512 scale)
{
    return _mm512_cvtps_epi32(_mm512_mul_ps(x, scale));
}

AI int32_t quantize_body(const float *x, size_t n, float scale, int8_t *q)
{
    const __m512 s = _mm512_set1_ps(scale);
    /* the packs interleave per 128-bit lane: dword 4 L + k holds the 4
     * bytes of vector k's quad L; this puts quad L of vector k at 4 k + L */
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    __m512i sum = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        const __m512i a = quant16(_mm512_loadu_ps(x + i), s), b = quant16(_mm512_loadu_ps(x + i + 16), s);
        const __m512i c = quant16(_mm512_loadu_ps(x + i + 32), s), d = quant16(_mm512_loadu_ps(x + i + 48), s);
        sum = _mm512_add_epi32(sum, _mm512_add_epi32(_mm512_add_epi32(a, b), _mm512_add_epi32(c, d)));
        const __m512i p = _mm512_packs_epi16(_mm512_packs_epi32(a, b), _mm512_packs_epi32(c, d));
        _mm512_storeu_si512(q + i, _mm512_permutexvar_epi32(order, p));
    }
    for (; i + 16 <= n; i += 16) {
        const __m512i a = quant16(_mm512_loadu_ps(x + i), s);
        sum = _mm512_add_epi32(sum, a);
        _mm_storeu_si128((__m128i *)(q + i), _mm512_cvtepi32_epi8(a));
    }
    if (i < n) {
        const __mmask16 k = mask16(n - i);
        /* masked lanes load 0.0f and quantise to 0: they add nothing */
        const __m512i a = quant16(_mm512_maskz_loadu_ps(k, x + i), s);
        sum = _mm512_add_epi32(sum, a);
        _mm_mask_storeu_epi8(q + i, k, _mm512_cvtepi32_epi8(a));
    }
    return _mm512_reduce_add_epi32(sum);
}

static uint32_t absmax_bits_avx512(const float *x, size_t n)
{
    return absmax_body(x, n);
}

static int32_t quantize_avx512(const float *x, size_t n, float scale, int8_t *q)
{
    return quantize_body(x, n, scale, q);
}

/* ---- tgemm ---- */

/*
 * Tiles of 16 rows, as the AVX2 tables' tiles of 8 (x86/tgemm_avx2.h):
 * 16 rows x 64 columns are transposed once into 16 zmm registers (register q: each row's 4
 * weights at columns 4q..4q+3) and used by every token of the block, whose
 * 4 values at those columns are broadcast to every dword. vpdpbusd then
 * adds all 4 products of a row into its own int32 lane: 16 row sums in
 * order, no horizontal reduction, 64 products per instruction. Without
 * VNNI, vpmaddubsw + vpaddw + vpmaddwd do the same; an int16 lane sums 32
 * products |w v| <= 254 per tile, at most 8128. Columns past cols load as
 * 0 (masked), so v's padding (read, never trusted) multiplies 0; missing
 * rows repeat the last one and are not stored. (Measured against blocks of
 * 2 tokens x 4 rows, dot products along rows with one horizontal reduction
 * per block, the kernel this replaced: these tiles won at every shape,
 * 1.2x at D = 1024 and 2x at D = 128, bench_kernels.) Whole groups of 32
 * rows now go in 32 x 32 tiles, pre-transposed at packing (below); these
 * 16 x 64 tiles serve the rows left over.
 */
AI __m512i bcast4(const int8_t *p)
{
    int32_t x;
    memcpy(&x, p, sizeof x);
    return _mm512_set1_epi32(x);
}

/* 32 columns from c0 of 8 rows (row m at w + m * wstride, m < nr, the last
 * repeated), transposed: 8 ymm registers, bytes past cols zero */
AI void tile8x32(const uint8_t *w, size_t wstride, size_t nr, size_t c0, size_t cols, __m256i r[8])
{
    const size_t n = cols > c0 ? cols - c0 : 0;
    const __mmask32 k = n >= 32 ? ~(__mmask32)0 : (__mmask32)((1u << n) - 1u);
    for (size_t m = 0; m < 8; m++)
        r[m] = _mm256_maskz_loadu_epi8(k, w + (m < nr ? m : nr - 1) * wstride + c0);
    transpose8x8(r);
}

/* the 16 biased row sums of a 16 x 64 tile (wt) for the token values at v */
AI __m512i tile16_dot(int VNNI, const __m512i wt[16], const int8_t *v)
{
    if (VNNI) {
        __m512i a = _mm512_setzero_si512(), b = _mm512_setzero_si512();
        for (int q = 0; q < 16; q += 2) {
            a = _mm512_dpbusd_epi32(a, wt[q], bcast4(v + 4 * q));
            b = _mm512_dpbusd_epi32(b, wt[q + 1], bcast4(v + 4 * q + 4));
        }
        return _mm512_add_epi32(a, b);
    }
    __m512i a = _mm512_setzero_si512(), b = _mm512_setzero_si512();
    for (int q = 0; q < 16; q += 2) {
        a = _mm512_add_epi16(a, _mm512_maddubs_epi16(wt[q], bcast4(v + 4 * q)));
        b = _mm512_add_epi16(b, _mm512_maddubs_epi16(wt[q + 1], bcast4(v + 4 * q + 4)));
    }
    return _mm512_madd_epi16(_mm512_add_epi16(a, b), _mm512_set1_epi16(1));
}

/*
 * The layout of the matrices past SMALL_COLS columns: whole groups of 32
 * rows in tiles of 32 rows x 32 columns, each stored as the 16 registers
 * tgemm reads (1 KiB, register 8 g + q: rows 16 g .. 16 g + 15, each row's
 * 4 bytes at columns 4 q .. 4 q + 3, zero past cols), tiles of a group in
 * column order, groups in row order; then the rows left over (fewer than
 * 32) in the plain row layout, stride cols rounded up to 64. Transposed at
 * packing, a tile costs tgemm 16 contiguous loads per block of tokens
 * instead of 32 strided ones and 112 shuffles; the matrix streams as one
 * sequence, which the prefetchers follow when it does not fit in L2.
 */
AI size_t tiles_bytes(size_t rows, size_t cols)
{
    return rows / 32 * ((cols + 31) / 32) * 1024;
}

AI void tile32_pack(const uint8_t *w, size_t wstride, size_t c0, size_t cols, __m512i wt[16])
{
    for (size_t g = 0; g < 2; g++) {
        __m256i lo[8], hi[8];
        tile8x32(w + 16 * g * wstride, wstride, 8, c0, cols, lo);
        tile8x32(w + (16 * g + 8) * wstride, wstride, 8, c0, cols, hi);
        for (int q = 0; q < 8; q++)
            wt[8 * g + q] = _mm512_inserti64x4(_mm512_castsi256_si512(lo[q]), hi[q], 1);
    }
}

/* the sums of two 16 x 32 tiles (wt[0..7] rows 0-15, wt[8..15] rows 16-31)
 * for the token values at v: each broadcast feeds both tiles, half a load
 * per product instead of one (the loads, not vpdpbusd, bound tiles of 16
 * rows x 64 columns at large D). Without VNNI an int16 lane sums 16
 * products |w v| <= 254: at most 4064. */
AI void tile32_dot(int VNNI, const __m512i wt[16], const int8_t *v, __m512i *s0, __m512i *s1)
{
    __m512i a0 = _mm512_setzero_si512(), b0 = a0, a1 = a0, b1 = a0;
    for (int q = 0; q < 8; q += 2) {
        const __m512i x = bcast4(v + 4 * q), y = bcast4(v + 4 * q + 4);
        if (VNNI) {
            a0 = _mm512_dpbusd_epi32(a0, wt[q], x);
            a1 = _mm512_dpbusd_epi32(a1, wt[8 + q], x);
            b0 = _mm512_dpbusd_epi32(b0, wt[q + 1], y);
            b1 = _mm512_dpbusd_epi32(b1, wt[9 + q], y);
        } else {
            a0 = _mm512_add_epi16(a0, _mm512_maddubs_epi16(wt[q], x));
            a1 = _mm512_add_epi16(a1, _mm512_maddubs_epi16(wt[8 + q], x));
            b0 = _mm512_add_epi16(b0, _mm512_maddubs_epi16(wt[q + 1], y));
            b1 = _mm512_add_epi16(b1, _mm512_maddubs_epi16(wt[9 + q], y));
        }
    }
    if (VNNI) {
        *s0 = _mm512_add_epi32(a0, b0);
        *s1 = _mm512_add_epi32(a1, b1);
    } else {
        const __m512i one = _mm512_set1_epi16(1);
        *s0 = _mm512_madd_epi16(_mm512_add_epi16(a0, b0), one);
        *s1 = _mm512_madd_epi16(_mm512_add_epi16(a1, b1), one);
    }
}

AI void tgemm_tiles32(int VNNI, const uint8_t *packed, size_t rows, size_t cols, const int8_t *v, size_t vstride,
                      const int32_t *vsum, size_t ntok, int32_t *out, size_t ostride)
{
    const __m512i *tile = (const __m512i *)packed;
    for (size_t r0 = 0; r0 + 32 <= rows; r0 += 32) {
        for (size_t c0 = 0; c0 < cols; c0 += 32, tile += 16) {
            __m512i wt[16];
            for (int q = 0; q < 16; q++)
                wt[q] = _mm512_load_si512(tile + q);
            /* the next tile, while this one's tokens run: the matrix, L2's
             * size or more, is partly evicted by the stream of tokens */
            for (int q = 0; q < 16; q++)
                _mm_prefetch((const char *)(tile + 16 + q), _MM_HINT_T0);
            for (size_t t = 0; t < ntok; t++) {
                int32_t *o = out + t * ostride + r0;
                __m512i s0, s1;
                tile32_dot(VNNI, wt, v + t * vstride + c0, &s0, &s1);
                if (c0) {
                    s0 = _mm512_add_epi32(s0, _mm512_loadu_si512(o));
                    s1 = _mm512_add_epi32(s1, _mm512_loadu_si512(o + 16));
                } else {
                    const __m512i vs = _mm512_set1_epi32(vsum[t]);
                    s0 = _mm512_sub_epi32(s0, vs);
                    s1 = _mm512_sub_epi32(s1, vs);
                }
                _mm512_storeu_si512(o, s0);
                _mm512_storeu_si512(o + 16, s1);
            }
        }
    }
}

/* rows (fewer than 32) in the row layout, in tiles of 16 rows x 64 columns,
 * transposed per call */
AI void tgemm_tiles16(int VNNI, const uint8_t *w, size_t wstride, size_t rows, size_t cols,
                      const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                      int32_t *out, size_t ostride)
{
    for (size_t r0 = 0; r0 < rows; r0 += 16) {
        const size_t nr = rows - r0 < 16 ? rows - r0 : 16;
        const __mmask16 m = nr == 16 ? (__mmask16)0xffff : mask16(nr);
        const uint8_t *wr = w + r0 * wstride;
        for (size_t c0 = 0; c0 < cols; c0 += 64) {
            __m512i wt[16];
            for (size_t h = 0; h < 2; h++) {
                __m256i lo[8], hi[8];
                tile8x32(wr, wstride, nr, c0 + 32 * h, cols, lo);
                if (nr > 8)
                    tile8x32(wr + 8 * wstride, wstride, nr - 8, c0 + 32 * h, cols, hi);
                else /* rows 8.. are not stored: any bytes do, none beyond the matrix are read */
                    for (int q = 0; q < 8; q++)
                        hi[q] = lo[q];
                for (int q = 0; q < 8; q++)
                    wt[8 * h + q] = _mm512_inserti64x4(_mm512_castsi256_si512(lo[q]), hi[q], 1);
            }
            for (size_t t = 0; t < ntok; t++) {
                int32_t *o = out + t * ostride + r0;
                __m512i s = tile16_dot(VNNI, wt, v + t * vstride + c0);
                s = c0 ? _mm512_add_epi32(s, _mm512_maskz_loadu_epi32(m, o))
                       : _mm512_sub_epi32(s, _mm512_set1_epi32(vsum[t]));
                _mm512_mask_storeu_epi32(o, m, s);
            }
        }
    }
}

AI void tgemm_tiles(int VNNI, const uint8_t *packed, size_t rows, size_t cols, const int8_t *v, size_t vstride,
                    const int32_t *vsum, size_t ntok, int32_t *out, size_t ostride)
{
    tgemm_tiles32(VNNI, packed, rows, cols, v, vstride, vsum, ntok, out, ostride);
    const size_t r0 = rows / 32 * 32;
    if (r0 < rows)
        tgemm_tiles16(VNNI, packed + tiles_bytes(rows, cols), (cols + 63) / 64 * 64, rows - r0, cols, v, vstride,
                      vsum, ntok, out + r0, ostride);
}

/*
 * Matrices of at most 64 columns (Up for d <= 64, Down for D <= 64), as
 * kernels_avx2.c's SMALL_COLS path with groups of 16 rows: the tiles, stored
 * transposed at packing, stream from L1 as the memory operand, holding
 * w - 1 (the signed operand), and the token is made unsigned, u = v ^ 0x80
 * = v + 128; the packed form keeps 128 * sum_c (w - 1) per row to subtract.
 * NQ registers per group: 8 for up to 32 columns, else 16. Without VNNI an
 * int16 lane sums 2 NQ products |(w-1) u| <= 255: at most 8160.
 */
#define SMALL_COLS 64

AI size_t small_nq(size_t cols)
{
    return cols <= 32 ? 8 : 16;
}

/* one group's worth of rows does not repay the token's broadcasts */
AI int small_path(size_t rows, size_t cols)
{
    return cols <= SMALL_COLS && rows > 16;
}

static size_t tpack_size_avx512(size_t rows, size_t cols)
{
    if (!small_path(rows, cols))
        return tiles_bytes(rows, cols) + ttt_tpack_rows_size(rows % 32, cols);
    return (rows + 15) / 16 * (64 * small_nq(cols) + 16 * sizeof(int32_t));
}

/* group g, register q, row r: bytes w - 1 at columns 4q .. 4q + 3; after
 * each group its 16 row sums */
static void tpack_avx512(const uint8_t *w, size_t wstride, size_t rows, size_t cols, uint8_t *packed)
{
    if (!small_path(rows, cols)) {
        __m512i *tile = (__m512i *)packed;
        for (size_t r0 = 0; r0 + 32 <= rows; r0 += 32)
            for (size_t c0 = 0; c0 < cols; c0 += 32, tile += 16) {
                __m512i wt[16];
                tile32_pack(w + r0 * wstride, wstride, c0, cols, wt);
                for (int q = 0; q < 16; q++)
                    _mm512_store_si512(tile + q, wt[q]);
            }
        ttt_tpack_rows(w + rows / 32 * 32 * wstride, wstride, rows % 32, cols, packed + tiles_bytes(rows, cols));
        return;
    }
    const size_t G = (rows + 15) / 16, nq = small_nq(cols), gs = 64 * nq + 64;
    for (size_t g = 0; g < G; g++) {
        uint8_t *tile = packed + g * gs;
        int32_t *rs = (int32_t *)(tile + 64 * nq);
        for (size_t r = 0; r < 16; r++) {
            const size_t row = 16 * g + r;
            int32_t sum = 0;
            for (size_t q = 0; q < nq; q++)
                for (size_t i = 0; i < 4; i++) {
                    const size_t col = 4 * q + i;
                    const int wv = row < rows && col < cols ? (int)w[row * wstride + col] - 1 : 0;
                    tile[q * 64 + r * 4 + i] = (uint8_t)(int8_t)wv;
                    sum += wv;
                }
            rs[r] = 128 * sum;
        }
    }
}

/* RES: out = x + (float)sum * g[t] (x where g[t] == 0) instead of the sums */
AI void tgemm_small(int VNNI, int NQ, int RES, const uint8_t *packed, size_t rows, const int8_t *v,
                    size_t vstride, size_t ntok, int32_t *out, size_t ostride, const float *x, const float *gs,
                    float *fout)
{
    const size_t G = (rows + 15) / 16, gsz = 64 * (size_t)NQ + 64;
    const __mmask16 mlast = last_mask(rows);
    for (size_t t = 0; t < ntok; t++) {
        int32_t *o = RES ? NULL : out + t * ostride;
        const float *xt = RES ? x + t * ostride : NULL;
        float *fo = RES ? fout + t * ostride : NULL;
        if (RES && gs[t] == 0.0f) {
            if (fo != xt)
                memcpy(fo, xt, rows * sizeof *fo);
            continue;
        }
        const __m512 gv = RES ? _mm512_set1_ps(gs[t]) : _mm512_setzero_ps();
        int8_t u[64];
        __m512i bc[16];
        /* v is readable up to vstride rounded to 64 bytes: 4 NQ <= 64 */
        if (NQ == 8)
            _mm256_storeu_si256((__m256i *)u, _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(v + t * vstride)),
                                                               _mm256_set1_epi8(-128)));
        else
            _mm512_storeu_si512(u, _mm512_xor_si512(_mm512_loadu_si512(v + t * vstride), _mm512_set1_epi8(-128)));
        for (int q = 0; q < NQ; q++)
            bc[q] = bcast4(u + 4 * q);
        for (size_t g = 0; g < G; g++) {
            const __m512i *tile = (const __m512i *)(packed + g * gsz);
            __m512i s;
            if (VNNI) {
                __m512i a = _mm512_setzero_si512(), b = _mm512_setzero_si512();
                for (int q = 0; q < NQ; q += 2) {
                    a = _mm512_dpbusd_epi32(a, bc[q], _mm512_load_si512(tile + q));
                    b = _mm512_dpbusd_epi32(b, bc[q + 1], _mm512_load_si512(tile + q + 1));
                }
                s = _mm512_add_epi32(a, b);
            } else {
                __m512i a = _mm512_setzero_si512(), b = _mm512_setzero_si512();
                for (int q = 0; q < NQ; q += 2) {
                    a = _mm512_add_epi16(a, _mm512_maddubs_epi16(bc[q], _mm512_load_si512(tile + q)));
                    b = _mm512_add_epi16(b, _mm512_maddubs_epi16(bc[q + 1], _mm512_load_si512(tile + q + 1)));
                }
                s = _mm512_madd_epi16(_mm512_add_epi16(a, b), _mm512_set1_epi16(1));
            }
            s = _mm512_sub_epi32(s, _mm512_load_si512(tile + NQ));
            const __mmask16 m = g == G - 1 ? mlast : (__mmask16)0xffff;
            if (RES) {
                /* mul then add, never fma, as residual */
                const __m512 b = _mm512_mul_ps(_mm512_cvtepi32_ps(s), gv);
                _mm512_mask_storeu_ps(fo + 16 * g, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, xt + 16 * g), b));
            } else {
                _mm512_mask_storeu_epi32(o + 16 * g, m, s);
            }
        }
    }
}

AI void tgemm_dispatch(int VNNI, const uint8_t *w, size_t rows, size_t cols,
                       const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                       int32_t *out, size_t ostride)
{
    if (small_path(rows, cols) && cols <= 32)
        tgemm_small(VNNI, 8, 0, w, rows, v, vstride, ntok, out, ostride, NULL, NULL, NULL);
    else if (small_path(rows, cols))
        tgemm_small(VNNI, 16, 0, w, rows, v, vstride, ntok, out, ostride, NULL, NULL, NULL);
    else
        tgemm_tiles(VNNI, w, rows, cols, v, vstride, vsum, ntok, out, ostride);
}

static void tgemm_avx512(const uint8_t *w, size_t rows, size_t cols,
                         const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                         int32_t *out, size_t ostride)
{
    tgemm_dispatch(0, w, rows, cols, v, vstride, vsum, ntok, out, ostride);
}

static void tgemm_avx512vnni(const uint8_t *w, size_t rows, size_t cols,
                             const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                             int32_t *out, size_t ostride)
{
    tgemm_dispatch(1, w, rows, cols, v, vstride, vsum, ntok, out, ostride);
}

/* ---- update_predict: by columns, mul + add (see kernels_avx2.c) ---- */

/* whole vectors unmasked: a masked store read back by the next token's
 * load does not forward, a plain one does */
AI __m512 ld16(int MK, __mmask16 m, const float *x)
{
    return MK ? _mm512_maskz_loadu_ps(m, x) : _mm512_loadu_ps(x);
}

AI void st16(int MK, __mmask16 m, float *x, __m512 v)
{
    if (MK)
        _mm512_mask_storeu_ps(x, m, v);
    else
        _mm512_storeu_ps(x, v);
}

/* NV vectors of 16 rows (NV <= 16); with MK the last holds the rows of m.
 * With CM, c is read from L1 each column instead of held in registers
 * (x - c a rounds as x + (-c) a). */
AI __m512 neg16(__m512 v) /* exact: the sign bit flipped (no AVX-512 DQ here) */
{
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), _mm512_set1_epi32(INT32_MIN)));
}

/* One column's piece, NV vectors: W updated by the step (-c held in cv, or
 * with CM c read from L1) times a, then with PR summed against b into acc */
AI void up_col(int NV, int MK, int CM, int UP, int DK, int PR, float *col, __mmask16 m, const __m512 *cv,
               const float *c, __m512 a, __m512 b, __m512 dv, __m512 *acc)
{
    for (int k = 0; k < NV; k++) {
        const int mk = MK && k == NV - 1;
        __m512 x = ld16(mk, m, col + 16 * k);
        if (UP) {
            if (DK)
                x = _mm512_mul_ps(x, dv);
            if (CM)
                x = _mm512_sub_ps(x, _mm512_mul_ps(ld16(mk, m, c + 16 * k), a));
            else
                x = _mm512_add_ps(x, _mm512_mul_ps(cv[k], a));
            st16(mk, m, col + 16 * k, x);
        }
        if (PR)
            acc[k] = _mm512_add_ps(acc[k], _mm512_mul_ps(x, b));
    }
}

AI void up_chunk(int NV, int MK, int CM, int UP, int DK, int PR, float *Wt, size_t ws, size_t d, __mmask16 m,
                 const float *c, const float *fo, float decay, const float *fn, float *p)
{
    const __m512 dv = _mm512_set1_ps(decay);
    __m512 cv[16], acc[16];
    for (int k = 0; k < NV; k++) {
        /* -c: W + (-c) a equals W - c a exactly (see kernels_avx2.c) */
        if (UP && !CM)
            cv[k] = neg16(ld16(MK && k == NV - 1, m, c + 16 * k));
        acc[k] = _mm512_setzero_ps();
    }
    for (size_t j = 0; j < d; j++) {
        const __m512 a = UP ? _mm512_set1_ps(fo[j]) : _mm512_setzero_ps();
        const __m512 b = PR ? _mm512_set1_ps(fn[j]) : _mm512_setzero_ps();
        up_col(NV, MK, CM, UP, DK, PR, Wt + j * ws, m, cv, c, a, b, dv, acc);
    }
    if (PR)
        for (int k = 0; k < NV; k++)
            st16(MK && k == NV - 1, m, p + 16 * k, acc[k]);
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
    /* Bands of rows, each through every column, as wide as the registers
     * allow: the band's sums and (up to 128 rows) its c. A column's piece
     * is then one run of up to 1 KiB, and at d = 256 one band reads W in
     * memory order, which L2 streams at its full rate (measured: the
     * forward 1.14x faster at D = 1024, 1.07x at 512, than with bands of
     * 64 rows). */
    size_t i = 0;
    for (; i + 256 <= d; i += 256)
        up_chunk(16, 0, 1, UP, DK, PR, Wt + i, ws, d, 0, UP ? c + i : NULL, fo, decay, fn, PR ? p + i : NULL);
    if (d - i > 128) {
        up_chunk(8, 0, 0, UP, DK, PR, Wt + i, ws, d, 0, UP ? c + i : NULL, fo, decay, fn, PR ? p + i : NULL);
        i += 128;
    }
    if (i == d)
        return;
    const size_t nv = (d - i + 15) / 16;
    const __mmask16 m = last_mask(d - i);
    float *w = Wt + i;
    const float *ci = UP ? c + i : NULL;
    float *pi = PR ? p + i : NULL;
#define UP_REST(NV)                                                                     \
    if (m == 0xffff)                                                                    \
        up_chunk(NV, 0, 0, UP, DK, PR, w, ws, d, m, ci, fo, decay, fn, pi);             \
    else                                                                                \
        up_chunk(NV, 1, 0, UP, DK, PR, w, ws, d, m, ci, fo, decay, fn, pi);             \
    break;
    switch (nv) {
    case 1: UP_REST(1)
    case 2: UP_REST(2)
    case 3: UP_REST(3)
    case 4: UP_REST(4)
    case 5: UP_REST(5)
    case 6: UP_REST(6)
    case 7: UP_REST(7)
    default: UP_REST(8)
    }
#undef UP_REST
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

/* ---- learn_run: the tokens of a block band of rows by band ---- */

/* One column pass of a band for one token: W's band updated with the step
 * the band holds (-c in cv, key fo), then summed against fn into acc. Four
 * columns an iteration: at two vectors a column the loop's own bookkeeping
 * is a good part of what issues (measured 1.04x at d = 256). */
AI void run_cols(int NV, int MK, int UP, int DK, float *Wt, size_t ws, size_t d, __mmask16 m, const __m512 *cv,
                 const float *fo, __m512 dv, const float *fn, __m512 *acc)
{
    for (int k = 0; k < NV; k++)
        acc[k] = _mm512_setzero_ps();
    size_t j = 0;
    for (; j + 4 <= d; j += 4)
        for (int u = 0; u < 4; u++)
            up_col(NV, MK, 0, UP, DK, 1, Wt + (j + u) * ws, m, cv, NULL,
                   UP ? _mm512_set1_ps(fo[j + u]) : _mm512_setzero_ps(), _mm512_set1_ps(fn[j + u]), dv, acc);
    for (; j < d; j++)
        up_col(NV, MK, 0, UP, DK, 1, Wt + j * ws, m, cv, NULL, UP ? _mm512_set1_ps(fo[j]) : _mm512_setzero_ps(),
               _mm512_set1_ps(fn[j]), dv, acc);
}

/* rows [i, i + 16 NV) through all n tokens; with MK the last vector holds
 * the rows of m. The band's step stays in registers from one token to the
 * next, negated: (-r) e is -(r e) exactly, and W + (-c) a is W - c a. */
AI void run_band(int NV, int MK, int DK, float *Wt, size_t ws, size_t d, size_t i, __mmask16 m, const float *c0,
                 const float *x0, float decay, const float *const *x, const float *const *tg, const float *r,
                 size_t n, float *P, size_t ps, float *cn)
{
    const __m512 dv = _mm512_set1_ps(decay);
    __m512 cv[4], acc[4];
    float *w = Wt + i;
    for (int k = 0; k < NV; k++)
        cv[k] = c0 ? neg16(ld16(MK && k == NV - 1, m, c0 + i + 16 * k)) : _mm512_setzero_ps();
    for (size_t t = 0; t < n; t++) {
        if (t || c0)
            run_cols(NV, MK, 1, DK, w, ws, d, m, cv, t ? x[t - 1] : x0, dv, x[t], acc);
        else
            run_cols(NV, MK, 0, 0, w, ws, d, m, cv, NULL, dv, x[t], acc);
        const __m512 nr = _mm512_set1_ps(-r[t]);
        for (int k = 0; k < NV; k++) {
            const int mk = MK && k == NV - 1;
            st16(mk, m, P + t * ps + i + 16 * k, acc[k]);
            cv[k] = _mm512_mul_ps(nr, _mm512_sub_ps(acc[k], ld16(mk, m, tg[t] + i + 16 * k)));
        }
    }
    for (int k = 0; k < NV; k++)
        st16(MK && k == NV - 1, m, cn + i + 16 * k, neg16(cv[k]));
}

/* A band as tall as keeps it within about 32 KiB (of Zen 5's 48 KiB L1),
 * and at least two vectors: each vector's sum is a chain of dependent adds,
 * one a column, and the column's other work is independent of it. */
AI void run_all(int DK, float *Wt, size_t d, size_t ws, const float *c0, const float *x0, float decay,
                const float *const *x, const float *const *tg, const float *r, size_t n, float *P, size_t ps,
                float *cn)
{
    size_t i = 0;
    if (d <= 128)
        for (; i + 64 <= d; i += 64)
            run_band(4, 0, DK, Wt, ws, d, i, 0xffff, c0, x0, decay, x, tg, r, n, P, ps, cn);
    else {
        /* 48 rows while such a band stays within 36 KiB, and the rest still
         * makes whole bands of 32 (measured at d = 192: 1.03x; at d = 256,
         * 48 KiB, 0.98x) */
        for (; d <= 192 && (d - i >= 48 + 32 || d - i == 48); i += 48)
            run_band(3, 0, DK, Wt, ws, d, i, 0xffff, c0, x0, decay, x, tg, r, n, P, ps, cn);
        for (; i + 32 <= d; i += 32)
            run_band(2, 0, DK, Wt, ws, d, i, 0xffff, c0, x0, decay, x, tg, r, n, P, ps, cn);
    }
    if (i == d)
        return;
    const size_t rest = (d - i + 15) / 16;
    const __mmask16 m = last_mask(d - i);
#define RUN_REST(NV)                                                                    \
    if (m == 0xffff)                                                                    \
        run_band(NV, 0, DK, Wt, ws, d, i, m, c0, x0, decay, x, tg, r, n, P, ps, cn);    \
    else                                                                                \
        run_band(NV, 1, DK, Wt, ws, d, i, m, c0, x0, decay, x, tg, r, n, P, ps, cn);    \
    break;
    switch (rest) {
    case 1: RUN_REST(1)
    case 2: RUN_REST(2)
    case 3: RUN_REST(3)
    default: RUN_REST(4)
    }
#undef RUN_REST
}

static void learn_run_avx512(float *Wt, size_t d, size_t ws, const float *c0, const float *x0, float decay,
                             const float *const *x, const float *const *tg, const float *r, size_t n, float *P,
                             size_t ps, float *cn)
{
    if (decay != 1.0f)
        run_all(1, Wt, d, ws, c0, x0, decay, x, tg, r, n, P, ps, cn);
    else
        run_all(0, Wt, d, ws, c0, x0, decay, x, tg, r, n, P, ps, cn);
}

/* whole vectors plain: the key is read at once by update_predict's
 * broadcasts, which a masked store would not forward to */
static void scale_i32_avx512(const int32_t *a, size_t d, float s, float *f)
{
    const __m512 sv = _mm512_set1_ps(s);
    size_t j = 0;
    for (; j + 16 <= d; j += 16)
        _mm512_storeu_ps(f + j, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_loadu_si512(a + j)), sv));
    if (j < d) {
        const __mmask16 m = mask16(d - j);
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

/* mul then add, never fma: bit-identical to the scalar reference. x and out
 * are the caller's, read and written once: prefetched 2 KiB ahead, as in
 * absmax_body (the forward 1.01x faster at D = 1024) */
static void residual_avx512(const float *x, const int32_t *acc, size_t n, float g, float *out)
{
    const __m512 gv = _mm512_set1_ps(g);
    for (size_t i = 0; i < n; i += 16) {
        _mm_prefetch((const char *)(x + i + 512), _MM_HINT_T0);
        _mm_prefetch((const char *)(out + i + 512), _MM_HINT_T0);
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : mask16(n - i);
        const __m512 a = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, acc + i));
        _mm512_mask_storeu_ps(out + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_mul_ps(a, gv)));
    }
}

AI void tgemm_residual_any(int VNNI, const ttt_kernels *self, const uint8_t *packed, size_t rows,
                           size_t cols, const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                           const float *x, const float *g, float *out, size_t xstride, int32_t *acc)
{
    if (small_path(rows, cols) && cols <= 32)
        tgemm_small(VNNI, 8, 1, packed, rows, v, vstride, ntok, NULL, xstride, x, g, out);
    else if (small_path(rows, cols))
        tgemm_small(VNNI, 16, 1, packed, rows, v, vstride, ntok, NULL, xstride, x, g, out);
    else
        ttt_tgemm_residual_split(self, packed, rows, cols, v, vstride, vsum, ntok, x, g, out, xstride, acc);
}

static void tgemm_residual_avx512(const uint8_t *packed, size_t rows, size_t cols,
                                  const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                                  const float *x, const float *g, float *out, size_t xstride, int32_t *acc)
{
    tgemm_residual_any(0, &ttt_kernels_avx512, packed, rows, cols, v, vstride, vsum, ntok, x, g, out, xstride,
                       acc);
}

static void tgemm_residual_avx512vnni(const uint8_t *packed, size_t rows, size_t cols,
                                      const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                                      const float *x, const float *g, float *out, size_t xstride, int32_t *acc)
{
    tgemm_residual_any(1, &ttt_kernels_avx512vnni, packed, rows, cols, v, vstride, vsum, ntok, x, g, out,
                       xstride, acc);
}

/*
 * ---- the chunk kernels (SPEC "Large d"): kernels_avx2.c's, 16 rows a
 * vector. Each sum runs across rows, so the width changes no result.
 * chunk_correct stays AVX2's: its dot products keep error's eight sums,
 * and reading the open chunk from L2 bounds it (an AVX-512 one, two dots a
 * vector, measured no faster: docs/PERFORMANCE.md).
 */

/* columns per block of chunk_predict: a tile's piece of W (64 rows x 64
 * columns, 16 KiB) and the chunk's inputs there (32 x 64, 8 KiB) stay in L1
 * while every token group of the chunk reads them; the sums go through L2
 * once a block (measured against 32 columns: the forward 1.015x faster at
 * D = 2048 and 4096; 128 columns gained no more) */
#define CP512_JB 64

AI void cp512_tile(int NV, int NT, int MK, int PF, const float *Wt, size_t ws, size_t i, size_t j0, size_t j1,
                   __mmask16 m, const float *X, size_t xs, float *P, const float *next)
{
    __m512 acc[4][6];
    for (int k = 0; k < NV; k++)
        for (int t = 0; t < NT; t++)
            acc[k][t] = j0 ? ld16(MK && k == NV - 1, m, P + t * xs + i + 16 * k) : _mm512_setzero_ps();
    for (size_t j = j0; j < j1; j++) {
        const float *col = Wt + j * ws + i;
        if (PF)
            _mm_prefetch((const char *)(next + (j - j0) * ws + 16 * (PF - 1)), _MM_HINT_T0);
        __m512 w[4];
        for (int k = 0; k < NV; k++)
            w[k] = ld16(MK && k == NV - 1, m, col + 16 * k);
        for (int t = 0; t < NT; t++) {
            const __m512 b = _mm512_set1_ps(X[t * xs + j]);
            for (int k = 0; k < NV; k++)
                acc[k][t] = _mm512_add_ps(acc[k][t], _mm512_mul_ps(w[k], b));
        }
    }
    for (int k = 0; k < NV; k++)
        for (int t = 0; t < NT; t++)
            st16(MK && k == NV - 1, m, P + t * xs + i + 16 * k, acc[k][t]);
}

/* The token groups read the tile from L1 but the first, which brings it in
 * from L2 or L3: the first four groups prefetch the next tile (next: its
 * first column), one of its four lines a column each. */
AI void cp512_rows(int NV, int MK, const float *Wt, size_t ws, size_t i, size_t j0, size_t j1, __mmask16 m,
                   const float *X, size_t xs, size_t n, float *P, const float *next)
{
    size_t t = 0;
    if (n >= 24) {
        cp512_tile(NV, 6, MK, 1, Wt, ws, i, j0, j1, m, X, xs, P, next);
        cp512_tile(NV, 6, MK, 2, Wt, ws, i, j0, j1, m, X + 6 * xs, xs, P + 6 * xs, next);
        cp512_tile(NV, 6, MK, 3, Wt, ws, i, j0, j1, m, X + 12 * xs, xs, P + 12 * xs, next);
        cp512_tile(NV, 6, MK, 4, Wt, ws, i, j0, j1, m, X + 18 * xs, xs, P + 18 * xs, next);
        t = 24;
    }
    for (; t + 6 <= n; t += 6)
        cp512_tile(NV, 6, MK, 0, Wt, ws, i, j0, j1, m, X + t * xs, xs, P + t * xs, NULL);
    switch (n - t) {
    case 5: cp512_tile(NV, 5, MK, 0, Wt, ws, i, j0, j1, m, X + t * xs, xs, P + t * xs, NULL); break;
    case 4: cp512_tile(NV, 4, MK, 0, Wt, ws, i, j0, j1, m, X + t * xs, xs, P + t * xs, NULL); break;
    case 3: cp512_tile(NV, 3, MK, 0, Wt, ws, i, j0, j1, m, X + t * xs, xs, P + t * xs, NULL); break;
    case 2: cp512_tile(NV, 2, MK, 0, Wt, ws, i, j0, j1, m, X + t * xs, xs, P + t * xs, NULL); break;
    case 1: cp512_tile(NV, 1, MK, 0, Wt, ws, i, j0, j1, m, X + t * xs, xs, P + t * xs, NULL); break;
    default: break;
    }
}

static void chunk_predict_avx512(const float *Wt, size_t d, size_t ws, const float *X, size_t xs, size_t n,
                                 float *P)
{
    if (n == 0)
        return;
    /* the rows past the last 64: nv vectors, the last one masked by m */
    const size_t nv = (d % 64 + 15) / 16;
    const __mmask16 m = last_mask(d);
    const int mk = m != 0xffff;
    for (size_t j0 = 0; j0 < d; j0 += CP512_JB) {
        const size_t j1 = d - j0 < CP512_JB ? d : j0 + CP512_JB;
        /* after the last tile of rows: the next block's first */
        const float *nb = Wt + j1 * ws;
        size_t i = 0;
        for (; i + 64 <= d; i += 64)
            cp512_rows(4, 0, Wt, ws, i, j0, j1, m, X, xs, n, P, i + 64 < d ? Wt + j0 * ws + i + 64 : nb);
#define CP_REST(NV)                                                  \
    if (mk)                                                          \
        cp512_rows(NV, 1, Wt, ws, i, j0, j1, m, X, xs, n, P, nb);    \
    else                                                             \
        cp512_rows(NV, 0, Wt, ws, i, j0, j1, m, X, xs, n, P, nb);    \
    break;
        switch (nv) {
        case 1: CP_REST(1)
        case 2: CP_REST(2)
        case 3: CP_REST(3)
        case 4: CP_REST(4)
        default: break;
        }
#undef CP_REST
    }
}

/* rows [i, i + 16 NV) of NC columns from j through all n rank-1 terms, the
 * W values in registers: NV x NC independent chains */
AI void cu512_tile(int NV, int NC, int MK, int DK, float *Wt, size_t ws, size_t i, size_t j, __mmask16 m,
                   const float *C, const float *K, size_t cs, size_t n, __m512 dv)
{
    __m512 w[4][4];
    for (int c = 0; c < NC; c++)
        for (int k = 0; k < NV; k++)
            w[c][k] = ld16(MK && k == NV - 1, m, Wt + (j + c) * ws + i + 16 * k);
    for (size_t l = 0; l < n; l++) {
        __m512 cv[4];
        for (int k = 0; k < NV; k++)
            cv[k] = ld16(MK && k == NV - 1, m, C + l * cs + i + 16 * k);
        for (int c = 0; c < NC; c++) {
            const __m512 b = _mm512_set1_ps(K[l * cs + j + c]);
            for (int k = 0; k < NV; k++) {
                __m512 x = w[c][k];
                if (DK)
                    x = _mm512_mul_ps(x, dv);
                w[c][k] = _mm512_sub_ps(x, _mm512_mul_ps(cv[k], b));
            }
        }
    }
    for (int c = 0; c < NC; c++)
        for (int k = 0; k < NV; k++)
            st16(MK && k == NV - 1, m, Wt + (j + c) * ws + i + 16 * k, w[c][k]);
}

/* one band of rows [i, i + 16 NV) through every column, NC = 4 at a time;
 * the pieces of W four columns on are prefetched (a column stride is not
 * what the hardware prefetchers follow) */
AI void cu512_band(int NV, int MK, int DK, float *Wt, size_t d, size_t ws, size_t i, __mmask16 m,
                   const float *C, const float *K, size_t cs, size_t n, __m512 dv)
{
    size_t j = 0;
    for (; j + 4 <= d; j += 4) {
        for (int c = 4; c < 8; c++)
            for (int k = 0; k < NV; k++)
                _mm_prefetch((const char *)(Wt + (j + c) * ws + i + 16 * k), _MM_HINT_T0);
        cu512_tile(NV, 4, MK, DK, Wt, ws, i, j, m, C, K, cs, n, dv);
    }
    for (; j < d; j++)
        cu512_tile(NV, 1, MK, DK, Wt, ws, i, j, m, C, K, cs, n, dv);
}

AI void cu512_all(int DK, float *Wt, size_t d, size_t ws, const float *C, const float *K, size_t cs, size_t n,
                  float decay)
{
    const __m512 dv = _mm512_set1_ps(decay);
    size_t i = 0;
    for (; i + 64 <= d; i += 64)
        cu512_band(4, 0, DK, Wt, d, ws, i, 0, C, K, cs, n, dv);
    const size_t nv = (d - i + 15) / 16;
    const __mmask16 m = last_mask(d);
#define CU_REST(NV)                                                   \
    if (m != 0xffff)                                                  \
        cu512_band(NV, 1, DK, Wt, d, ws, i, m, C, K, cs, n, dv);      \
    else                                                              \
        cu512_band(NV, 0, DK, Wt, d, ws, i, m, C, K, cs, n, dv);      \
    break;
    switch (nv) {
    case 1: CU_REST(1)
    case 2: CU_REST(2)
    case 3: CU_REST(3)
    case 4: CU_REST(4)
    default: break;
    }
#undef CU_REST
}

static void chunk_update_avx512(float *Wt, size_t d, size_t ws, const float *C, const float *K, size_t cs, size_t n,
                                float decay)
{
    if (n == 0)
        return;
    if (decay == 1.0f)
        cu512_all(0, Wt, d, ws, C, K, cs, n, decay);
    else
        cu512_all(1, Wt, d, ws, C, K, cs, n, decay);
}

/* the bodies inlined: no calls, the constants loaded once per block */
static void quantize_block_avx512(const float *x, size_t n, size_t ntok, float floor, int8_t *q, size_t qstride,
                                  int32_t *qsum, float *mx)
{
    for (size_t t = 0; t < ntok; t++) {
        const uint32_t mb = absmax_body(x + t * n, n);
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

const ttt_kernels ttt_kernels_avx512 = {
    "avx512", absmax_bits_avx512, quantize_avx512, tpack_size_avx512, tpack_avx512, tgemm_avx512,
    update_predict_avx512, learn_run_avx512, ttt_error_avx2, scale_i32_avx512, sumsq_avx512, residual_avx512,
    tgemm_residual_avx512, quantize_block_avx512,
    chunk_predict_avx512, chunk_update_avx512, ttt_chunk_correct_avx2,
};

const ttt_kernels ttt_kernels_avx512vnni = {
    "avx512-vnni", absmax_bits_avx512, quantize_avx512, tpack_size_avx512, tpack_avx512,
    tgemm_avx512vnni, update_predict_avx512, learn_run_avx512, ttt_error_avx2, scale_i32_avx512, sumsq_avx512, residual_avx512,
    tgemm_residual_avx512vnni, quantize_block_avx512,
    chunk_predict_avx512, chunk_update_avx512, ttt_chunk_correct_avx2,
};
