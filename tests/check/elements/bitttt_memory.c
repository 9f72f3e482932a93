/*
 * gst-check tests for the bitttt element's memory options: the objective
 * properties, the anomaly score and the audio analyser (hop).
 *
 * Expected values come from the engine and the anomaly scorer driven
 * directly through <bitttt/bitttt.h> on token streams built here (for the
 * analyser, the windows are cut out of the input by this file), or from the
 * input itself, never from the element under test.
 */
#include <math.h>
#include <string.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <bitttt/bitttt.h>
#include "common.h"

#define META_NAME "GstBitTTTSurpriseMeta"
#define LR 0.3f

/* ---- helpers ------------------------------------------------------------ */

/* ntok tokens drawn from 4 random patterns plus a little noise; from token
 * `change` on, from 4 other patterns at twice the level (0: never) */
static gfloat *
make_tokens (gsize dim, gsize ntok, gsize change, guint32 seed)
{
  gfloat *pat = g_new (gfloat, 8 * dim);
  gfloat *x = g_new (gfloat, dim * ntok);
  gsize t, j;

  for (j = 0; j < 8 * dim; j++)
    pat[j] = (gfloat) ((next_rand (&seed) >> 8) / 8388608.0 - 1.0);
  for (j = 4 * dim; j < 8 * dim; j++)
    pat[j] *= 2.0f;
  for (t = 0; t < ntok; t++) {
    const gsize p = next_rand (&seed) % 4 + (change && t >= change ? 4 : 0);
    for (j = 0; j < dim; j++)
      x[t * dim + j] = pat[p * dim + j] +
          (gfloat) ((next_rand (&seed) >> 8) / 8388608.0 - 1.0) * 0.01f;
  }
  g_free (pat);
  return x;
}

/* An engine configured as the element is by the same property strings. */
typedef struct
{
  const gchar *objective, *feature_norm, *update;
  gfloat forget;
  gboolean residual;
} Objective;

static guint32
nick_value (const gchar * type_name, const gchar * nick)
{
  GEnumClass *klass = g_type_class_ref (g_type_from_name (type_name));
  GEnumValue *v = g_enum_get_value_by_nick (klass, nick);
  guint32 value;

  fail_unless (v != NULL, "%s has no value %s", type_name, nick);
  value = (guint32) v->value;
  g_type_class_unref (klass);
  return value;
}

static void
set_objective (GstHarness * h, const Objective * o)
{
  gst_util_set_object_arg (G_OBJECT (h->element), "objective", o->objective);
  gst_util_set_object_arg (G_OBJECT (h->element), "feature-norm",
      o->feature_norm);
  gst_util_set_object_arg (G_OBJECT (h->element), "update", o->update);
  g_object_set (h->element, "forget", o->forget, "residual", o->residual,
      NULL);
}

/* The engine's own enum values, written out here: the element's property
 * values must map onto exactly these. */
static ttt_model *
engine_new (gsize dim, const Objective * o)
{
  static const gchar *const objectives[] = { "reconstruct", "multiview",
    "next"
  };
  static const gchar *const norms[] = { "auto", "l2", "none" };
  static const gchar *const updates[] = { "gradient", "nlms" };
  ttt_config cfg;
  ttt_model *m = NULL;
  guint i;

  ttt_config_default (&cfg);
  cfg.hidden_dim = dim;
  cfg.inner_lr = LR;
  if (o != NULL) {
    for (i = 0; i < G_N_ELEMENTS (objectives); i++)
      if (strcmp (o->objective, objectives[i]) == 0)
        cfg.objective = i;
    for (i = 0; i < G_N_ELEMENTS (norms); i++)
      if (strcmp (o->feature_norm, norms[i]) == 0)
        cfg.feature_norm = i;
    for (i = 0; i < G_N_ELEMENTS (updates); i++)
      if (strcmp (o->update, updates[i]) == 0)
        cfg.update = i;
    cfg.forget = o->forget;
    cfg.residual = o->residual;
    fail_unless_equals_int (nick_value ("GstBitTTTObjective", o->objective),
        cfg.objective);
    fail_unless_equals_int (nick_value ("GstBitTTTFeatureNorm",
            o->feature_norm), cfg.feature_norm);
    fail_unless_equals_int (nick_value ("GstBitTTTUpdate", o->update),
        cfg.update);
  }
  fail_unless_equals_int (ttt_create_ex (&cfg, &m), TTT_OK);
  return m;
}

