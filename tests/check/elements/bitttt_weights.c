/* The weights-location property: the element computes the layer of the
 * weight file, refuses bad or unfitting files with an element error, and a
 * state saved with loaded weights only continues with the same weights.
 * The expected streams come from the engine run directly. */
#include <string.h>

#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include <bitttt/bitttt.h>

#include "common.h"

#define DIM 16
#define NTOK 4
#define NBUF 10

static ttt_model *
engine_new (gsize dim, guint64 seed, ttt_objective objective)
{
  ttt_config cfg;
  ttt_model *m = NULL;

  ttt_config_default (&cfg);
  cfg.hidden_dim = dim;
  cfg.seed = seed;
  cfg.objective = objective;
  fail_unless_equals_int (ttt_create_ex (&cfg, &m), TTT_OK);
  return m;
}

/* tokens drawn from four patterns, so that W learns */
static gfloat *
make_tokens (gsize ntok, guint32 seed)
{
  gfloat pat[4 * DIM];
  gfloat *x = g_new (gfloat, DIM * ntok);
  gsize t;

  fill_random (pat, 4 * DIM, seed);
  for (t = 0; t < ntok; t++)
    memcpy (x + t * DIM, pat + (next_rand (&seed) % 4) * DIM,
        DIM * sizeof (gfloat));
  return x;
}

static gchar *
temp_dir (void)
{
  gchar *dir = g_dir_make_tmp ("bitttt-weights-XXXXXX", NULL);
  fail_unless (dir != NULL);
  return dir;
}

/* pushes buffers from..to-1 of x and checks each output against exp */
static void
run_and_check (GstHarness * h, const gfloat * x, const gfloat * exp,
    gsize from, gsize to)
{
  gsize b;
  GstMapInfo map;

  for (b = from; b < to; b++) {
    GstBuffer *out;

    fail_unless_equals_int (gst_harness_push (h, make_buffer (x + b * DIM *
                NTOK, DIM * NTOK, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE)),
        GST_FLOW_OK);
    out = gst_harness_pull (h);
    fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
    fail_unless (memcmp (map.data, exp + b * DIM * NTOK,
            DIM * NTOK * sizeof (gfloat)) == 0, "buffer %" G_GSIZE_FORMAT
        " differs from the engine's", b);
    gst_buffer_unmap (out, &map);
    gst_buffer_unref (out);
  }
}

/* The element fails on its first buffer with an error naming path and the
 * engine's message for err. */
static void
check_error (const gchar * weights, const gchar * state, guint dim,
    const gchar * objective, int err)
{
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat x[64] = { 0 };
  GstMessage *msg;
  GError *gerr = NULL;

  g_object_set (h->element, "weights-location", weights, NULL);
  if (state != NULL)
    g_object_set (h->element, "state-location", state, NULL);
  if (objective != NULL)
    gst_util_set_object_arg (G_OBJECT (h->element), "objective", objective);
  set_caps_fmt (h, TENSOR_CAPS_FMT, dim, 1);
  fail_unless (gst_harness_push (h, make_buffer (x, dim, 0,
              GST_CLOCK_TIME_NONE)) != GST_FLOW_OK);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &gerr, NULL);
  fail_unless (strstr (gerr->message, ttt_strerror (err)) != NULL, "%s",
      gerr->message);
  fail_unless (strstr (gerr->message, state ? state : weights) != NULL, "%s",
      gerr->message);
  g_error_free (gerr);
  gst_message_unref (msg);
  harness_free (h, bus);
}

