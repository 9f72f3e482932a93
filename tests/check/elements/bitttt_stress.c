/*
 * Stress and lifecycle tests for the bitttt element in real pipelines
 * (appsrc ! bitttt ! appsink): controls changed from another thread while
 * data flows at full rate, renegotiation, flushes and seeks, EOS and
 * restart, and the state file carried across PLAYING -> NULL -> PLAYING.
 *
 * Expected outputs come from the engine driven directly through
 * <bitttt/bitttt.h>, or from counts the test keeps itself.
 *
 * STRESS_SECONDS (default 2) sets how long the concurrency test runs.
 */
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/app/gstappsrc.h>
#include <gst/app/gstappsink.h>
#include <bitttt/bitttt.h>
#include "common.h"

#define WAIT (30 * GST_SECOND)

static ttt_model *
engine_new (gsize dim)
{
  ttt_config cfg;
  ttt_model *m = NULL;

  ttt_config_default (&cfg);
  cfg.hidden_dim = dim;
  fail_unless_equals_int (ttt_create_ex (&cfg, &m), TTT_OK);
  return m;
}

static GstCaps *
tensor_caps (guint dim, guint ntok)
{
  gchar *s = g_strdup_printf (TENSOR_CAPS_FMT, dim, ntok);
  GstCaps *caps = gst_caps_from_string (s);
  g_free (s);
  return caps;
}

/* ---- a pipeline: appsrc ! bitttt ! appsink ------------------------------ */

typedef struct
{
  GstElement *pipeline, *src, *filter, *sink;
  GstBus *bus;
  GMutex lock;
  GPtrArray *out;               /* buffers received, when keep is set */
  gboolean keep;
  guint64 received, next_offset, bytes;
  gboolean out_of_order;
  GString *warnings;            /* texts of the WARNING messages seen */
} pipe_t;

static GstFlowReturn
on_sample (GstAppSink * sink, gpointer data)
{
  pipe_t *p = data;
  GstSample *sample = gst_app_sink_pull_sample (sink);
  GstBuffer *buf = gst_sample_get_buffer (sample);

  g_mutex_lock (&p->lock);
  if (GST_BUFFER_OFFSET (buf) != p->next_offset)
    p->out_of_order = TRUE;
  p->next_offset = GST_BUFFER_OFFSET (buf) + 1;
  p->received++;
  p->bytes += gst_buffer_get_size (buf);
  if (p->keep)
    g_ptr_array_add (p->out, gst_buffer_ref (buf));
  g_mutex_unlock (&p->lock);
  gst_sample_unref (sample);
  return GST_FLOW_OK;
}

static void
pipe_init (pipe_t * p, GstCaps * caps, gboolean keep)
{
  GstAppSinkCallbacks cb;

  memset (p, 0, sizeof *p);
  memset (&cb, 0, sizeof cb);
  cb.new_sample = on_sample;
  g_mutex_init (&p->lock);
  p->keep = keep;
  p->warnings = g_string_new (NULL);
  p->out = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  p->pipeline = gst_pipeline_new (NULL);
  p->src = gst_element_factory_make ("appsrc", NULL);
  p->filter = gst_element_factory_make ("bitttt", NULL);
  p->sink = gst_element_factory_make ("appsink", NULL);
  fail_unless (p->src && p->filter && p->sink);
  /* full rate, bounded memory: the pushing thread blocks when 64 buffers
   * wait */
  g_object_set (p->src, "caps", caps, "format", GST_FORMAT_TIME,
      "block", TRUE, "max-buffers", (guint64) 64, NULL);
  g_object_set (p->sink, "sync", FALSE, NULL);
  gst_app_sink_set_callbacks (GST_APP_SINK (p->sink), &cb, p, NULL);
  gst_bin_add_many (GST_BIN (p->pipeline), p->src, p->filter, p->sink, NULL);
  fail_unless (gst_element_link_many (p->src, p->filter, p->sink, NULL));
  p->bus = gst_element_get_bus (p->pipeline);
}

static void
pipe_reset_counts (pipe_t * p)
{
  g_mutex_lock (&p->lock);
  p->received = p->next_offset = p->bytes = 0;
  p->out_of_order = FALSE;
  g_ptr_array_set_size (p->out, 0);
  g_mutex_unlock (&p->lock);
}

