/*
 * gst-check tests for the bitttt element.
 *
 * Expected outputs come from the engine itself driven directly through
 * <bitttt/bitttt.h> on the same token stream (same seed, same inner-lr), or
 * from the input, never from the element under test.
 */
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <bitttt/bitttt.h>
#include "common.h"

#define META_NAME "GstBitTTTSurpriseMeta"

/* ---- helpers ------------------------------------------------------------ */

/* ntok tokens drawn from 4 patterns: repetition makes the layer's memory
 * visible in the outputs */
static gfloat *
make_tokens (gsize dim, gsize ntok, guint32 seed)
{
  gfloat pat[4 * 1024];
  gfloat *x = g_new (gfloat, dim * ntok);
  gsize t;

  g_assert (dim <= 1024);
  fill_random (pat, 4 * dim, seed);
  for (t = 0; t < ntok; t++)
    memcpy (x + t * dim, pat + (next_rand (&seed) % 4) * dim,
        dim * sizeof (gfloat));
  return x;
}

static ttt_model *
engine_new (gsize dim, gfloat lr)
{
  ttt_config cfg;
  ttt_model *m = NULL;

  ttt_config_default (&cfg);
  cfg.hidden_dim = dim;
  cfg.inner_lr = lr;
  fail_unless_equals_int (ttt_create_ex (&cfg, &m), TTT_OK);
  return m;
}

/* the expected stream: x run in place through the engine */
static void
engine_run (ttt_model * m, gfloat * x, gsize ntok, gfloat * surprise)
{
  fail_unless_equals_int (ttt_forward_ex (m, x, ntok, x, surprise), TTT_OK);
}

/* bitwise comparison: NaN tokens must come back bit for bit too */
static void
check_buffer_floats (GstBuffer * buf, const gfloat * expected, gsize n)
{
  GstMapInfo map;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  fail_unless_equals_uint64 (map.size, n * sizeof (gfloat));
  fail_unless (memcmp (map.data, expected, map.size) == 0,
      "buffer differs from the expected floats");
  gst_buffer_unmap (buf, &map);
}

static void
set_tensor_caps (GstHarness * h, guint dim, guint ntok)
{
  set_caps_fmt (h, TENSOR_CAPS_FMT, dim, ntok);
}

static void
set_audio_caps (GstHarness * h, gint rate, gint channels)
{
  set_caps_fmt (h, AUDIO_CAPS_FMT, rate, channels);
}

/* text of the first message of the given type, or NULL */
static gchar *
pop_message_text (GstBus * bus, GstMessageType type)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, type);
  GError *err = NULL;
  gchar *text;

  if (msg == NULL)
    return NULL;
  if (type == GST_MESSAGE_ERROR)
    gst_message_parse_error (msg, &err, NULL);
  else
    gst_message_parse_warning (msg, &err, NULL);
  text = g_strdup (err->message);
  g_error_free (err);
  gst_message_unref (msg);
  return text;
}

static void
push_tokens (GstHarness * h, const gfloat * x, gsize dim, gsize ntok)
{
  fail_unless_equals_int (gst_harness_push (h, make_buffer (x, dim * ntok,
              GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE)), GST_FLOW_OK);
}

static void
pull_and_check (GstHarness * h, const gfloat * expected, gsize n)
{
  GstBuffer *out = gst_harness_pull (h);
  check_buffer_floats (out, expected, n);
  gst_buffer_unref (out);
}

static gchar *
temp_path (const gchar * name, gchar ** dir)
{
  *dir = g_dir_make_tmp ("bitttt-check-XXXXXX", NULL);
  fail_unless (*dir != NULL);
  return g_build_filename (*dir, name, NULL);
}

static void
remove_temp (gchar * path, gchar * dir)
{
  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
}

/* ---- negotiation -------------------------------------------------------- */

GST_START_TEST (test_negotiate_tensor)
{
  GstHarness *h = harness_new (NULL);
  gfloat x[64 * 2];
  gchar *kernel = NULL;

  /* trailing :1 dimensions are allowed */
  gst_harness_set_src_caps_str (h, "other/tensors,format=static,"
      "num_tensors=1,types=float32,dimensions=(string)64:2:1:1");
  g_object_get (h->element, "kernel", &kernel, NULL);
  fail_unless (kernel != NULL && *kernel != '\0');
  g_free (kernel);
  fill_random (x, G_N_ELEMENTS (x), 7);
  push_tokens (h, x, 64, 2);
  gst_buffer_unref (gst_harness_pull (h));
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_negotiate_audio)
{
  GstHarness *h = harness_new (NULL);
  gfloat x[2 * 10];

  g_object_set (h->element, "frames-per-token", 2, NULL);
  set_audio_caps (h, 8000, 2);
  fill_random (x, G_N_ELEMENTS (x), 3);
  fail_unless_equals_int (gst_harness_push (h, make_buffer (x, 20, 0,
              GST_CLOCK_TIME_NONE)), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_negotiate_audio_bad_width)
{
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat x[3] = { 0 };
  gchar *text;

  /* 1 channel x 3 frames = 3 floats: not a multiple of 4 */
  g_object_set (h->element, "frames-per-token", 3, NULL);
  set_audio_caps (h, 8000, 1);
  fail_unless (gst_harness_push (h, make_buffer (x, 3, 0,
              GST_CLOCK_TIME_NONE)) != GST_FLOW_OK);
  text = pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (text != NULL);
  fail_unless (strstr (text, "multiple of 4") != NULL, "%s", text);
  g_free (text);
  harness_free (h, bus);
}

GST_END_TEST;

/* GstBaseTransform tries refused caps again with every buffer: the error
 * is posted once. */
GST_START_TEST (test_refused_caps_said_once)
{
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat x[3] = { 0 };
  GstMessage *msg;
  int i, errors = 0;

  g_object_set (h->element, "frames-per-token", 3, NULL);
  set_audio_caps (h, 8000, 1);
  for (i = 0; i < 3; i++)
    fail_unless (gst_harness_push (h, make_buffer (x, 3, 0,
                GST_CLOCK_TIME_NONE)) != GST_FLOW_OK);
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR)) != NULL) {
    errors++;
    gst_message_unref (msg);
  }
  fail_unless_equals_int (errors, 1);
  harness_free (h, bus);
}

GST_END_TEST;

