/*
 * gst-check tests of the bitttt element's per-interval messages
 * (docs/element.md, "Messages"): buffers are split at interval boundaries,
 * each token counts in the interval holding its last sample, timestamps
 * are sample-accurate.
 *
 * Expected values come from the rule applied by the test to the token
 * positions, and from the engine driven directly for the surprises.
 */
#include <math.h>
#include <string.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <bitttt/bitttt.h>
#include "common.h"

typedef struct
{
  GstClockTime ts, dur;
  guint64 tokens, skipped;
  gdouble mean, max;
  gboolean has_anomaly;
} Msg;

/* every `bitttt` message on the bus, in order */
static GArray *
pop_messages (GstBus * bus)
{
  GArray *a = g_array_new (FALSE, TRUE, sizeof (Msg));
  GstMessage *msg;

  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT)) != NULL) {
    const GstStructure *s = gst_message_get_structure (msg);
    Msg m;

    fail_unless (gst_structure_has_name (s, "bitttt"));
    fail_unless (gst_structure_get (s, "timestamp", G_TYPE_UINT64, &m.ts,
            "duration", G_TYPE_UINT64, &m.dur,
            "tokens", G_TYPE_UINT64, &m.tokens,
            "skipped", G_TYPE_UINT64, &m.skipped,
            "mean-surprise", G_TYPE_DOUBLE, &m.mean,
            "max-surprise", G_TYPE_DOUBLE, &m.max, NULL));
    m.has_anomaly = gst_structure_has_field (s, "anomaly");
    g_array_append_val (a, m);
    gst_message_unref (msg);
  }
  return a;
}

/* the surprises of n tokens of dim floats, from the engine run directly */
static gfloat *
engine_surprises (const gfloat * x, gsize dim, gsize n)
{
  ttt_config cfg;
  ttt_model *m = NULL;
  gfloat *y = g_memdup2 (x, n * dim * sizeof (gfloat));
  gfloat *s = g_new (gfloat, n);

  ttt_config_default (&cfg);
  cfg.hidden_dim = dim;
  fail_unless_equals_int (ttt_create_ex (&cfg, &m), TTT_OK);
  fail_unless_equals_int (ttt_forward_ex (m, y, n, y, s), TTT_OK);
  ttt_destroy (m);
  g_free (y);
  return s;
}

static GstClockTime
frame_time (guint64 f, gint rate)
{
  return gst_util_uint64_scale_int (f, GST_SECOND, rate);
}

/*
 * Mono audio at `rate`, tokens of fpt frames, pushed as buffers of the
 * given sizes (cycled) starting at pts0; `interval` given in frames
 * (exact at this rate). Checks every message against the rule: interval
 * k holds frames [k * ifr, (k + 1) * ifr) and the tokens whose last frame
 * t * fpt + fpt - 1 lies there.
 */