/* anomaly-short-window, -long-window, -refit-every, -hold: the defaults,
 * then values that change every score (small windows, a hold) */
static const guint anomaly_knobs[2][4] = { {10, 2000, 100, 0}, {2, 50, 7, 5} };

static ttt_anomaly *
scorer_new_knobs (gfloat k, gfloat margin, const guint * knobs)
{
  ttt_anomaly_config cfg;
  ttt_anomaly *a = NULL;

  ttt_anomaly_config_default (&cfg);
  cfg.k = k;
  cfg.range_margin = margin;
  cfg.short_window = knobs[0];
  cfg.long_window = knobs[1];
  cfg.refit_every = knobs[2];
  cfg.hold = knobs[3];
  fail_unless_equals_int (ttt_anomaly_create (&cfg, &a), TTT_OK);
  return a;
}

static ttt_anomaly *
scorer_new (gfloat k, gfloat margin)
{
  return scorer_new_knobs (k, margin, anomaly_knobs[0]);
}

/* Appends the meta's field (float32 bytes) to arr; returns its tokens. */
static guint
append_meta (GstBuffer * buf, const gchar * field, GArray * arr)
{
  GstCustomMeta *meta = gst_buffer_get_custom_meta (buf, META_NAME);
  const GstStructure *s;
  const GValue *v;
  guint tokens;
  gsize size;
  gconstpointer data;

  fail_unless (meta != NULL, "no surprise meta");
  s = gst_custom_meta_get_structure (meta);
  fail_unless (gst_structure_get_uint (s, "tokens", &tokens));
  v = gst_structure_get_value (s, field);
  fail_unless (v != NULL && G_VALUE_HOLDS (v, G_TYPE_BYTES), "no %s", field);
  data = g_bytes_get_data (g_value_get_boxed (v), &size);
  fail_unless_equals_uint64 (size, tokens * sizeof (gfloat));
  g_array_append_vals (arr, data, tokens);
  return tokens;
}

/* bitwise: NaN must come back as NaN */
static void
check_floats (const gfloat * got, const gfloat * want, gsize n,
    const gchar * what)
{
  gsize i;

  for (i = 0; i < n; i++)
    fail_unless (memcmp (got + i, want + i, sizeof (gfloat)) == 0 ||
        (isnan (got[i]) && isnan (want[i])), "%s %" G_GSIZE_FORMAT
        ": %.9g, expected %.9g", what, i, got[i], want[i]);
}

/* ---- objective properties ---------------------------------------------- */

static void
check_objective (const Objective * o)
{
  const gsize dim = 16, ntok = 8, nbuf = 12;
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat *x = make_tokens (dim, ntok * nbuf, 0, 21);
  gfloat *exp = g_memdup2 (x, dim * ntok * nbuf * sizeof (gfloat));
  gfloat *exp_s = g_new (gfloat, ntok * nbuf);
  gfloat *exp_d = g_memdup2 (x, dim * ntok * nbuf * sizeof (gfloat));
  ttt_model *m = engine_new (dim, o);
  ttt_model *d = engine_new (dim, NULL);
  GArray *surprise = g_array_new (FALSE, FALSE, sizeof (gfloat));
  gsize b;

  fail_unless_equals_int (ttt_forward_ex (m, exp, ntok * nbuf, exp, exp_s),
      TTT_OK);
  /* the option must matter on this stream, or the test proves nothing */
  fail_unless_equals_int (ttt_forward_ex (d, exp_d, ntok * nbuf, exp_d,
          NULL), TTT_OK);
  fail_unless (memcmp (exp, exp_d, dim * ntok * nbuf * sizeof (gfloat)) != 0,
      "%s gives the default's output", o->objective);

  set_objective (h, o);
  g_object_set (h->element, "inner-lr", LR, "surprise-meta", TRUE, NULL);
  set_caps_fmt (h, TENSOR_CAPS_FMT, dim, ntok);
  for (b = 0; b < nbuf; b++) {
    GstBuffer *out;
    GstMapInfo map;

    fail_unless_equals_int (gst_harness_push (h, make_buffer (x + b * dim *
                ntok, dim * ntok, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE)),
        GST_FLOW_OK);
    out = gst_harness_pull (h);
    fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
    check_floats ((const gfloat *) map.data, exp + b * dim * ntok, dim * ntok,
        "output float");
    gst_buffer_unmap (out, &map);
    append_meta (out, "surprise", surprise);
    gst_buffer_unref (out);
  }
  check_floats ((const gfloat *) surprise->data, exp_s, ntok * nbuf,
      "surprise");

  g_array_free (surprise, TRUE);
  ttt_destroy (m);
  ttt_destroy (d);
  g_free (x);
  g_free (exp);
  g_free (exp_s);
  g_free (exp_d);
  harness_free (h, bus);
}

