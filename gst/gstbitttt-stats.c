/*
 * Surprise statistics of the bitttt element: see gstbitttt-stats.h.
 *
 * Split from the element so the message's contents and the rule that
 * closes an interval read in one place, apart from the streaming code that
 * feeds them.
 */
#include <math.h>

#include "gstbitttt-stats.h"

void
gst_bitttt_stats_clear (GstBitTTTStats * st)
{
  st->open = FALSE;
  st->start = st->end = GST_CLOCK_TIME_NONE;
  st->tokens = st->skipped = st->finite = 0;
  st->engine_ns = 0;
  st->sum = 0.0;
  st->max = -INFINITY;
  st->anomaly = -INFINITY;
}

void
gst_bitttt_stats_begin_buffer (GstBitTTTStats * st)
{
  st->buf_tokens = st->buf_skipped = 0;
}

/* n tokens of this buffer: their surprises, and their anomaly scores
 * (NULL without anomaly=true). */
void
gst_bitttt_stats_account (GstBitTTTStats * st, const gfloat * surprise,
    const gfloat * score, gsize n)
{
  gsize i;

  if (score != NULL) {
    for (i = 0; i < n; i++)
      if (score[i] > st->anomaly)       /* false for NaN */
        st->anomaly = score[i];
  }
  for (i = 0; i < n; i++) {
    const gfloat v = surprise[i];
    if (isfinite (v)) {
      st->sum += v;
      if (v > st->max)
        st->max = v;
      st->finite++;
    } else {
      st->buf_skipped++;
    }
  }
  st->buf_tokens += n;
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

/* Adds this buffer (pts, duration: either may be GST_CLOCK_TIME_NONE) to
 * the interval; returns whether the interval is full. Without timestamps
 * every buffer closes an interval. */
gboolean
gst_bitttt_stats_end_buffer (GstBitTTTStats * st, const GstSegment * segment,
    GstClockTime pts, GstClockTime duration, guint64 interval)
{
  GstClockTime ts = pts, end = GST_CLOCK_TIME_NONE;

  if (segment->format != GST_FORMAT_TIME)
    ts = GST_CLOCK_TIME_NONE;
  if (GST_CLOCK_TIME_IS_VALID (ts))
    end = GST_CLOCK_TIME_IS_VALID (duration) ? ts + duration : ts;
  if (!st->open || !GST_CLOCK_TIME_IS_VALID (st->start)) {
    st->open = TRUE;
    st->start = ts;
  }
  st->end = end;
  st->tokens += st->buf_tokens;
  st->skipped += st->buf_skipped;

  return !GST_CLOCK_TIME_IS_VALID (st->start) ||
      !GST_CLOCK_TIME_IS_VALID (end) || end < st->start ||
      end - st->start >= interval;
}

/* Whether an interval holds tokens not yet posted (the tail at EOS). */
gboolean
gst_bitttt_stats_pending (const GstBitTTTStats * st)
{
  return st->open && st->tokens > 0;
}

/* Posts the interval as a `bitttt` element message and starts the next;
 * the caller holds no lock (a bus sync handler may call back). */
void
gst_bitttt_stats_post (GstBitTTTStats * st, GstElement * element,
    const GstSegment * segment)
{
  const GstClockTime start = st->start, end = st->end;
  const gboolean timed = GST_CLOCK_TIME_IS_VALID (start)
      && GST_CLOCK_TIME_IS_VALID (end) && end >= start;
  const gdouble mean = st->finite ? st->sum / st->finite : NAN;
  const gdouble max = st->finite ? st->max : NAN;
  const gdouble anomaly = isfinite (st->anomaly) ? st->anomaly : NAN;
  const gdouble tps = st->engine_ns ?
      st->tokens * (gdouble) GST_SECOND / st->engine_ns : 0.0;
  GstStructure *s;

  s = gst_structure_new ("bitttt",
      "timestamp", G_TYPE_UINT64, start,
      "stream-time", G_TYPE_UINT64,
      gst_bitttt_stats_stream_time (segment, start),
      "running-time", G_TYPE_UINT64,
      gst_bitttt_stats_running_time (segment, start),
      "duration", G_TYPE_UINT64, timed ? end - start : GST_CLOCK_TIME_NONE,
      "tokens", G_TYPE_UINT64, st->tokens,
      "mean-surprise", G_TYPE_DOUBLE, mean,
      "max-surprise", G_TYPE_DOUBLE, max,
      "skipped", G_TYPE_UINT64, st->skipped,
      "tokens-per-second", G_TYPE_DOUBLE, tps,
      "anomaly", G_TYPE_DOUBLE, anomaly, NULL);
  gst_bitttt_stats_clear (st);
  gst_element_post_message (element,
      gst_message_new_element (GST_OBJECT (element), s));
}
