/*
 * bitttt: a Bit-TTT layer as a GStreamer in-place filter.
 *
 * The element holds no maths: it cuts buffers into tokens, calls the engine
 * through <bitttt/bitttt.h> and reports what the engine says.
 */

/**
 * SECTION:element-bitttt
 * @title: bitttt
 *
 * Runs every token of the stream through a Bit-TTT layer (ternary
 * projections plus a small state matrix trained at test time) and writes the
 * layer's output over the input, in place. The layer learns from each token
 * as it passes; its per-token surprise (how badly it predicted the token) is
 * reported in `bitttt` element messages every #GstBitTTT:interval (buffers
 * are split at interval boundaries, as `level` does) and,
 * optionally, per buffer in a `GstBitTTTSurpriseMeta` custom meta.
 *
 * Two kinds of streams are accepted:
 *
 * * `other/tensors,format=static,num_tensors=1,types=float32,dimensions=D:N`
 *   (NNStreamer order: D floats per token, N tokens per buffer). Every
 *   buffer must hold a whole number of tokens.
 * * `audio/x-raw,format=F32LE,layout=interleaved`: a token is
 *   #GstBitTTT:frames-per-token consecutive frames, D = channels x
 *   frames-per-token (a multiple of 4). Buffers may have any length; the
 *   output is sample-exact (output sample i is input sample i, processed,
 *   and timestamped so), held back frames-per-token - 1 frames (reported
 *   as latency), at the input's level (#GstBitTTT:mix).
 *   With #GstBitTTT:hop other than frames-per-token the element is an
 *   analyser instead: the audio passes through unchanged and a token is a
 *   window of frames-per-token frames starting every hop frames.
 *
 * #GstBitTTT:objective, #GstBitTTT:feature-norm, #GstBitTTT:update,
 * #GstBitTTT:forget and #GstBitTTT:residual choose what the memory learns
 * (docs/MEMORY.md). With #GstBitTTT:anomaly the surprises are also turned
 * into anomaly scores in [0, 1] (docs/SPEC.md, "Anomaly score").
 * #GstBitTTT:weights-location replaces the seed-drawn projections with
 * those of a weight file, for example trained offline (docs/TRAINING.md).
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 audiotestsrc num-buffers=100 ! audio/x-raw,format=F32LE,channels=1,rate=16000 ! bitttt frames-per-token=64 ! fakesink
 * ]|
 * |[
 * gst-launch-1.0 -m filesrc location=tokens.f32 blocksize=12800 ! other/tensors,format=static,num_tensors=1,types=float32,dimensions=(string)64:50,framerate=(fraction)0/1 ! bitttt state-location=model.state ! fakesink
 * ]|
 * |[
 * gst-launch-1.0 -m filesrc location=tokens.f32 blocksize=12800 ! other/tensors,format=static,num_tensors=1,types=float32,dimensions=(string)64:50,framerate=(fraction)0/1 ! bitttt weights-location=trained.safetensors objective=next ! fakesink
 * ]|
 * |[
 * gst-launch-1.0 -m filesrc location=series.f32 ! audio/x-raw,format=F32LE,layout=interleaved,channels=1,rate=100 ! bitttt frames-per-token=32 hop=1 anomaly=true objective=multiview ! fakesink
 * ]|
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>
#ifdef G_OS_WIN32
#include <io.h>
#ifndef W_OK
#define W_OK 2
#endif
#else
#include <unistd.h>
#endif
#include <gst/audio/audio.h>
#include <bitttt/bitttt.h>

#include "gstbitttt.h"
#include "gstbitttt-audio.h"
#include "gstbitttt-meta.h"
#include "gstbitttt-stats.h"

GST_DEBUG_CATEGORY_STATIC (gst_bitttt_debug);
#define GST_CAT_DEFAULT gst_bitttt_debug

/* tokens per engine call when surprises go to the scratch array; the
 * scratch is allocated once per caps, never per buffer */
#define MAX_SCRATCH_TOKENS 4096
#define AUDIO_SCRATCH_TOKENS 256
/* floats of token copies kept for the range rule and of analyser windows
 * per engine call (at least one token) */
#define COPY_SCRATCH_FLOATS 65536

#define DEFAULT_HIDDEN_DIM 0
#define DEFAULT_INNER_LR TTT_DEFAULT_INNER_LR
#define DEFAULT_LEARNING TRUE
#define DEFAULT_SEED TTT_DEFAULT_SEED
#define DEFAULT_FRAMES_PER_TOKEN 1
#define DEFAULT_RESET_ON GST_BITTTT_RESET_ON_FLUSH
#define DEFAULT_STATE_LOCATION NULL
#define DEFAULT_WEIGHTS_LOCATION NULL
#define DEFAULT_POST_MESSAGES TRUE
#define DEFAULT_INTERVAL (100 * GST_MSECOND)
#define DEFAULT_SURPRISE_META FALSE
#define DEFAULT_OBJECTIVE GST_BITTTT_OBJECTIVE_RECONSTRUCT
#define DEFAULT_FEATURE_NORM GST_BITTTT_FEATURE_NORM_AUTO
#define DEFAULT_UPDATE GST_BITTTT_UPDATE_GRADIENT
#define DEFAULT_FORGET 0.0f
/* forget must stay below 1 (W <- (1 - forget) W - step) */
#define MAX_FORGET 0.999999f
#define DEFAULT_RESIDUAL FALSE
#define DEFAULT_ANOMALY FALSE
#define DEFAULT_ANOMALY_K TTT_ANOMALY_DEFAULT_K
#define DEFAULT_ANOMALY_RANGE_MARGIN 0.0f
#define DEFAULT_ANOMALY_SHORT_WINDOW 10
#define DEFAULT_ANOMALY_LONG_WINDOW 2000
#define DEFAULT_ANOMALY_REFIT_EVERY 100
#define DEFAULT_ANOMALY_HOLD 0
#define DEFAULT_HOP 0
#define DEFAULT_MIX 1.0

enum
{
  PROP_0,
  PROP_HIDDEN_DIM,
  PROP_INNER_LR,
  PROP_LEARNING,
  PROP_SEED,
  PROP_FRAMES_PER_TOKEN,
  PROP_RESET_ON,
  PROP_STATE_LOCATION,
  PROP_POST_MESSAGES,
  PROP_INTERVAL,
  PROP_SURPRISE_META,
  PROP_TOKENS_PROCESSED,
  PROP_TOKENS_SKIPPED,
  PROP_KERNEL,
  PROP_OBJECTIVE,
  PROP_FEATURE_NORM,
  PROP_UPDATE,
  PROP_FORGET,
  PROP_RESIDUAL,
  PROP_ANOMALY,
  PROP_ANOMALY_K,
  PROP_ANOMALY_RANGE_MARGIN,
  PROP_ANOMALY_SHORT_WINDOW,
  PROP_ANOMALY_LONG_WINDOW,
  PROP_ANOMALY_REFIT_EVERY,
  PROP_ANOMALY_HOLD,
  PROP_HOP,
  PROP_MIX,
  PROP_WEIGHTS_LOCATION,
};

enum
{
  SIGNAL_RESET,
  LAST_SIGNAL
};

static guint gst_bitttt_signals[LAST_SIGNAL];

struct _GstBitTTT
{
  GstBaseTransform parent;

  /* properties and what the application reads: under the object lock */
  guint hidden_dim;
  gfloat inner_lr;
  gboolean learning;
  guint64 seed;
  guint frames_per_token;
  GstBitTTTResetOn reset_on;
  gchar *state_location;
  gchar *weights_location;
  gboolean post_messages;
  guint64 interval;
  gboolean surprise_meta;
  gboolean reset_pending;
  guint64 tokens_processed;
  guint64 tokens_skipped;
  const gchar *kernel;
  GstClockTime latency;
  GstBitTTTObjective objective;
  GstBitTTTFeatureNorm feature_norm;
  GstBitTTTUpdate update;
  gfloat forget;
  gboolean residual;
  gboolean anomaly_on;
  gfloat anomaly_k;
  gfloat anomaly_range_margin;
  guint anomaly_short_window;
  guint anomaly_long_window;
  guint anomaly_refit_every;
  guint anomaly_hold;
  guint hop_prop;
  gdouble mix;

  /* streaming side: touched only with the stream lock held, or in
   * start/stop when no data flows */
  ttt_model *model;
  gsize dim;                    /* D: floats per token */
  gboolean is_audio;
  gint fps_n, fps_d;            /* tensors: the caps' framerate */
  gfloat applied_lr;
  gboolean applied_learning;
  gboolean dirty;               /* learned state not yet saved */
  gboolean discont_armed;       /* a DISCONT now means a real gap */