GST_START_TEST (test_weights_location)
{
  gchar *dir = temp_dir ();
  gchar *path = g_build_filename (dir, "w.safetensors", NULL);
  gfloat *x = make_tokens (NTOK * NBUF, 21);
  gfloat *exp = g_memdup2 (x, DIM * NTOK * NBUF * sizeof (gfloat));
  gfloat *seeded = g_memdup2 (x, DIM * NTOK * NBUF * sizeof (gfloat));
  ttt_model *m = engine_new (DIM, 1234, TTT_OBJECTIVE_RECONSTRUCT);
  ttt_model *d = engine_new (DIM, TTT_DEFAULT_SEED, TTT_OBJECTIVE_RECONSTRUCT);
  GstHarness *h;
  gchar *got = NULL;

  fail_unless_equals_int (ttt_save_weights (m, path, "check"), TTT_OK);
  fail_unless_equals_int (ttt_forward (m, exp, NTOK * NBUF, exp), TTT_OK);
  fail_unless_equals_int (ttt_forward (d, seeded, NTOK * NBUF, seeded),
      TTT_OK);
  /* the two layers differ, so equal outputs below mean the file is used */
  fail_unless (memcmp (exp, seeded, DIM * NTOK * NBUF * sizeof (gfloat)));

  /* the element keeps its default seed: the projections are the file's */
  h = harness_new (NULL);
  g_object_set (h->element, "weights-location", path, NULL);
  g_object_get (h->element, "weights-location", &got, NULL);
  fail_unless_equals_string (got, path);
  g_free (got);
  set_caps_fmt (h, TENSOR_CAPS_FMT, DIM, NTOK);
  run_and_check (h, x, exp, 0, NBUF);
  gst_harness_teardown (h);

  /* the default stays the seed-drawn layer */
  h = harness_new (NULL);
  set_caps_fmt (h, TENSOR_CAPS_FMT, DIM, NTOK);
  run_and_check (h, x, seeded, 0, NBUF);
  gst_harness_teardown (h);

  ttt_destroy (m);
  ttt_destroy (d);
  g_free (x);
  g_free (exp);
  g_free (seeded);
  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_weights_bad_files)
{
  static const gchar junk[] = "\x10\0\0\0\0\0\0\0{\"not\":\"weights\"}";
  gchar *dir = temp_dir ();
  gchar *bad = g_build_filename (dir, "junk.safetensors", NULL);
  gchar *good = g_build_filename (dir, "w.safetensors", NULL);
  gchar *missing = g_build_filename (dir, "missing.safetensors", NULL);
  ttt_model *m = engine_new (DIM, 7, TTT_OBJECTIVE_RECONSTRUCT);

  fail_unless (g_file_set_contents (bad, junk, sizeof (junk) - 1, NULL));
  fail_unless_equals_int (ttt_save_weights (m, good, NULL), TTT_OK);
  check_error (missing, NULL, DIM, NULL, TTT_ERR_IO);
  check_error (bad, NULL, DIM, NULL, TTT_ERR_WEIGHTS);
  check_error (good, NULL, 2 * DIM, NULL, TTT_ERR_WEIGHTS_MISMATCH);
  check_error (good, NULL, DIM, "multiview", TTT_ERR_WEIGHTS_MISMATCH);

  ttt_destroy (m);
  g_unlink (bad);
  g_unlink (good);
  g_rmdir (dir);
  g_free (bad);
  g_free (good);
  g_free (missing);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_weights_and_state)
{
  gchar *dir = temp_dir ();
  gchar *w1 = g_build_filename (dir, "w1.safetensors", NULL);
  gchar *w2 = g_build_filename (dir, "w2.safetensors", NULL);
  gchar *st = g_build_filename (dir, "model.state", NULL);
  gfloat *x = make_tokens (NTOK * NBUF, 33);
  gfloat *exp = g_memdup2 (x, DIM * NTOK * NBUF * sizeof (gfloat));
  ttt_model *m = engine_new (DIM, 11, TTT_OBJECTIVE_RECONSTRUCT);
  ttt_model *other = engine_new (DIM, 12, TTT_OBJECTIVE_RECONSTRUCT);
  GstHarness *h;

  fail_unless_equals_int (ttt_save_weights (m, w1, "one"), TTT_OK);
  fail_unless_equals_int (ttt_save_weights (other, w2, "two"), TTT_OK);
  fail_unless_equals_int (ttt_forward (m, exp, NTOK * NBUF, exp), TTT_OK);

  /* half the stream, saved at EOS */
  h = harness_new (NULL);
  g_object_set (h->element, "weights-location", w1, "state-location", st,
      NULL);
  set_caps_fmt (h, TENSOR_CAPS_FMT, DIM, NTOK);
  run_and_check (h, x, exp, 0, NBUF / 2);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless (g_file_test (st, G_FILE_TEST_EXISTS), "not saved at EOS");
  gst_harness_teardown (h);

  /* the state refuses other weights, and the seed-drawn ones */
  check_error (w2, st, DIM, NULL, TTT_ERR_MISMATCH);
  check_error ("", st, DIM, NULL, TTT_ERR_MISMATCH);

  /* with the same weights the stream continues as if never stopped */
  h = harness_new (NULL);
  g_object_set (h->element, "weights-location", w1, "state-location", st,
      NULL);
  set_caps_fmt (h, TENSOR_CAPS_FMT, DIM, NTOK);
  run_and_check (h, x, exp, NBUF / 2, NBUF);
  gst_harness_teardown (h);

  ttt_destroy (m);
  ttt_destroy (other);
  g_free (x);
  g_free (exp);
  g_unlink (w1);
  g_unlink (w2);
  g_unlink (st);
  g_rmdir (dir);
  g_free (w1);
  g_free (w2);
  g_free (st);
  g_free (dir);
}

GST_END_TEST;

static Suite *
bitttt_weights_suite (void)
{
  Suite *s = suite_create ("bitttt_weights");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_weights_location);
  tcase_add_test (tc, test_weights_bad_files);
  tcase_add_test (tc, test_weights_and_state);
  return s;
}

GST_CHECK_MAIN (bitttt_weights);