GST_START_TEST (test_objective_multiview)
{
  const Objective o = { "multiview", "auto", "gradient", 0.0f, FALSE };
  check_objective (&o);
}

GST_END_TEST;

GST_START_TEST (test_objective_multiview_residual_l2)
{
  const Objective o = { "multiview", "l2", "gradient", 0.0f, TRUE };
  check_objective (&o);
}

GST_END_TEST;

GST_START_TEST (test_objective_next_forget)
{
  const Objective o = { "next", "auto", "nlms", 0.05f, FALSE };
  check_objective (&o);
}

GST_END_TEST;

GST_START_TEST (test_objective_reconstruct_none_nlms)
{
  const Objective o = { "reconstruct", "none", "nlms", 0.01f, FALSE };
  check_objective (&o);
}

GST_END_TEST;

static gchar *
default_nick (GstElement * e, const gchar * prop)
{
  GParamSpec *spec = g_object_class_find_property (G_OBJECT_GET_CLASS (e),
      prop);
  GParamSpecEnum *es;

  fail_unless (spec != NULL && G_IS_PARAM_SPEC_ENUM (spec), "%s", prop);
  es = G_PARAM_SPEC_ENUM (spec);
  return g_strdup (g_enum_get_value (es->enum_class,
          es->default_value)->value_nick);
}

GST_START_TEST (test_objective_defaults)
{
  GstHarness *h = gst_harness_new ("bitttt");
  gfloat forget = -1.0f;
  gboolean residual = TRUE, anomaly = TRUE;
  guint hop = 1;
  GParamSpec *spec;
  gchar *nick;

  g_object_get (h->element, "forget", &forget, "residual", &residual,
      "anomaly", &anomaly, "hop", &hop, NULL);
  fail_unless (forget == 0.0f && !residual && !anomaly && hop == 0);
  nick = default_nick (h->element, "objective");
  fail_unless_equals_string (nick, "reconstruct");
  g_free (nick);
  nick = default_nick (h->element, "feature-norm");
  fail_unless_equals_string (nick, "auto");
  g_free (nick);
  nick = default_nick (h->element, "update");
  fail_unless_equals_string (nick, "gradient");
  g_free (nick);
  /* forget = 1 would never remember: the range stops below it */
  spec = g_object_class_find_property (G_OBJECT_GET_CLASS (h->element),
      "forget");
  fail_unless (G_PARAM_SPEC_FLOAT (spec)->maximum < 1.0f);
  gst_harness_teardown (h);
}

GST_END_TEST;

static void
check_invalid (const Objective * o, const gchar * const *words)
{
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat x[16] = { 0 };
  GstMessage *msg;
  GError *err = NULL;

  set_objective (h, o);
  set_caps_fmt (h, TENSOR_CAPS_FMT, 16, 1);
  fail_unless_equals_int (gst_harness_push (h, make_buffer (x, 16, 0,
              GST_CLOCK_TIME_NONE)), GST_FLOW_NOT_NEGOTIATED);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "no error message");
  gst_message_parse_error (msg, &err, NULL);
  for (; *words != NULL; words++)
    fail_unless (strstr (err->message, *words) != NULL,
        "\"%s\" not in: %s", *words, err->message);
  g_error_free (err);
  gst_message_unref (msg);
  harness_free (h, bus);
}

GST_START_TEST (test_invalid_combination)
{
  const Objective gradient = { "reconstruct", "none", "gradient", 0.0f,
    FALSE
  };
  const Objective residual = { "next", "auto", "gradient", 0.0f, TRUE };
  const gchar *const w1[] = { "objective=reconstruct", "feature-norm=none",
    "update=gradient", "needs update=nlms", NULL
  };
  const gchar *const w2[] = { "objective=next", "residual=true",
    "only defined for objective=multiview", NULL
  };

  check_invalid (&gradient, w1);
  check_invalid (&residual, w2);
}

