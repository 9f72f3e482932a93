/*
 * The Bit-TTT demo: watch a layer learn a stream while it runs.
 *
 *   build/examples/demo/bitttt-demo [--output-dir DIR] [--no-plot]
 *
 * Pipeline (no input file needed):
 *
 *   appsrc (tokens of 64 floats) ! bitttt inner-lr=0.2 surprise-meta=true
 *       interval=64ms ! appsink
 *
 * The tokens cycle through a pattern of 8 random tokens plus a little noise;
 * halfway through, the pattern is replaced by another one. The element's
 * `bitttt` bus messages give one line per 64 tokens: the surprise falls while
 * the pattern is learned, jumps at the change and falls again. The per-token
 * surprise (GstBitTTTSurpriseMeta on each output buffer) goes to a CSV, and
 * examples/python/plot_surprise.py plots it when matplotlib is available.
 *
 * Run from the build tree, it finds the plugin there by itself.
 */
#include <gst/gst.h>
#include <gst/app/app.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define DIM 64                  /* floats per token */
#define STATE_DIM (DIM / 4)     /* d: the engine's default */
#define PERIOD 8                /* tokens in a pattern */
#define TOKENS_PER_BUFFER 32
#define N_TOKENS 1024
#define CHANGE_AT 512           /* first token of the second pattern */
#define WINDOW 64               /* tokens per bus message / printed line */
#define NOISE 0.05
#define INNER_LR 0.2
#define TOKEN_DURATION GST_MSECOND      /* a 1 kHz sensor, for timestamps */
#define BAR_WIDTH 36

typedef struct
{
  guint64 first, tokens;
  gdouble mean, max, tokens_per_second;
} Window;

/* An installed plugin is found by GStreamer itself; one in the build tree
 * only through GST_PLUGIN_PATH, which a first-time user has not set. */
static void
use_build_tree_plugin (void)
{
  gchar *so = g_build_filename (BUILD_PLUGIN_DIR, "libgstbitttt.so", NULL);

  if (g_file_test (so, G_FILE_TEST_EXISTS) && !g_getenv ("GST_PLUGIN_PATH_1_0")
      && !g_getenv ("GST_PLUGIN_PATH"))
    g_setenv ("GST_PLUGIN_PATH", BUILD_PLUGIN_DIR, TRUE);
  g_free (so);
}

static gboolean
have_element (void)
{
  GstElementFactory *f = gst_element_factory_find ("bitttt");

  if (!f && g_file_test (BUILD_PLUGIN_DIR, G_FILE_TEST_IS_DIR)) {
    gst_registry_scan_path (gst_registry_get (), BUILD_PLUGIN_DIR);
    f = gst_element_factory_find ("bitttt");
  }
  if (!f)
    return FALSE;
  gst_object_unref (f);
  return TRUE;
}

static GstBuffer *
make_buffer (guint64 first, const gfloat patterns[2][PERIOD][DIM], GRand * rng)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL,
      TOKENS_PER_BUFFER * DIM * sizeof (gfloat), NULL);
  GstMapInfo map;
  gfloat *x;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  x = (gfloat *) map.data;
  for (guint t = 0; t < TOKENS_PER_BUFFER; t++) {
    guint64 i = first + t;
    const gfloat *p = patterns[i >= CHANGE_AT][i % PERIOD];
    for (guint j = 0; j < DIM; j++)
      x[t * DIM + j] = p[j] + (gfloat) g_rand_double_range (rng, -NOISE, NOISE);
  }
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = first * TOKEN_DURATION;
  GST_BUFFER_DURATION (buf) = TOKENS_PER_BUFFER * TOKEN_DURATION;
  return buf;
}

/* Appends the buffer's per-token surprises to `csv`; returns how many. */
static guint
save_surprise (GstBuffer * buf, FILE * csv)
{
  GstCustomMeta *meta = gst_buffer_get_custom_meta (buf, "GstBitTTTSurpriseMeta");
  const GstStructure *s;
  const gfloat *surprise;
  guint64 offset;
  guint tokens;
  gsize size;

  if (!meta)
    return 0;
  s = gst_custom_meta_get_structure (meta);
  if (!gst_structure_get_uint (s, "tokens", &tokens)
      || !gst_structure_get_uint64 (s, "offset", &offset))
    return 0;
  surprise = g_bytes_get_data (g_value_get_boxed (gst_structure_get_value (s,
              "surprise")), &size);
  tokens = MIN (tokens, size / sizeof (gfloat));
  for (guint i = 0; csv && i < tokens; i++)
    fprintf (csv, "%" G_GUINT64_FORMAT ",%.9g\n", offset + i, surprise[i]);
  return tokens;
}

static guint
collect_windows (GstBus * bus, Window * w, guint max)
{
  guint n = 0;
  guint64 first = 0;
  GstMessage *msg;

  while (n < max && (msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, "bitttt")
        && gst_structure_get_uint64 (s, "tokens", &w[n].tokens)
        && gst_structure_get_double (s, "mean-surprise", &w[n].mean)
        && gst_structure_get_double (s, "max-surprise", &w[n].max)
        && gst_structure_get_double (s, "tokens-per-second",
            &w[n].tokens_per_second)) {
      w[n].first = first;
      first += w[n].tokens;
      n++;
    }
    gst_message_unref (msg);
  }
  return n;
}

