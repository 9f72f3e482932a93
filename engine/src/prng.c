/* The deterministic PRNG behind the projections (docs/SPEC.md, "Projections"). */
#include "internal.h"

/* splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and easy to reproduce in
 * any language, which matters more here than statistical strength. */
uint64_t ttt_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Matrix m draws from its own stream, seed ^ (m + 1) * C, so adding a
 * projection never changes the others. Each weight is one draw, mapped to
 * {0, 1, 2} (ternary + 1) by the multiply-shift of its top 32 bits. */
void ttt_ternary_fill(uint8_t *w, size_t rows, size_t cols, size_t stride, uint64_t seed, unsigned matrix)
{
    uint64_t s = seed ^ ((uint64_t)(matrix + 1) * UINT64_C(0xD1B54A32D192ED03));
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < cols; c++)
            w[r * stride + c] = (uint8_t)(((ttt_splitmix64(&s) >> 32) * 3) >> 32);
        for (size_t c = cols; c < stride; c++)
            w[r * stride + c] = 1; /* weight 0: padding contributes nothing */
    }
}
