/*
 * Audio framing for the bitttt element: see gstbitttt-audio.h.
 *
 * Split from the element so the index arithmetic of the delay line and of
 * the analyser's windows can be read (and checked) on its own. Everything
 * is allocated when the shape changes, nothing per buffer.
 */
#include <string.h>

#include <bitttt/bitttt.h>

#include "gstbitttt-audio.h"

/* Whether the stream can go on in this shape (hop == fpt: the delay line,
 * otherwise the analyser). */
gboolean
gst_bitttt_audio_matches (const GstBitTTTAudio * a, gint rate, gint channels,
    gsize fpt, gsize hop)
{
  return a->rate == rate && a->channels == channels && a->fpt == fpt
      && a->hop == hop;
}

/* Sizes everything for this shape and starts a fresh stream, unless the
 * shape is the one the stream already has. max_windows: windows copied per
 * run, read only with a new shape. */
void
gst_bitttt_audio_configure (GstBitTTTAudio * a, gint rate, gint channels,
    gsize fpt, gsize hop, gsize max_windows)
{
  const gsize dim = (gsize) channels * fpt;

  if (gst_bitttt_audio_matches (a, rate, channels, fpt, hop))
    return;
  gst_bitttt_audio_free (a);
  a->rate = rate;
  a->channels = channels;
  a->fpt = fpt;
  a->hop = hop;
  a->dim = dim;
  a->analyser = hop != fpt;
  if (a->analyser) {
    /* windows are copies: the audio is untouched, so nothing is held back */
    a->hist_len = (gsize) channels * (fpt - 1);
    a->hist = g_new0 (gfloat, a->hist_len);
    a->win_cap = max_windows;
    a->win = g_new (gfloat, max_windows * dim);
  } else {
    a->hold_len = (gsize) channels * (fpt - 1);
    a->hold = g_new0 (gfloat, a->hold_len);
    a->hold_tmp = g_new0 (gfloat, a->hold_len);
    a->token = g_new (gfloat, dim);
  }
  gst_bitttt_audio_clear (a);
}

/* Back to no shape at all: the next configure starts a fresh stream. */
void
gst_bitttt_audio_free (GstBitTTTAudio * a)
{
  g_free (a->token);
  g_free (a->hold);
  g_free (a->hold_tmp);
  g_free (a->hist);
  g_free (a->win);
  memset (a, 0, sizeof (*a));
  a->start_ts = GST_CLOCK_TIME_NONE;
  a->start_off = GST_BUFFER_OFFSET_NONE;
}

/* Back to an empty delay line: fpt - 1 frames of silence ahead of the
 * stream (to be dropped from the output), nothing unprocessed; the next
 * input buffer starts the output's timeline; the analyser starts a new
 * first window. */
void
gst_bitttt_audio_clear (GstBitTTTAudio * a)
{
  if (a->hold_len > 0)
    memset (a->hold, 0, a->hold_len * sizeof (gfloat));
  if (a->hist_len > 0)
    memset (a->hist, 0, a->hist_len * sizeof (gfloat));
  a->hop_need = a->fpt;
  a->unproc = 0;
  a->have_data = FALSE;
  a->drop = a->hold_len / MAX (a->channels, 1);
  a->start_ts = GST_CLOCK_TIME_NONE;
  a->start_off = GST_BUFFER_OFFSET_NONE;
  a->out_frames = 0;
}

/* Tokens the next `frames` frames complete. The analyser's windows whose
 * last frame is among them: the next one ends hop_need frames in, then one
 * every hop frames. */
gsize
gst_bitttt_audio_tokens (const GstBitTTTAudio * a, gsize frames)
{
  if (a->analyser)
    return frames >= a->hop_need ? 1 + (frames - a->hop_need) / a->hop : 0;
  return (a->unproc + frames * (gsize) a->channels) / a->dim;
}

/*
 * Analyser: the buffer (frames frames at b) is only read. Window w covers
 * stream frames [w * hop, w * hop + fpt); it is complete when its last
 * frame arrives, and its first frames may come from hist, the fpt - 1
 * frames before this buffer. Windows are copied into win and run a batch
 * at a time; the run's output is discarded.
 */