GST_END_TEST;

/* ---- anomaly score ------------------------------------------------------ */

/* Tensors with a change of patterns and one NaN token: the meta's scores
 * equal the scorer's on the engine's surprises and the input values, with
 * the scorer's default windows and with other values of their properties. */
GST_START_TEST (test_anomaly_meta)
{
  const gsize dim = 16, ntok = 20, nbuf = 30, total = ntok * nbuf;
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat *x = make_tokens (dim, total, 400, 5);
  gfloat *y, *exp_s = g_new (gfloat, total), *exp_a = g_new (gfloat, total);
  ttt_model *m = engine_new (dim, NULL);
  const guint *knobs = anomaly_knobs[__i__];
  ttt_anomaly *a = scorer_new_knobs (20.0f, 0.1f, knobs);
  GArray *surprise = g_array_new (FALSE, FALSE, sizeof (gfloat));
  GArray *score = g_array_new (FALSE, FALSE, sizeof (gfloat));
  gsize b, i, high = 0;

  x[250 * dim + 3] = NAN;
  y = g_memdup2 (x, total * dim * sizeof (gfloat));
  fail_unless_equals_int (ttt_forward_ex (m, y, total, y, exp_s), TTT_OK);
  fail_unless_equals_int (ttt_anomaly_update (a, exp_s, x, dim, total, exp_a,
          NULL), TTT_OK);
  for (i = 0; i < total; i++)
    high += exp_a[i] > 0.5f;
  fail_unless (high > 0, "the stream has no anomaly to find");

  g_object_set (h->element, "inner-lr", LR, "anomaly", TRUE, "anomaly-k",
      20.0f, "anomaly-range-margin", 0.1f, "surprise-meta", TRUE, NULL);
  if (__i__)
    g_object_set (h->element, "anomaly-short-window", knobs[0],
        "anomaly-long-window", knobs[1], "anomaly-refit-every", knobs[2],
        "anomaly-hold", knobs[3], NULL);
  set_caps_fmt (h, TENSOR_CAPS_FMT, dim, ntok);
  for (b = 0; b < nbuf; b++) {
    GstBuffer *out;

    fail_unless_equals_int (gst_harness_push (h, make_buffer (x + b * dim *
                ntok, dim * ntok, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE)),
        GST_FLOW_OK);
    out = gst_harness_pull (h);
    fail_unless_equals_int (append_meta (out, "surprise", surprise), ntok);
    fail_unless_equals_int (append_meta (out, "anomaly", score), ntok);
    gst_buffer_unref (out);
  }
  check_floats ((const gfloat *) surprise->data, exp_s, total, "surprise");
  check_floats ((const gfloat *) score->data, exp_a, total, "anomaly");
  fail_unless (isnan (g_array_index (score, gfloat, 250)));

  g_array_free (surprise, TRUE);
  g_array_free (score, TRUE);
  ttt_anomaly_destroy (a);
  ttt_destroy (m);
  g_free (x);
  g_free (y);
  g_free (exp_s);
  g_free (exp_a);
  harness_free (h, bus);
}

GST_END_TEST;

GST_START_TEST (test_anomaly_meta_absent_when_off)
{
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat *x = make_tokens (16, 4, 0, 3);
  GstBuffer *out;
  GstCustomMeta *meta;

  g_object_set (h->element, "surprise-meta", TRUE, NULL);
  set_caps_fmt (h, TENSOR_CAPS_FMT, 16, 4);
  fail_unless_equals_int (gst_harness_push (h, make_buffer (x, 64, 0,
              GST_CLOCK_TIME_NONE)), GST_FLOW_OK);
  out = gst_harness_pull (h);
  meta = gst_buffer_get_custom_meta (out, META_NAME);
  fail_unless (meta != NULL);
  fail_unless (!gst_structure_has_field (gst_custom_meta_get_structure (meta),
          "anomaly"));
  gst_buffer_unref (out);
  g_free (x);
  harness_free (h, bus);
}

GST_END_TEST;

/* The message's `anomaly` is the max of its interval's scores (absent with
 * anomaly off); the meta is off, so the scores go through the scratch. */
