/*
 * A C application around the bitttt element:
 *
 *   appsrc ! bitttt surprise-meta=true ! appsink
 *
 * It pushes tokens from a generator, pulls every output buffer, reads the
 * per-token surprise from the GstBitTTTSurpriseMeta, changes inner-lr while
 * playing and emits the `reset` action signal. It checks what the maths
 * promises (docs/SPEC.md) and exits 0 only if all of it holds:
 *
 *   - a fresh layer predicts nothing (p = W f = 0, ||f|| = 1), so the first
 *     token's surprise is exactly ||f||^2 / d = 1/d (up to f32 rounding);
 *   - surprise falls as a repeating pattern is learned;
 *   - with inner-lr=0 nothing is learned: a repeated token's surprise is
 *     bit-identical to its first one;
 *   - after `reset` the layer is fresh again: 1/d, and the meta's offset
 *     restarts at 0;
 *   - every token pushed comes back with a surprise.
 *
 * Run it from the build tree (the plugin is in build/gst):
 *
 *   GST_PLUGIN_PATH=build/gst build/examples/c/bitttt-app
 *
 * Only gstreamer-1.0 and gstreamer-app-1.0 are needed: the meta is found
 * by name, with no header of the plugin.
 */
#include <gst/gst.h>
#include <gst/app/app.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define DIM 32                  /* floats per token */
#define STATE_DIM (DIM / 4)     /* d: the engine's default */
#define PERIOD 4                /* tokens in a pattern */
#define TOKENS_PER_BUFFER 16
#define LR 0.5f

typedef struct
{
  GstElement *pipeline, *src, *ttt, *sink;
  gfloat patterns[2][PERIOD][DIM];
  guint64 pushed, returned;
  guint failures;
  /* surprise of the last buffer pulled, and its meta offset */
  gfloat surprise[TOKENS_PER_BUFFER];
  guint64 offset;
} App;

static void
check (App * app, gboolean ok, const gchar * what)
{
  printf ("  %s  %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok)
    app->failures++;
}

static gdouble
mean (const gfloat * v, guint n)
{
  gdouble sum = 0;

  for (guint i = 0; i < n; i++)
    sum += v[i];
  return sum / n;
}

/* Pushes one buffer of `pattern` and waits for it to come out: lock-step,
 * so a property set between two calls applies exactly from the next one.
 * Returns FALSE if the buffer did not come back with a complete meta. */
static gboolean
process (App * app, guint pattern)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL,
      TOKENS_PER_BUFFER * DIM * sizeof (gfloat), NULL);
  GstSample *sample;
  GstCustomMeta *meta;
  const GstStructure *s;
  const gfloat *values;
  guint tokens = 0;
  gsize size = 0;

  for (guint t = 0; t < TOKENS_PER_BUFFER; t++)
    gst_buffer_fill (buf, t * DIM * sizeof (gfloat),
        app->patterns[pattern][t % PERIOD], DIM * sizeof (gfloat));
  if (gst_app_src_push_buffer (GST_APP_SRC (app->src), buf) != GST_FLOW_OK)
    return FALSE;
  app->pushed += TOKENS_PER_BUFFER;

  sample = gst_app_sink_pull_sample (GST_APP_SINK (app->sink));
  if (!sample)
    return FALSE;
  meta = gst_buffer_get_custom_meta (gst_sample_get_buffer (sample),
      "GstBitTTTSurpriseMeta");
  if (meta) {
    s = gst_custom_meta_get_structure (meta);
    gst_structure_get_uint (s, "tokens", &tokens);
    gst_structure_get_uint64 (s, "offset", &app->offset);
    values = g_bytes_get_data (g_value_get_boxed (gst_structure_get_value (s,
                "surprise")), &size);
    if (tokens == TOKENS_PER_BUFFER && size == tokens * sizeof (gfloat))
      memcpy (app->surprise, values, size);
  }
  gst_sample_unref (sample);
  if (tokens != TOKENS_PER_BUFFER || size != tokens * sizeof (gfloat))
    return FALSE;
  app->returned += tokens;
  return TRUE;
}