static int
gst_bitttt_audio_analyse (GstBitTTTAudio * a, const gfloat * b, gsize frames,
    GstBitTTTAudioRunFunc run, gpointer user_data)
{
  const gsize ch = (gsize) a->channels, fpt = a->fpt;
  const gsize dim = a->dim, keep = fpt - 1;
  gsize pos = 0, k = 0, first = 0;
  int err;

  while (frames - pos >= a->hop_need) {
    const gsize end = pos + a->hop_need;        /* >= 1 */
    gfloat *w = a->win + k * dim;

    if (end < fpt) {
      const gsize old = fpt - end;      /* <= keep */
      memcpy (w, a->hist + (keep - old) * ch, old * ch * sizeof (gfloat));
      memcpy (w + old * ch, b, end * ch * sizeof (gfloat));
    } else {
      memcpy (w, b + (end - fpt) * ch, dim * sizeof (gfloat));
    }
    if (k == 0)
      first = end - 1;
    pos = end;
    a->hop_need = a->hop;
    if (++k == a->win_cap || frames - pos < a->hop_need) {
      err = run (user_data, a->win, k, first, a->hop);
      if (err != TTT_OK)
        return err;
      k = 0;
    }
  }
  a->hop_need -= frames - pos;

  if (keep > 0) {
    if (frames >= keep) {
      memcpy (a->hist, b + (frames - keep) * ch, keep * ch * sizeof (gfloat));
    } else {
      memmove (a->hist, a->hist + frames * ch,
          (keep - frames) * ch * sizeof (gfloat));
      memcpy (a->hist + (keep - frames) * ch, b,
          frames * ch * sizeof (gfloat));
    }
  }
  return TTT_OK;
}

/*
 * Delay line of hold_len = (fpt - 1) * channels floats. The virtual stream
 * is hold followed by the buffer; its unprocessed part is the last `unproc`
 * floats of hold plus the buffer. Complete tokens are run in place (a token
 * straddling hold and buffer goes through `token`), then the buffer gets the
 * first len floats of the virtual stream and hold the last hold_len. Every
 * unprocessed float stays inside hold, so the output only ever carries
 * processed samples (or the initial silence).
 */
static int
gst_bitttt_audio_delay (GstBitTTTAudio * a, gfloat * b, gsize len,
    GstBitTTTAudioRunFunc run, gpointer user_data)
{
  const gsize dim = a->dim, k = a->hold_len, ch = (gsize) a->channels;
  gfloat *h = a->hold;
  gsize u = a->unproc;
  int err;

  if (u + len >= dim) {
    gsize o = 0, m;

    if (u > 0) {
      memcpy (a->token, h + k - u, u * sizeof (gfloat));
      memcpy (a->token + u, b, (dim - u) * sizeof (gfloat));
      err = run (user_data, a->token, 1, (dim - u) / ch - 1, a->fpt);
      if (err != TTT_OK)
        return err;
      memcpy (h + k - u, a->token, u * sizeof (gfloat));
      memcpy (b, a->token + u, (dim - u) * sizeof (gfloat));
      o = dim - u;
    }
    m = (len - o) / dim;
    if (m > 0) {
      err = run (user_data, b + o, m, o / ch + a->fpt - 1, a->fpt);
      if (err != TTT_OK)
        return err;
    }
    u = len - o - m * dim;
  } else {
    u += len;
  }

  if (k > 0) {
    gfloat *t = a->hold_tmp;

    if (len >= k) {
      memcpy (t, b + len - k, k * sizeof (gfloat));
      memmove (b + k, b, (len - k) * sizeof (gfloat));
      memcpy (b, h, k * sizeof (gfloat));
    } else {
      memcpy (t, h + len, (k - len) * sizeof (gfloat));
      memcpy (t + k - len, b, len * sizeof (gfloat));
      memcpy (b, h, len * sizeof (gfloat));
    }
    a->hold_tmp = h;
    a->hold = t;
  }
  a->unproc = u;
  a->have_data = TRUE;
  return TTT_OK;
}