static void
check_anomaly_messages (gboolean anomaly)
{
  const gsize dim = 16, ntok = 20, nbuf = 30, total = ntok * nbuf;
  const GstClockTime dur = 10 * GST_MSECOND;
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat *x = make_tokens (dim, total, 400, 6);
  gfloat *y = g_memdup2 (x, total * dim * sizeof (gfloat));
  gfloat *exp_s = g_new (gfloat, total), *exp_a = g_new (gfloat, total);
  ttt_model *m = engine_new (dim, NULL);
  ttt_anomaly *a = scorer_new (TTT_ANOMALY_DEFAULT_K, 0.0f);
  gsize b, i, nmsg = 0;
  gdouble top = 0.0;

  fail_unless_equals_int (ttt_forward_ex (m, y, total, y, exp_s), TTT_OK);
  fail_unless_equals_int (ttt_anomaly_update (a, exp_s, NULL, 0, total, exp_a,
          NULL), TTT_OK);

  g_object_set (h->element, "inner-lr", LR, "anomaly", anomaly, "interval",
      (guint64) (3 * dur), NULL);
  set_caps_fmt (h, TENSOR_CAPS_FMT, dim, ntok);
  for (b = 0; b < nbuf; b++) {
    GstMessage *msg;

    fail_unless_equals_int (gst_harness_push (h, make_buffer (x + b * dim *
                ntok, dim * ntok, b * dur, dur)), GST_FLOW_OK);
    gst_buffer_unref (gst_harness_pull (h));
    msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
    if (b % 3 != 2) {
      fail_unless (msg == NULL, "message after buffer %" G_GSIZE_FORMAT, b);
    } else {
      gdouble got, want = -INFINITY;

      fail_unless (msg != NULL);
      for (i = (b - 2) * ntok; i < (b + 1) * ntok; i++)
        if (exp_a[i] > want)
          want = exp_a[i];
      if (anomaly) {
        fail_unless (gst_structure_get_double (gst_message_get_structure
                (msg), "anomaly", &got));
        fail_unless (got == want, "message %" G_GSIZE_FORMAT ": anomaly %.9g, "
            "expected %.9g", nmsg, got, want);
        top = MAX (top, got);
      } else {
        /* off: no field at all, rather than a NaN to be filtered out */
        fail_if (gst_structure_has_field (gst_message_get_structure (msg),
                "anomaly"), "anomaly field with anomaly=false");
      }
      nmsg++;
      gst_message_unref (msg);
    }
  }
  fail_unless_equals_int (nmsg, nbuf / 3);
  if (anomaly)
    fail_unless (top > 0.0, "every score is 0: the maximum shows nothing");

  ttt_anomaly_destroy (a);
  ttt_destroy (m);
  g_free (x);
  g_free (y);
  g_free (exp_s);
  g_free (exp_a);
  harness_free (h, bus);
}

GST_START_TEST (test_anomaly_messages)
{
  check_anomaly_messages (TRUE);
  check_anomaly_messages (FALSE);
}

GST_END_TEST;

/* ---- analyser (hop) ----------------------------------------------------- */

#define RATE 8000
#define CHANNELS 2
#define FPT 4

typedef struct
{
  GArray *audio, *surprise, *score;
  guint64 msg_tokens;
} Collected;

/* Pushes frames frames of x in buffers of sizes[] (cycled, 0 allowed),
 * then EOS, and collects what comes out. */