GST_START_TEST (test_negotiate_hidden_dim_mismatch)
{
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat x[32] = { 0 };
  gchar *text;

  g_object_set (h->element, "hidden-dim", 48, NULL);
  set_tensor_caps (h, 32, 1);
  fail_unless (gst_harness_push (h, make_buffer (x, 32, 0,
              GST_CLOCK_TIME_NONE)) != GST_FLOW_OK);
  text = pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (text != NULL);
  fail_unless (strstr (text, "48") != NULL && strstr (text, "32") != NULL,
      "message does not name both widths: %s", text);
  g_free (text);
  harness_free (h, bus);
}

GST_END_TEST;

/* ---- processing --------------------------------------------------------- */

#define TENSOR_SRC(dims) "fakesrc ! other/tensors,format=static," \
  "num_tensors=1,types=float32,dimensions=(string)" dims

/* What start can judge fails the pipeline's set_state itself, with one
 * clear error: gst-launch-1.0 1.22 can miss an error posted while the
 * pipeline prerolls and then wait forever (docs/element.md, "Errors"). */
static const struct
{
  const gchar *launch;
  const gchar *text;
} bad_settings[] = {
  {"audiotestsrc ! audio/x-raw,format=F32LE,channels=1 "
        "! bitttt frames-per-token=3 ! fakesink",
      "1 channels x 3 frames-per-token = 3 is not a multiple of 4"},
  {TENSOR_SRC ("6:50") " ! bitttt ! fakesink", "Tensor token width 6 "},
  {TENSOR_SRC ("32:1") " ! bitttt hidden-dim=48 ! fakesink",
      "hidden-dim is 48 but the caps give tokens of 32"},
  {"audiotestsrc ! audio/x-raw,format=F32LE,channels=1 ! bitttt "
        "frames-per-token=4 feature-norm=none update=gradient ! fakesink",
      "needs update=nlms"},
  /* the width is known at start: the files are read there too */
  {TENSOR_SRC ("8:50") " ! bitttt weights-location=/nonexistent/w.safetensors"
        " ! fakesink",
      "Could not load the Bit-TTT weights from \"/nonexistent/w.safetensors\""},
};

/* set_state (PAUSED)'s own return; errors: the texts of the error messages
 * on the bus once the state change has settled. want_error: an error is
 * expected from the streaming thread, so wait for it on the bus: the bin
 * ends get_state on an error before it forwards the message to the bus, so
 * a bus read right after get_state can come too early (seen under ASan). */
static GstStateChangeReturn
pause_pipeline_full (const gchar * launch, gboolean want_error,
    GString * errors, guint * n_errors)
{
  GError *err = NULL;
  GstElement *p = gst_parse_launch (launch, &err);
  GstBus *bus;
  GstMessage *msg;
  GstStateChangeReturn ret;

  fail_unless (p != NULL && err == NULL, "%s: %s", launch,
      err ? err->message : "");
  bus = gst_element_get_bus (p);
  ret = gst_element_set_state (p, GST_STATE_PAUSED);
  gst_element_get_state (p, NULL, NULL, 10 * GST_SECOND);
  *n_errors = 0;
  msg = want_error ? gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND,
      GST_MESSAGE_ERROR) : NULL;
  if (msg == NULL)
    msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  for (; msg != NULL; msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR)) {
    gst_message_parse_error (msg, &err, NULL);
    g_string_append_printf (errors, "[%s]", err->message);
    g_clear_error (&err);
    gst_message_unref (msg);
    (*n_errors)++;
  }
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (p);
  return ret;
}

static GstStateChangeReturn
pause_pipeline (const gchar * launch, GString * errors, guint * n_errors)
{
  return pause_pipeline_full (launch, FALSE, errors, n_errors);
}

GST_START_TEST (test_settings_fail_state_change)
{
  GString *errors = g_string_new (NULL);
  guint i, n;

  for (i = 0; i < G_N_ELEMENTS (bad_settings); i++) {
    g_string_truncate (errors, 0);
    /* not ASYNC: the error must not wait for the streaming thread */
    fail_unless_equals_int (pause_pipeline (bad_settings[i].launch, errors,
            &n), GST_STATE_CHANGE_FAILURE);
    fail_unless_equals_int (n, 1);
    fail_unless (strstr (errors->str, bad_settings[i].text) != NULL,
        "%s: %s", bad_settings[i].launch, errors->str);
  }

  /* a state file that does not load, also read at start */
  {
    gchar *dir = g_dir_make_tmp ("bitttt-XXXXXX", NULL);
    gchar *state = g_build_filename (dir, "bad.state", NULL);
    gchar *launch = g_strdup_printf (TENSOR_SRC ("8:50")
        " ! bitttt state-location=%s ! fakesink", state);

    fail_unless (g_file_set_contents (state, "not a state", -1, NULL));
    g_string_truncate (errors, 0);
    fail_unless_equals_int (pause_pipeline (launch, errors, &n),
        GST_STATE_CHANGE_FAILURE);
    fail_unless_equals_int (n, 1);
    fail_unless (strstr (errors->str, "Could not load the Bit-TTT state")
        != NULL, "%s", errors->str);
    g_unlink (state);
    g_rmdir (dir);
    g_free (launch);
    g_free (state);
    g_free (dir);
  }

  /* valid settings preroll as before */
  g_string_truncate (errors, 0);
  fail_unless_equals_int (pause_pipeline ("audiotestsrc ! audio/x-raw,"
          "format=F32LE,channels=1 ! bitttt frames-per-token=64 ! fakesink",
          errors, &n), GST_STATE_CHANGE_ASYNC);
  fail_unless_equals_int (n, 0);

  /* channels left open upstream: judged at negotiation, as before (the
   * case docs/element.md says gst-launch-1.0 1.22 can still hang on) */
  g_string_truncate (errors, 0);
  fail_unless_equals_int (pause_pipeline_full ("audiotestsrc ! bitttt "
          "frames-per-token=3 ! fakesink", TRUE, errors, &n),
      GST_STATE_CHANGE_ASYNC);
  fail_unless (strstr (errors->str, "frames-per-token = 3") != NULL, "%s",
      errors->str);
  g_string_free (errors, TRUE);
}

GST_END_TEST;