static void
pipe_play (pipe_t * p)
{
  fail_unless (gst_element_set_state (p->pipeline, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
}

static void
pipe_free (pipe_t * p)
{
  fail_unless_equals_int (gst_element_set_state (p->pipeline,
          GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p->bus);
  gst_object_unref (p->pipeline);
  g_ptr_array_unref (p->out);
  g_string_free (p->warnings, TRUE);
  g_mutex_clear (&p->lock);
}

static void
push (pipe_t * p, const gfloat * x, gsize nfloats, guint64 seq)
{
  GstBuffer *buf = gst_buffer_new_memdup (x, nfloats * sizeof (gfloat));

  GST_BUFFER_OFFSET (buf) = seq;
  GST_BUFFER_PTS (buf) = seq * GST_MSECOND;
  GST_BUFFER_DURATION (buf) = GST_MSECOND;
  fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (p->src), buf),
      GST_FLOW_OK);
}

/* EOS through the pipeline; fails on any error posted before it and
 * keeps the warnings */
static void
finish (pipe_t * p)
{
  GstMessage *msg;
  gboolean eos = FALSE;

  fail_unless_equals_int (gst_app_src_end_of_stream (GST_APP_SRC (p->src)),
      GST_FLOW_OK);
  while (!eos) {
    GError *err = NULL;

    msg = gst_bus_timed_pop (p->bus, WAIT);
    fail_unless (msg != NULL, "no EOS within the timeout");
    switch (GST_MESSAGE_TYPE (msg)) {
      case GST_MESSAGE_EOS:
        eos = TRUE;
        break;
      case GST_MESSAGE_ERROR:
        gst_message_parse_error (msg, &err, NULL);
        fail ("error in the pipeline: %s", err->message);
        break;
      case GST_MESSAGE_WARNING:
        gst_message_parse_warning (msg, &err, NULL);
        g_string_append_printf (p->warnings, "%s\n", err->message);
        g_error_free (err);
        break;
      default:
        break;
    }
    gst_message_unref (msg);
  }
}

static guint64
get_u64 (GstElement * e, const gchar * name)
{
  guint64 v = 0;
  g_object_get (e, name, &v, NULL);
  return v;
}

/* ---- concurrency -------------------------------------------------------- */

#define C_DIM 64
#define C_NTOK 16

typedef struct
{
  pipe_t *p;
  volatile gint stop;
  guint64 pushed, nan_tokens;
} feeder_t;

/* pushes as fast as the pipeline takes them; every 7th buffer carries a
 * NaN token */
static gpointer
feeder (gpointer data)
{
  feeder_t *f = data;
  gfloat x[C_DIM * C_NTOK];
  guint32 seed = 99;

  while (!g_atomic_int_get (&f->stop)) {
    fill_random (x, G_N_ELEMENTS (x), next_rand (&seed));
    if (f->pushed % 7 == 3) {
      x[C_DIM * 5 + 1] = NAN;
      f->nan_tokens++;
    }
    push (f->p, x, G_N_ELEMENTS (x), f->pushed);
    f->pushed++;
  }
  return NULL;
}

/* keeps the bus from filling up with interval messages; fails on errors */
static void
drop_messages (GstBus * bus)
{
  GstMessage *msg;

  while ((msg = gst_bus_pop (bus)) != NULL) {
    fail_if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR,
        "error in the pipeline");
    gst_message_unref (msg);
  }
}

static gdouble
stress_seconds (void)
{
  const gchar *s = g_getenv ("STRESS_SECONDS");
  return s ? g_ascii_strtod (s, NULL) : 2.0;
}