static void
run_analyser (guint hop, const gfloat * x, gsize frames, const gsize * sizes,
    gsize nsizes, gboolean meta, Collected * c)
{
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  GstBuffer *buf;
  GstMessage *msg;
  gsize pos = 0, i = 0;

  c->audio = g_array_new (FALSE, FALSE, sizeof (gfloat));
  c->surprise = g_array_new (FALSE, FALSE, sizeof (gfloat));
  c->score = g_array_new (FALSE, FALSE, sizeof (gfloat));
  c->msg_tokens = 0;

  g_object_set (h->element, "frames-per-token", FPT, "hop", hop, "inner-lr",
      LR, "anomaly", TRUE, "anomaly-range-margin", 0.05f, "surprise-meta",
      meta, NULL);
  set_caps_fmt (h, AUDIO_CAPS_FMT, RATE, CHANNELS);
  while (pos < frames) {
    const gsize want = sizes[i++ % nsizes];
    const gsize n = MIN (want, frames - pos);
    const GstClockTime pts = gst_util_uint64_scale_int (pos, GST_SECOND, RATE);
    const GstClockTime end = gst_util_uint64_scale_int (pos + n, GST_SECOND,
        RATE);

    fail_unless_equals_int (gst_harness_push (h, make_buffer (x + pos *
                CHANNELS, n * CHANNELS, pts, end - pts)), GST_FLOW_OK);
    pos += n;
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  while ((buf = gst_harness_try_pull (h)) != NULL) {
    GstMapInfo map;

    fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
    g_array_append_vals (c->audio, map.data, map.size / sizeof (gfloat));
    gst_buffer_unmap (buf, &map);
    if (meta) {
      append_meta (buf, "surprise", c->surprise);
      append_meta (buf, "anomaly", c->score);
    }
    gst_buffer_unref (buf);
  }
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT)) != NULL) {
    guint64 tokens;
    fail_unless (gst_structure_get_uint64 (gst_message_get_structure (msg),
            "tokens", &tokens));
    c->msg_tokens += tokens;
    gst_message_unref (msg);
  }
  harness_free (h, bus);
}

static void
collected_free (Collected * c)
{
  g_array_free (c->audio, TRUE);
  g_array_free (c->surprise, TRUE);
  g_array_free (c->score, TRUE);
}

GST_START_TEST (test_hop_analyser)
{
  const gsize frames = 1003;
  static const gsize whole[] = { 1003 };
  static const gsize odd[] = { 1, 7, 2, 13, 3, 0, 5, 64, 9 };
  static const gsize tiny[] = { 1, 1, 2, 1, 1, 1, 3 };
  static const guint hops[] = { 1, 3, 7 };
  const gsize dim = FPT * CHANNELS;
  gfloat *x = make_tokens (CHANNELS, frames, 600, 11);
  guint hi;

  for (hi = 0; hi < G_N_ELEMENTS (hops); hi++) {
    const guint hop = hops[hi];
    const gsize nwin = (frames - FPT) / hop + 1;
    gfloat *win = g_new (gfloat, nwin * dim);
    gfloat *y = g_new (gfloat, nwin * dim);
    gfloat *exp_s = g_new (gfloat, nwin), *exp_a = g_new (gfloat, nwin);
    ttt_model *m = engine_new (dim, NULL);
    ttt_anomaly *a = scorer_new (TTT_ANOMALY_DEFAULT_K, 0.05f);
    Collected c[4];
    gsize w, k;

    /* the windows, cut out of the input here: frames w*hop .. w*hop+FPT-1 */
    for (w = 0; w < nwin; w++)
      memcpy (win + w * dim, x + w * hop * CHANNELS, dim * sizeof (gfloat));
    memcpy (y, win, nwin * dim * sizeof (gfloat));
    fail_unless_equals_int (ttt_forward_ex (m, y, nwin, y, exp_s), TTT_OK);
    fail_unless_equals_int (ttt_anomaly_update (a, exp_s, win, dim, nwin,
            exp_a, NULL), TTT_OK);

    run_analyser (hop, x, frames, whole, G_N_ELEMENTS (whole), TRUE, &c[0]);
    run_analyser (hop, x, frames, odd, G_N_ELEMENTS (odd), TRUE, &c[1]);
    run_analyser (hop, x, frames, tiny, G_N_ELEMENTS (tiny), TRUE, &c[2]);
    /* without the meta the element passes buffers through */
    run_analyser (hop, x, frames, odd, G_N_ELEMENTS (odd), FALSE, &c[3]);
    for (k = 0; k < 4; k++) {
      /* the audio is the input, bit for bit, with nothing held back */
      fail_unless_equals_uint64 (c[k].audio->len, frames * CHANNELS);
      fail_unless (memcmp (c[k].audio->data, x,
              frames * CHANNELS * sizeof (gfloat)) == 0,
          "hop %u run %" G_GSIZE_FORMAT ": the audio changed", hop, k);
      fail_unless_equals_uint64 (c[k].msg_tokens, nwin);
      if (k == 3)
        continue;
      fail_unless_equals_uint64 (c[k].surprise->len, nwin);
      fail_unless_equals_uint64 (c[k].score->len, nwin);
      check_floats ((const gfloat *) c[k].surprise->data, exp_s, nwin,
          "window surprise");
      check_floats ((const gfloat *) c[k].score->data, exp_a, nwin,
          "window anomaly");
    }
    for (k = 0; k < 4; k++)
      collected_free (&c[k]);
    ttt_anomaly_destroy (a);
    ttt_destroy (m);
    g_free (win);
    g_free (y);
    g_free (exp_s);
    g_free (exp_a);
  }
  g_free (x);
}