  ttt_anomaly *anomaly;         /* NULL unless anomaly=true */
  gfloat *scratch;              /* surprises, scratch_len tokens */
  gfloat *score_scratch;        /* anomaly scores, scratch_len tokens */
  gsize scratch_len;
  gboolean range_rule;          /* the scorer reads the tokens' values */
  gboolean mixing;              /* the delay line: output level and mix */
  gfloat applied_mix;           /* this buffer's mix */
  GstCaps *refused_caps;        /* caps set_caps failed on (said once) */
  gfloat *xcopy;                /* token input values (range rule, mix) */
  gsize xcopy_tokens;           /* 0: no copies */
  gfloat *surp, *score;         /* this buffer's meta arrays at the next
                                 * token; NULL without the meta */

  GstBitTTTAudio audio;         /* framing of audio streams */
  GstBitTTTStats stats;         /* this buffer's and this interval's */
};

#define TENSOR_CAPS \
  "other/tensors, format = (string) static, num_tensors = (int) 1, " \
  "types = (string) float32"
#define AUDIO_CAPS \
  "audio/x-raw, format = (string) F32LE, layout = (string) interleaved, " \
  "rate = (int) [ 1, MAX ], channels = (int) [ 1, MAX ]"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (TENSOR_CAPS "; " AUDIO_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (TENSOR_CAPS "; " AUDIO_CAPS));

