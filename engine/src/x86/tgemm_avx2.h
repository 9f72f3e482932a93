/*
 * The AVX2 tables' int8 products, for kernels_avx2.c (VNNI = 0: vpmaddubsw
 * + vpaddw + vpmaddwd) and kernels_avx2vnni.c (VNNI = 1: AVX-VNNI's
 * vpdpbusd on ymm, one instruction for the three, the int32 sums exact
 * either way). Both read the layout of kernels_avx2.c's tpack.
 */
#ifndef BITTTT_X86_TGEMM_AVX2_H
#define BITTTT_X86_TGEMM_AVX2_H

#include <immintrin.h>
#include <string.h>

#include "kernels.h"
#include "x86/avx2_inline.h"

#define AI static inline __attribute__((always_inline))

/* vpdpbusd ymm: acc + the 4 products u * s of each dword, unsigned by
 * signed, exact in int32. Only kernels_avx2vnni.c, built with -mavxvnni,
 * instantiates VNNI = 1; elsewhere the branch that uses it is never taken */
#if defined(__AVXVNNI__)
#define TTT_DPBUSD(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#else
#define TTT_DPBUSD(acc, u, s) (acc)
#endif

/*
 * tgemm works on tiles of 8 rows x 32 columns, transposed once into 8
 * registers and then used by every token: register q holds, for each of the
 * 8 rows, its 4 weights at columns 4q..4q+3. With the token's 4 values at
 * those columns broadcast to every dword, maddubs gives two int16 partial
 * sums per row side by side, so 8 maddubs + adds and one pmaddwd yield the
 * 8 row sums in order: no horizontal reduction at all. (A row-at-a-time dot
 * product needs about as many shuffles for its reduction as multiplies when
 * rows are short, as Up's rows of d bytes are.)
 *
 * An int16 lane sums 2 products per quad, 16 per tile, each |w * v| <= 256:
 * at most 4096, far from wrapping. Tiles past the last column are zeroed in
 * w, so the padding of v (read, never trusted) multiplies 0; missing rows
 * repeat the last one and are not stored.
 */
AI __m256i bcast4(const int8_t *p)
{
    int32_t x;
    memcpy(&x, p, sizeof x);
    return _mm256_set1_epi32(x);
}

/* the 8 biased row sums of one tile for the token values at v */
AI __m256i tile_dot(int VNNI, const __m256i wt[8], const int8_t *v)
{
    if (VNNI) {
        __m256i a = _mm256_setzero_si256(), b = a;
        for (int q = 0; q < 8; q += 2) {
            a = TTT_DPBUSD(a, wt[q], bcast4(v + 4 * q));
            b = TTT_DPBUSD(b, wt[q + 1], bcast4(v + 4 * q + 4));
        }
        return _mm256_add_epi32(a, b);
    }
    const __m256i a = _mm256_add_epi16(_mm256_maddubs_epi16(wt[0], bcast4(v)), _mm256_maddubs_epi16(wt[1], bcast4(v + 4)));
    const __m256i b = _mm256_add_epi16(_mm256_maddubs_epi16(wt[2], bcast4(v + 8)), _mm256_maddubs_epi16(wt[3], bcast4(v + 12)));
    const __m256i c = _mm256_add_epi16(_mm256_maddubs_epi16(wt[4], bcast4(v + 16)), _mm256_maddubs_epi16(wt[5], bcast4(v + 20)));
    const __m256i d = _mm256_add_epi16(_mm256_maddubs_epi16(wt[6], bcast4(v + 24)), _mm256_maddubs_epi16(wt[7], bcast4(v + 28)));
    return _mm256_madd_epi16(_mm256_add_epi16(_mm256_add_epi16(a, b), _mm256_add_epi16(c, d)), _mm256_set1_epi16(1));
}

AI void tgemm_rows(int VNNI, int FULL, const uint8_t *w, size_t wstride, size_t nr, size_t cols,
                   const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok,
                   int32_t *out, size_t ostride)
{
    const __m256i rmask = lane_mask(nr);
    for (size_t c0 = 0; c0 < cols; c0 += 32) {
        __m256i wt[8];
        for (size_t m = 0; m < 8; m++)
            wt[m] = _mm256_loadu_si256((const __m256i *)(w + (m < nr ? m : nr - 1) * wstride + c0));
        if (cols - c0 < 32) {
            const __m256i bm = byte_mask(cols - c0);
            for (int m = 0; m < 8; m++)
                wt[m] = _mm256_and_si256(wt[m], bm);
        }
        transpose8x8(wt);
        for (size_t t = 0; t < ntok; t++) {
            int32_t *o = out + t * ostride;
            __m256i s = tile_dot(VNNI, wt, v + t * vstride + c0);
            if (FULL) {
                s = c0 ? _mm256_add_epi32(s, _mm256_loadu_si256((const __m256i *)o))
                       : _mm256_sub_epi32(s, _mm256_set1_epi32(vsum[t]));
                _mm256_storeu_si256((__m256i *)o, s);
            } else {
                s = c0 ? _mm256_add_epi32(s, _mm256_maskload_epi32(o, rmask))
                       : _mm256_sub_epi32(s, _mm256_set1_epi32(vsum[t]));
                _mm256_maskstore_epi32(o, rmask, s);
            }
        }
    }
}

