/* Test data for the element tests: a fixed xorshift32 stream, so a failure
 * reproduces. Included by each test program (one translation unit each). */
#ifndef BITTTT_CHECK_RANDOM_H
#define BITTTT_CHECK_RANDOM_H

#include <glib.h>

static inline guint32
next_rand (guint32 * s)
{
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

/* n floats uniform in [-1, 1) */
static inline void
fill_random (gfloat * x, gsize n, guint32 seed)
{
  gsize i;
  for (i = 0; i < n; i++)
    x[i] = (gfloat) ((next_rand (&seed) >> 8) / 8388608.0 - 1.0);
}

#endif
