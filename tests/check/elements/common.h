/* What the element tests share: test data from a fixed xorshift32 stream
 * (so a failure reproduces), the caps they negotiate, and a harness with a
 * bus of its own. Included by each test program (one translation unit
 * each). */
#ifndef BITTTT_CHECK_COMMON_H
#define BITTTT_CHECK_COMMON_H

#include <math.h>
#include <gst/gst.h>
#include <gst/check/gstharness.h>

#define TENSOR_CAPS_FMT "other/tensors,format=static,num_tensors=1," \
  "types=float32,dimensions=(string)%u:%u,framerate=(fraction)0/1"
#define AUDIO_CAPS_FMT "audio/x-raw,format=F32LE,layout=interleaved," \
  "rate=%d,channels=%d"

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

static inline GstBuffer *
make_buffer (const gfloat * x, gsize n, GstClockTime pts, GstClockTime dur)
{
  GstBuffer *buf = n ? gst_buffer_new_memdup (x, n * sizeof (gfloat))
      : gst_buffer_new ();
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = dur;
  return buf;
}

/* a bitttt harness; with bus, the element posts to a bus of its own that
 * the test reads */
static inline GstHarness *
harness_new (GstBus ** bus)
{
  GstHarness *h = gst_harness_new ("bitttt");
  if (bus != NULL) {
    *bus = gst_bus_new ();
    gst_element_set_bus (h->element, *bus);
  }
  return h;
}

/* Messages left on the bus hold the element, which holds the bus: drop
 * them, or both leak (valgrind setup) */
static inline void
harness_free (GstHarness * h, GstBus * bus)
{
  gst_harness_teardown (h);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
}

static inline void
set_caps_fmt (GstHarness * h, const gchar * fmt, gint a, gint b)
{
  gchar *caps = g_strdup_printf (fmt, a, b);
  gst_harness_set_src_caps_str (h, caps);
  g_free (caps);
}

/* What docs/element.md ("Audio level and mix") says the element makes of
 * the engine's output y (in place) for the input x, n tokens of dim:
 * y scaled to at most the energy and the peak of x, mixed with x; tokens
 * with a non-finite value (skipped by the engine) left alone. Written from
 * the docs (float, four lanes i mod 4, summed as (0 + 1) + (2 + 3)), for
 * the expected values of the audio tests. */
static inline void
audio_mix (gfloat * y, const gfloat * x, gsize n, gsize dim, gfloat mix)
{
  gsize t, i;

  for (t = 0; t < n; t++, y += dim, x += dim) {
    gfloat ex[4] = { 0 }, ey[4] = { 0 }, px = 0.0f, py = 0.0f, g = 1.0f;
    gfloat sx, sy;
    gboolean finite = TRUE;

    for (i = 0; i < dim; i++)
      finite = finite && isfinite (x[i]);
    if (!finite)
      continue;
    for (i = 0; i < dim; i++) {
      ex[i % 4] += x[i] * x[i];
      ey[i % 4] += y[i] * y[i];
      px = MAX (px, fabsf (x[i]));
      py = MAX (py, fabsf (y[i]));
    }
    sx = (ex[0] + ex[1]) + (ex[2] + ex[3]);
    sy = (ey[0] + ey[1]) + (ey[2] + ey[3]);
    /* neither the energy nor the peak of x */
    if (sy > 0.0f)
      g = MIN (sqrtf (sx / sy), px / py);
    for (i = 0; i < dim; i++)
      y[i] = mix == 1.0f ? g * y[i] : (1.0f - mix) * x[i] + mix * g * y[i];
  }
}

#endif