GST_START_TEST (test_in_place)
{
  GstHarness *h = harness_new (NULL);
  gfloat x[16 * 4];
  GstBuffer *in, *out;
  GstMapInfo map;
  gpointer data_in;

  set_tensor_caps (h, 16, 4);
  fill_random (x, G_N_ELEMENTS (x), 11);
  in = make_buffer (x, G_N_ELEMENTS (x), 0, GST_CLOCK_TIME_NONE);
  gst_buffer_map (in, &map, GST_MAP_READ);
  data_in = map.data;
  gst_buffer_unmap (in, &map);
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  out = gst_harness_pull (h);
  /* comparing addresses only: `in` was handed over, not kept */
  fail_unless (out == in);
  gst_buffer_map (out, &map, GST_MAP_READ);
  fail_unless (map.data == data_in);
  gst_buffer_unmap (out, &map);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_not_writable_is_copied)
{
  GstHarness *h = harness_new (NULL);
  gfloat *x = make_tokens (16, 40, 5), *exp = g_memdup2 (x, 40 * 16 * 4);
  ttt_model *m = engine_new (16, TTT_DEFAULT_INNER_LR);
  GstBuffer *in = make_buffer (x, 40 * 16, 0, GST_CLOCK_TIME_NONE);

  set_tensor_caps (h, 16, 40);
  engine_run (m, exp, 40, NULL);
  /* keep a ref: the element must not scribble over our copy */
  fail_unless_equals_int (gst_harness_push (h, gst_buffer_ref (in)),
      GST_FLOW_OK);
  pull_and_check (h, exp, 40 * 16);
  check_buffer_floats (in, x, 40 * 16);
  fail_if (memcmp (x, exp, 40 * 16 * 4) == 0, "layer changed nothing");
  gst_buffer_unref (in);
  ttt_destroy (m);
  g_free (x);
  g_free (exp);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_tensor_matches_engine)
{
  const gsize dim = 32, ntok = 8, nbuf = 25;
  GstHarness *h = harness_new (NULL);
  gfloat *x = make_tokens (dim, ntok * nbuf, 21);
  gfloat *exp = g_memdup2 (x, dim * ntok * nbuf * 4);
  ttt_model *m = engine_new (dim, TTT_DEFAULT_INNER_LR);
  gsize b;

  set_tensor_caps (h, dim, ntok);
  engine_run (m, exp, ntok * nbuf, NULL);
  fail_if (memcmp (x, exp, dim * ntok * nbuf * 4) == 0);
  for (b = 0; b < nbuf; b++) {
    push_tokens (h, x + b * dim * ntok, dim, ntok);
    pull_and_check (h, exp + b * dim * ntok, dim * ntok);
  }
  ttt_destroy (m);
  g_free (x);
  g_free (exp);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* Feeds `frames` stereo frames in buffers of the given sizes (in frames,
 * cycled) from pts 0, then EOS; returns everything that came out,
 * concatenated, after checking that every output buffer is timestamped by
 * its content: its first frame's position in the stream. */
static gfloat *
run_audio_mix (const gfloat * x, gsize frames, const gsize * sizes, guint fpt,
    gdouble mix, gsize * out_len)
{
  const gint rate = 8000, channels = 2;
  GstHarness *h = harness_new (NULL);
  GArray *out = g_array_new (FALSE, FALSE, sizeof (gfloat));
  GstBuffer *buf;
  gsize pos = 0, i = 0;

  g_object_set (h->element, "frames-per-token", fpt, NULL);
  if (mix >= 0.0)
    g_object_set (h->element, "mix", mix, NULL);
  set_audio_caps (h, rate, channels);
  while (pos < frames) {
    const gsize size = sizes[i++ % 7];
    const gsize n = MIN (size, frames - pos);
    const GstClockTime pts =
        gst_util_uint64_scale_int (pos, GST_SECOND, rate);
    const GstClockTime end =
        gst_util_uint64_scale_int (pos + n, GST_SECOND, rate);
    fail_unless_equals_int (gst_harness_push (h, make_buffer (x + pos *
                channels, n * channels, pts, end - pts)), GST_FLOW_OK);
    pos += n;
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  while ((buf = gst_harness_try_pull (h)) != NULL) {
    const guint64 f0 = out->len / channels;
    GstMapInfo map;

    gst_buffer_map (buf, &map, GST_MAP_READ);
    g_array_append_vals (out, map.data, map.size / sizeof (gfloat));
    gst_buffer_unmap (buf, &map);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (buf),
        gst_util_uint64_scale_int (f0, GST_SECOND, rate));
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (buf),
        gst_util_uint64_scale_int (out->len / channels, GST_SECOND, rate)
        - GST_BUFFER_PTS (buf));
    gst_buffer_unref (buf);
  }
  gst_harness_teardown (h);
  *out_len = out->len;
  return (gfloat *) g_array_free (out, FALSE);
}

static gfloat *
run_audio (const gfloat * x, gsize frames, const gsize * sizes, guint fpt,
    gsize * out_len)
{
  return run_audio_mix (x, frames, sizes, fpt, -1.0, out_len);
}

/* Output sample i is input sample i, processed: as many samples out as in,
 * token k's processed content at token k's input position and time, the
 * final partial token unchanged, whatever the split. */
GST_START_TEST (test_audio_splits_and_drain)
{
  const guint fpt = 4, channels = 2;
  const gsize dim = fpt * channels;
  const gsize frames = 1003;    /* 250 tokens and 3 frames left over */
  const gsize one[7] = { frames, frames, frames, frames, frames, frames,
    frames
  };
  const gsize odd[7] = { 1, 7, 2, 13, 3, 0, 5 };
  const gsize tiny[7] = { 1, 1, 2, 1, 1, 1, 3 };
  const gsize short_first[7] = { 2, 1, 500, 1, 0, 9, 3 };
  const gsize *splits[4] = { one, odd, tiny, short_first };
  gfloat *x = make_tokens (dim, frames * channels / dim + 1, 4);
  gfloat *exp = g_new0 (gfloat, frames * channels);
  ttt_model *m = engine_new (dim, TTT_DEFAULT_INNER_LR);
  const gsize ntok = frames * channels / dim;
  gsize i;

  /* expected: token k of the input, run through the engine (and brought
   * to its level), at token k's place; the final partial token as it came
   * in */
  memcpy (exp, x, frames * channels * sizeof (gfloat));
  engine_run (m, exp, ntok, NULL);
  audio_mix (exp, x, ntok, dim, 1.0);

  for (i = 0; i < G_N_ELEMENTS (splits); i++) {
    gsize len;
    gfloat *a = run_audio (x, frames, splits[i], fpt, &len);

    fail_unless_equals_uint64 (len, frames * channels);
    fail_unless (memcmp (a, exp, len * sizeof (gfloat)) == 0,
        "split %" G_GSIZE_FORMAT ": output differs from the input run "
        "through the engine in place", i);
    g_free (a);
  }

  ttt_destroy (m);
  g_free (x);
  g_free (exp);
}

