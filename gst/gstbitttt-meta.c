/*
 * Surprise meta: see gstbitttt-meta.h for the layout apps rely on.
 *
 * A GstCustomMeta rather than a GstMeta subclass: a subclass's API type and
 * accessors live in the plugin, which applications cannot link, whereas a
 * custom meta is found by name through core GStreamer API (C and Python).
 * The price is a GstStructure and a GBytes per buffer, which is why the
 * element only attaches it when its surprise-meta property is set.
 */
#include "gstbitttt-meta.h"

const GstMetaInfo *
gst_bitttt_surprise_meta_register (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter (&info)) {
    /* no tags: the meta describes the tokens, not the memory or the audio
     * format, so elements that keep untagged metas keep this one */
    static const gchar *tags[] = { NULL };
    const GstMetaInfo *i =
        gst_meta_register_custom (GST_BITTTT_SURPRISE_META_NAME, tags,
        NULL, NULL, NULL);
    g_once_init_leave (&info, i);
  }
  return info;
}

/* Takes ownership of surprise and anomaly (g_malloc'ed, tokens floats
 * each; anomaly may be NULL: no "anomaly" field). */
GstCustomMeta *
gst_bitttt_surprise_meta_add (GstBuffer * buffer, guint64 offset,
    guint skipped, gfloat * surprise, gfloat * anomaly, guint tokens)
{
  GstCustomMeta *meta;
  GstStructure *s;
  GBytes *bytes;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);

  meta = gst_buffer_add_custom_meta (buffer, GST_BITTTT_SURPRISE_META_NAME);
  if (meta == NULL) {
    g_free (surprise);
    g_free (anomaly);
    return NULL;
  }
  s = gst_custom_meta_get_structure (meta);
  bytes = g_bytes_new_take (surprise, (gsize) tokens * sizeof (gfloat));
  gst_structure_set (s, "tokens", G_TYPE_UINT, tokens,
      "offset", G_TYPE_UINT64, offset,
      "skipped", G_TYPE_UINT, skipped, "surprise", G_TYPE_BYTES, bytes, NULL);
  g_bytes_unref (bytes);
  if (anomaly != NULL) {
    bytes = g_bytes_new_take (anomaly, (gsize) tokens * sizeof (gfloat));
    gst_structure_set (s, "anomaly", G_TYPE_BYTES, bytes, NULL);
    g_bytes_unref (bytes);
  }
  return meta;
}
