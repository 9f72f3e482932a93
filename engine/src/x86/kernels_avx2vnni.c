/*
 * The avx2-vnni table: the AVX2 table with its int8 products in AVX-VNNI's
 * vpdpbusd on ymm (built with -mavx2 -mfma -mavxvnni). For the CPUs that
 * have AVX-VNNI without AVX-512 (Intel client cores since Alder Lake, and
 * its E-core servers); everything but tgemm and tgemm_residual is the AVX2
 * table's own code, so the packed layout is the same too.
 */
#include "kernels.h"
#include "x86/tgemm_avx2.h"

#if !defined(__AVXVNNI__)
#error "kernels_avx2vnni.c needs -mavxvnni"
#endif

void ttt_tgemm_avx2vnni(const uint8_t *w, size_t rows, size_t cols, const int8_t *v, size_t vstride,
                        const int32_t *vsum, size_t ntok, int32_t *out, size_t ostride)
{
    tgemm_any(1, w, rows, cols, v, vstride, vsum, ntok, out, ostride);
}

void ttt_tgemm_residual_avx2vnni(const uint8_t *packed, size_t rows, size_t cols, const int8_t *v, size_t vstride,
                                 const int32_t *vsum, size_t ntok, const float *x, const float *g, float *out,
                                 size_t xstride, int32_t *acc)
{
    tgemm_residual_any(1, &ttt_kernels_avx2vnni, packed, rows, cols, v, vstride, vsum, ntok, x, g, out, xstride,
                       acc);
}
