/* What the element tests share: test data from a fixed xorshift32 stream
 * (so a failure reproduces), the caps they negotiate, and a harness with a
 * bus of its own. Included by each test program (one translation unit
 * each). */
#ifndef BITTTT_CHECK_COMMON_H
#define BITTTT_CHECK_COMMON_H

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

#endif
