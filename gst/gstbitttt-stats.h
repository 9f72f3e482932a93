/*
 * Surprise statistics of the bitttt element (internal, not installed).
 *
 * What the element reports is kept apart from how it processes: the
 * per-buffer counts, the message intervals they fall into, and the
 * `bitttt` element message that closes each (fields and rules:
 * docs/element.md, "Messages"). The element's streaming thread owns the
 * struct; nothing here takes a lock.
 *
 * A buffer is a run of `units` (audio: frames; tensors: tokens), unit j
 * at time pts + j * num / den (counted on from the previous buffer while
 * the stream is contiguous). Intervals tile stream time from the first
 * timed unit; each token is counted in the interval holding its last unit,
 * and an interval is posted as soon as its last unit has been seen, also
 * in the middle of a buffer (as `level` does). Untimed buffers each close
 * an interval.
 */
#ifndef GST_BITTTT_STATS_H
#define GST_BITTTT_STATS_H

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct
{
  GstElement *element;          /* posts the messages */
  gboolean anomaly;             /* messages carry the anomaly field */

  /* this buffer */
  guint buf_tokens, buf_skipped;
  gboolean post;                /* messages wanted for this buffer */
  gboolean timed;               /* units have times */
  const GstSegment *segment;
  GstClockTime origin;          /* unit j is at origin + (base + j) num / den */
  guint64 base, units, num, den;
  guint64 interval;
  guint64 next_unit;            /* first unit of the next interval */

  /* this message interval */
  gboolean open;
  gboolean open_timed;
  GstClockTime anchor;          /* intervals start at anchor + k * interval */
  GstClockTime start, end, bound;
  guint64 tokens, skipped, finite;
  gdouble engine_ns, sum, max, score;
} GstBitTTTStats;

void gst_bitttt_stats_init (GstBitTTTStats * st, GstElement * element);
void gst_bitttt_stats_clear (GstBitTTTStats * st);
void gst_bitttt_stats_begin_buffer (GstBitTTTStats * st, gboolean post,
    const GstSegment * segment, guint64 interval, GstClockTime pts,
    guint64 units, guint64 num, guint64 den);
void gst_bitttt_stats_account (GstBitTTTStats * st, const gfloat * surprise,
    const gfloat * score, gsize n, guint64 last, guint64 step, guint64 ns);
void gst_bitttt_stats_end_buffer (GstBitTTTStats * st);
void gst_bitttt_stats_flush (GstBitTTTStats * st);

GstClockTime gst_bitttt_stats_stream_time (const GstSegment * segment,
    GstClockTime ts);

G_END_DECLS

#endif /* GST_BITTTT_STATS_H */