/* A log-scale bar: surprise spans decades, and a linear bar would show
 * only the first window. `note`, if any, goes after the padded bar. */
static void
print_bar (gdouble v, gdouble lo, gdouble hi, gboolean utf8, const gchar * note)
{
  static const char *eighths[] = { "", "▏", "▎", "▍", "▌", "▋", "▊", "▉" };
  gdouble frac = log (MAX (v, lo) / lo) / log (hi / lo);
  gint units = (gint) (CLAMP (frac, 0.0, 1.0) * BAR_WIDTH * 8 + 0.5);

  if (units < 1)
    units = 1;
  for (gint i = 0; i < units / 8; i++)
    fputs (utf8 ? "█" : "#", stdout);
  if (utf8)
    fputs (eighths[units % 8], stdout);
  if (note) {
    for (gint i = (units + 7) / 8; i < BAR_WIDTH + 1; i++)
      fputc (' ', stdout);
    printf ("%s %s", utf8 ? "◀" : "<", note);
  }
  fputc ('\n', stdout);
}

static void
print_report (const Window * w, guint n, gdouble wall, const gchar * kernel)
{
  const gchar *charset;
  gboolean utf8 = g_get_charset (&charset);
  const gdouble fresh = 1.0 / STATE_DIM;
  gdouble lo = fresh, engine_s = 0, before = 0, spike = 0, after = 0;
  guint64 total = 0;

  for (guint i = 0; i < n; i++)
    lo = MIN (lo, w[i].mean / 2);
  printf ("   tokens     mean surprise   (log scale, full bar = 1/d = %.4f:"
      " nothing predicted)\n", fresh);
  for (guint i = 0; i < n; i++) {
    printf ("  %4" G_GUINT64_FORMAT "-%-4" G_GUINT64_FORMAT "   %.5f   ",
        w[i].first, w[i].first + w[i].tokens - 1, w[i].mean);
    print_bar (w[i].mean, lo, fresh, utf8,
        w[i].first == 0 ? "pattern A: new to the layer" :
        w[i].first == CHANGE_AT ? "pattern B replaces A: surprise jumps" :
        w[i].first + w[i].tokens == CHANGE_AT ? "A learned" :
        w[i].first + w[i].tokens == N_TOKENS ? "B learned too" : NULL);
    if (w[i].tokens_per_second > 0)
      engine_s += w[i].tokens / w[i].tokens_per_second;
    total += w[i].tokens;
    if (w[i].first + w[i].tokens == CHANGE_AT)
      before = w[i].mean;
    if (w[i].first == CHANGE_AT)
      spike = w[i].mean;
    after = w[i].mean;
  }
  printf ("\n");
  if (n > 0 && before > 0 && after > 0)
    printf ("  Learning pattern A cut the surprise %.0fx; the change raised it"
        " %.0fx;\n  learning pattern B brought it back down %.0fx.\n",
        w[0].mean / before, spike / before, spike / after);
  printf ("  Speed: %.2f M tokens/s inside the element (engine time, from its"
      " messages),\n         kernel %s; whole run %.0f ms wall time for %"
      G_GUINT64_FORMAT " tokens.\n", engine_s > 0 ? total / engine_s / 1e6 : 0,
      kernel ? kernel : "?", wall * 1e3, total);
}

/* Plots with the shared script; a missing python3 or matplotlib is no
 * error, the CSV is the result that matters. */
static void
plot (const gchar * csv, const gchar * png)
{
  gchar *mark = g_strdup_printf ("%d:pattern B starts", CHANGE_AT);
  gchar *fresh = g_strdup_printf ("%.9g", 1.0 / STATE_DIM);
  gchar *argv[] = { (gchar *) PYTHON, (gchar *) PLOT_SCRIPT, (gchar *) csv,
    (gchar *) png, (gchar *) "--mark", mark, (gchar *) "--fresh", fresh, NULL
  };
  gchar *err = NULL;
  GError *exit_error = NULL;
  gint status = 0;

  if (!g_file_test (PYTHON, G_FILE_TEST_IS_EXECUTABLE)
      || !g_file_test (PLOT_SCRIPT, G_FILE_TEST_EXISTS))
    printf ("  Plot: skipped (needs %s and %s)\n", PYTHON, PLOT_SCRIPT);
  else if (!g_spawn_sync (NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
          NULL, NULL, &err, &status, NULL))
    printf ("  Plot: could not run %s\n", PYTHON);
  else if (g_spawn_check_wait_status (status, &exit_error))
    printf ("  Plot: %s\n", png);
  else if (g_error_matches (exit_error, G_SPAWN_EXIT_ERROR, 77))
    printf ("  Plot: skipped (matplotlib missing: apt-get install"
        " python3-matplotlib)\n");
  else
    printf ("  Plot: failed: %s\n", err ? g_strstrip (err) : "");
  g_clear_error (&exit_error);
  g_free (err);
  g_free (mark);
  g_free (fresh);
}