static gboolean
build_pipeline (App * app)
{
  GstCaps *caps = gst_caps_new_simple ("other/tensors",
      "format", G_TYPE_STRING, "static",
      "num_tensors", G_TYPE_INT, 1,
      "types", G_TYPE_STRING, "float32",
      "dimensions", G_TYPE_STRING,
      G_STRINGIFY (DIM) ":" G_STRINGIFY (TOKENS_PER_BUFFER),
      NULL);

  app->pipeline = gst_pipeline_new ("app");
  app->src = gst_element_factory_make ("appsrc", NULL);
  app->ttt = gst_element_factory_make ("bitttt", NULL);
  app->sink = gst_element_factory_make ("appsink", NULL);
  if (!app->src || !app->ttt || !app->sink) {
    g_printerr ("Missing element (appsrc, bitttt or appsink): set "
        "GST_PLUGIN_PATH to the directory holding libgstbitttt.so\n");
    gst_caps_unref (caps);
    return FALSE;
  }
  g_object_set (app->src, "caps", caps, "format", GST_FORMAT_TIME, NULL);
  g_object_set (app->ttt, "surprise-meta", TRUE, "inner-lr", LR,
      "post-messages", FALSE, NULL);
  g_object_set (app->sink, "sync", FALSE, NULL);
  gst_caps_unref (caps);
  gst_bin_add_many (GST_BIN (app->pipeline), app->src, app->ttt, app->sink,
      NULL);
  return gst_element_link_many (app->src, app->ttt, app->sink, NULL)
      && gst_element_set_state (app->pipeline, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE;
}

/* The scenario: learn A, look at B with learning off, learn B, reset. */
static void
run (App * app)
{
  const gdouble fresh = 1.0 / STATE_DIM;
  gfloat first_a, first_b[TOKENS_PER_BUFFER];
  gdouble start_a, end_a, start_b, end_b;
  gboolean same = TRUE;
  gchar *kernel = NULL;

  /* 1. pattern A, inner-lr 0.5 */
  if (!process (app, 0))
    return;
  g_object_get (app->ttt, "kernel", &kernel, NULL);
  printf ("appsrc ! bitttt surprise-meta=true ! appsink: tokens of %d floats,"
      " d = %d, kernel %s\n\n", DIM, STATE_DIM, kernel ? kernel : "?");
  g_free (kernel);
  first_a = app->surprise[0];
  start_a = mean (app->surprise, TOKENS_PER_BUFFER);
  for (guint i = 1; i < 20; i++)
    if (!process (app, 0))
      return;
  end_a = mean (app->surprise, TOKENS_PER_BUFFER);
  printf ("  1. pattern A, inner-lr=%.1f, 20 buffers: mean surprise %.3g -> %.3g\n",
      LR, start_a, end_a);

  /* 2. inner-lr 0 while playing: pattern B is seen, not learned */
  g_object_set (app->ttt, "inner-lr", 0.0f, NULL);
  if (!process (app, 1))
    return;
  memcpy (first_b, app->surprise, sizeof (first_b));
  start_b = mean (app->surprise, TOKENS_PER_BUFFER);
  if (!process (app, 1))
    return;
  for (guint t = 0; t < TOKENS_PER_BUFFER; t++)
    same = same && app->surprise[t] == first_b[t % PERIOD]
        && first_b[t] == first_b[t % PERIOD];
  printf ("  2. pattern B, inner-lr=0 (set while playing), 2 buffers: mean"
      " surprise %.3g, %.3g\n", start_b, mean (app->surprise,
          TOKENS_PER_BUFFER));

  /* 3. learning again */
  g_object_set (app->ttt, "inner-lr", LR, NULL);
  for (guint i = 0; i < 20; i++)
    if (!process (app, 1))
      return;
  end_b = mean (app->surprise, TOKENS_PER_BUFFER);
  printf ("  3. pattern B, inner-lr=%.1f, 20 buffers: mean surprise -> %.3g\n",
      LR, end_b);

  /* 4. reset: applied before the next buffer */
  g_signal_emit_by_name (app->ttt, "reset");
  if (!process (app, 1))
    return;
  printf ("  4. after the reset signal: first surprise %.7f (1/d), meta offset %"
      G_GUINT64_FORMAT "\n\n", app->surprise[0], app->offset);

  check (app, fabs (first_a - fresh) <= 1e-6,
      "first token of a fresh layer: surprise == 1/d");
  check (app, end_a < start_a / 10, "surprise falls >10x while A is learned");
  check (app, start_b > 10 * end_a, "a new pattern is surprising");
  check (app, same, "inner-lr=0: repeated tokens have identical surprise");
  check (app, end_b < start_b / 10, "surprise falls >10x once B is learned");
  check (app, fabs (app->surprise[0] - fresh) <= 1e-6 && app->offset == 0,
      "after reset: surprise == 1/d again, offset 0");
}

int
main (int argc, char **argv)
{
  App app = { 0 };
  GRand *rng = g_rand_new_with_seed (2024);
  guint64 processed = 0;
  GstMessage *msg;

  gst_init (&argc, &argv);
  for (guint p = 0; p < 2; p++)
    for (guint t = 0; t < PERIOD; t++)
      for (guint j = 0; j < DIM; j++)
        app.patterns[p][t][j] = (gfloat) g_rand_double_range (rng, -1, 1);
  g_rand_free (rng);

  if (build_pipeline (&app)) {
    run (&app);
    gst_app_src_end_of_stream (GST_APP_SRC (app.src));
    msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (app.pipeline),
        5 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    check (&app, msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS,
        "clean end of stream");
    if (msg)
      gst_message_unref (msg);
    g_object_get (app.ttt, "tokens-processed", &processed, NULL);
    check (&app, app.pushed > 0 && app.returned == app.pushed
        && processed == app.pushed,
        "every token pushed came back with a surprise");
    printf ("\n%" G_GUINT64_FORMAT " tokens pushed, %" G_GUINT64_FORMAT
        " surprises read, tokens-processed = %" G_GUINT64_FORMAT ": %s\n",
        app.pushed, app.returned, processed,
        app.failures ? "FAILED" : "all checks passed");
    gst_element_set_state (app.pipeline, GST_STATE_NULL);
  } else
    app.failures++;
  if (app.pipeline)
    gst_object_unref (app.pipeline);
  return app.failures ? 1 : 0;
}