static void
check_audio_intervals (gint rate, guint fpt, guint64 ifr, gsize frames,
    const gsize * sizes, gsize nsizes, GstClockTime pts0)
{
  const gsize ntok = frames / fpt;
  const guint64 nint = (frames + ifr - 1) / ifr;
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat *x = g_new (gfloat, frames);
  gfloat *sur;
  GArray *msgs;
  gsize pos = 0, i = 0, t = 0;
  guint64 k;

  fill_random (x, frames, 11);
  sur = engine_surprises (x, fpt, ntok);
  g_object_set (h->element, "frames-per-token", fpt, "interval",
      frame_time (ifr, rate), NULL);
  set_caps_fmt (h, AUDIO_CAPS_FMT, rate, 1);
  while (pos < frames) {
    const gsize size = sizes[i++ % nsizes];
    const gsize n = MIN (size, frames - pos);
    const GstClockTime pts = pts0 + frame_time (pos, rate);
    GstBuffer *out;

    fail_unless_equals_int (gst_harness_push (h, make_buffer (x + pos, n,
                pts, pts0 + frame_time (pos + n, rate) - pts)), GST_FLOW_OK);
    while ((out = gst_harness_try_pull (h)) != NULL)
      gst_buffer_unref (out);
    pos += n;
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  msgs = pop_messages (bus);
  fail_unless_equals_uint64 (msgs->len, nint);
  for (k = 0; k < nint; k++) {
    const Msg *m = &g_array_index (msgs, Msg, k);
    const guint64 f0 = k * ifr, f1 = MIN ((k + 1) * ifr, frames);
    gdouble sum = 0.0, max = -INFINITY;
    guint64 n = 0;

    fail_unless_equals_uint64 (m->ts, pts0 + frame_time (f0, rate));
    fail_unless_equals_uint64 (m->dur, frame_time (f1, rate) -
        frame_time (f0, rate));
    for (; t < ntok && t * fpt + fpt - 1 < f1; t++, n++) {
      sum += sur[t];
      max = MAX (max, sur[t]);
    }
    fail_unless_equals_uint64 (m->tokens, n);
    fail_unless_equals_uint64 (m->skipped, 0);
    fail_if (m->has_anomaly, "anomaly field with anomaly=false");
    if (n > 0) {
      fail_unless (fabs (m->mean - sum / n) <= 1e-12 * fabs (sum / n),
          "interval %" G_GUINT64_FORMAT ": mean %.17g, expected %.17g", k,
          m->mean, sum / n);
      fail_unless (m->max == max, "interval %" G_GUINT64_FORMAT, k);
    } else {
      fail_unless (isnan (m->mean) && isnan (m->max));
    }
  }
  fail_unless_equals_uint64 (t, ntok);
  g_array_free (msgs, TRUE);
  g_free (sur);
  g_free (x);
  harness_free (h, bus);
}

/* One buffer of 1 s covering 100 intervals of 10 ms: 100 messages, as
 * many as with 10 ms buffers. */
GST_START_TEST (test_one_big_buffer)
{
  const gsize whole[1] = { 16000 };
  const gsize small[1] = { 160 };

  check_audio_intervals (16000, 4, 160, 16000, whole, 1, 0);
  check_audio_intervals (16000, 4, 160, 16000, small, 1, 0);
}

GST_END_TEST;

/* Interval boundaries that cut tokens, in buffers that cut both, from a
 * pts that is not on any grid. */
GST_START_TEST (test_boundaries_inside_tokens_and_buffers)
{
  const gsize odd[5] = { 1000, 7, 333, 1, 2048 };

  check_audio_intervals (16000, 4, 11, 8003, odd, 5, 3 * GST_SECOND + 17);
  check_audio_intervals (44100, 8, 4410, 44100 * 2 + 5, odd, 5, 0);
}

GST_END_TEST;

/* Intervals of one frame with tokens of 64 frames: 63 messages without a
 * token, then one with it. */
GST_START_TEST (test_interval_smaller_than_token)
{
  const gsize sizes[3] = { 100, 64, 1 };

  check_audio_intervals (16000, 64, 1, 64 * 10 + 3, sizes, 3, 0);
}

GST_END_TEST;

/* An interval shorter than one frame gives one message per frame (an
 * interval holding no sample is not posted), with the frame's own
 * timestamp and duration. */
GST_START_TEST (test_interval_below_one_frame)
{
  const gint rate = 8000;
  const gsize frames = 200;
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat x[200];
  GArray *msgs;
  guint64 k, tokens = 0;

  fill_random (x, frames, 5);
  g_object_set (h->element, "frames-per-token", 4, "interval",
      (guint64) 1000, NULL);
  set_caps_fmt (h, AUDIO_CAPS_FMT, rate, 1);
  fail_unless_equals_int (gst_harness_push (h, make_buffer (x, frames, 0,
              frame_time (frames, rate))), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
  msgs = pop_messages (bus);
  fail_unless_equals_uint64 (msgs->len, frames);
  for (k = 0; k < frames; k++) {
    const Msg *m = &g_array_index (msgs, Msg, k);
    fail_unless_equals_uint64 (m->ts, frame_time (k, rate));
    fail_unless_equals_uint64 (m->dur, frame_time (k + 1, rate) -
        frame_time (k, rate));
    fail_unless_equals_uint64 (m->tokens, k % 4 == 3 ? 1 : 0);
    tokens += m->tokens;
  }
  fail_unless_equals_uint64 (tokens, frames / 4);
  g_array_free (msgs, TRUE);
  harness_free (h, bus);
}

GST_END_TEST;

/* The 1 Hz sensor series: the analyser (hop=1) in buffers of 1024
 * samples with interval=1 s gives one message per sample, the first 15
 * without a window. */
GST_START_TEST (test_analyser_one_message_per_sample)
{
  const gsize frames = 3000, fpt = 16;
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat *x = g_new (gfloat, frames);
  GArray *msgs;
  gsize pos;
  guint64 k;

  fill_random (x, frames, 9);
  g_object_set (h->element, "frames-per-token", (guint) fpt, "hop", 1,
      "anomaly", TRUE, "interval", (guint64) GST_SECOND, NULL);
  set_caps_fmt (h, AUDIO_CAPS_FMT, 1, 1);
  for (pos = 0; pos < frames; pos += 1024) {
    const gsize n = MIN (1024, frames - pos);
    fail_unless_equals_int (gst_harness_push (h, make_buffer (x + pos, n,
                pos * GST_SECOND, n * GST_SECOND)), GST_FLOW_OK);
    gst_buffer_unref (gst_harness_pull (h));
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  msgs = pop_messages (bus);
  fail_unless_equals_uint64 (msgs->len, frames);
  for (k = 0; k < frames; k++) {
    const Msg *m = &g_array_index (msgs, Msg, k);
    fail_unless_equals_uint64 (m->ts, k * GST_SECOND);
    fail_unless_equals_uint64 (m->dur, GST_SECOND);
    fail_unless_equals_uint64 (m->tokens, k + 1 >= fpt ? 1 : 0);
    fail_unless (m->has_anomaly);
  }
  g_array_free (msgs, TRUE);
  g_free (x);
  harness_free (h, bus);
}

GST_END_TEST;

/* A timed tensor buffer's tokens share its duration: a 100 ms buffer of
 * 10 tokens with a 20 ms interval gives 5 messages of 2 tokens. */
GST_START_TEST (test_tensor_tokens_share_the_duration)
{
  const guint dim = 8, ntok = 10;
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat x[8 * 10 * 2];
  GArray *msgs;
  guint64 k;
  int b;

  fill_random (x, G_N_ELEMENTS (x), 4);
  g_object_set (h->element, "interval", (guint64) (20 * GST_MSECOND), NULL);
  set_caps_fmt (h, TENSOR_CAPS_FMT, dim, ntok);
  for (b = 0; b < 2; b++) {
    fail_unless_equals_int (gst_harness_push (h, make_buffer (x + b * dim *
                ntok, dim * ntok, b * 100 * GST_MSECOND, 100 * GST_MSECOND)),
        GST_FLOW_OK);
    gst_buffer_unref (gst_harness_pull (h));
  }
  msgs = pop_messages (bus);
  fail_unless_equals_uint64 (msgs->len, 10);
  for (k = 0; k < 10; k++) {
    const Msg *m = &g_array_index (msgs, Msg, k);
    fail_unless_equals_uint64 (m->ts, k * 20 * GST_MSECOND);
    fail_unless_equals_uint64 (m->dur, 20 * GST_MSECOND);
    fail_unless_equals_uint64 (m->tokens, 2);
  }
  g_array_free (msgs, TRUE);
  harness_free (h, bus);
}

GST_END_TEST;

/* Without timestamps one buffer is one interval, however long. */
GST_START_TEST (test_untimed_buffer_is_one_interval)
{
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat x[4 * 1000];
  GArray *msgs;

  fill_random (x, G_N_ELEMENTS (x), 2);
  g_object_set (h->element, "frames-per-token", 4, "interval",
      (guint64) GST_MSECOND, NULL);
  set_caps_fmt (h, AUDIO_CAPS_FMT, 16000, 1);
  fail_unless_equals_int (gst_harness_push (h, make_buffer (x, 4000,
              GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE)), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
  msgs = pop_messages (bus);
  fail_unless_equals_uint64 (msgs->len, 1);
  fail_unless_equals_uint64 (g_array_index (msgs, Msg, 0).tokens, 1000);
  fail_unless_equals_uint64 (g_array_index (msgs, Msg, 0).ts,
      GST_CLOCK_TIME_NONE);
  g_array_free (msgs, TRUE);
  harness_free (h, bus);
}

GST_END_TEST;

static void
check_msg (GArray * msgs, guint i, guint ts_ms, guint dur_ms, guint tokens)
{
  const Msg *m = &g_array_index (msgs, Msg, i);

  fail_unless_equals_uint64 (m->ts, ts_ms * GST_MSECOND);
  fail_unless_equals_uint64 (m->dur, dur_ms * GST_MSECOND);
  fail_unless_equals_uint64 (m->tokens, tokens);
}

/* A gap in the timestamps: the interval before it is posted with the
 * duration of its samples, the grid goes on after it, and no message is
 * posted for the intervals of the gap. */
GST_START_TEST (test_gap)
{
  const gint rate = 1000;
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat x[40];
  GArray *msgs;

  fill_random (x, G_N_ELEMENTS (x), 3);
  g_object_set (h->element, "frames-per-token", 4, "interval",
      (guint64) (10 * GST_MSECOND), NULL);
  set_caps_fmt (h, AUDIO_CAPS_FMT, rate, 1);
  /* frames 0..14 at 0 ms, then 20 frames at 1000 ms: 1000..1020 ms */
  fail_unless_equals_int (gst_harness_push (h, make_buffer (x, 15, 0,
              15 * GST_MSECOND)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, make_buffer (x + 15, 20,
              GST_SECOND + 5 * GST_MSECOND, 20 * GST_MSECOND)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  msgs = pop_messages (bus);
  fail_unless_equals_uint64 (msgs->len, 5);
  /* stream frames 0..14 at 0 ms, 15..34 at 1005 ms; tokens end at frames
   * 3, 7, ..., 31 (the one straddling the gap at 15, at 1005 ms) */
  check_msg (msgs, 0, 0, 10, 2);        /* 3, 7 */
  check_msg (msgs, 1, 10, 5, 1);        /* 11; ends with the data */
  check_msg (msgs, 2, 1005, 5, 2);      /* 15, 19 */
  check_msg (msgs, 3, 1010, 10, 2);     /* 23, 27 */
  check_msg (msgs, 4, 1020, 5, 1);      /* 31, and EOS */
  g_array_free (msgs, TRUE);
  harness_free (h, bus);
}

GST_END_TEST;

static Suite *
bitttt_messages_suite (void)
{
  Suite *s = suite_create ("bitttt_messages");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_one_big_buffer);
  tcase_add_test (tc, test_boundaries_inside_tokens_and_buffers);
  tcase_add_test (tc, test_interval_smaller_than_token);
  tcase_add_test (tc, test_interval_below_one_frame);
  tcase_add_test (tc, test_analyser_one_message_per_sample);
  tcase_add_test (tc, test_tensor_tokens_share_the_duration);
  tcase_add_test (tc, test_untimed_buffer_is_one_interval);
  tcase_add_test (tc, test_gap);
  return s;
}

GST_CHECK_MAIN (bitttt_messages);