GST_END_TEST;

/* A stream shorter than the delay line comes out whole at EOS. */
GST_START_TEST (test_audio_shorter_than_a_token)
{
  const gsize sizes[7] = { 1, 2, 1, 1, 1, 1, 1 };
  gfloat x[2 * 5];
  gsize len;
  gfloat *a;

  fill_random (x, G_N_ELEMENTS (x), 6);
  a = run_audio (x, 5, sizes, 8, &len);
  fail_unless_equals_uint64 (len, 10);
  fail_unless (memcmp (a, x, sizeof (x)) == 0);
  g_free (a);
}

GST_END_TEST;

/* A DISCONT after a gap: the audio before it leaves with its own times,
 * the audio after it with the new ones; no sample is lost. */
GST_START_TEST (test_audio_discont)
{
  const gint rate = 1000;
  GstHarness *h = harness_new (NULL);
  gfloat x[20];
  GstBuffer *b, *out;
  GstClockTime pts[4];
  gsize sizes[4], n = 0, total = 0;

  fill_random (x, G_N_ELEMENTS (x), 8);
  g_object_set (h->element, "frames-per-token", 4, NULL);
  set_audio_caps (h, rate, 1);
  fail_unless_equals_int (gst_harness_push (h, make_buffer (x, 10, 0,
              10 * GST_MSECOND)), GST_FLOW_OK);
  b = make_buffer (x + 10, 10, GST_SECOND, 10 * GST_MSECOND);
  GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DISCONT);
  fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  while ((out = gst_harness_try_pull (h)) != NULL) {
    fail_unless (n < 4);
    pts[n] = GST_BUFFER_PTS (out);
    sizes[n++] = gst_buffer_get_size (out) / 4;
    total += gst_buffer_get_size (out) / 4;
    gst_buffer_unref (out);
  }
  /* 7 frames, the 3 held back, then the same after the gap */
  fail_unless_equals_uint64 (n, 4);
  fail_unless_equals_uint64 (total, 20);
  fail_unless_equals_uint64 (pts[0], 0);
  fail_unless_equals_uint64 (sizes[0], 7);
  fail_unless_equals_uint64 (pts[1], 7 * GST_MSECOND);
  fail_unless_equals_uint64 (sizes[1], 3);
  fail_unless_equals_uint64 (pts[2], GST_SECOND);
  fail_unless_equals_uint64 (sizes[2], 7);
  fail_unless_equals_uint64 (pts[3], GST_SECOND + 7 * GST_MSECOND);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* mix = 0 is the input; 0.5 the documented blend; the default never
 * gives a token more energy or a higher peak than it came with, and still
 * changes it. */
GST_START_TEST (test_audio_mix)
{
  const guint fpt = 4, channels = 2;
  const gsize dim = fpt * channels, ntok = 300, frames = ntok * fpt;
  const gsize sizes[7] = { 100, 3, 77, 1, 500, 8, 13 };
  gfloat *x = make_tokens (dim, ntok, 12);
  gfloat *exp = g_memdup2 (x, ntok * dim * sizeof (gfloat));
  ttt_model *m = engine_new (dim, TTT_DEFAULT_INNER_LR);
  gsize len, t, i, changed = 0;
  gfloat *a;

  a = run_audio_mix (x, frames, sizes, fpt, 0.0, &len);
  fail_unless_equals_uint64 (len, ntok * dim);
  fail_unless (memcmp (a, x, len * sizeof (gfloat)) == 0, "mix=0 changed "
      "the audio");
  g_free (a);

  engine_run (m, exp, ntok, NULL);
  audio_mix (exp, x, ntok, dim, 0.5);
  a = run_audio_mix (x, frames, sizes, fpt, 0.5, &len);
  fail_unless (memcmp (a, exp, len * sizeof (gfloat)) == 0, "mix=0.5");
  g_free (a);

  a = run_audio (x, frames, sizes, fpt, &len);
  for (t = 0; t < ntok; t++) {
    gdouble ex = 0.0, ey = 0.0;
    gfloat px = 0.0f, py = 0.0f;
    for (i = t * dim; i < (t + 1) * dim; i++) {
      ex += (gdouble) x[i] * x[i];
      ey += (gdouble) a[i] * a[i];
      px = MAX (px, fabsf (x[i]));
      py = MAX (py, fabsf (a[i]));
    }
    fail_unless (ey <= ex * (1.0 + 1e-6), "token %" G_GSIZE_FORMAT ": energy "
        "%g out, %g in", t, ey, ex);
    fail_unless (py <= px * (1.0f + 1e-6f), "token %" G_GSIZE_FORMAT ": peak "
        "%g out, %g in", t, py, px);
    changed += memcmp (a + t * dim, x + t * dim, dim * sizeof (gfloat)) != 0;
  }
  fail_unless (changed > ntok / 2, "only %" G_GSIZE_FORMAT " tokens changed",
      changed);
  g_free (a);
  ttt_destroy (m);
  g_free (exp);
  g_free (x);
}

GST_END_TEST;

static void
on_handoff (GstElement * sink, GstBuffer * buf, GstPad * pad, GArray * out)
{
  GstMapInfo map;

  (void) sink;
  (void) pad;
  gst_buffer_map (buf, &map, GST_MAP_READ);
  g_array_append_vals (out, map.data, map.size / sizeof (gfloat));
  gst_buffer_unmap (buf, &map);
}