GST_START_TEST (test_controls_while_streaming)
{
  GstCaps *caps = tensor_caps (C_DIM, C_NTOK);
  pipe_t p;
  feeder_t f = { &p, 0, 0, 0 };
  GThread *t;
  gint64 end;
  guint32 seed = 7;
  guint64 last = 0, controls = 0;

  pipe_init (&p, caps, FALSE);
  g_object_set (p.filter, "interval", (guint64) 5 * GST_MSECOND, NULL);
  pipe_play (&p);
  t = g_thread_new ("feeder", feeder, &f);

  end = g_get_monotonic_time () + (gint64) (stress_seconds () * 1e6);
  while (g_get_monotonic_time () < end) {
    const guint32 r = next_rand (&seed);
    gchar *kernel = NULL;
    guint64 now, skipped;

    g_object_set (p.filter, "inner-lr", (gfloat) (r % 201) / 100.0f,
        "learning", (gboolean) ((r >> 8) & 1),
        "surprise-meta", (gboolean) ((r >> 9) & 1),
        "post-messages", (gboolean) ((r >> 10) & 1), NULL);
    if ((r >> 11) & 1)
      g_signal_emit_by_name (p.filter, "reset");
    /* skipped first: the streaming thread can add to both between the two
     * reads, and skipped then can only be behind processed, never ahead */
    skipped = get_u64 (p.filter, "tokens-skipped");
    g_object_get (p.filter, "tokens-processed", &now, "kernel", &kernel, NULL);
    fail_unless (now >= last, "tokens-processed went back");
    fail_unless (skipped <= now, "%" G_GUINT64_FORMAT " tokens skipped of %"
        G_GUINT64_FORMAT, skipped, now);
    last = now;
    g_free (kernel);
    controls++;
    drop_messages (p.bus);
    g_usleep (50);
  }
  g_atomic_int_set (&f.stop, 1);
  g_thread_join (t);
  finish (&p);

  GST_INFO ("%" G_GUINT64_FORMAT " buffers, %" G_GUINT64_FORMAT
      " tokens, %" G_GUINT64_FORMAT " control rounds", f.pushed,
      f.pushed * C_NTOK, controls);
  g_print ("# stress: %" G_GUINT64_FORMAT " buffers = %" G_GUINT64_FORMAT
      " tokens in %.1f s with %" G_GUINT64_FORMAT " control rounds\n",
      f.pushed, f.pushed * C_NTOK, stress_seconds (), controls);
  fail_unless (f.pushed > 100, "only %" G_GUINT64_FORMAT " buffers", f.pushed);
  fail_unless_equals_uint64 (p.received, f.pushed);
  fail_if (p.out_of_order, "buffers out of order");
  fail_unless_equals_uint64 (p.bytes, f.pushed * C_NTOK * C_DIM * 4);
  fail_unless_equals_uint64 (get_u64 (p.filter, "tokens-processed"),
      f.pushed * C_NTOK);
  fail_unless_equals_uint64 (get_u64 (p.filter, "tokens-skipped"),
      f.nan_tokens);
  pipe_free (&p);
  gst_caps_unref (caps);
}

GST_END_TEST;

/* ---- lifecycle ---------------------------------------------------------- */

/* the floats of out[from..] against x run through m */
static void
check_outputs (pipe_t * p, guint from, ttt_model * m, const gfloat * x,
    gsize dim, gsize ntok_per_buf, guint nbuf)
{
  gfloat *exp = g_new (gfloat, dim * ntok_per_buf);
  guint i;

  fail_unless (p->out->len >= from + nbuf);
  for (i = 0; i < nbuf; i++) {
    GstMapInfo map;
    GstBuffer *b = g_ptr_array_index (p->out, from + i);

    memcpy (exp, x + i * dim * ntok_per_buf, dim * ntok_per_buf * 4);
    fail_unless_equals_int (ttt_forward_ex (m, exp, ntok_per_buf, exp, NULL),
        TTT_OK);
    fail_unless (gst_buffer_map (b, &map, GST_MAP_READ));
    fail_unless_equals_uint64 (map.size, dim * ntok_per_buf * 4);
    fail_unless (memcmp (map.data, exp, map.size) == 0,
        "buffer %u differs from the engine", from + i);
    gst_buffer_unmap (b, &map);
  }
  g_free (exp);
}