#define gst_bitttt_parent_class parent_class
G_DEFINE_TYPE (GstBitTTT, gst_bitttt, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (bitttt, "bitttt", GST_RANK_NONE, GST_TYPE_BITTTT);

GType
gst_bitttt_reset_on_get_type (void)
{
  static GType type = 0;
  static const GFlagsValue values[] = {
    {GST_BITTTT_RESET_ON_FLUSH, "Reset on flush", "flush"},
    {GST_BITTTT_RESET_ON_STREAM_START, "Reset on stream-start",
        "stream-start"},
    {GST_BITTTT_RESET_ON_DISCONT, "Reset on a discontinuity", "discont"},
    {GST_BITTTT_RESET_ON_CAPS, "Reset on new caps", "caps"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type)) {
    GType t = g_flags_register_static ("GstBitTTTResetOn", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_bitttt_objective_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_BITTTT_OBJECTIVE_RECONSTRUCT, "Reconstruct the token's feature "
          "(the original)", "reconstruct"},
    {GST_BITTTT_OBJECTIVE_MULTIVIEW, "Map a key to a value from a second "
          "projection", "multiview"},
    {GST_BITTTT_OBJECTIVE_NEXT, "Predict the next token", "next"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstBitTTTObjective", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_bitttt_feature_norm_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_BITTTT_FEATURE_NORM_AUTO, "l2 for reconstruct, none otherwise",
        "auto"},
    {GST_BITTTT_FEATURE_NORM_L2, "Unit-length target (direction only)", "l2"},
    {GST_BITTTT_FEATURE_NORM_NONE, "Target keeps its magnitude", "none"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstBitTTTFeatureNorm", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_bitttt_update_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_BITTTT_UPDATE_GRADIENT, "Gradient step (the original)", "gradient"},
    {GST_BITTTT_UPDATE_NLMS, "Normalised LMS step", "nlms"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstBitTTTUpdate", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static void gst_bitttt_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_bitttt_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static void gst_bitttt_finalize (GObject * object);
static gboolean gst_bitttt_start (GstBaseTransform * trans);
static gboolean gst_bitttt_stop (GstBaseTransform * trans);
static gboolean gst_bitttt_set_caps (GstBaseTransform * trans,
    GstCaps * incaps, GstCaps * outcaps);
static gboolean gst_bitttt_sink_event (GstBaseTransform * trans,
    GstEvent * event);
static gboolean gst_bitttt_query (GstBaseTransform * trans,
    GstPadDirection direction, GstQuery * query);
static void gst_bitttt_before_transform (GstBaseTransform * trans,
    GstBuffer * buf);
static GstFlowReturn gst_bitttt_transform_ip (GstBaseTransform * trans,
    GstBuffer * buf);
static void gst_bitttt_reset_action (GstBitTTT * self);

static void
gst_bitttt_class_init (GstBitTTTClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  GST_DEBUG_CATEGORY_INIT (gst_bitttt_debug, "bitttt", 0,
      "Bit-TTT test-time-training layer");

  gobject_class->set_property = gst_bitttt_set_property;
  gobject_class->get_property = gst_bitttt_get_property;
  gobject_class->finalize = gst_bitttt_finalize;

  g_object_class_install_property (gobject_class, PROP_HIDDEN_DIM,
      g_param_spec_uint ("hidden-dim", "Hidden dim",
          "Floats per token the stream must have (0 = take it from the caps; "
          "otherwise caps with another token width fail to negotiate)",
          0, (guint) TTT_MAX_HIDDEN_DIM, DEFAULT_HIDDEN_DIM,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_INNER_LR,
      g_param_spec_float ("inner-lr", "Inner learning rate",
          "Step size of the test-time update of the state matrix; a change "
          "applies from the next buffer", 0.0f, 2.0f, DEFAULT_INNER_LR,
          rw | GST_PARAM_CONTROLLABLE | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_LEARNING,
      g_param_spec_boolean ("learning", "Learning",
          "Learn from every token (FALSE: the state is frozen, tokens are "
          "still transformed); a change applies from the next buffer",
          DEFAULT_LEARNING,
          rw | GST_PARAM_CONTROLLABLE | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed",
          "Seed of the ternary projections; a state file only loads into a "
          "model with the same seed", 0, G_MAXUINT64, DEFAULT_SEED,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_FRAMES_PER_TOKEN,
      g_param_spec_uint ("frames-per-token", "Frames per token",
          "Audio only: consecutive frames forming one token (token width = "
          "channels x frames-per-token, which must be a multiple of 4); "
          "frames-per-token - 1 frames are held back (latency; not in the "
          "analyser mode, see hop), the output keeps the input's length and "
          "timing",
          1, (guint) TTT_MAX_HIDDEN_DIM, DEFAULT_FRAMES_PER_TOKEN,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_RESET_ON,
      g_param_spec_flags ("reset-on", "Reset on",
          "Events on which the learned state is forgotten",
          GST_TYPE_BITTTT_RESET_ON, DEFAULT_RESET_ON,
          rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_STATE_LOCATION,
      g_param_spec_string ("state-location", "State location",
          "File holding the learned state: loaded when the model is created "
          "(if the file exists), saved atomically at EOS and on stop; its "
          "directory must exist and be writable (checked at start)",
          DEFAULT_STATE_LOCATION, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post a 'bitttt' element message with surprise statistics every "
          "interval", DEFAULT_POST_MESSAGES, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_INTERVAL,
      g_param_spec_uint64 ("interval", "Interval",
          "Stream time covered by each 'bitttt' message, in nanoseconds; "
          "buffers are split at interval boundaries (untimed buffers: one "
          "message each)",
          1, G_MAXUINT64, DEFAULT_INTERVAL, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_SURPRISE_META,
      g_param_spec_boolean ("surprise-meta", "Surprise meta",
          "Attach each buffer's per-token surprise as a custom meta named "
          "GstBitTTTSurpriseMeta (costs a few allocations per buffer)",
          DEFAULT_SURPRISE_META, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_OBJECTIVE,
      g_param_spec_enum ("objective", "Objective",
          "What the memory learns to predict (docs/MEMORY.md); read when "
          "the model is created", GST_TYPE_BITTTT_OBJECTIVE, DEFAULT_OBJECTIVE,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_FEATURE_NORM,
      g_param_spec_enum ("feature-norm", "Feature norm",
          "Whether the learned target keeps the token's magnitude; read "
          "when the model is created", GST_TYPE_BITTTT_FEATURE_NORM,
          DEFAULT_FEATURE_NORM, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_UPDATE,
      g_param_spec_enum ("update", "Update",
          "Learning step (objective=reconstruct with feature-norm=none needs "
          "nlms); read when the model is created", GST_TYPE_BITTTT_UPDATE,
          DEFAULT_UPDATE, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_FORGET,
      g_param_spec_float ("forget", "Forget",
          "Forgetting factor alpha: W <- (1 - alpha) W - step on every "
          "learned token (0 = never forget; must stay below 1); read when "
          "the model is created", 0.0f, MAX_FORGET, DEFAULT_FORGET,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_RESIDUAL,
      g_param_spec_boolean ("residual", "Residual",
          "objective=multiview only: predict value - key instead of value; "
          "read when the model is created", DEFAULT_RESIDUAL,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_ANOMALY,
      g_param_spec_boolean ("anomaly", "Anomaly",
          "Turn each token's surprise into an anomaly score in [0, 1] (about "
          "40 ns per token, more with the range rule), reported in the "
          "messages' 'anomaly' field and the meta's 'anomaly' bytes",
          DEFAULT_ANOMALY,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_ANOMALY_K,
      g_param_spec_float ("anomaly-k", "Anomaly K",
          "Calibration of the anomaly score: a = s / (s + K mean(s)), > 0",
          G_MINFLOAT, G_MAXFLOAT, DEFAULT_ANOMALY_K,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_ANOMALY_RANGE_MARGIN,
      g_param_spec_float ("anomaly-range-margin", "Anomaly range margin",
          "Score 1 for a token holding a value outside the range seen so "
          "far widened by this fraction of it (0 = off)", 0.0f, G_MAXFLOAT,
          DEFAULT_ANOMALY_RANGE_MARGIN, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_ANOMALY_SHORT_WINDOW,
      g_param_spec_uint ("anomaly-short-window", "Anomaly short window",
          "Tokens whose calibrated surprise is averaged before scoring "
          "(1 scores each token alone, so a single spike counts)",
          1, TTT_ANOMALY_MAX_WINDOW, DEFAULT_ANOMALY_SHORT_WINDOW,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_ANOMALY_LONG_WINDOW,
      g_param_spec_uint ("anomaly-long-window", "Anomaly long window",
          "Short averages the likelihood's Gaussian is fitted to: the "
          "history an anomaly is judged against",
          1, TTT_ANOMALY_MAX_WINDOW, DEFAULT_ANOMALY_LONG_WINDOW,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_ANOMALY_REFIT_EVERY,
      g_param_spec_uint ("anomaly-refit-every", "Anomaly refit every",
          "Tokens between two fits of the Gaussian; also the warm-up before "
          "the first score, when shorter than anomaly-long-window",
          1, G_MAXUINT, DEFAULT_ANOMALY_REFIT_EVERY,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_ANOMALY_HOLD,
      g_param_spec_uint ("anomaly-hold", "Anomaly hold",
          "Burst suppression: a token's score is 0 unless it is above the "
          "scores of the previous anomaly-hold tokens (0 = off)",
          0, TTT_ANOMALY_MAX_WINDOW, DEFAULT_ANOMALY_HOLD,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_HOP,
      g_param_spec_uint ("hop", "Hop",
          "Audio only, ignored for tensors: frames between the starts of two "
          "tokens (0 = frames-per-token). Any other value than "
          "frames-per-token makes the element an analyser: the audio passes "
          "through unchanged and every hop frames a window of "
          "frames-per-token frames is scored",
          0, G_MAXINT, DEFAULT_HOP, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_MIX,
      g_param_spec_double ("mix", "Mix",
          "Audio only, not the analyser: dry/wet balance of the output. The "
          "layer's output token is scaled to the energy of its input token, "
          "capped at its peak (so the level never rises and nothing clips "
          "that did not), then out = (1 - mix) x input + mix x that; 0 = "
          "the input unchanged",
          0.0, 1.0, DEFAULT_MIX,
          rw | GST_PARAM_CONTROLLABLE | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_WEIGHTS_LOCATION,
      g_param_spec_string ("weights-location", "Weights location",
          "Weight file (safetensors, docs/SPEC.md \"Weight file\") with the "
          "projections, loaded when the model is created; its shape, "
          "objective, feature-norm and residual must match. NULL: "
          "projections drawn from the seed",
          DEFAULT_WEIGHTS_LOCATION, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_TOKENS_PROCESSED,
      g_param_spec_uint64 ("tokens-processed", "Tokens processed",
          "Tokens run through the layer since the element started",
          0, G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_TOKENS_SKIPPED,
      g_param_spec_uint64 ("tokens-skipped", "Tokens skipped",
          "Tokens holding NaN or Inf since the element started: passed "
          "through unchanged and not learned",
          0, G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_KERNEL,
      g_param_spec_string ("kernel", "Kernel",
          "Kernels the engine chose for this CPU and shape: one table, or "
          "the table per slot, e.g. \"tgemm=avx512-vnni quantize_block=avx2 ...\" "
          "(NULL before caps)",
          NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * GstBitTTT::reset:
   *
   * Forget everything learned. Thread-safe: the streaming thread applies it
   * before the next buffer.
   */
  gst_bitttt_signals[SIGNAL_RESET] = g_signal_new_class_handler ("reset",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
      G_CALLBACK (gst_bitttt_reset_action), NULL, NULL, NULL, G_TYPE_NONE, 0);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "Bit-TTT test-time-training layer", "Filter/Analyzer/Audio",
      "Runs each token (a float32 tensor row or a group of audio frames) "
      "through a ternary Bit-TTT layer that learns while it plays, and "
      "reports per-token surprise", "Bit-TTT developers");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_bitttt_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_bitttt_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_bitttt_set_caps);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_bitttt_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_bitttt_query);
  trans_class->before_transform =
      GST_DEBUG_FUNCPTR (gst_bitttt_before_transform);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_bitttt_transform_ip);

  gst_type_mark_as_plugin_api (GST_TYPE_BITTTT_RESET_ON, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_BITTTT_OBJECTIVE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_BITTTT_FEATURE_NORM, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_BITTTT_UPDATE, 0);
}

static void
gst_bitttt_init (GstBitTTT * self)
{
  self->hidden_dim = DEFAULT_HIDDEN_DIM;
  self->inner_lr = DEFAULT_INNER_LR;
  self->learning = DEFAULT_LEARNING;
  self->seed = DEFAULT_SEED;
  self->frames_per_token = DEFAULT_FRAMES_PER_TOKEN;
  self->reset_on = DEFAULT_RESET_ON;
  self->state_location = g_strdup (DEFAULT_STATE_LOCATION);
  self->post_messages = DEFAULT_POST_MESSAGES;
  self->interval = DEFAULT_INTERVAL;
  self->surprise_meta = DEFAULT_SURPRISE_META;
  self->objective = DEFAULT_OBJECTIVE;
  self->feature_norm = DEFAULT_FEATURE_NORM;
  self->update = DEFAULT_UPDATE;
  self->forget = DEFAULT_FORGET;
  self->residual = DEFAULT_RESIDUAL;
  self->anomaly_on = DEFAULT_ANOMALY;
  self->anomaly_k = DEFAULT_ANOMALY_K;
  self->anomaly_range_margin = DEFAULT_ANOMALY_RANGE_MARGIN;
  self->anomaly_short_window = DEFAULT_ANOMALY_SHORT_WINDOW;
  self->anomaly_long_window = DEFAULT_ANOMALY_LONG_WINDOW;
  self->anomaly_refit_every = DEFAULT_ANOMALY_REFIT_EVERY;
  self->anomaly_hold = DEFAULT_ANOMALY_HOLD;
  self->hop_prop = DEFAULT_HOP;
  self->mix = DEFAULT_MIX;
  gst_bitttt_stats_init (&self->stats, GST_ELEMENT (self));

  /* the engine writes its output over its input: never pass through */
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), FALSE);
}

static void
gst_bitttt_free_arrays (GstBitTTT * self)
{
  g_clear_pointer (&self->scratch, g_free);
  g_clear_pointer (&self->score_scratch, g_free);
  g_clear_pointer (&self->xcopy, g_free);
  self->scratch_len = 0;
  self->xcopy_tokens = 0;
  self->mixing = FALSE;
  gst_bitttt_audio_free (&self->audio);
}

static void
gst_bitttt_finalize (GObject * object)
{
  GstBitTTT *self = GST_BITTTT (object);

  ttt_destroy (self->model);
  ttt_anomaly_destroy (self->anomaly);
  gst_bitttt_free_arrays (self);
  gst_caps_replace (&self->refused_caps, NULL);
  g_free (self->state_location);
  g_free (self->weights_location);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_bitttt_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstBitTTT *self = GST_BITTTT (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_HIDDEN_DIM:
      self->hidden_dim = g_value_get_uint (value);
      break;
    case PROP_INNER_LR:
      self->inner_lr = g_value_get_float (value);
      break;
    case PROP_LEARNING:
      self->learning = g_value_get_boolean (value);
      break;
    case PROP_SEED:
      self->seed = g_value_get_uint64 (value);
      break;
    case PROP_FRAMES_PER_TOKEN:
      self->frames_per_token = g_value_get_uint (value);
      break;
    case PROP_RESET_ON:
      self->reset_on = g_value_get_flags (value);
      break;
    case PROP_STATE_LOCATION:
      g_free (self->state_location);
      self->state_location = g_value_dup_string (value);
      break;
    case PROP_POST_MESSAGES:
      self->post_messages = g_value_get_boolean (value);
      break;
    case PROP_INTERVAL:
      self->interval = g_value_get_uint64 (value);
      break;
    case PROP_SURPRISE_META:
      self->surprise_meta = g_value_get_boolean (value);
      break;
    case PROP_OBJECTIVE:
      self->objective = g_value_get_enum (value);
      break;
    case PROP_FEATURE_NORM:
      self->feature_norm = g_value_get_enum (value);
      break;
    case PROP_UPDATE:
      self->update = g_value_get_enum (value);
      break;
    case PROP_FORGET:
      self->forget = g_value_get_float (value);
      break;
    case PROP_RESIDUAL:
      self->residual = g_value_get_boolean (value);
      break;
    case PROP_ANOMALY:
      self->anomaly_on = g_value_get_boolean (value);
      break;
    case PROP_ANOMALY_K:
      self->anomaly_k = g_value_get_float (value);
      break;
    case PROP_ANOMALY_RANGE_MARGIN:
      self->anomaly_range_margin = g_value_get_float (value);
      break;
    case PROP_ANOMALY_SHORT_WINDOW:
      self->anomaly_short_window = g_value_get_uint (value);
      break;
    case PROP_ANOMALY_LONG_WINDOW:
      self->anomaly_long_window = g_value_get_uint (value);
      break;
    case PROP_ANOMALY_REFIT_EVERY:
      self->anomaly_refit_every = g_value_get_uint (value);
      break;
    case PROP_ANOMALY_HOLD:
      self->anomaly_hold = g_value_get_uint (value);
      break;
    case PROP_HOP:
      self->hop_prop = g_value_get_uint (value);
      break;
    case PROP_MIX:
      self->mix = g_value_get_double (value);
      break;
    case PROP_WEIGHTS_LOCATION:
      g_free (self->weights_location);
      self->weights_location = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_bitttt_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstBitTTT *self = GST_BITTTT (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_HIDDEN_DIM:
      g_value_set_uint (value, self->hidden_dim);
      break;
    case PROP_INNER_LR:
      g_value_set_float (value, self->inner_lr);
      break;
    case PROP_LEARNING:
      g_value_set_boolean (value, self->learning);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, self->seed);
      break;
    case PROP_FRAMES_PER_TOKEN:
      g_value_set_uint (value, self->frames_per_token);
      break;
    case PROP_RESET_ON:
      g_value_set_flags (value, self->reset_on);
      break;
    case PROP_STATE_LOCATION:
      g_value_set_string (value, self->state_location);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, self->post_messages);
      break;
    case PROP_INTERVAL:
      g_value_set_uint64 (value, self->interval);
      break;
    case PROP_SURPRISE_META:
      g_value_set_boolean (value, self->surprise_meta);
      break;
    case PROP_OBJECTIVE:
      g_value_set_enum (value, self->objective);
      break;
    case PROP_FEATURE_NORM:
      g_value_set_enum (value, self->feature_norm);
      break;
    case PROP_UPDATE:
      g_value_set_enum (value, self->update);
      break;
    case PROP_FORGET:
      g_value_set_float (value, self->forget);
      break;
    case PROP_RESIDUAL:
      g_value_set_boolean (value, self->residual);
      break;
    case PROP_ANOMALY:
      g_value_set_boolean (value, self->anomaly_on);
      break;
    case PROP_ANOMALY_K:
      g_value_set_float (value, self->anomaly_k);
      break;
    case PROP_ANOMALY_RANGE_MARGIN:
      g_value_set_float (value, self->anomaly_range_margin);
      break;
    case PROP_ANOMALY_SHORT_WINDOW:
      g_value_set_uint (value, self->anomaly_short_window);
      break;
    case PROP_ANOMALY_LONG_WINDOW:
      g_value_set_uint (value, self->anomaly_long_window);
      break;
    case PROP_ANOMALY_REFIT_EVERY:
      g_value_set_uint (value, self->anomaly_refit_every);
      break;
    case PROP_ANOMALY_HOLD:
      g_value_set_uint (value, self->anomaly_hold);
      break;
    case PROP_HOP:
      g_value_set_uint (value, self->hop_prop);
      break;
    case PROP_MIX:
      g_value_set_double (value, self->mix);
      break;
    case PROP_WEIGHTS_LOCATION:
      g_value_set_string (value, self->weights_location);
      break;
    case PROP_TOKENS_PROCESSED:
      g_value_set_uint64 (value, self->tokens_processed);
      break;
    case PROP_TOKENS_SKIPPED:
      g_value_set_uint64 (value, self->tokens_skipped);
      break;
    case PROP_KERNEL:
      g_value_set_string (value, self->kernel);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_bitttt_reset_action (GstBitTTT * self)
{
  GST_OBJECT_LOCK (self);
  self->reset_pending = TRUE;
  GST_OBJECT_UNLOCK (self);
}

/* ---- streaming side ---------------------------------------------------- */

static void
gst_bitttt_reset_model (GstBitTTT * self, const gchar * why)
{
  int err;

  if (self->model == NULL)
    return;
  GST_DEBUG_OBJECT (self, "resetting the learned state (%s)", why);
  err = ttt_reset (self->model);
  if (err == TTT_OK && self->anomaly != NULL)
    err = ttt_anomaly_reset (self->anomaly);
  if (err != TTT_OK)
    GST_ELEMENT_WARNING (self, LIBRARY, FAILED,
        ("Could not reset the Bit-TTT state: %s", ttt_strerror (err)), (NULL));
  self->dirty = TRUE;
}

static gboolean
gst_bitttt_save_state (GstBitTTT * self)
{
  gchar *path;
  int err = TTT_OK;

  GST_OBJECT_LOCK (self);
  path = g_strdup (self->state_location);
  GST_OBJECT_UNLOCK (self);

  if (path != NULL && self->model != NULL) {
    err = ttt_state_save_file (self->model, path);
    if (err == TTT_OK) {
      self->dirty = FALSE;
      GST_INFO_OBJECT (self, "saved the learned state to %s", path);
    } else {
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
          ("Could not save the Bit-TTT state to \"%s\": %s", path,
              ttt_strerror (err)), (NULL));
    }
  }
  g_free (path);
  return err == TTT_OK;
}

/* Whether the state can be saved to path: its directory exists and is
 * writable, and path is not itself a directory (the save writes a
 * temporary file there and renames it). Otherwise posts an error naming
 * the problem: a run must not learn for hours and then fail to save. */
static gboolean
gst_bitttt_check_state_location (GstBitTTT * self, const gchar * path)
{
  gchar *dir = g_path_get_dirname (path);
  const gchar *problem = NULL;
  gchar *detail = NULL;

  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    problem = "it is a directory";
  else if (!g_file_test (dir, G_FILE_TEST_EXISTS))
    detail = g_strdup_printf ("directory \"%s\" does not exist", dir);
  else if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    detail = g_strdup_printf ("\"%s\" is not a directory", dir);
  else if (g_access (dir, W_OK) != 0)
    detail = g_strdup_printf ("directory \"%s\" is not writable: %s", dir,
        g_strerror (errno));
  if (problem != NULL || detail != NULL)
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
        ("Cannot save the Bit-TTT state to \"%s\": %s", path,
            problem ? problem : detail), (NULL));
  g_free (detail);
  g_free (dir);
  return problem == NULL && detail == NULL;
}

/* Pushes the audio still held in the delay line (see
 * gst_bitttt_audio_drain). */
static GstFlowReturn
gst_bitttt_drain (GstBitTTT * self)
{
  GstBuffer *buf = self->is_audio ? gst_bitttt_audio_drain (&self->audio)
      : NULL;

  if (buf == NULL)
    return GST_FLOW_OK;
  GST_DEBUG_OBJECT (self, "draining %" G_GSIZE_FORMAT " bytes",
      gst_buffer_get_size (buf));
  return gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (self), buf);
}

/* Parses NNStreamer's "D:N[:...]" into D and the tokens per buffer (the
 * product of the outer dimensions). */
static gboolean
parse_dimensions (const gchar * str, gsize * dim, gsize * tokens)
{
  gchar **parts = g_strsplit (str, ":", -1);
  guint i, n = g_strv_length (parts);
  gboolean ok = n >= 1 && n <= 16;
  guint64 prod = 1;

  for (i = 0; ok && i < n; i++) {
    guint64 v;
    ok = g_ascii_string_to_unsigned (g_strstrip (parts[i]), 10, 1,
        G_MAXUINT32, &v, NULL);
    if (ok && i == 0)
      *dim = v;
    else if (ok) {
      prod *= v;
      ok = prod <= G_MAXUINT32;
    }
  }
  *tokens = prod;
  g_strfreev (parts);
  return ok;
}

/* The engine's side arrays, sized for these caps: nothing is allocated
 * per buffer unless the meta is on. copy: the tokens' input values are
 * needed after the engine ran (the audio mix). Returns how many tokens
 * one engine call may copy aside (range rule, mix, analyser windows). */
static gsize
gst_bitttt_alloc_arrays (GstBitTTT * self, gsize scratch_len, gboolean copy)
{
  const gsize per_call = MIN (MAX (COPY_SCRATCH_FLOATS / self->dim, 1),
      scratch_len);
  const gsize xcopy_tokens = self->range_rule || copy ? per_call : 0;

  if (scratch_len != self->scratch_len) {
    g_free (self->scratch);
    g_free (self->score_scratch);
    self->scratch = g_new (gfloat, scratch_len);
    self->score_scratch = g_new (gfloat, scratch_len);
    self->scratch_len = scratch_len;
  }
  g_free (self->xcopy);
  self->xcopy = xcopy_tokens ? g_new (gfloat, xcopy_tokens * self->dim) : NULL;
  self->xcopy_tokens = xcopy_tokens;
  return per_call;
}

static const gchar *
enum_nick (GType type, gint value)
{
  GEnumClass *klass = g_type_class_ref (type);
  GEnumValue *v = g_enum_get_value (klass, value);
  const gchar *nick = v ? v->value_nick : "?";

  /* registered statically: the nick outlives the class reference */
  g_type_class_unref (klass);
  return nick;
}

/* Which rule of docs/SPEC.md ("Objectives") a configuration breaks, if it
 * is one the element knows of; the engine only says "invalid argument". */
static const gchar *
config_rule (const ttt_config * cfg)
{
  if (cfg->residual && cfg->objective != TTT_OBJECTIVE_MULTIVIEW)
    return "residual is only defined for objective=multiview";
  if (cfg->objective == TTT_OBJECTIVE_RECONSTRUCT &&
      cfg->feature_norm == TTT_FEATURE_NORM_NONE &&
      cfg->update != TTT_UPDATE_NLMS)
    return "objective=reconstruct with feature-norm=none needs update=nlms "
        "(its keys have a magnitude, so the gradient step is not stable)";
  return "rejected by the engine";
}

/* The settings read when a model is made (NULL or READY properties). */
static void
gst_bitttt_read_settings (GstBitTTT * self, ttt_config * cfg,
    ttt_anomaly_config * acfg, gboolean * anomaly)
{
  ttt_config_default (cfg);
  ttt_anomaly_config_default (acfg);
  GST_OBJECT_LOCK (self);
  cfg->hidden_dim = self->dim;
  cfg->inner_lr = self->inner_lr;
  cfg->learning = self->learning;
  cfg->seed = self->seed;
  cfg->objective = (uint32_t) self->objective;
  cfg->feature_norm = (uint32_t) self->feature_norm;
  cfg->update = (uint32_t) self->update;
  cfg->forget = self->forget;
  cfg->residual = self->residual ? 1 : 0;
  *anomaly = self->anomaly_on;
  acfg->k = self->anomaly_k;
  acfg->range_margin = self->anomaly_range_margin;
  acfg->short_window = self->anomaly_short_window;
  acfg->long_window = self->anomaly_long_window;
  acfg->refit_every = self->anomaly_refit_every;
  acfg->hold = self->anomaly_hold;
  GST_OBJECT_UNLOCK (self);
}

/* The engine's model and (with anomaly) scorer for these settings; the
 * engine is the judge of which settings are valid, the element only names
 * the rule. */
static gboolean
gst_bitttt_new_engine (GstBitTTT * self, const ttt_config * cfg,
    const ttt_anomaly_config * acfg, gboolean anomaly, ttt_model ** model,
    ttt_anomaly ** scorer)
{
  int err = ttt_create_ex (cfg, model);

  *scorer = NULL;
  if (err == TTT_ERR_INVALID_ARG) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("Invalid Bit-TTT configuration objective=%s feature-norm=%s "
            "update=%s forget=%g residual=%s: %s",
            enum_nick (GST_TYPE_BITTTT_OBJECTIVE, (gint) cfg->objective),
            enum_nick (GST_TYPE_BITTTT_FEATURE_NORM, (gint) cfg->feature_norm),
            enum_nick (GST_TYPE_BITTTT_UPDATE, (gint) cfg->update),
            cfg->forget, cfg->residual ? "true" : "false", config_rule (cfg)),
        ("inner-lr %g", cfg->inner_lr));
    return FALSE;
  }
  if (err != TTT_OK) {
    GST_ELEMENT_ERROR (self, LIBRARY, INIT,
        ("Could not create a Bit-TTT model with hidden dim %" G_GSIZE_FORMAT
            ": %s", (gsize) cfg->hidden_dim, ttt_strerror (err)), (NULL));
    return FALSE;
  }
  if (anomaly) {
    err = ttt_anomaly_create (acfg, scorer);
    if (err != TTT_OK) {
      GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
          ("Could not create the anomaly scorer (anomaly-k=%g "
              "anomaly-range-margin=%g): %s", acfg->k, acfg->range_margin,
              ttt_strerror (err)), (NULL));
      g_clear_pointer (model, ttt_destroy);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
gst_bitttt_create_model (GstBitTTT * self, gboolean load)
{
  ttt_config cfg;
  ttt_anomaly_config acfg;
  gboolean anomaly;
  gchar *path, *weights;
  int err;

  gst_bitttt_read_settings (self, &cfg, &acfg, &anomaly);
  GST_OBJECT_LOCK (self);
  path = load ? g_strdup (self->state_location) : NULL;
  weights = g_strdup (self->weights_location);
  GST_OBJECT_UNLOCK (self);

  /* again: state-location may have been set after start */
  if (path != NULL && !gst_bitttt_check_state_location (self, path)) {
    g_free (path);
    return FALSE;
  }
  /* the scorer lives and resets with the model: its history describes
   * this model's surprises */
  g_clear_pointer (&self->anomaly, ttt_anomaly_destroy);
  if (!gst_bitttt_new_engine (self, &cfg, &acfg, anomaly, &self->model,
          &self->anomaly))
    goto failed;
  /* before the state: a state records the projections it was learned with */
  if (weights != NULL && *weights != '\0') {
    err = ttt_load_weights (self->model, weights);
    if (err != TTT_OK) {
      /* never silently fall back to seed-drawn projections */
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          ("Could not load the Bit-TTT weights from \"%s\": %s", weights,
              ttt_strerror (err)),
          ("the model has hidden dim %" G_GSIZE_FORMAT ", objective=%s "
              "feature-norm=%s residual=%s", self->dim,
              enum_nick (GST_TYPE_BITTTT_OBJECTIVE, (gint) cfg.objective),
              enum_nick (GST_TYPE_BITTTT_FEATURE_NORM,
                  (gint) cfg.feature_norm), cfg.residual ? "true" : "false"));
      goto failed;
    }
    GST_INFO_OBJECT (self, "loaded the projections from %s", weights);
  }
  /* the token copies follow the scorer, not the property: that one is
   * read under the lock and may change before the next caps */
  self->range_rule = anomaly && acfg.range_margin > 0.0f;
  self->stats.anomaly = anomaly;
  self->applied_lr = cfg.inner_lr;
  self->applied_learning = cfg.learning;
  self->dirty = FALSE;
  self->discont_armed = FALSE;

  if (path != NULL && g_file_test (path, G_FILE_TEST_EXISTS)) {
    err = ttt_state_load_file (self->model, path);
    if (err != TTT_OK) {
      /* never silently start from scratch: the next save would overwrite
       * whatever the user meant to continue from */
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          ("Could not load the Bit-TTT state from \"%s\": %s", path,
              ttt_strerror (err)), (NULL));
      goto failed;
    }
    GST_INFO_OBJECT (self, "loaded the learned state from %s", path);
  }
  g_free (path);
  g_free (weights);

  GST_OBJECT_LOCK (self);
  self->kernel = ttt_get_kernel_name (self->model);
  GST_OBJECT_UNLOCK (self);
  return TRUE;

failed:
  g_clear_pointer (&self->model, ttt_destroy);
  g_clear_pointer (&self->anomaly, ttt_anomaly_destroy);
  g_free (path);
  g_free (weights);
  return FALSE;
}

/* D (and tensor tokens per buffer) for a caps structure whose channels or
 * dimensions are fixed, under these settings; post: say why not, as an
 * error. */
static gboolean
gst_bitttt_token_width (GstBitTTT * self, const GstStructure * s, guint fpt,
    guint want_dim, gboolean post, gsize * dim, gsize * tokens)
{
  *tokens = 1;
  if (gst_structure_has_name (s, "audio/x-raw")) {
    gint channels = 0;

    gst_structure_get_int (s, "channels", &channels);
    *dim = (gsize) channels *fpt;
    if (*dim % 4 != 0 || *dim > TTT_MAX_HIDDEN_DIM) {
      if (post)
        GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
            ("Token width %d channels x %u frames-per-token = %"
                G_GSIZE_FORMAT " is not a multiple of 4 between 4 and %u: "
                "change frames-per-token", channels, fpt, *dim,
                (guint) TTT_MAX_HIDDEN_DIM), (NULL));
      return FALSE;
    }
  } else {
    const gchar *dims = gst_structure_get_string (s, "dimensions");

    if (dims == NULL || !parse_dimensions (dims, dim, tokens)) {
      if (post)
        GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
            ("Tensor caps need a dimensions string \"D:N\" (e.g. "
                "dimensions=(string)64:50), got \"%s\"",
                dims ? dims : "(none)"), ("%" GST_PTR_FORMAT, s));
      return FALSE;
    }
    if (*dim < 4 || *dim % 4 != 0 || *dim > TTT_MAX_HIDDEN_DIM) {
      if (post)
        GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
            ("Tensor token width %" G_GSIZE_FORMAT " is not a multiple of 4 "
                "between 4 and %u", *dim, (guint) TTT_MAX_HIDDEN_DIM),
            (NULL));
      return FALSE;
    }
  }
  if (want_dim != 0 && want_dim != *dim) {
    if (post)
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
          ("hidden-dim is %u but the caps give tokens of %" G_GSIZE_FORMAT
              " floats", want_dim, *dim), ("%" GST_PTR_FORMAT, s));
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_bitttt_configure (GstBitTTT * self, GstCaps * incaps)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  GstStructure *s = gst_caps_get_structure (incaps, 0);
  gboolean is_audio = gst_structure_has_name (s, "audio/x-raw");
  guint want_dim, fpt, hop;
  gboolean restart;
  GstBitTTTResetOn reset_on;
  gsize dim = 0, tokens = 1, scratch_len, per_call;
  gint rate = 0, channels = 0, fps_n = 0, fps_d = 1;
  GstClockTime latency = 0, old_latency;

  GST_OBJECT_LOCK (self);
  want_dim = self->hidden_dim;
  fpt = self->frames_per_token;
  hop = self->hop_prop ? self->hop_prop : fpt;
  reset_on = self->reset_on;
  GST_OBJECT_UNLOCK (self);

  if (is_audio) {
    GstAudioInfo info;

    if (!gst_audio_info_from_caps (&info, incaps)) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
          ("Invalid audio caps"), ("%" GST_PTR_FORMAT, incaps));
      return FALSE;
    }
    rate = GST_AUDIO_INFO_RATE (&info);
    channels = GST_AUDIO_INFO_CHANNELS (&info);
  }
  if (!gst_bitttt_token_width (self, s, fpt, want_dim, TRUE, &dim, &tokens))
    return FALSE;

  if (is_audio) {
    scratch_len = AUDIO_SCRATCH_TOKENS;
    /* the analyser (hop != fpt) copies its windows: nothing is held back */
    if (hop == fpt)
      latency = gst_util_uint64_scale_int (fpt - 1, GST_SECOND, rate);
  } else {
    if (!gst_structure_get_fraction (s, "framerate", &fps_n, &fps_d)) {
      fps_n = 0;
      fps_d = 1;
    }
    scratch_len = MIN (tokens, MAX_SCRATCH_TOKENS);
  }

  /* audio held under the old format must leave before the format changes;
   * the analyser's history is only valid in the same format (tensor caps
   * leave no audio shape behind) */
  restart = !is_audio
      || !gst_bitttt_audio_matches (&self->audio, rate, channels, fpt, hop);
  if (self->is_audio && restart)
    gst_bitttt_drain (self);

  if (self->model != NULL && dim == self->dim) {
    if (reset_on & GST_BITTTT_RESET_ON_CAPS)
      gst_bitttt_reset_model (self, "caps");
  } else {
    gboolean first = self->model == NULL;

    if (!first) {
      GST_ELEMENT_WARNING (self, STREAM, FORMAT,
          ("Token width changed from %" G_GSIZE_FORMAT " to %" G_GSIZE_FORMAT
              " floats: starting a fresh model (state not loaded)",
              self->dim, dim), (NULL));
      g_clear_pointer (&self->model, ttt_destroy);
    }
    self->dim = dim;
    /* a state file describes one shape: it is only loaded into the model
     * made for the first caps */
    if (!gst_bitttt_create_model (self, first))
      return FALSE;
  }

  self->is_audio = is_audio;
  self->fps_n = fps_n;
  self->fps_d = fps_d;
  self->mixing = is_audio && hop == fpt;
  per_call = gst_bitttt_alloc_arrays (self, scratch_len, self->mixing);
  if (is_audio)
    gst_bitttt_audio_configure (&self->audio, rate, channels, fpt, hop,
        per_call);
  else
    gst_bitttt_audio_free (&self->audio);
  if (!self->audio.analyser)
    gst_base_transform_set_passthrough (trans, FALSE);

  GST_OBJECT_LOCK (self);
  old_latency = self->latency;
  self->latency = latency;
  GST_OBJECT_UNLOCK (self);
  if (latency != old_latency)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));

  GST_INFO_OBJECT (self, "D=%" G_GSIZE_FORMAT " (%s%s), kernel %s", dim,
      is_audio ? "audio" : "tensor", self->audio.analyser ? ", analyser" : "",
      ttt_get_kernel_name (self->model));
  return TRUE;
}

/* GstBaseTransform tries caps it could not set again with every buffer:
 * caps refused once are refused again without a second error message. */
static gboolean
gst_bitttt_set_caps (GstBaseTransform * trans, GstCaps * incaps,
    GstCaps * outcaps)
{
  GstBitTTT *self = GST_BITTTT (trans);

  (void) outcaps;               /* identical to incaps: same caps on both pads */
  if (self->refused_caps != NULL &&
      gst_caps_is_equal (incaps, self->refused_caps))
    return FALSE;
  if (gst_bitttt_configure (self, incaps)) {
    gst_caps_replace (&self->refused_caps, NULL);
    return TRUE;
  }
  gst_caps_replace (&self->refused_caps, incaps);
  return FALSE;
}

/* Settings errors belong to the state change, not to the first caps:
 * gst-launch-1.0 1.22 misses an error posted while the pipeline prerolls
 * if it comes before its main loop runs, and then waits forever (a race
 * between its bus sync handler's g_main_loop_quit() and g_main_loop_run();
 * docs/element.md, "Errors"). Whatever start can already judge fails
 * here, in the caller's set_state.
 *
 * The token width, when upstream has already fixed it (a capsfilter before
 * the element, fixed tensor dimensions): refused if every structure
 * upstream offers is refused; known (dim) if upstream offers just one.
 * Caps left open are judged at negotiation. */
static gboolean
gst_bitttt_check_upstream (GstBitTTT * self, gsize * known_dim)
{
  GstPad *sinkpad = GST_BASE_TRANSFORM_SINK_PAD (self);
  GstCaps *templ = gst_pad_get_pad_template_caps (sinkpad);
  GstCaps *caps = gst_pad_peer_query_caps (sinkpad, templ);
  guint i, n = gst_caps_is_any (caps) ? 0 : gst_caps_get_size (caps);
  guint fpt, want_dim;
  gsize dim, tokens;
  gboolean ok = n == 0;

  GST_OBJECT_LOCK (self);
  fpt = self->frames_per_token;
  want_dim = self->hidden_dim;
  GST_OBJECT_UNLOCK (self);
  *known_dim = 0;
  for (i = 0; !ok && i < n; i++) {
    const GstStructure *s = gst_caps_get_structure (caps, i);
    gboolean fixed = gst_structure_has_name (s, "audio/x-raw") ?
        gst_structure_get_field_type (s, "channels") == G_TYPE_INT :
        gst_structure_get_field_type (s, "dimensions") == G_TYPE_STRING;

    ok = !fixed || gst_bitttt_token_width (self, s, fpt, want_dim, FALSE,
        &dim, &tokens);
    if (ok && fixed && n == 1)
      *known_dim = dim;
  }
  if (!ok) {
    GST_DEBUG_OBJECT (self, "upstream offers only %" GST_PTR_FORMAT, caps);
    gst_bitttt_token_width (self, gst_caps_get_structure (caps, 0), fpt,
        want_dim, TRUE, &dim, &tokens);
  }
  gst_caps_unref (caps);
  gst_caps_unref (templ);
  return ok;
}

/* With the width known, the whole model is made once and dropped (weights
 * and state file read, as for the caps); the stream's model is still made
 * for the caps. Without it, the settings alone: the engine's rules on them
 * do not depend on the width. */
static gboolean
gst_bitttt_check_settings (GstBitTTT * self, gsize dim)
{
  ttt_config cfg;
  ttt_anomaly_config acfg;
  gboolean anomaly, ok;
  ttt_model *model;
  ttt_anomaly *scorer;

  if (dim != 0) {
    self->dim = dim;
    ok = gst_bitttt_create_model (self, TRUE);
    g_clear_pointer (&self->model, ttt_destroy);
    g_clear_pointer (&self->anomaly, ttt_anomaly_destroy);
    GST_OBJECT_LOCK (self);
    self->kernel = NULL;
    GST_OBJECT_UNLOCK (self);
    return ok;
  }
  gst_bitttt_read_settings (self, &cfg, &acfg, &anomaly);
  cfg.hidden_dim = 4;
  if (!gst_bitttt_new_engine (self, &cfg, &acfg, anomaly, &model, &scorer))
    return FALSE;
  ttt_destroy (model);
  ttt_anomaly_destroy (scorer);
  return TRUE;
}

static gboolean
gst_bitttt_start (GstBaseTransform * trans)
{
  GstBitTTT *self = GST_BITTTT (trans);
  gchar *path;
  gboolean ok = TRUE;
  gsize dim;

  GST_OBJECT_LOCK (self);
  path = g_strdup (self->state_location);
  GST_OBJECT_UNLOCK (self);
  if (path != NULL)
    ok = gst_bitttt_check_state_location (self, path);
  g_free (path);
  if (!ok || !gst_bitttt_check_upstream (self, &dim)
      || !gst_bitttt_check_settings (self, dim))
    return FALSE;
  gst_caps_replace (&self->refused_caps, NULL);

  GST_OBJECT_LOCK (self);
  self->tokens_processed = 0;
  self->tokens_skipped = 0;
  self->latency = 0;
  GST_OBJECT_UNLOCK (self);
  self->is_audio = FALSE;
  self->dim = 0;
  gst_bitttt_stats_clear (&self->stats);
  return TRUE;
}

static gboolean
gst_bitttt_stop (GstBaseTransform * trans)
{
  GstBitTTT *self = GST_BITTTT (trans);

  /* a failed save has posted its error already; refusing to stop would
   * leave the pads active and the pipeline unable to reach NULL */
  if (self->model != NULL && self->dirty)
    gst_bitttt_save_state (self);
  g_clear_pointer (&self->model, ttt_destroy);
  g_clear_pointer (&self->anomaly, ttt_anomaly_destroy);
  gst_bitttt_free_arrays (self);
  GST_OBJECT_LOCK (self);
  self->kernel = NULL;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static gboolean
gst_bitttt_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstBitTTT *self = GST_BITTTT (trans);
  GstBitTTTResetOn reset_on;

  GST_OBJECT_LOCK (self);
  reset_on = self->reset_on;
  GST_OBJECT_UNLOCK (self);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_STOP:
      /* flushed audio is gone whatever reset-on says */
      gst_bitttt_audio_clear (&self->audio);
      gst_bitttt_stats_clear (&self->stats);
      if (reset_on & GST_BITTTT_RESET_ON_FLUSH)
        gst_bitttt_reset_model (self, "flush");
      break;
    case GST_EVENT_STREAM_START:
      if (reset_on & GST_BITTTT_RESET_ON_STREAM_START)
        gst_bitttt_reset_model (self, "stream-start");
      break;
    case GST_EVENT_EOS:
      gst_bitttt_drain (self);
      /* the tail of the stream gets its statistics too */
      gst_bitttt_stats_flush (&self->stats);
      if (self->model != NULL)
        gst_bitttt_save_state (self);
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

static gboolean
gst_bitttt_query (GstBaseTransform * trans, GstPadDirection direction,
    GstQuery * query)
{
  GstBitTTT *self = GST_BITTTT (trans);

  if (direction == GST_PAD_SRC && GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    GstClockTime min, max, latency;
    gboolean live;

    if (!gst_pad_peer_query (GST_BASE_TRANSFORM_SINK_PAD (trans), query))
      return FALSE;
    gst_query_parse_latency (query, &live, &min, &max);
    GST_OBJECT_LOCK (self);
    latency = self->latency;
    GST_OBJECT_UNLOCK (self);
    min += latency;
    if (GST_CLOCK_TIME_IS_VALID (max))
      max += latency;
    gst_query_set_latency (query, live, min, max);
    return TRUE;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->query (trans, direction,
      query);
}

static void
gst_bitttt_before_transform (GstBaseTransform * trans, GstBuffer * buf)
{
  GstBitTTT *self = GST_BITTTT (trans);
  GstClockTime stream_time =
      gst_bitttt_stats_stream_time (&trans->segment, GST_BUFFER_PTS (buf));
  gboolean meta;

  if (GST_CLOCK_TIME_IS_VALID (stream_time))
    gst_object_sync_values (GST_OBJECT (trans), stream_time);

  /* the analyser only reads the audio: no writable copy is needed unless
   * a meta has to be attached */
  if (self->audio.analyser) {
    GST_OBJECT_LOCK (self);
    meta = self->surprise_meta;
    GST_OBJECT_UNLOCK (self);
    gst_base_transform_set_passthrough (trans, !meta);
  }
}

/* The mix's four lanes, in GCC's vector extension (clang has it too): the
 * plain loop was vectorised across its lanes into shuffles and scalar adds
 * (80 ns a token at D = 64, 43 now). The peaks are taken over the bit
 * patterns of |v|, which order like the (finite) values, so that an
 * integer max serves where a float max would need fast-math. */
typedef gfloat v4f __attribute__ ((vector_size (16)));
typedef guint32 v4u __attribute__ ((vector_size (16)));

static inline v4u
v4u_max (v4u a, v4u b)
{
  const v4u m = (v4u) (a > b);

  return (a & m) | (b & ~m);
}

/*
 * The audio output of n tokens (docs/element.md, "Audio level and mix"):
 * the layer's output token y (in out) is scaled to the energy of the input
 * token x, but no higher than x's peak, wet = g y with g = min (||x|| /
 * ||y||, max|x| / max|y|), then mixed: out = (1 - mix) x + mix wet. The
 * layer adds a residual of about unit level whatever the input's, so x + r
 * is louder than quiet audio and clips loud audio; scaled, a token never
 * comes out with more energy or a higher peak than it went in with (up to
 * float rounding), so audio that did not clip does not clip. With no
 * residual (a fresh model) and mix = 1, out = x bit for bit. A skipped
 * token (NaN/Inf, surprise NaN) is left as the engine passed it: its
 * input. All in float, in the order written here (the tests repeat it).
 */
static void
gst_bitttt_mix (gfloat * out, const gfloat * in, gsize n, gsize dim,
    const gfloat * surprise, gfloat mix)
{
  const v4u abs_mask = { 0x7fffffffu, 0x7fffffffu, 0x7fffffffu, 0x7fffffffu };
  gsize t, i;

  for (t = 0; t < n; t++, out += dim, in += dim) {
    v4f sx = { 0 }, sy = { 0 };
    v4u px = { 0 }, py = { 0 };
    gfloat ex, ey, peak_x, peak_y, g;
    guint32 bx, by;

    if (!isfinite (surprise[t]))
      continue;
    for (i = 0; i < dim; i += 4) {
      v4f x, y;

      memcpy (&x, in + i, sizeof x);
      memcpy (&y, out + i, sizeof y);
      sx += x * x;
      sy += y * y;
      px = v4u_max (px, (v4u) x & abs_mask);
      py = v4u_max (py, (v4u) y & abs_mask);
    }
    ex = (sx[0] + sx[1]) + (sx[2] + sx[3]);
    ey = (sy[0] + sy[1]) + (sy[2] + sy[3]);
    bx = MAX (MAX (px[0], px[1]), MAX (px[2], px[3]));
    by = MAX (MAX (py[0], py[1]), MAX (py[2], py[3]));
    memcpy (&peak_x, &bx, sizeof peak_x);
    memcpy (&peak_y, &by, sizeof peak_y);
    g = ey > 0.0f ? MIN (sqrtf (ex / ey), peak_x / peak_y) : 1.0f;
    if (mix == 1.0f) {
      if (g != 1.0f)
        for (i = 0; i < dim; i++)
          out[i] *= g;
    } else {
      const gfloat wet = mix * g, dry = 1.0f - mix;
      for (i = 0; i < dim; i++)
        out[i] = dry * in[i] + wet * out[i];
    }
  }
}

/* Runs n tokens in place (a GstBitTTTAudioRunFunc). Surprises (and
 * anomaly scores) go to the meta's arrays when it wants them all, else to
 * the scratch arrays a chunk at a time. The range rule and the audio mix
 * read the tokens' input values, so with them a chunk is first copied
 * aside. */
static int
gst_bitttt_run (gpointer user_data, gfloat * data, gsize n, guint64 last,
    guint64 step)
{
  GstBitTTT *self = user_data;

  while (n > 0) {
    gsize chunk = self->surp ? n : MIN (n, self->scratch_len);
    gfloat *s = self->surp ? self->surp : self->scratch;
    gfloat *a = self->score ? self->score : self->score_scratch;
    const gfloat *x = NULL;
    GstClockTime t0, ns;
    int err;

    if (self->xcopy_tokens > 0) {
      chunk = MIN (chunk, self->xcopy_tokens);
      memcpy (self->xcopy, data, chunk * self->dim * sizeof (gfloat));
      x = self->xcopy;
    }
    t0 = gst_util_get_timestamp ();
    err = ttt_forward_ex (self->model, data, chunk, data, s);
    if (err == TTT_OK && self->anomaly != NULL)
      err = ttt_anomaly_update (self->anomaly, s, self->range_rule ? x : NULL,
          self->range_rule ? self->dim : 0, chunk, a, NULL);
    ns = gst_util_get_timestamp () - t0;
    if (err != TTT_OK)
      return err;
    if (self->mixing)
      gst_bitttt_mix (data, x, chunk, self->dim, s, self->applied_mix);
    gst_bitttt_stats_account (&self->stats, s, self->anomaly ? a : NULL,
        chunk, last, step, ns);
    last += chunk * step;
    data += chunk * self->dim;
    n -= chunk;
    if (self->surp)
      self->surp += chunk;
    if (self->score)
      self->score += chunk;
  }
  return TTT_OK;
}

/* A tensor buffer's duration, else what the framerate implies
 * (GST_CLOCK_TIME_NONE if nothing does). */
static GstClockTime
gst_bitttt_tensor_duration (GstBitTTT * self, GstBuffer * buf)
{
  if (GST_BUFFER_DURATION_IS_VALID (buf))
    return GST_BUFFER_DURATION (buf);
  if (self->fps_n > 0)
    return gst_util_uint64_scale_int (GST_SECOND, self->fps_d, self->fps_n);
  return GST_CLOCK_TIME_NONE;
}

static GstFlowReturn
gst_bitttt_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  GstBitTTT *self = GST_BITTTT (trans);
  gfloat lr;
  gboolean learning, reset, post, want_meta;
  GstBitTTTResetOn reset_on;
  guint64 interval, offset = 0;
  GstMapInfo map;
  gsize n, frames = 0;
  GstClockTime duration;
  gfloat *surp = NULL, *score = NULL;
  int err = TTT_OK;

  if (G_UNLIKELY (self->model == NULL)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No caps before data"),
        (NULL));
    return GST_FLOW_NOT_NEGOTIATED;
  }

  /* one consistent snapshot of the settings per buffer; the engine runs
   * outside the lock */
  GST_OBJECT_LOCK (self);
  lr = self->inner_lr;
  learning = self->learning;
  reset = self->reset_pending;
  self->reset_pending = FALSE;
  reset_on = self->reset_on;
  post = self->post_messages;
  interval = self->interval;
  want_meta = self->surprise_meta;
  self->applied_mix = (gfloat) self->mix;
  GST_OBJECT_UNLOCK (self);

  if (reset)
    gst_bitttt_reset_model (self, "reset signal");
  if (GST_BUFFER_IS_DISCONT (buf) && self->discont_armed &&
      (reset_on & GST_BITTTT_RESET_ON_DISCONT))
    gst_bitttt_reset_model (self, "discont");
  self->discont_armed = TRUE;
  /* a gap: the audio before it leaves with its own timestamps and the
   * line starts again at this buffer (as audiofxbasefirfilter does) */
  if (GST_BUFFER_IS_DISCONT (buf) && self->is_audio && !self->audio.analyser) {
    GstFlowReturn ret = gst_bitttt_drain (self);
    if (ret != GST_FLOW_OK)
      return ret;
  }
  if (lr != self->applied_lr) {
    err = ttt_set_inner_lr (self->model, lr);
    self->applied_lr = lr;
  }
  if (err == TTT_OK && learning != self->applied_learning) {
    err = ttt_set_learning (self->model, learning);
    self->applied_learning = learning;
  }
  if (err != TTT_OK) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("Could not apply inner-lr %g / learning %d: %s", lr, learning,
            ttt_strerror (err)), (NULL));
    return GST_FLOW_ERROR;
  }

  /* the analyser may be in passthrough: it reads a possibly shared buffer,
   * and adds a meta only when the buffer is its own (surprise-meta set
   * after before_transform chose passthrough: no meta for this buffer) */
  if (self->audio.analyser && want_meta && !gst_buffer_is_writable (buf))
    want_meta = FALSE;
  if (!gst_buffer_map (buf, &map,
          self->audio.analyser ? GST_MAP_READ : GST_MAP_READWRITE)) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("Could not map the buffer"),
        (NULL));
    return GST_FLOW_ERROR;
  }
  if (self->is_audio) {
    const gsize frame_bytes = (gsize) self->audio.channels * sizeof (gfloat);
    if (map.size % frame_bytes != 0) {
      gst_buffer_unmap (buf, &map);
      GST_ELEMENT_ERROR (self, STREAM, FORMAT,
          ("Audio buffer of %" G_GSIZE_FORMAT " bytes is not a whole number "
              "of %" G_GSIZE_FORMAT "-byte frames", map.size, frame_bytes),
          (NULL));
      return GST_FLOW_ERROR;
    }
    frames = map.size / frame_bytes;
    n = gst_bitttt_audio_tokens (&self->audio, frames);
  } else {
    const gsize token_bytes = self->dim * sizeof (gfloat);
    if (map.size % token_bytes != 0) {
      gst_buffer_unmap (buf, &map);
      GST_ELEMENT_ERROR (self, STREAM, FORMAT,
          ("Tensor buffer of %" G_GSIZE_FORMAT " bytes is not a whole number "
              "of tokens: expected a multiple of %" G_GSIZE_FORMAT " bytes (%"
              G_GSIZE_FORMAT " floats)", map.size, token_bytes, self->dim),
          (NULL));
      return GST_FLOW_ERROR;
    }
    n = map.size / token_bytes;
  }

  if (want_meta) {
    ttt_stats st;
    /* opt-in: the meta owns one array per buffer */
    surp = g_new (gfloat, MAX (n, 1));
    if (self->anomaly != NULL)
      score = g_new (gfloat, MAX (n, 1));
    if (ttt_get_stats (self->model, &st) == TTT_OK)
      offset = st.tokens_seen;
  }
  /* audio: units are frames, at the rate (sample-accurate); tensors: the
   * tokens share the buffer's duration */
  if (self->is_audio) {
    gst_bitttt_stats_begin_buffer (&self->stats, post, &trans->segment,
        interval, GST_BUFFER_PTS (buf), frames, GST_SECOND, self->audio.rate);
  } else {
    duration = gst_bitttt_tensor_duration (self, buf);
    gst_bitttt_stats_begin_buffer (&self->stats, post, &trans->segment,
        interval, GST_BUFFER_PTS (buf), n,
        GST_CLOCK_TIME_IS_VALID (duration) ? duration : 0, n);
  }

  self->surp = surp;
  self->score = score;
  if (self->is_audio) {
    err = gst_bitttt_audio_process (&self->audio, (gfloat *) map.data, frames,
        GST_BUFFER_PTS (buf), GST_BUFFER_OFFSET (buf), gst_bitttt_run, self);
  } else if (n > 0) {
    err = gst_bitttt_run (self, (gfloat *) map.data, n, 0, 1);
  }
  self->surp = self->score = NULL;
  gst_buffer_unmap (buf, &map);

  if (err != TTT_OK) {
    g_free (surp);
    g_free (score);
    GST_ELEMENT_ERROR (self, LIBRARY, FAILED,
        ("Bit-TTT forward failed: %s", ttt_strerror (err)), (NULL));
    return GST_FLOW_ERROR;
  }
  if (self->stats.buf_tokens > 0)
    self->dirty = TRUE;

  GST_OBJECT_LOCK (self);
  self->tokens_processed += self->stats.buf_tokens;
  self->tokens_skipped += self->stats.buf_skipped;
  GST_OBJECT_UNLOCK (self);

  if (want_meta)
    gst_bitttt_surprise_meta_add (buf, offset, self->stats.buf_skipped, surp,
        score, self->stats.buf_tokens);

  gst_bitttt_stats_end_buffer (&self->stats);

  /* the delay line's output: its leading silence dropped, stamped by its
   * content (a buffer made only of silence goes nowhere; it completed no
   * token, so no meta is lost) */
  if (self->is_audio && !gst_bitttt_audio_output (&self->audio, buf))
    return GST_BASE_TRANSFORM_FLOW_DROPPED;
  return GST_FLOW_OK;
}

static gboolean
plugin_init (GstPlugin * plugin)
{
  /* once, here: an element exists only once its plugin is loaded */
  gst_bitttt_surprise_meta_register ();
  return GST_ELEMENT_REGISTER (bitttt, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, bitttt,
    "Bit-TTT test-time-training layer", plugin_init, VERSION, "MIT",
    "bitttt", "Bit-TTT")
