/* The libFuzzer entry point, declared for the fuzz targets and the replay
 * driver (which must build with -Wmissing-prototypes). */
#ifndef BITTTT_TESTS_FUZZ_H
#define BITTTT_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant broke: stop at once where a debugger or libFuzzer sees it. */
#define FUZZ_CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

#endif