GST_START_TEST (test_renegotiate_in_pipeline)
{
  GstCaps *c32 = tensor_caps (32, 4), *c64 = tensor_caps (64, 2);
  gfloat *x = g_new (gfloat, 32 * 4 * 20);
  ttt_model *m32 = engine_new (32), *m64 = engine_new (64);
  pipe_t p;
  const gchar *text;
  guint i;

  fill_random (x, 32 * 4 * 20, 5);
  pipe_init (&p, c32, TRUE);
  pipe_play (&p);
  for (i = 0; i < 10; i++)
    push (&p, x + i * 128, 128, i);
  /* the same floats, now as tokens of 64: a fresh model must take them */
  g_object_set (p.src, "caps", c64, NULL);
  for (i = 10; i < 20; i++)
    push (&p, x + i * 128, 128, i);
  finish (&p);

  fail_unless_equals_uint64 (p.received, 20);
  fail_if (p.out_of_order);
  check_outputs (&p, 0, m32, x, 32, 4, 10);
  check_outputs (&p, 10, m64, x + 10 * 128, 64, 2, 10);
  text = p.warnings->str;
  fail_unless (strstr (text, "32") && strstr (text, "64"),
      "no width-change warning: \"%s\"", text);
  fail_unless_equals_uint64 (get_u64 (p.filter, "tokens-processed"),
      10 * 4 + 10 * 2);
  pipe_free (&p);
  ttt_destroy (m32);
  ttt_destroy (m64);
  g_free (x);
  gst_caps_unref (c32);
  gst_caps_unref (c64);
}

GST_END_TEST;

/* EOS, then READY and PLAYING again: a new stream with a fresh model and
 * fresh counters, twice over */