/* the samples a real pipeline gives: audiotestsrc ! bitttt ! fakesink */
static GArray *
run_pipeline (guint nbuf, guint spb)
{
  gchar *desc = g_strdup_printf ("audiotestsrc num-buffers=%u "
      "samplesperbuffer=%u ! audio/x-raw,format=F32LE,rate=16000,channels=1 "
      "! bitttt frames-per-token=64 ! fakesink name=sink signal-handoffs=true",
      nbuf, spb);
  GstElement *p = gst_parse_launch (desc, NULL);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  GArray *out = g_array_new (FALSE, FALSE, sizeof (gfloat));
  GstBus *bus = gst_element_get_bus (p);
  GstMessage *msg;

  fail_unless (p != NULL);
  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), out);
  gst_element_set_state (p, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS);
  gst_message_unref (msg);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (sink);
  gst_object_unref (p);
  g_free (desc);
  return out;
}

/* The check: 66,600 samples in, 66,600 out, bit for bit the same
 * in buffers of 333 or of 6660 samples. */
GST_START_TEST (test_audio_pipeline_keeps_length)
{
  GArray *a = run_pipeline (200, 333);
  GArray *b = run_pipeline (10, 6660);

  fail_unless_equals_uint64 (a->len, 66600);
  fail_unless_equals_uint64 (b->len, 66600);
  fail_unless (memcmp (a->data, b->data, a->len * sizeof (gfloat)) == 0,
      "the split into buffers changes the output");
  g_array_free (a, TRUE);
  g_array_free (b, TRUE);
}

GST_END_TEST;

GST_START_TEST (test_audio_latency)
{
  GstHarness *h = harness_new (NULL);

  g_object_set (h->element, "frames-per-token", 64, NULL);
  set_audio_caps (h, 16000, 1);
  gst_harness_set_upstream_latency (h, 10 * GST_MSECOND);
  fail_unless_equals_uint64 (gst_harness_query_latency (h),
      10 * GST_MSECOND + gst_util_uint64_scale_int (63, GST_SECOND, 16000));
  gst_harness_teardown (h);
}

GST_END_TEST;

/* ---- control ------------------------------------------------------------ */

/* Pushes nbuf buffers of ntok tokens; before buffer `at`, calls change() on
 * the element and apply() on the reference model. */
static void
run_with_change (gsize dim, gsize ntok, gsize nbuf, gsize at,
    void (*change) (GstHarness *), void (*apply) (ttt_model *))
{
  GstHarness *h = harness_new (NULL);
  gfloat *x = make_tokens (dim, ntok * nbuf, 99);
  gfloat *exp = g_memdup2 (x, dim * ntok * nbuf * 4);
  ttt_model *m = engine_new (dim, TTT_DEFAULT_INNER_LR);
  gsize b;

  set_tensor_caps (h, dim, ntok);
  engine_run (m, exp, ntok * at, NULL);
  apply (m);
  engine_run (m, exp + dim * ntok * at, ntok * (nbuf - at), NULL);
  for (b = 0; b < nbuf; b++) {
    if (b == at)
      change (h);
    push_tokens (h, x + b * dim * ntok, dim, ntok);
    pull_and_check (h, exp + b * dim * ntok, dim * ntok);
  }
  ttt_destroy (m);
  g_free (x);
  g_free (exp);
  gst_harness_teardown (h);
}

static void
emit_reset (GstHarness * h)
{
  g_signal_emit_by_name (h->element, "reset");
}

static void
flush (GstHarness * h)
{
  GstSegment seg;

  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
}

static void
flush_no_reset (GstHarness * h)
{
  g_object_set (h->element, "reset-on", 0, NULL);
  flush (h);
}

static void
set_lr (GstHarness * h)
{
  g_object_set (h->element, "inner-lr", 0.5f, NULL);
}

static void
stop_learning (GstHarness * h)
{
  g_object_set (h->element, "learning", FALSE, NULL);
}

static void
engine_reset (ttt_model * m)
{
  fail_unless_equals_int (ttt_reset (m), TTT_OK);
}

static void
engine_nothing (ttt_model * m)
{
  (void) m;
}

static void
engine_lr (ttt_model * m)
{
  fail_unless_equals_int (ttt_set_inner_lr (m, 0.5f), TTT_OK);
}

static void
engine_freeze (ttt_model * m)
{
  fail_unless_equals_int (ttt_set_learning (m, 0), TTT_OK);
}

GST_START_TEST (test_reset_signal)
{
  run_with_change (16, 8, 12, 6, emit_reset, engine_reset);
}

GST_END_TEST;

GST_START_TEST (test_reset_on_flush)
{
  run_with_change (16, 8, 12, 6, flush, engine_reset);
  run_with_change (16, 8, 12, 6, flush_no_reset, engine_nothing);
}

GST_END_TEST;

GST_START_TEST (test_inner_lr_while_playing)
{
  run_with_change (16, 8, 12, 5, set_lr, engine_lr);
}

GST_END_TEST;

GST_START_TEST (test_learning_off)
{
  const gsize dim = 16;
  GstHarness *h = harness_new (NULL);
  gfloat tok[16], out1[16];
  GstBuffer *buf;
  GstMapInfo map;
  int i;

  /* learning stopped mid-stream matches the engine with learning off */
  run_with_change (dim, 8, 12, 4, stop_learning, engine_freeze);

  /* a frozen state maps a repeated token to the same output every time,
   * and that output is not the input (the state learned something) */
  set_tensor_caps (h, dim, 1);
  fill_random (tok, dim, 1234);
  for (i = 0; i < 10; i++) {
    push_tokens (h, tok, dim, 1);
    gst_buffer_unref (gst_harness_pull (h));
  }
  g_object_set (h->element, "learning", FALSE, NULL);
  for (i = 0; i < 3; i++) {
    push_tokens (h, tok, dim, 1);
    buf = gst_harness_pull (h);
    gst_buffer_map (buf, &map, GST_MAP_READ);
    if (i == 0) {
      memcpy (out1, map.data, sizeof (out1));
      fail_if (memcmp (out1, tok, sizeof (tok)) == 0);
    } else {
      fail_unless (memcmp (out1, map.data, sizeof (out1)) == 0);
    }
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
  }
  gst_harness_teardown (h);
}

GST_END_TEST;

/* ---- messages ----------------------------------------------------------- */