GST_END_TEST;

GST_START_TEST (test_hop_passthrough_and_latency)
{
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  gfloat *x = make_tokens (CHANNELS, 100, 0, 2);
  GstBuffer *in, *out;

  g_object_set (h->element, "frames-per-token", FPT, "hop", 2, NULL);
  set_caps_fmt (h, AUDIO_CAPS_FMT, RATE, CHANNELS);
  gst_harness_set_upstream_latency (h, 10 * GST_MSECOND);
  fail_unless_equals_uint64 (gst_harness_query_latency (h), 10 * GST_MSECOND);

  /* a shared (read-only) buffer is not copied: the analyser only reads */
  in = make_buffer (x, 100 * CHANNELS, 0, GST_CLOCK_TIME_NONE);
  gst_buffer_ref (in);
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  out = gst_harness_pull (h);
  fail_unless (out == in, "the analyser copied a shared buffer");
  gst_buffer_unref (out);
  gst_buffer_unref (in);
  g_free (x);
  harness_free (h, bus);
}

GST_END_TEST;

/* hop = frames-per-token is the ordinary element: delay line, latency,
 * processed output equal to the engine's, sample for sample. */
GST_START_TEST (test_hop_equal_fpt)
{
  static const gsize odd[] = { 1, 7, 2, 13, 3, 0, 5 };
  const gsize frames = 1003, dim = FPT * CHANNELS;
  const gsize ntok = frames * CHANNELS / dim;
  gfloat *x = make_tokens (CHANNELS, frames, 0, 4);
  gfloat *exp = g_memdup2 (x, frames * CHANNELS * sizeof (gfloat));
  ttt_model *m = engine_new (dim, NULL);
  GstBus *bus;
  GstHarness *h = harness_new (&bus);
  Collected c;

  fail_unless_equals_int (ttt_forward_ex (m, exp, ntok, exp, NULL), TTT_OK);
  audio_mix (exp, x, ntok, dim, 1.0);
  run_analyser (FPT, x, frames, odd, G_N_ELEMENTS (odd), FALSE, &c);
  fail_unless_equals_uint64 (c.audio->len, frames * CHANNELS);
  fail_unless (memcmp (c.audio->data, exp, c.audio->len * sizeof (gfloat))
      == 0, "hop = frames-per-token differs from the delay-line output");
  fail_unless_equals_uint64 (c.msg_tokens, ntok);

  g_object_set (h->element, "frames-per-token", FPT, "hop", FPT, NULL);
  set_caps_fmt (h, AUDIO_CAPS_FMT, RATE, CHANNELS);
  fail_unless_equals_uint64 (gst_harness_query_latency (h),
      gst_util_uint64_scale_int (FPT - 1, GST_SECOND, RATE));

  collected_free (&c);
  ttt_destroy (m);
  g_free (x);
  g_free (exp);
  harness_free (h, bus);
}

GST_END_TEST;

static Suite *
bitttt_memory_suite (void)
{
  Suite *s = suite_create ("bitttt_memory");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_objective_multiview);
  tcase_add_test (tc, test_objective_multiview_residual_l2);
  tcase_add_test (tc, test_objective_next_forget);
  tcase_add_test (tc, test_objective_reconstruct_none_nlms);
  tcase_add_test (tc, test_objective_defaults);
  tcase_add_test (tc, test_invalid_combination);
  tcase_add_loop_test (tc, test_anomaly_meta, 0, 2);
  tcase_add_test (tc, test_anomaly_meta_absent_when_off);
  tcase_add_test (tc, test_anomaly_messages);
  tcase_add_test (tc, test_hop_analyser);
  tcase_add_test (tc, test_hop_passthrough_and_latency);
  tcase_add_test (tc, test_hop_equal_fpt);
  return s;
}

GST_CHECK_MAIN (bitttt_memory);