GST_START_TEST (test_eos_then_restart)
{
  GstCaps *caps = tensor_caps (16, 8);
  gfloat *x = g_new (gfloat, 16 * 8 * 12);
  pipe_t p;
  guint run, i;

  fill_random (x, 16 * 8 * 12, 11);
  pipe_init (&p, caps, TRUE);
  for (run = 0; run < 3; run++) {
    ttt_model *m = engine_new (16);

    pipe_reset_counts (&p);
    pipe_play (&p);
    for (i = 0; i < 12; i++)
      push (&p, x + i * 128, 128, i);
    finish (&p);
    fail_unless_equals_uint64 (p.received, 12);
    fail_if (p.out_of_order);
    check_outputs (&p, 0, m, x, 16, 8, 12);
    fail_unless_equals_uint64 (get_u64 (p.filter, "tokens-processed"), 96);
    fail_unless_equals_int (gst_element_set_state (p.pipeline,
            GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
    ttt_destroy (m);
  }
  pipe_free (&p);
  g_free (x);
  gst_caps_unref (caps);
}

GST_END_TEST;

static gchar *
read_file (const gchar * path, gsize * len)
{
  gchar *data = NULL;
  fail_unless (g_file_get_contents (path, &data, len, NULL), "cannot read %s",
      path);
  return data;
}

/* PLAYING -> NULL -> PLAYING with state-location: the state saved at stop
 * is loaded by the next run, which continues exactly like one engine model
 * that saw both runs' tokens without a break */
GST_START_TEST (test_state_across_null)
{
  GstCaps *caps = tensor_caps (32, 4);
  gfloat *x = g_new (gfloat, 32 * 4 * 30);
  ttt_model *m = engine_new (32);
  gchar *dir = g_dir_make_tmp ("bitttt-stress-XXXXXX", NULL);
  gchar *path = g_build_filename (dir, "model.state", NULL);
  gchar *saved;
  guchar *expected;
  gsize len, want;
  guint run, i;
  pipe_t p;

  fill_random (x, 32 * 4 * 30, 13);
  pipe_init (&p, caps, TRUE);
  g_object_set (p.filter, "state-location", path, NULL);
  for (run = 0; run < 3; run++) {
    pipe_reset_counts (&p);
    pipe_play (&p);
    for (i = 0; i < 10; i++)
      push (&p, x + (run * 10 + i) * 128, 128, i);
    /* wait for the buffers (not EOS: the save must come from stop) */
    g_mutex_lock (&p.lock);
    while (p.received < 10) {
      g_mutex_unlock (&p.lock);
      g_usleep (1000);
      g_mutex_lock (&p.lock);
    }
    g_mutex_unlock (&p.lock);
    check_outputs (&p, 0, m, x + run * 10 * 128, 32, 4, 10);
    fail_unless_equals_int (gst_element_set_state (p.pipeline,
            GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    fail_unless (g_file_test (path, G_FILE_TEST_EXISTS));
  }

  /* the file holds what the uninterrupted model holds */
  saved = read_file (path, &len);
  want = ttt_state_size (m);
  expected = g_malloc (want);
  fail_unless_equals_int (ttt_state_save (m, expected, want, NULL), TTT_OK);
  fail_unless_equals_uint64 (len, want);
  fail_unless (memcmp (saved, expected, len) == 0,
      "saved state differs from the engine's");
  g_free (saved);
  g_free (expected);

  pipe_free (&p);
  ttt_destroy (m);
  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
  g_free (x);
  gst_caps_unref (caps);
}

GST_END_TEST;

/* Flushes and seeks, many times over (harness: the events land between
 * buffers at known points). reset-on=flush (default): after each flush the
 * element must match a fresh engine model; reset-on=0: one model throughout,
 * whatever the flushes and segments. */
static void
flush_and_seek (gboolean reset_on_flush)
{
  GstHarness *h = gst_harness_new ("bitttt");
  gfloat x[16 * 4];
  ttt_model *m = engine_new (16);
  guint32 seed = 3;
  guint round, i;

  if (!reset_on_flush)
    g_object_set (h->element, "reset-on", 0, NULL);
  gst_harness_set_src_caps (h, tensor_caps (16, 4));
  for (round = 0; round < 50; round++) {
    GstSegment seg;
    const guint nbuf = 1 + next_rand (&seed) % 5;

    for (i = 0; i < nbuf; i++) {
      gfloat exp[16 * 4];
      GstBuffer *out;

      fill_random (x, G_N_ELEMENTS (x), next_rand (&seed));
      memcpy (exp, x, sizeof x);
      fail_unless_equals_int (ttt_forward_ex (m, exp, 4, exp, NULL), TTT_OK);
      fail_unless_equals_int (gst_harness_push (h,
              gst_buffer_new_memdup (x, sizeof x)), GST_FLOW_OK);
      out = gst_harness_pull (h);
      fail_unless (gst_buffer_memcmp (out, 0, exp, sizeof exp) == 0,
          "round %u buffer %u differs", round, i);
      gst_buffer_unref (out);
    }
    /* a flushing seek: flush, then a segment elsewhere */
    fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
    fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
    gst_segment_init (&seg, GST_FORMAT_TIME);
    seg.start = seg.time = (next_rand (&seed) % 1000) * GST_MSECOND;
    fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
    if (reset_on_flush)
      fail_unless_equals_int (ttt_reset (m), TTT_OK);
  }
  ttt_destroy (m);
  gst_harness_teardown (h);
}

GST_START_TEST (test_flush_seek_sequences)
{
  flush_and_seek (TRUE);
  flush_and_seek (FALSE);
}

GST_END_TEST;

/*
 * When the save in stop() fails (here: the state-location's directory was
 * there at start and is gone by the stop) the error is posted, and the
 * element still reaches NULL: an application can always shut the
 * pipeline down.
 */
GST_START_TEST (test_stop_after_failed_save)
{
  GstHarness *h = gst_harness_new ("bitttt");
  gfloat x[16] = { 0.5f };
  gchar *dir = g_dir_make_tmp ("bitttt-stress-XXXXXX", NULL);
  gchar *path = g_build_filename (dir, "model.state", NULL);

  g_object_set (h->element, "state-location", path, NULL);
  gst_harness_set_src_caps (h, tensor_caps (16, 1));
  fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_memdup (x,
              sizeof x)), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
  fail_unless_equals_int (g_rmdir (dir), 0);
  fail_unless_equals_int (gst_element_set_state (h->element, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  fail_if (g_file_test (path, G_FILE_TEST_EXISTS));
  gst_harness_teardown (h);
  g_free (path);
  g_free (dir);
}

GST_END_TEST;

static Suite *
bitttt_stress_suite (void)
{
  Suite *s = suite_create ("bitttt_stress");
  TCase *tc = tcase_create ("general");

  tcase_add_test (tc, test_controls_while_streaming);
  tcase_add_test (tc, test_renegotiate_in_pipeline);
  tcase_add_test (tc, test_eos_then_restart);
  tcase_add_test (tc, test_state_across_null);
  tcase_add_test (tc, test_flush_seek_sequences);
  tcase_add_test (tc, test_stop_after_failed_save);
  suite_add_tcase (s, tc);
  return s;
}

GST_CHECK_MAIN (bitttt_stress);