/*
 * Matrices of at most 32 columns (Up for d <= 32) take another route: one
 * tile per row group, so a token's 8 broadcasts serve every row group, and
 * the tiles, stored transposed once at packing, stream from L1 as the
 * memory operand of maddubs. That operand is maddubs' signed one, so the
 * tiles hold w - 1 in {-1, 0, 1} and the token is made unsigned,
 * u = v + 128 (v ^ 0x80): sum (w-1) u = sum (w-1) v + 128 sum (w-1), and the
 * packed form keeps 128 * sum_c (w-1) per row to subtract. An int16 lane
 * sums 16 products |(w-1) u| <= 255: at most 4080. (With more columns the
 * tile-in-registers loop below wins: it amortises nothing over row groups,
 * but needs no accumulators across column blocks.)
 */
#define SMALL_COLS 32

/* RES: out = x + (float)sum * g[t] (x where g[t] == 0) instead of the sums */
AI void tgemm_small(int VNNI, int RES, const uint8_t *packed, size_t rows, const int8_t *v, size_t vstride,
                    size_t ntok, int32_t *out, size_t ostride, const float *x, const float *gs, float *fout)
{
    const size_t G = (rows + 7) / 8, nlast = rows - 8 * (G - 1);
    const __m256i mlast = lane_mask(nlast);
    const int32_t *rs = (const int32_t *)(packed + G * 256);
    for (size_t t = 0; t < ntok; t++) {
        int32_t *o = RES ? NULL : out + t * ostride;
        const float *xt = RES ? x + t * ostride : NULL;
        float *fo = RES ? fout + t * ostride : NULL;
        if (RES && gs[t] == 0.0f) {
            if (fo != xt)
                memcpy(fo, xt, rows * sizeof *fo);
            continue;
        }
        const __m256 gv = RES ? _mm256_set1_ps(gs[t]) : _mm256_setzero_ps();
        int32_t u[8];
        __m256i bc[8];
        _mm256_storeu_si256((__m256i *)u, _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(v + t * vstride)),
                                                           _mm256_set1_epi8(-128)));
        for (int q = 0; q < 8; q++)
            bc[q] = _mm256_set1_epi32(u[q]);
        for (size_t g = 0; g < G; g++) {
            const __m256i *tile = (const __m256i *)(packed + g * 256);
            __m256i s;
            if (VNNI) {
                __m256i a = _mm256_setzero_si256(), b = a;
                for (int q = 0; q < 8; q += 2) {
                    a = TTT_DPBUSD(a, bc[q], _mm256_load_si256(tile + q));
                    b = TTT_DPBUSD(b, bc[q + 1], _mm256_load_si256(tile + q + 1));
                }
                s = _mm256_add_epi32(a, b);
            } else {
                __m256i a[4];
                for (int q = 0; q < 4; q++)
                    a[q] = _mm256_add_epi16(_mm256_maddubs_epi16(bc[2 * q], _mm256_load_si256(tile + 2 * q)),
                                            _mm256_maddubs_epi16(bc[2 * q + 1], _mm256_load_si256(tile + 2 * q + 1)));
                const __m256i s16 = _mm256_add_epi16(_mm256_add_epi16(a[0], a[1]), _mm256_add_epi16(a[2], a[3]));
                s = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
            }
            s = _mm256_sub_epi32(s, _mm256_load_si256((const __m256i *)(rs + 8 * g)));
            const int part = g == G - 1 && nlast < 8;
            if (RES) {
                /* mul then add, never fma, as residual */
                const __m256 b = _mm256_mul_ps(_mm256_cvtepi32_ps(s), gv);
                if (part)
                    _mm256_maskstore_ps(fo + 8 * g, mlast, _mm256_add_ps(_mm256_maskload_ps(xt + 8 * g, mlast), b));
                else
                    _mm256_storeu_ps(fo + 8 * g, _mm256_add_ps(_mm256_loadu_ps(xt + 8 * g), b));
            } else if (part) {
                _mm256_maskstore_epi32(o + 8 * g, mlast, s);
            } else {
                _mm256_storeu_si256((__m256i *)(o + 8 * g), s);
            }
        }
    }
}

AI void tgemm_any(int VNNI, const uint8_t *w, size_t rows, size_t cols, const int8_t *v, size_t vstride,
                  const int32_t *vsum, size_t ntok, int32_t *out, size_t ostride)
{
    if (cols <= SMALL_COLS) {
        tgemm_small(VNNI, 0, w, rows, v, vstride, ntok, out, ostride, NULL, NULL, NULL);
        return;
    }
    /* the plain row layout of ttt_tpack_rows */
    const size_t wstride = (cols + 63) / 64 * 64;
    size_t r = 0;
    for (; r + 8 <= rows; r += 8)
        tgemm_rows(VNNI, 1, w + r * wstride, wstride, 8, cols, v, vstride, vsum, ntok, out + r, ostride);
    if (r < rows)
        tgemm_rows(VNNI, 0, w + r * wstride, wstride, rows - r, cols, v, vstride, vsum, ntok, out + r, ostride);
}

AI void tgemm_residual_any(int VNNI, const ttt_kernels *self, const uint8_t *packed, size_t rows, size_t cols,
                           const int8_t *v, size_t vstride, const int32_t *vsum, size_t ntok, const float *x,
                           const float *g, float *out, size_t xstride, int32_t *acc)
{
    if (cols <= SMALL_COLS)
        tgemm_small(VNNI, 1, packed, rows, v, vstride, ntok, NULL, xstride, x, g, out);
    else
        ttt_tgemm_residual_split(self, packed, rows, cols, v, vstride, vsum, ntok, x, g, out, xstride, acc);
}

#endif
