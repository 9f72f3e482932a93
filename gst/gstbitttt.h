/*
 * bitttt: a Bit-TTT layer as a GStreamer in-place filter.
 */
#ifndef GST_BITTTT_H
#define GST_BITTTT_H

#include <gst/gst.h>
#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

/**
 * GstBitTTTResetOn:
 * @GST_BITTTT_RESET_ON_FLUSH: a flush (seek, flushing step)
 * @GST_BITTTT_RESET_ON_STREAM_START: a stream-start event
 * @GST_BITTTT_RESET_ON_DISCONT: a buffer flagged DISCONT
 * @GST_BITTTT_RESET_ON_CAPS: new caps with the same token width
 *
 * Events on which the learned state is forgotten.
 */
typedef enum {
  GST_BITTTT_RESET_ON_FLUSH = (1 << 0),
  GST_BITTTT_RESET_ON_STREAM_START = (1 << 1),
  GST_BITTTT_RESET_ON_DISCONT = (1 << 2),
  GST_BITTTT_RESET_ON_CAPS = (1 << 3),
} GstBitTTTResetOn;

#define GST_TYPE_BITTTT_RESET_ON (gst_bitttt_reset_on_get_type ())
GType gst_bitttt_reset_on_get_type (void);

#define GST_TYPE_BITTTT (gst_bitttt_get_type ())
G_DECLARE_FINAL_TYPE (GstBitTTT, gst_bitttt, GST, BITTTT, GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE (bitttt);

G_END_DECLS

#endif /* GST_BITTTT_H */