GST_START_TEST (test_messages)
{
  const gint rate = 16000;
  const gsize frames = 160;     /* 10 ms */
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat *x = make_tokens (4, frames / 4 * 30, 8);
  int b;

  g_object_set (h->element, "frames-per-token", 4, "interval",
      (guint64) (100 * GST_MSECOND), NULL);
  set_audio_caps (h, rate, 1);
  for (b = 0; b < 30; b++) {
    GstMessage *msg;

    fail_unless_equals_int (gst_harness_push (h, make_buffer (x + b * frames,
                frames, b * 10 * GST_MSECOND, 10 * GST_MSECOND)), GST_FLOW_OK);
    gst_buffer_unref (gst_harness_pull (h));
    msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
    if (b % 10 != 9) {
      fail_unless (msg == NULL, "message after buffer %d", b);
    } else {
      const GstStructure *s;
      GstClockTime ts, st, rt, dur;
      guint64 tokens, skipped;
      gdouble mean, max, tps;

      fail_unless (msg != NULL, "no message after buffer %d", b);
      s = gst_message_get_structure (msg);
      fail_unless (gst_structure_has_name (s, "bitttt"));
      fail_unless (gst_structure_get (s, "timestamp", G_TYPE_UINT64, &ts,
              "stream-time", G_TYPE_UINT64, &st,
              "running-time", G_TYPE_UINT64, &rt,
              "duration", G_TYPE_UINT64, &dur,
              "tokens", G_TYPE_UINT64, &tokens,
              "mean-surprise", G_TYPE_DOUBLE, &mean,
              "max-surprise", G_TYPE_DOUBLE, &max,
              "skipped", G_TYPE_UINT64, &skipped,
              "tokens-per-second", G_TYPE_DOUBLE, &tps, NULL));
      fail_unless_equals_uint64 (ts, (b - 9) * 10 * GST_MSECOND);
      fail_unless_equals_uint64 (st, ts);
      fail_unless_equals_uint64 (rt, ts);
      fail_unless_equals_uint64 (dur, 100 * GST_MSECOND);
      fail_unless_equals_uint64 (tokens, 10 * frames / 4);
      fail_unless_equals_uint64 (skipped, 0);
      /* ||p - f||^2 / d with ||f|| = 1 and a fresh W: at most a few / d */
      fail_unless (isfinite (mean) && mean > 0.0 && mean <= max, "%g %g",
          mean, max);
      fail_unless (max < 10.0, "max-surprise %g", max);
      fail_unless (tps > 0.0 && isfinite (tps));
      gst_message_unref (msg);
    }
  }
  /* EOS closes a partial interval, and only a non-empty one */
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT) == NULL);
  flush (h);
  for (b = 0; b < 5; b++) {
    fail_unless_equals_int (gst_harness_push (h, make_buffer (x + b * frames,
                frames, (30 + b) * 10 * GST_MSECOND, 10 * GST_MSECOND)),
        GST_FLOW_OK);
    gst_buffer_unref (gst_harness_pull (h));
  }
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT) == NULL);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  {
    GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
    const GstStructure *s;
    GstClockTime ts, dur;
    guint64 tokens;

    fail_unless (msg != NULL, "no message at EOS");
    s = gst_message_get_structure (msg);
    fail_unless (gst_structure_get (s, "timestamp", G_TYPE_UINT64, &ts,
            "duration", G_TYPE_UINT64, &dur, "tokens", G_TYPE_UINT64, &tokens,
            NULL));
    fail_unless_equals_uint64 (ts, 300 * GST_MSECOND);
    fail_unless_equals_uint64 (dur, 50 * GST_MSECOND);
    fail_unless_equals_uint64 (tokens, 5 * frames / 4);
    gst_message_unref (msg);
  }
  g_free (x);
  harness_free (h, bus);
}

GST_END_TEST;

/* filesrc feeds tensors in a BYTES segment: no time conversions then */
GST_START_TEST (test_bytes_segment)
{
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat x[16 * 2];
  GstSegment seg;
  GstMessage *msg;
  GstClockTime st;
  int i;

  set_tensor_caps (h, 16, 2);
  gst_segment_init (&seg, GST_FORMAT_BYTES);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  fill_random (x, G_N_ELEMENTS (x), 2);
  for (i = 0; i < 3; i++) {
    fail_unless_equals_int (gst_harness_push (h, make_buffer (x, 32,
                i * GST_MSECOND, GST_CLOCK_TIME_NONE)), GST_FLOW_OK);
    gst_buffer_unref (gst_harness_pull (h));
  }
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  fail_unless (msg != NULL);
  fail_unless (gst_structure_get_uint64 (gst_message_get_structure (msg),
          "stream-time", &st));
  fail_unless_equals_uint64 (st, GST_CLOCK_TIME_NONE);
  gst_message_unref (msg);
  harness_free (h, bus);
}

GST_END_TEST;

GST_START_TEST (test_no_messages_when_off)
{
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat x[16] = { 0 };
  GstMessage *msg;

  g_object_set (h->element, "post-messages", FALSE, NULL);
  set_tensor_caps (h, 16, 1);
  push_tokens (h, x, 16, 1);
  gst_buffer_unref (gst_harness_pull (h));
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  fail_unless (msg == NULL);
  harness_free (h, bus);
}

GST_END_TEST;

/* ---- state -------------------------------------------------------------- */

GST_START_TEST (test_state_round_trip)
{
  const gsize dim = 16, ntok = 4, nbuf = 20;
  gchar *dir, *path = temp_path ("model.state", &dir);
  gfloat *x = make_tokens (dim, ntok * nbuf, 77);
  gfloat *exp = g_memdup2 (x, dim * ntok * nbuf * 4);
  ttt_model *m = engine_new (dim, TTT_DEFAULT_INNER_LR);
  GstHarness *h;
  gsize b;

  engine_run (m, exp, ntok * nbuf, NULL);

  h = harness_new (NULL);
  g_object_set (h->element, "state-location", path, NULL);
  set_tensor_caps (h, dim, ntok);
  for (b = 0; b < nbuf / 2; b++) {
    push_tokens (h, x + b * dim * ntok, dim, ntok);
    pull_and_check (h, exp + b * dim * ntok, dim * ntok);
  }
  fail_if (g_file_test (path, G_FILE_TEST_EXISTS));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless (g_file_test (path, G_FILE_TEST_EXISTS), "not saved at EOS");
  gst_harness_teardown (h);

  /* a new element picks up where the first stopped */
  h = harness_new (NULL);
  g_object_set (h->element, "state-location", path, NULL);
  set_tensor_caps (h, dim, ntok);
  for (b = nbuf / 2; b < nbuf; b++) {
    push_tokens (h, x + b * dim * ntok, dim, ntok);
    pull_and_check (h, exp + b * dim * ntok, dim * ntok);
  }
  gst_harness_teardown (h);

  ttt_destroy (m);
  g_free (x);
  g_free (exp);
  remove_temp (path, dir);
}

