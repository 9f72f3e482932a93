/*
 * Surprise statistics of the bitttt element: see gstbitttt-stats.h.
 *
 * Split from the element so the message's contents and the rules that
 * cut the stream into intervals read in one place, apart from the
 * streaming code that feeds them. Like gst-plugins-good's `level`, a
 * buffer is split at interval boundaries: with a 1 Hz sensor series in
 * buffers of 16384 frames and a 1 s interval, each sample gets its own
 * message. Nothing is allocated but the message itself.
 */
#include <math.h>

#include "gstbitttt-stats.h"

static void
gst_bitttt_stats_reset_interval (GstBitTTTStats * st)
{
  st->open = FALSE;
  st->start = st->end = GST_CLOCK_TIME_NONE;
  st->tokens = st->skipped = st->finite = 0;
  st->engine_ns = 0.0;
  st->sum = 0.0;
  st->max = -INFINITY;
  st->score = -INFINITY;
}

void
gst_bitttt_stats_init (GstBitTTTStats * st, GstElement * element)
{
  st->element = element;
  st->anomaly = FALSE;
  gst_bitttt_stats_clear (st);
}

/* Forgets the interval and the time grid (start, flush). */
void
gst_bitttt_stats_clear (GstBitTTTStats * st)
{
  gst_bitttt_stats_reset_interval (st);
  st->anchor = st->origin = GST_CLOCK_TIME_NONE;
  st->num = 0;
  st->den = 1;
  st->base = 0;
  st->timed = FALSE;
  st->post = FALSE;
  st->units = 0;
  st->next_unit = G_MAXUINT64;
}

/* Timestamps mean nothing in a non-TIME segment (filesrc sends BYTES). */
GstClockTime
gst_bitttt_stats_stream_time (const GstSegment * segment, GstClockTime ts)
{
  if (segment->format != GST_FORMAT_TIME)
    return GST_CLOCK_TIME_NONE;
  return gst_segment_to_stream_time (segment, GST_FORMAT_TIME, ts);
}

static GstClockTime
gst_bitttt_stats_running_time (const GstSegment * segment, GstClockTime ts)
{
  if (segment->format != GST_FORMAT_TIME)
    return GST_CLOCK_TIME_NONE;
  return gst_segment_to_running_time (segment, GST_FORMAT_TIME, ts);
}

/* Posts the interval as a `bitttt` element message and empties it; the
 * caller holds no lock (a bus sync handler may call back). */
static void
gst_bitttt_stats_post (GstBitTTTStats * st)
{
  const GstClockTime start = st->start, end = st->end;
  const gboolean timed = GST_CLOCK_TIME_IS_VALID (start)
      && GST_CLOCK_TIME_IS_VALID (end) && end >= start;
  const gdouble mean = st->finite ? st->sum / st->finite : NAN;
  const gdouble max = st->finite ? st->max : NAN;
  const gdouble tps = st->engine_ns > 0.0 ?
      st->tokens * (gdouble) GST_SECOND / st->engine_ns : 0.0;
  GstStructure *s;

  s = gst_structure_new ("bitttt",
      "timestamp", G_TYPE_UINT64, start,
      "stream-time", G_TYPE_UINT64,
      gst_bitttt_stats_stream_time (st->segment, start),
      "running-time", G_TYPE_UINT64,
      gst_bitttt_stats_running_time (st->segment, start),
      "duration", G_TYPE_UINT64, timed ? end - start : GST_CLOCK_TIME_NONE,
      "tokens", G_TYPE_UINT64, st->tokens,
      "mean-surprise", G_TYPE_DOUBLE, mean,
      "max-surprise", G_TYPE_DOUBLE, max,
      "skipped", G_TYPE_UINT64, st->skipped,
      "tokens-per-second", G_TYPE_DOUBLE, tps, NULL);
  if (st->anomaly)
    gst_structure_set (s, "anomaly", G_TYPE_DOUBLE,
        isfinite (st->score) ? st->score : NAN, NULL);
  gst_bitttt_stats_reset_interval (st);
  gst_element_post_message (st->element,
      gst_message_new_element (GST_OBJECT (st->element), s));
}

/* Unit j of this buffer is unit base + j counted from origin: times are
 * computed from one origin for as long as the stream stays contiguous, so
 * rounding never moves a sample across a boundary. */
static GstClockTime
gst_bitttt_stats_unit_time (const GstBitTTTStats * st, guint64 j)
{
  return st->origin + gst_util_uint64_scale (st->base + j, st->num, st->den);
}

/* The first unit of this buffer at or after time t (G_MAXUINT64: none).
 * unit_time (j) >= t exactly when base + j >= ceil ((t - origin) * den /
 * num). */
static guint64
gst_bitttt_stats_first_unit (const GstBitTTTStats * st, guint64 t)
{
  guint64 u;

  if (t <= gst_bitttt_stats_unit_time (st, 0))
    return 0;
  if (st->num == 0 || t == G_MAXUINT64)
    return G_MAXUINT64;
  u = gst_util_uint64_scale_ceil (t - st->origin, st->den, st->num);
  return u == G_MAXUINT64 ? u : u - st->base;
}

/* Where this buffer's units are counted from: it continues the previous
 * buffer's count when it has the same unit duration and starts where
 * that one ended (within half a unit), else it starts a new count. */
static void
gst_bitttt_stats_place (GstBitTTTStats * st, GstClockTime pts, guint64 units,
    guint64 num, guint64 den)
{
  gboolean cont = FALSE;

  if (num > 0 && num == st->num && den == st->den &&
      GST_CLOCK_TIME_IS_VALID (st->origin)) {
    const GstClockTime expect = st->origin +
        gst_util_uint64_scale (st->base + st->units, num, den);
    const GstClockTime slack = gst_util_uint64_scale (1, num, 2 * den);

    cont = pts + slack >= expect && pts <= expect + slack;
    if (cont)
      st->base += st->units;
  }
  if (!cont) {
    st->origin = pts;
    st->base = 0;
  }
  st->num = num;
  st->den = den;
  st->units = units;
}