int
main (int argc, char **argv)
{
  gchar *out_dir = NULL, *csv_path, *png_path, *kernel = NULL;
  gboolean no_plot = FALSE;
  GOptionEntry entries[] = {
    {"output-dir", 'o', 0, G_OPTION_ARG_FILENAME, &out_dir,
        "Where the CSV and PNG go (default: the demo's build directory)", "DIR"},
    {"no-plot", 0, 0, G_OPTION_ARG_NONE, &no_plot, "Write the CSV only", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- watch Bit-TTT learn a stream");
  GError *error = NULL;
  gfloat patterns[2][PERIOD][DIM];
  GstElement *pipeline, *src, *ttt, *sink;
  GRand *rng;
  FILE *csv;
  Window windows[N_TOKENS / WINDOW + 2];
  guint n_windows, got = 0;
  gint64 t0;

  setlocale (LC_ALL, "");
  use_build_tree_plugin ();
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("%s\n", error->message);
    return 2;
  }
  g_option_context_free (ctx);
  gst_init (NULL, NULL);
  if (!have_element ()) {
    g_printerr ("The bitttt element is not available: build the project"
        " (meson compile -C build) or set GST_PLUGIN_PATH to the directory"
        " holding libgstbitttt.so.\n");
    return 1;
  }
  if (!out_dir)
    out_dir = g_strdup (g_file_test (DEMO_BUILD_DIR, G_FILE_TEST_IS_DIR) ?
        DEMO_BUILD_DIR : g_get_tmp_dir ());
  csv_path = g_build_filename (out_dir, "surprise.csv", NULL);
  png_path = g_build_filename (out_dir, "surprise.png", NULL);

  pipeline = gst_parse_launch ("appsrc name=src format=time "
      "caps=other/tensors,format=static,num_tensors=1,types=float32,"
      "dimensions=(string)" G_STRINGIFY (DIM) ":" G_STRINGIFY (TOKENS_PER_BUFFER)
      ",framerate=(fraction)0/1 "
      "! bitttt name=ttt surprise-meta=true inner-lr=" G_STRINGIFY (INNER_LR)
      " ! appsink name=sink sync=false", &error);
  if (!pipeline) {
    g_printerr ("Could not build the pipeline: %s\n", error->message);
    return 1;
  }
  ttt = gst_bin_get_by_name (GST_BIN (pipeline), "ttt");
  /* one message per printed window */
  g_object_set (ttt, "interval", (guint64) (WINDOW * TOKEN_DURATION), NULL);
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");

  rng = g_rand_new_with_seed (7);
  for (guint p = 0; p < 2; p++)
    for (guint t = 0; t < PERIOD; t++)
      for (guint j = 0; j < DIM; j++)
        patterns[p][t][j] = (gfloat) g_rand_double_range (rng, -1.0, 1.0);

  printf ("\nBit-TTT demo: a layer that keeps learning while it runs\n\n"
      "  appsrc ! bitttt inner-lr=%g surprise-meta=true ! appsink\n"
      "  %d tokens of %d floats; tokens 0-%d repeat pattern A (%d random"
      " tokens + %g%% noise),\n  then pattern B. Surprise = how badly the"
      " layer predicted a token before learning it.\n\n",
      INNER_LR, N_TOKENS, DIM, CHANGE_AT - 1, PERIOD, NOISE * 100);

  csv = fopen (csv_path, "w");
  if (csv)
    fputs ("token,surprise\n", csv);
  t0 = g_get_monotonic_time ();
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  /* appsrc queues everything (the stream is small), then appsink hands it
   * back: no threads of our own. */
  for (guint64 i = 0; i < N_TOKENS; i += TOKENS_PER_BUFFER)
    gst_app_src_push_buffer (GST_APP_SRC (src), make_buffer (i, patterns, rng));
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  for (GstSample * s; (s = gst_app_sink_pull_sample (GST_APP_SINK (sink)));) {
    got += save_surprise (gst_sample_get_buffer (s), csv);
    gst_sample_unref (s);
  }
  g_object_get (ttt, "kernel", &kernel, NULL);
  /* before NULL, which flushes the bus */
  n_windows = collect_windows (GST_ELEMENT_BUS (pipeline), windows,
      G_N_ELEMENTS (windows));
  gst_element_set_state (pipeline, GST_STATE_NULL);
  if (csv)
    fclose (csv);

  print_report (windows, n_windows, (g_get_monotonic_time () - t0) / 1e6,
      kernel);
  if (!csv)
    printf ("  CSV: could not write %s\n", csv_path);
  else {
    printf ("  Per-token surprise: %s (%u tokens)\n", csv_path, got);
    if (!no_plot)
      plot (csv_path, png_path);
  }
  printf ("\n  Next: examples/launch/*.sh (gst-launch-1.0), examples/c/,"
      " examples/python/, docs/element.md\n\n");

  g_free (kernel);
  g_free (csv_path);
  g_free (png_path);
  g_free (out_dir);
  g_rand_free (rng);
  gst_object_unref (src);
  gst_object_unref (ttt);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  return got == N_TOKENS && n_windows > 0 ? 0 : 1;
}