GST_END_TEST;

/* An unusable state-location fails at once, naming the problem, rather
 * than at the save after the whole run. */
static void
check_bad_state_location (const gchar * path, const gchar * problem)
{
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat x[16] = { 0 };
  gchar *text;

  g_object_set (h->element, "state-location", path, NULL);
  set_tensor_caps (h, 16, 1);
  fail_unless (gst_harness_push (h, make_buffer (x, 16, 0,
              GST_CLOCK_TIME_NONE)) != GST_FLOW_OK);
  text = pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (text != NULL);
  fail_unless (strstr (text, problem) != NULL, "%s", text);
  fail_unless (strstr (text, path) != NULL, "%s", text);
  g_free (text);
  harness_free (h, bus);
}

GST_START_TEST (test_state_location_checked)
{
  gchar *dir, *file = temp_path ("plain-file", &dir);
  gchar *below = g_build_filename (file, "model.state", NULL);
  gchar *missing = g_build_filename (dir, "missing", "model.state", NULL);

  fail_unless (g_file_set_contents (file, "x", 1, NULL));
  check_bad_state_location (missing, "does not exist");
  check_bad_state_location (below, "is not a directory");
  check_bad_state_location (dir, "is a directory");
  /* the check in start (a real pipeline sets the property first) */
  {
    GstElement *e = gst_element_factory_make ("bitttt", NULL);
    g_object_set (e, "state-location", missing, NULL);
    fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED),
        GST_STATE_CHANGE_FAILURE);
    gst_element_set_state (e, GST_STATE_NULL);
    gst_object_unref (e);
  }
  g_free (below);
  g_free (missing);
  remove_temp (file, dir);
}

GST_END_TEST;

static void
check_bad_state_file (const gchar * contents, gsize len, guint dim,
    int expected_err)
{
  gchar *dir, *path = temp_path ("bad.state", &dir);
  gchar *after = NULL, *text;
  gsize after_len = 0;
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat x[64] = { 0 };

  fail_unless (g_file_set_contents (path, contents, len, NULL));
  g_object_set (h->element, "state-location", path, NULL);
  set_tensor_caps (h, dim, 1);
  fail_unless (gst_harness_push (h, make_buffer (x, dim, 0,
              GST_CLOCK_TIME_NONE)) != GST_FLOW_OK);
  text = pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (text != NULL);
  fail_unless (strstr (text, ttt_strerror (expected_err)) != NULL, "%s", text);
  fail_unless (strstr (text, path) != NULL, "%s", text);
  g_free (text);
  harness_free (h, bus);

  fail_unless (g_file_get_contents (path, &after, &after_len, NULL));
  fail_unless_equals_uint64 (after_len, len);
  fail_unless (memcmp (after, contents, len) == 0, "state file was changed");
  g_free (after);
  remove_temp (path, dir);
}

GST_START_TEST (test_state_corrupt_file)
{
  static const gchar junk[] = "this is not a Bit-TTT state file at all";
  ttt_model *m = engine_new (16, TTT_DEFAULT_INNER_LR);
  gfloat tok[16];
  size_t n = 0;
  gchar *state;

  check_bad_state_file (junk, sizeof (junk), 16, TTT_ERR_FORMAT);

  /* a valid state of another shape */
  fill_random (tok, 16, 5);
  engine_run (m, tok, 1, NULL);
  fail_unless_equals_int (ttt_state_save (m, NULL, 0, &n),
      TTT_ERR_BUFFER_SMALL);
  state = g_malloc (n);
  fail_unless_equals_int (ttt_state_save (m, state, n, &n), TTT_OK);
  check_bad_state_file (state, n, 32, TTT_ERR_MISMATCH);
  /* one flipped byte in W: bad checksum */
  state[70] ^= 0x40;
  check_bad_state_file (state, n, 16, TTT_ERR_FORMAT);
  g_free (state);
  ttt_destroy (m);
}

GST_END_TEST;

/* ---- bad data ----------------------------------------------------------- */

GST_START_TEST (test_nan_tokens)
{
  const gsize dim = 8, ntok = 4, nbuf = 6;
  GstHarness *h = harness_new (NULL);
  gfloat *x = make_tokens (dim, ntok * nbuf, 31);
  gfloat *exp;
  ttt_model *m = engine_new (dim, TTT_DEFAULT_INNER_LR);
  guint64 skipped = 0, processed = 0;
  gsize b;

  x[(2 * ntok + 1) * dim + 3] = NAN;
  x[(4 * ntok + 0) * dim + 0] = INFINITY;
  exp = g_memdup2 (x, dim * ntok * nbuf * 4);
  engine_run (m, exp, ntok * nbuf, NULL);
  set_tensor_caps (h, dim, ntok);
  for (b = 0; b < nbuf; b++) {
    push_tokens (h, x + b * dim * ntok, dim, ntok);
    pull_and_check (h, exp + b * dim * ntok, dim * ntok);
  }
  /* the skipped tokens came back as they went in */
  fail_unless (memcmp (exp + (2 * ntok + 1) * dim, x + (2 * ntok + 1) * dim,
          dim * 4) == 0);
  fail_unless (memcmp (exp + 4 * ntok * dim, x + 4 * ntok * dim,
          dim * 4) == 0);
  g_object_get (h->element, "tokens-skipped", &skipped, "tokens-processed",
      &processed, NULL);
  fail_unless_equals_uint64 (skipped, 2);
  fail_unless_equals_uint64 (processed, ntok * nbuf);
  ttt_destroy (m);
  g_free (x);
  g_free (exp);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_wrong_size)
{
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat x[25] = { 0 };
  gchar *text;

  set_tensor_caps (h, 16, 4);
  fail_unless_equals_int (gst_harness_push (h, make_buffer (x, 25, 0,
              GST_CLOCK_TIME_NONE)), GST_FLOW_ERROR);
  text = pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (text != NULL);
  fail_unless (strstr (text, "100 bytes") != NULL
      && strstr (text, "64 bytes") != NULL, "%s", text);
  g_free (text);
  harness_free (h, bus);

  /* audio: half a stereo frame */
  h = harness_new (&bus);
  g_object_set (h->element, "frames-per-token", 2, NULL);
  set_audio_caps (h, 8000, 2);
  fail_unless_equals_int (gst_harness_push (h, make_buffer (x, 3, 0,
              GST_CLOCK_TIME_NONE)), GST_FLOW_ERROR);
  text = pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (text != NULL && strstr (text, "12 bytes") != NULL, "%s", text);
  g_free (text);
  harness_free (h, bus);
}