/* Runs the tokens `frames` frames at data complete: in place through the
 * delay line, or (analyser) on copies, leaving data as it was. pts,
 * offset: the buffer's (either may be unknown); the first buffer's start
 * the output's timeline. */
int
gst_bitttt_audio_process (GstBitTTTAudio * a, gfloat * data, gsize frames,
    GstClockTime pts, guint64 offset, GstBitTTTAudioRunFunc run,
    gpointer user_data)
{
  if (frames == 0)              /* an empty buffer maps to NULL data */
    return TTT_OK;
  if (!a->have_data) {
    a->start_ts = pts;
    a->start_off = offset;
  }
  if (a->analyser)
    return gst_bitttt_audio_analyse (a, data, frames, run, user_data);
  return gst_bitttt_audio_delay (a, data, frames * (gsize) a->channels, run,
      user_data);
}

/* Timestamps n output frames starting at output frame out_frames by
 * their content: the input's first PTS plus their position, so rounding
 * never accumulates. */
static void
gst_bitttt_audio_stamp (GstBitTTTAudio * a, GstBuffer * buf, gsize n)
{
  const guint64 f0 = a->out_frames, f1 = f0 + n;

  if (GST_CLOCK_TIME_IS_VALID (a->start_ts)) {
    GST_BUFFER_PTS (buf) = a->start_ts +
        gst_util_uint64_scale_int (f0, GST_SECOND, a->rate);
    GST_BUFFER_DURATION (buf) = a->start_ts +
        gst_util_uint64_scale_int (f1, GST_SECOND, a->rate) -
        GST_BUFFER_PTS (buf);
  } else {
    GST_BUFFER_PTS (buf) = GST_BUFFER_DURATION (buf) = GST_CLOCK_TIME_NONE;
  }
  if (a->start_off != GST_BUFFER_OFFSET_NONE) {
    GST_BUFFER_OFFSET (buf) = a->start_off + f0;
    GST_BUFFER_OFFSET_END (buf) = a->start_off + f1;
  } else {
    GST_BUFFER_OFFSET (buf) = GST_BUFFER_OFFSET_END (buf) =
        GST_BUFFER_OFFSET_NONE;
  }
  a->out_frames = f1;
}

/* After process, with buf (writable, unmapped) holding the delay line's
 * output: cuts off the leading silence and timestamps what is left by its
 * content. Returns FALSE if nothing is left (the buffer is to be dropped).
 * The analyser and frames-per-token=1 leave buf as it is. */
gboolean
gst_bitttt_audio_output (GstBitTTTAudio * a, GstBuffer * buf)
{
  const gsize bpf = (gsize) a->channels * sizeof (gfloat);
  const gsize frames = gst_buffer_get_size (buf) / bpf;
  const gsize skip = MIN (a->drop, frames);

  if (a->analyser || a->hold_len == 0)
    return TRUE;
  a->drop -= skip;
  if (skip == frames)
    return FALSE;
  if (skip > 0)
    gst_buffer_resize (buf, skip * bpf, (frames - skip) * bpf);
  gst_bitttt_audio_stamp (a, buf, frames - skip);
  return TRUE;
}

/* The audio still held in the delay line, NULL if none: the processed tail
 * of the last complete token and the final partial token, unchanged (less
 * any leading silence not yet dropped, in a stream shorter than the
 * line). The line is cleared. */
GstBuffer *
gst_bitttt_audio_drain (GstBitTTTAudio * a)
{
  const gsize ch = (gsize) a->channels;
  GstBuffer *buf = NULL;

  if (a->have_data && a->hold_len > a->drop * ch) {
    buf = gst_buffer_new_memdup (a->hold + a->drop * ch,
        (a->hold_len - a->drop * ch) * sizeof (gfloat));
    gst_bitttt_audio_stamp (a, buf, a->hold_len / ch - a->drop);
  }
  gst_bitttt_audio_clear (a);
  return buf;
}
