/* The libFuzzer entry point, declared for the fuzz targets and the replay
 * driver (which must build with -Wmissing-prototypes). */
#ifndef BITTTT_TESTS_FUZZ_H
#define BITTTT_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <bitttt/bitttt.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant broke: stop at once where a debugger or libFuzzer sees it. */
#define FUZZ_CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

/* Token values for the targets that build streams of their own: xorshift64,
 * in [-1, 1), so a case replays the same from its seed. */
static inline float fuzz_rnd(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (float)((*state >> 40) / 8388608.0 - 1.0);
}

/* m's state in a new buffer of *n bytes (the caller frees it) */
static inline unsigned char *fuzz_save_state(ttt_model *m, size_t *n)
{
    *n = ttt_state_size(m);
    unsigned char *buf = malloc(*n);
    FUZZ_CHECK(buf && ttt_state_save(m, buf, *n, NULL) == TTT_OK);
    return buf;
}

#endif