/* Opens the interval of the grid that holds unit j of this buffer: it
 * starts at that unit (sample-accurate) and ends at the next boundary. */
static void
gst_bitttt_stats_open_at (GstBitTTTStats * st, guint64 j)
{
  const GstClockTime t = gst_bitttt_stats_unit_time (st, j);
  guint64 k;

  if (!GST_CLOCK_TIME_IS_VALID (st->anchor) || t < st->anchor)
    st->anchor = t;
  k = (t - st->anchor) / st->interval + 1;
  st->bound = k > (G_MAXUINT64 - 1 - st->anchor) / st->interval ?
      G_MAXUINT64 : st->anchor + k * st->interval;
  st->open = TRUE;
  st->open_timed = TRUE;
  st->start = t;
  st->next_unit = gst_bitttt_stats_first_unit (st, st->bound);
}

/* Posts the open interval, whose last unit is j - 1 of this buffer. */
static void
gst_bitttt_stats_close_at (GstBitTTTStats * st, guint64 j)
{
  st->end = gst_bitttt_stats_unit_time (st, j);
  gst_bitttt_stats_post (st);
}

/*
 * Starts a buffer of `units` units, unit j at pts + j * num / den (num 0:
 * all at pts). post: messages wanted (otherwise only the buffer's counts
 * are kept); interval: the stream time one message covers, > 0.
 */
void
gst_bitttt_stats_begin_buffer (GstBitTTTStats * st, gboolean post,
    const GstSegment * segment, guint64 interval, GstClockTime pts,
    guint64 units, guint64 num, guint64 den)
{
  GstClockTime t0;

  st->buf_tokens = st->buf_skipped = 0;
  st->post = post;
  st->segment = segment;
  st->interval = MAX (interval, 1);
  st->next_unit = G_MAXUINT64;
  st->timed = segment->format == GST_FORMAT_TIME
      && GST_CLOCK_TIME_IS_VALID (pts);
  if (st->timed)
    gst_bitttt_stats_place (st, pts, units, den > 0 ? num : 0, MAX (den, 1));
  else
    st->origin = GST_CLOCK_TIME_NONE;
  if (!post)
    return;

  if (!st->timed) {
    /* a timed interval ends where untimed data starts */
    if (st->open && st->open_timed)
      gst_bitttt_stats_post (st);
    st->open = TRUE;
    st->open_timed = FALSE;
    return;
  }
  if (units == 0)               /* nothing to place on the grid */
    return;
  t0 = gst_bitttt_stats_unit_time (st, 0);
  if (st->open && (!st->open_timed || t0 < st->start)) {
    /* time went backwards: a new timeline, a new grid */
    gst_bitttt_stats_post (st);
    st->anchor = GST_CLOCK_TIME_NONE;
  } else if (st->open && t0 >= st->bound) {
    /* the interval ended in a gap before this buffer: it is whole */
    gst_bitttt_stats_post (st);
  }
  if (st->open)
    st->next_unit = gst_bitttt_stats_first_unit (st, st->bound);
  else
    gst_bitttt_stats_open_at (st, 0);
}

/*
 * n tokens of this buffer, in stream order: their surprises, their
 * anomaly scores (NULL without anomaly=true), where they end (token i's
 * last unit is last + i * step) and the wall time spent on them (shared
 * out evenly). Intervals that end before a token's last unit are posted
 * first.
 */
void
gst_bitttt_stats_account (GstBitTTTStats * st, const gfloat * surprise,
    const gfloat * score, gsize n, guint64 last, guint64 step, guint64 ns)
{
  const gdouble ns_per_token = n > 0 ? (gdouble) ns / n : 0.0;
  gsize i;

  for (i = 0; i < n; i++) {
    const gfloat v = surprise[i];

    if (st->post && st->timed) {
      const guint64 u = last + i * step;

      while (u >= st->next_unit) {
        const guint64 j = st->next_unit;
        gst_bitttt_stats_close_at (st, j);
        gst_bitttt_stats_open_at (st, j);
      }
    }
    if (score != NULL && score[i] > st->score)  /* false for NaN */
      st->score = score[i];
    if (isfinite (v)) {
      st->sum += v;
      if (v > st->max)
        st->max = v;
      st->finite++;
    } else {
      st->skipped++;
      st->buf_skipped++;
    }
    st->tokens++;
    st->engine_ns += ns_per_token;
  }
  st->buf_tokens += n;
}

/* Ends the buffer: posts every interval whose last unit it held (also an
 * interval ending exactly with it, as `level` does); untimed, the buffer
 * closes its interval. */
void
gst_bitttt_stats_end_buffer (GstBitTTTStats * st)
{
  if (!st->post) {
    gst_bitttt_stats_reset_interval (st);
    return;
  }
  if (!st->timed) {
    gst_bitttt_stats_post (st);
    return;
  }
  if (st->units == 0)
    return;
  while (st->next_unit <= st->units) {
    const guint64 j = st->next_unit;

    gst_bitttt_stats_close_at (st, j);
    if (j == st->units)
      return;
    gst_bitttt_stats_open_at (st, j);
  }
  st->end = gst_bitttt_stats_unit_time (st, st->units);
}

/* Posts the interval still open, if any (the tail at EOS). */
void
gst_bitttt_stats_flush (GstBitTTTStats * st)
{
  if (st->open && st->post)
    gst_bitttt_stats_post (st);
}
