/*
 * Audio framing for the bitttt element (internal, not installed).
 *
 * Audio buffers have any length but the layer wants whole tokens, so the
 * framing lives here, apart from the element's GStreamer plumbing: the
 * delay line that carries partial tokens from buffer to buffer, and the
 * analyser's window history. Neither knows the engine; complete tokens go
 * to a run function the element supplies.
 *
 * The delay line's output is sample-exact, like gst-plugins-good's
 * audiofxbasefirfilter: its leading silence is dropped, its tail pushed at
 * the end, and every output buffer is timestamped by its content, so
 * output frame i is input frame i, processed.
 */
#ifndef GST_BITTTT_AUDIO_H
#define GST_BITTTT_AUDIO_H

#include <gst/gst.h>

G_BEGIN_DECLS

/* Runs n tokens (n x dim floats) through the layer in place; token i's
 * last frame is frame last + i * step of the buffer being processed.
 * Returns a TTT_ error code of <bitttt/bitttt.h>. */
typedef int (*GstBitTTTAudioRunFunc) (gpointer user_data, gfloat * tokens,
    gsize n, guint64 last, guint64 step);

typedef struct
{
  /* the shape, set by gst_bitttt_audio_configure */
  gint rate, channels;
  gsize fpt;                    /* frames per token */
  gsize hop;                    /* frames between token starts */
  gsize dim;                    /* floats per token: channels x fpt */
  gboolean analyser;            /* hop != fpt: windows are copies */

  /* delay line (not the analyser) */
  gfloat *token;                /* one token straddling two buffers */
  gfloat *hold, *hold_tmp;      /* hold_len floats each */
  gsize hold_len;               /* (fpt - 1) x channels */
  gsize unproc;                 /* floats at the end of hold not yet run */
  gboolean have_data;           /* audio since the last clear */
  gsize drop;                   /* frames of leading silence still to drop */
  GstClockTime start_ts;        /* PTS of the first input frame */
  guint64 start_off;            /* its offset (GST_BUFFER_OFFSET_NONE) */
  guint64 out_frames;           /* frames output since the first */

  /* analyser: windows of fpt frames every hop */
  gfloat *hist;                 /* the last fpt - 1 frames of the stream */
  gsize hist_len;               /* floats */
  gfloat *win;                  /* windows for one run */
  gsize win_cap;                /* windows */
  gsize hop_need;               /* frames until the next window is complete */
} GstBitTTTAudio;

gboolean gst_bitttt_audio_matches (const GstBitTTTAudio * a, gint rate,
    gint channels, gsize fpt, gsize hop);
void gst_bitttt_audio_configure (GstBitTTTAudio * a, gint rate,
    gint channels, gsize fpt, gsize hop, gsize max_windows);
void gst_bitttt_audio_free (GstBitTTTAudio * a);
void gst_bitttt_audio_clear (GstBitTTTAudio * a);

gsize gst_bitttt_audio_tokens (const GstBitTTTAudio * a, gsize frames);
int gst_bitttt_audio_process (GstBitTTTAudio * a, gfloat * data,
    gsize frames, GstClockTime pts, guint64 offset, GstBitTTTAudioRunFunc run,
    gpointer user_data);
gboolean gst_bitttt_audio_output (GstBitTTTAudio * a, GstBuffer * buf);
GstBuffer *gst_bitttt_audio_drain (GstBitTTTAudio * a);

G_END_DECLS

#endif /* GST_BITTTT_AUDIO_H */
