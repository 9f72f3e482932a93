/*
 * Per-token surprise attached to buffers by the bitttt element.
 *
 * The meta is a GstCustomMeta, so applications read it without linking the
 * plugin (which they cannot do) and without any header of ours:
 *
 *   GstCustomMeta *m = gst_buffer_get_custom_meta (buf, "GstBitTTTSurpriseMeta");
 *   GstStructure *s = gst_custom_meta_get_structure (m);
 *
 * Fields of the structure (named GST_BITTTT_SURPRISE_META_NAME):
 *   "tokens"   G_TYPE_UINT    tokens completed while processing this buffer
 *   "offset"   G_TYPE_UINT64  index of the first of them in the model's
 *                             token count (restarts at 0 on reset)
 *   "skipped"  G_TYPE_UINT    how many of them were skipped (NaN/Inf)
 *   "surprise" G_TYPE_BYTES   tokens float32 values in host byte order,
 *                             NaN for a skipped token
 *   "anomaly"  G_TYPE_BYTES   only with the element's anomaly=true: tokens
 *                             float32 anomaly scores in [0, 1], NaN for a
 *                             skipped token
 */
#ifndef GST_BITTTT_META_H
#define GST_BITTTT_META_H

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_BITTTT_SURPRISE_META_NAME "GstBitTTTSurpriseMeta"

const GstMetaInfo *gst_bitttt_surprise_meta_register (void);

GstCustomMeta *gst_bitttt_surprise_meta_add (GstBuffer * buffer,
    guint64 offset, guint skipped, gfloat * surprise, gfloat * anomaly,
    guint tokens);

G_END_DECLS

#endif /* GST_BITTTT_META_H */
