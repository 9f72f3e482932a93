/*
 * Surprise statistics of the bitttt element (internal, not installed).
 *
 * What the element reports is kept apart from how it processes: the
 * per-buffer counts, the message interval they accumulate into, and the
 * `bitttt` element message that closes it (fields: docs/element.md). The
 * element's streaming thread owns the struct; nothing here takes a lock.
 */
#ifndef GST_BITTTT_STATS_H
#define GST_BITTTT_STATS_H

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct
{
  /* this buffer */
  guint buf_tokens, buf_skipped;

  /* this message interval */
  gboolean open;
  GstClockTime start, end;
  guint64 tokens, skipped, finite, engine_ns;
  gdouble sum, max, anomaly;
} GstBitTTTStats;

void gst_bitttt_stats_clear (GstBitTTTStats * st);
void gst_bitttt_stats_begin_buffer (GstBitTTTStats * st);
void gst_bitttt_stats_account (GstBitTTTStats * st, const gfloat * surprise,
    const gfloat * score, gsize n);
gboolean gst_bitttt_stats_end_buffer (GstBitTTTStats * st,
    const GstSegment * segment, GstClockTime pts, GstClockTime duration,
    guint64 interval);
gboolean gst_bitttt_stats_pending (const GstBitTTTStats * st);
void gst_bitttt_stats_post (GstBitTTTStats * st, GstElement * element,
    const GstSegment * segment);

GstClockTime gst_bitttt_stats_stream_time (const GstSegment * segment,
    GstClockTime ts);

G_END_DECLS

#endif /* GST_BITTTT_STATS_H */
