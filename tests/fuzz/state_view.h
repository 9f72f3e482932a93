/*
 * Reading a saved state from the outside, per the format in docs/SPEC.md.
 * Shared by the fuzz targets and the soak programs, which check W through
 * the public ttt_state_save() rather than through engine internals. The
 * checksum is written here from its definition, not taken from the engine.
 */
#ifndef BITTTT_TESTS_STATE_VIEW_H
#define BITTTT_TESTS_STATE_VIEW_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SV_HEADER 64u

static inline uint32_t sv_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t sv_get64(const unsigned char *p)
{
    return (uint64_t)sv_get32(p) | (uint64_t)sv_get32(p + 4) << 32;
}

static inline void sv_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t sv_fnv1a64(const unsigned char *p, size_t n)
{
    uint64_t h = UINT64_C(14695981039346656037);
    while (n--) {
        h ^= *p++;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

/* Recompute the trailing checksum of a state of n >= 8 bytes. */
static inline void sv_reseal(unsigned char *buf, size_t n)
{
    sv_put64(buf + n - 8, sv_fnv1a64(buf, n - 8));
}

/* Scan the d x d matrix W of a saved state: returns 0 if any entry is NaN or
 * Inf, else 1, with the largest |W| in *maxabs. */
static inline int sv_w_scan(const unsigned char *state, size_t d, float *maxabs)
{
    float mx = 0.0f;
    for (size_t i = 0; i < d * d; i++) {
        const uint32_t b = sv_get32(state + SV_HEADER + 4 * i);
        float w;
        memcpy(&w, &b, 4);
        if ((b & 0x7f800000u) == 0x7f800000u)
            return 0;
        if (w < 0)
            w = -w;
        if (w > mx)
            mx = w;
    }
    *maxabs = mx;
    return 1;
}

#endif
