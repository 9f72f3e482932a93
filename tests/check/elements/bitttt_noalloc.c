/*
 * No heap allocation per buffer in the bitttt element in steady state.
 *
 * malloc and friends are interposed in this executable, so every allocation
 * of GLib, GStreamer, the plugin and the engine goes through the counter
 * (G_SLICE=always-malloc in the test environment sends GSlice there too).
 * Each case pushes 1000 buffers through a GstHarness and counts the
 * allocations made while buffers 100..999 pass. Nothing the test does in
 * that window allocates: the input buffers are all made beforehand, outputs
 * are dropped by the harness (unref frees, it does not allocate) and bus
 * messages are popped and unreffed.
 *
 * Expected: 0 with post-messages=false and surprise-meta=false, for tensors
 * and for audio in odd-sized buffers. The documented costs of the messages
 * (per interval) and of the meta (per buffer) are printed as diagnostics;
 * the meta's allocations also show that the counter sees the element's.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>
#include <gst/check/gstharness.h>

#include "../../engine/tap.h"

#include "../../engine/alloc_counter.h"

#define NBUF 1000
#define FIRST 100               /* counting starts at this buffer */
#define BUF_DUR (10 * GST_MSECOND)      /* interval 100 ms: 10 buffers */

enum { PLAIN, MESSAGES, META };
static const char *const config_name[] = {
  "post-messages=false surprise-meta=false",
  "post-messages=true surprise-meta=false",
  "post-messages=false surprise-meta=true",
};

static guint32 rng = 0x1234567u;

static gfloat
randf (void)
{
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return (gfloat) ((rng >> 8) / 8388608.0 - 1.0);
}

static GstBuffer *
random_buffer (gsize nfloats, guint i)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, nfloats * sizeof (gfloat),
      NULL);
  GstMapInfo map;
  gsize k;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (k = 0; k < nfloats; k++)
    ((gfloat *) map.data)[k] = randf ();
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = i * BUF_DUR;
  GST_BUFFER_DURATION (buf) = BUF_DUR;
  return buf;
}

static void
pop_all (GstBus * bus, guint * nmsg)
{
  GstMessage *m;

  while ((m = gst_bus_pop (bus)) != NULL) {
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT)
      (*nmsg)++;
    gst_message_unref (m);
  }
}

/*
 * Pushes NBUF buffers of the given sizes (floats, cycled) and returns the
 * allocations counted while buffers FIRST..NBUF-1 went through, or -1 if
 * the stream failed. *nmsg gets the element messages posted in the window.
 */
static long
run_case (const gchar * caps, guint fpt, int config,
    const gsize * sizes, gsize nsizes, guint * nmsg)
{
  GstHarness *h = gst_harness_new ("bitttt");
  GstBus *bus = gst_bus_new ();
  GstBuffer **bufs = g_new (GstBuffer *, NBUF);
  gboolean ok = TRUE;
  long before = 0, count;
  guint i, dummy = 0;

  g_object_set (h->element, "frames-per-token", fpt,
      "post-messages", config == MESSAGES,
      "surprise-meta", config == META, NULL);
  gst_element_set_bus (h->element, bus);
  gst_harness_set_src_caps_str (h, caps);
  gst_harness_set_drop_buffers (h, TRUE);
  for (i = 0; i < NBUF; i++)
    bufs[i] = random_buffer (sizes[i % nsizes], i);

  *nmsg = 0;
  for (i = 0; i < NBUF; i++) {
    if (i == FIRST) {
      pop_all (bus, &dummy);
      before = n_alloc;
    }
    ok = gst_harness_push (h, bufs[i]) == GST_FLOW_OK && ok;
    pop_all (bus, i >= FIRST ? nmsg : &dummy);
  }
  count = n_alloc - before;

  g_free (bufs);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  return ok ? count : -1;
}

int
main (int argc, char **argv)
{
#if !ALLOC_COUNTER_ACTIVE
  (void) argc;
  (void) argv;
  (void) run_case;
  (void) config_name;
  tap_skip ("the sanitizer owns malloc; counted in the plain build");
#else
  /* tensors: 8 tokens of 64 per buffer */
  static const gsize tensor_sizes[] = { 8 * 64 };
  /* mono audio, 64 frames per token: buffers that split tokens anywhere */
  static const gsize audio_sizes[] = { 1, 7, 63, 64, 65, 100, 333, 1000, 3 };
  /* 48 kHz in 10 ms buffers, messages every 100 ms: the usual audio case */
  static const gsize audio_10ms[] = { 480 };
  static const struct
  {
    const char *name, *caps;
    guint fpt;
    const gsize *sizes;
    gsize nsizes;
    guint want_msgs;            /* 0: any number */
  } cases[] = {
    {"tensor 64:8",
          "other/tensors,format=static,num_tensors=1,types=float32,"
          "dimensions=(string)64:8,framerate=(fraction)0/1", 1,
        tensor_sizes, G_N_ELEMENTS (tensor_sizes), 0},
    {"audio mono, frames-per-token=64, odd buffer sizes",
          "audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=1",
          64, audio_sizes,
        G_N_ELEMENTS (audio_sizes), 0},
    {"audio 48 kHz mono, frames-per-token=64, 10 ms buffers",
          "audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=1",
          64, audio_10ms, G_N_ELEMENTS (audio_10ms), (NBUF - FIRST) / 10},
  };
  const guint nwin = NBUF - FIRST;
  gsize c;

  if (g_strcmp0 (g_getenv ("G_SLICE"), "always-malloc") != 0)
    printf ("# G_SLICE is not always-malloc: GSlice allocations may be "
        "missed\n");
  gst_init (&argc, &argv);

  for (c = 0; c < G_N_ELEMENTS (cases); c++) {
    guint nmsg;
    long n;

    n = run_case (cases[c].caps, cases[c].fpt, PLAIN, cases[c].sizes,
        cases[c].nsizes, &nmsg);
    tap_ok (n == 0, "%s, %s: %ld allocations in %u buffers (want 0)",
        cases[c].name, config_name[PLAIN], n, nwin);

    n = run_case (cases[c].caps, cases[c].fpt, MESSAGES, cases[c].sizes,
        cases[c].nsizes, &nmsg);
    tap_ok (n >= 0 && nmsg > 0 && (cases[c].want_msgs == 0 ||
            nmsg == cases[c].want_msgs), "%s, %s: the stream runs and posts "
        "%u messages", cases[c].name, config_name[MESSAGES], nmsg);
    /* a GstStructure and a GstMessage each: cutting buffers at interval
     * boundaries allocates nothing of its own */
    tap_ok (n >= 0 && n <= 2 * (long) nmsg, "%s, %s: %ld allocations for %u "
        "messages (want at most 2 each)", cases[c].name,
        config_name[MESSAGES], n, nmsg);
    printf ("# cost: %ld allocations for %u messages in %u buffers = %.1f "
        "per message\n", n, nmsg, nwin, nmsg ? (double) n / nmsg : 0.0);

    n = run_case (cases[c].caps, cases[c].fpt, META, cases[c].sizes,
        cases[c].nsizes, &nmsg);
    tap_ok (n >= (long) nwin, "%s, %s: the counter sees the element's "
        "allocations (%ld in %u buffers)", cases[c].name, config_name[META],
        n, nwin);
    printf ("# cost: %.1f allocations per buffer\n", (double) n / nwin);
  }
  gst_deinit ();
#endif
  return tap_done ();
}