GST_END_TEST;

GST_START_TEST (test_renegotiate_other_width)
{
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat *x = make_tokens (32, 8, 3), *exp = g_memdup2 (x, 32 * 8 * 4);
  gfloat *y = make_tokens (16, 4, 3);
  ttt_model *m = engine_new (32, TTT_DEFAULT_INNER_LR);
  gchar *text;

  set_tensor_caps (h, 16, 4);
  push_tokens (h, y, 16, 4);
  gst_buffer_unref (gst_harness_pull (h));
  set_tensor_caps (h, 32, 8);
  text = pop_message_text (bus, GST_MESSAGE_WARNING);
  fail_unless (text != NULL && strstr (text, "16") && strstr (text, "32"),
      "%s", text);
  g_free (text);
  /* a fresh model for the new width */
  engine_run (m, exp, 8, NULL);
  push_tokens (h, x, 32, 8);
  pull_and_check (h, exp, 32 * 8);
  ttt_destroy (m);
  g_free (x);
  g_free (y);
  g_free (exp);
  harness_free (h, bus);
}

GST_END_TEST;

/* ---- meta --------------------------------------------------------------- */

GST_START_TEST (test_surprise_meta)
{
  const gsize dim = 16, ntok = 8;
  GstHarness *h = harness_new (NULL);
  gfloat *x = make_tokens (dim, ntok * 3, 12);
  gfloat *exp = g_memdup2 (x, dim * ntok * 3 * 4);
  gfloat surprise[8 * 3];
  ttt_model *m = engine_new (dim, TTT_DEFAULT_INNER_LR);
  GstBuffer *out;
  GstCustomMeta *meta;
  const GstStructure *s;
  const GValue *v;
  GBytes *bytes;
  guint tokens, skipped;
  guint64 offset;
  gsize size;
  int b;

  x[ntok * dim + 2 * dim] = NAN;        /* second buffer, third token */
  memcpy (exp, x, dim * ntok * 3 * 4);
  engine_run (m, exp, ntok * 3, surprise);
  set_tensor_caps (h, dim, ntok);

  /* off by default */
  push_tokens (h, x, dim, ntok);
  out = gst_harness_pull (h);
  fail_unless (gst_buffer_get_custom_meta (out, META_NAME) == NULL);
  gst_buffer_unref (out);

  g_object_set (h->element, "surprise-meta", TRUE, NULL);
  for (b = 1; b < 3; b++) {
    push_tokens (h, x + b * dim * ntok, dim, ntok);
    out = gst_harness_pull (h);
    /* read the way an application does: by name, through core API */
    meta = gst_buffer_get_custom_meta (out, META_NAME);
    fail_unless (meta != NULL);
    s = gst_custom_meta_get_structure (meta);
    fail_unless (gst_structure_get (s, "tokens", G_TYPE_UINT, &tokens,
            "offset", G_TYPE_UINT64, &offset,
            "skipped", G_TYPE_UINT, &skipped, NULL));
    fail_unless_equals_int (tokens, ntok);
    fail_unless_equals_uint64 (offset, b * ntok);
    fail_unless_equals_int (skipped, b == 1 ? 1 : 0);
    v = gst_structure_get_value (s, "surprise");
    fail_unless (v != NULL && G_VALUE_HOLDS (v, G_TYPE_BYTES));
    bytes = g_value_get_boxed (v);
    fail_unless (memcmp (g_bytes_get_data (bytes, &size), surprise + b * ntok,
            ntok * sizeof (gfloat)) == 0);
    fail_unless_equals_uint64 (size, ntok * sizeof (gfloat));
    gst_buffer_unref (out);
  }
  ttt_destroy (m);
  g_free (x);
  g_free (exp);
  gst_harness_teardown (h);
}

GST_END_TEST;

static Suite *
bitttt_suite (void)
{
  Suite *s = suite_create ("bitttt");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_negotiate_tensor);
  tcase_add_test (tc, test_negotiate_audio);
  tcase_add_test (tc, test_negotiate_audio_bad_width);
  tcase_add_test (tc, test_refused_caps_said_once);
  tcase_add_test (tc, test_negotiate_hidden_dim_mismatch);
  tcase_add_test (tc, test_settings_fail_state_change);
  tcase_add_test (tc, test_in_place);
  tcase_add_test (tc, test_not_writable_is_copied);
  tcase_add_test (tc, test_tensor_matches_engine);
  tcase_add_test (tc, test_audio_splits_and_drain);
  tcase_add_test (tc, test_audio_shorter_than_a_token);
  tcase_add_test (tc, test_audio_discont);
  tcase_add_test (tc, test_audio_pipeline_keeps_length);
  tcase_add_test (tc, test_audio_mix);
  tcase_add_test (tc, test_audio_latency);
  tcase_add_test (tc, test_reset_signal);
  tcase_add_test (tc, test_reset_on_flush);
  tcase_add_test (tc, test_inner_lr_while_playing);
  tcase_add_test (tc, test_learning_off);
  tcase_add_test (tc, test_messages);
  tcase_add_test (tc, test_bytes_segment);
  tcase_add_test (tc, test_no_messages_when_off);
  tcase_add_test (tc, test_state_round_trip);
  tcase_add_test (tc, test_state_corrupt_file);
  tcase_add_test (tc, test_state_location_checked);
  tcase_add_test (tc, test_nan_tokens);
  tcase_add_test (tc, test_wrong_size);
  tcase_add_test (tc, test_renegotiate_other_width);
  tcase_add_test (tc, test_surprise_meta);
  return s;
}

GST_CHECK_MAIN (bitttt);
