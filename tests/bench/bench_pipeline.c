/*
 * The element's cost inside a real pipeline, against the raw engine.
 *
 * For each tokens-per-buffer N and token width D, in one run on the same
 * data, it times:
 *   engine    ttt_forward() in place on the ring, N tokens per call
 *   bitttt    benchsrc ! bitttt post-messages=false ! fakesink
 *   bitttt+m  the same with the element's defaults (messages every 100 ms of
 *             stream time; buffers carry 1 ms of stream time per token)
 *   identity  benchsrc ! identity ! fakesink
 *
 * benchsrc is a GstBaseSrc registered by this program. It hands out buffers
 * from a GstBufferPool whose buffers wrap fixed slices of a prepared ring of
 * random floats (>= 4 MiB, so it streams from L3 like fresh data would):
 * acquiring one allocates and copies nothing, each buffer has refcount 1 and
 * exclusive memory (bitttt works in place, no copy) and the source's cost is
 * the same for identity and bitttt. The engine run walks the same ring in the
 * same slices. The ring is restored from a pristine copy before every timed
 * run, so every variant sees identical tokens.
 *
 * Timing needs no probe on the data path: the pipeline has no queue, so the
 * source's create() for buffer i+1 runs only once buffer i has been through
 * the element and the sink. The clock starts at buffer 1 (buffer 0 carries
 * caps and model creation) and stops when create() is asked for the buffer
 * after the last; the engine run times the same slices. Each figure is the
 * median of the runs after one warm-up run that also calibrates the buffer
 * count so a run lasts >= 0.2 s.
 *
 *   bench_pipeline [--quick] [--check] [--streams S] [--runs R]
 *                  [--dim D] [--tpb N] [--cpu-clock] [--streams-only]
 *     --quick    D 64 and 1024, N 1 and 256, 5 runs (meson benchmark)
 *     --check    exit 1 unless: for N >= 256 bitttt reaches 90% of the
 *                engine's tokens/s, and at N = 1, D = 64 the bitttt pipeline
 *                costs <= 2x the identity pipeline per buffer
 *     --streams S  also run S independent pipelines (and S engine threads)
 *                at once and report aggregate tokens/s against one stream
 *
 *     --streams-only  skip the main table
 *     --dim, --tpb  only this D / this N (for profiling one shape)
 *     --cpu-clock  time with the timing thread's CPU clock instead of the
 *                wall clock (tables only; --streams always uses the wall)
 *
 * The plugin is taken from the build tree (BITTTT_PLUGIN_BUILD_DIR, set by
 * meson) unless BITTTT_PLUGIN_DIR names another directory.
 */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gst/gst.h>
#include <gst/base/gstbasesrc.h>
#include <bitttt/bitttt.h>

#define RING_BYTES (4u << 20)
#define MIN_RUN_S 0.2
#define TARGET_RUN_S 0.35
#define MAX_RUNS 15

/* CLOCK_THREAD_CPUTIME_ID with --cpu-clock: a pipeline without queues does
 * all its work in the one streaming thread, so its CPU time leaves out the
 * time other processes of a shared machine take from it. */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (bench_clock, &ts);
  return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

/* ---- ring of prepared tokens --------------------------------------------- */

typedef struct
{
  gsize dim, tpb, nslices;      /* slice = one buffer of tpb tokens */
  gsize slice_floats;
  gfloat *data, *pristine;
} Ring;

static gboolean
ring_init (Ring * r, gsize dim, gsize tpb, guint32 seed)
{
  gsize i, n;

  r->dim = dim;
  r->tpb = tpb;
  r->slice_floats = dim * tpb;
  r->nslices = MAX (2, RING_BYTES / (r->slice_floats * sizeof (gfloat)));
  n = r->nslices * r->slice_floats;
  r->data = g_try_malloc (n * sizeof (gfloat));
  r->pristine = g_try_malloc (n * sizeof (gfloat));
  if (r->data == NULL || r->pristine == NULL)
    return FALSE;
  /* uniform noise in [-1, 1): finite, non-degenerate tokens */
  for (i = 0; i < n; i++) {
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    r->pristine[i] = (gfloat) ((seed >> 8) / 8388608.0 - 1.0);
  }
  memcpy (r->data, r->pristine, n * sizeof (gfloat));
  return TRUE;
}

static void
ring_restore (Ring * r)
{
  memcpy (r->data, r->pristine,
      r->nslices * r->slice_floats * sizeof (gfloat));
}

static void
ring_clear (Ring * r)
{
  g_free (r->data);
  g_free (r->pristine);
}

/* ---- RingPool: pool buffers wrapping the ring's slices -------------------- */

typedef struct
{
  GstBufferPool parent;
  Ring *ring;
  gsize next;
} RingPool;

typedef struct
{
  GstBufferPoolClass parent_class;
} RingPoolClass;

static GType ring_pool_get_type (void);
G_DEFINE_TYPE (RingPool, ring_pool, GST_TYPE_BUFFER_POOL);

static GstFlowReturn
ring_pool_alloc (GstBufferPool * pool, GstBuffer ** buf,
    GstBufferPoolAcquireParams * params)
{
  RingPool *rp = (RingPool *) pool;
  const gsize bytes = rp->ring->slice_floats * sizeof (gfloat);

  (void) params;
  /* no free function: the ring outlives the pool */
  *buf = gst_buffer_new_wrapped_full (0,
      rp->ring->data + rp->next * rp->ring->slice_floats, bytes, 0, bytes,
      NULL, NULL);
  rp->next = (rp->next + 1) % rp->ring->nslices;
  return GST_FLOW_OK;
}

static void
ring_pool_class_init (RingPoolClass * klass)
{
  GST_BUFFER_POOL_CLASS (klass)->alloc_buffer = ring_pool_alloc;
}

static void
ring_pool_init (RingPool * rp)
{
  (void) rp;
}

/* All slices are made when the pool starts and then cycle in order: the
 * pool's queue is FIFO and at most one buffer is in flight. */
static GstBufferPool *
ring_pool_new (Ring * ring, GstCaps * caps)
{
  RingPool *rp = g_object_new (ring_pool_get_type (), NULL);
  GstStructure *config;

  gst_object_ref_sink (rp);
  rp->ring = ring;
  config = gst_buffer_pool_get_config (GST_BUFFER_POOL (rp));
  gst_buffer_pool_config_set_params (config, caps,
      (guint) (ring->slice_floats * sizeof (gfloat)), (guint) ring->nslices,
      (guint) ring->nslices);
  if (!gst_buffer_pool_set_config (GST_BUFFER_POOL (rp), config) ||
      !gst_buffer_pool_set_active (GST_BUFFER_POOL (rp), TRUE)) {
    gst_object_unref (rp);
    return NULL;
  }
  return GST_BUFFER_POOL (rp);
}

/* ---- benchsrc ------------------------------------------------------------- */

typedef struct
{
  GstBaseSrc parent;
  Ring *ring;
  GstCaps *caps;
  GstBufferPool *pool;
  guint64 nbuf, i;
  GstClockTime dur;             /* stream time per buffer */
  double t0, t1;
} BenchSrc;

typedef struct
{
  GstBaseSrcClass parent_class;
} BenchSrcClass;

static GType bench_src_get_type (void);
G_DEFINE_TYPE (BenchSrc, bench_src, GST_TYPE_BASE_SRC);

static gboolean
bench_src_negotiate (GstBaseSrc * src)
{
  return gst_base_src_set_caps (src, ((BenchSrc *) src)->caps);
}

static GstFlowReturn
bench_src_create (GstBaseSrc * src, guint64 offset, guint size,
    GstBuffer ** buf)
{
  BenchSrc *s = (BenchSrc *) src;
  GstFlowReturn ret;

  (void) offset;
  (void) size;
  if (s->i == 1)
    s->t0 = now_s ();
  if (s->i == s->nbuf) {
    s->t1 = now_s ();
    return GST_FLOW_EOS;
  }
  ret = gst_buffer_pool_acquire_buffer (s->pool, buf, NULL);
  if (ret != GST_FLOW_OK)
    return ret;
  GST_BUFFER_PTS (*buf) = s->i * s->dur;
  GST_BUFFER_DURATION (*buf) = s->dur;
  s->i++;
  return GST_FLOW_OK;
}

static gboolean
bench_src_stop (GstBaseSrc * src)
{
  BenchSrc *s = (BenchSrc *) src;

  if (s->pool != NULL) {
    gst_buffer_pool_set_active (s->pool, FALSE);
    gst_clear_object (&s->pool);
  }
  return TRUE;
}

static void
bench_src_finalize (GObject * obj)
{
  BenchSrc *s = (BenchSrc *) obj;

  gst_clear_caps (&s->caps);
  G_OBJECT_CLASS (bench_src_parent_class)->finalize (obj);
}

static void
bench_src_class_init (BenchSrcClass * klass)
{
  static GstStaticPadTemplate src_tmpl = GST_STATIC_PAD_TEMPLATE ("src",
      GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
  GstBaseSrcClass *bs = GST_BASE_SRC_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = bench_src_finalize;
  gst_element_class_add_static_pad_template (GST_ELEMENT_CLASS (klass),
      &src_tmpl);
  gst_element_class_set_static_metadata (GST_ELEMENT_CLASS (klass),
      "Bench source", "Source", "Prepared tensor buffers from a ring",
      "Bit-TTT developers");
  bs->negotiate = bench_src_negotiate;
  bs->create = bench_src_create;
  bs->stop = bench_src_stop;
}

static void
bench_src_init (BenchSrc * s)
{
  gst_base_src_set_format (GST_BASE_SRC (s), GST_FORMAT_TIME);
}

/* ---- one timed run -------------------------------------------------------- */

enum variant
{ V_ENGINE, V_BITTTT, V_BITTTT_MSG, V_IDENTITY, NVARIANTS };
static const char *const variant_name[NVARIANTS] = {
  "engine", "bitttt", "bitttt+msg", "identity"
};

/* Seconds for buffers 1..nbuf-1, or a negative value on error. */
static double
run_engine (Ring * ring, guint64 nbuf)
{
  ttt_model *m = ttt_create (ring->dim, TTT_DEFAULT_INNER_LR);
  double t0 = 0.0, t1;
  guint64 b;

  if (m == NULL)
    return -1.0;
  for (b = 0; b < nbuf; b++) {
    gfloat *x = ring->data + (b % ring->nslices) * ring->slice_floats;
    if (b == 1)
      t0 = now_s ();
    if (ttt_forward (m, x, ring->tpb, x) != TTT_OK) {
      ttt_destroy (m);
      return -1.0;
    }
  }
  t1 = now_s ();
  ttt_destroy (m);
  return t1 - t0;
}

typedef struct
{
  GstElement *pipe;
  BenchSrc *src;
} Pipe;

static gboolean
pipe_start (Pipe * p, Ring * ring, enum variant v, guint64 nbuf)
{
  static const char *const launch[NVARIANTS] = {
    NULL,
    "benchsrc name=src ! bitttt post-messages=false ! "
        "fakesink sync=false enable-last-sample=false",
    "benchsrc name=src ! bitttt ! "
        "fakesink sync=false enable-last-sample=false",
    "benchsrc name=src ! identity ! "
        "fakesink sync=false enable-last-sample=false",
  };
  GError *err = NULL;
  gchar *caps;

  p->pipe = gst_parse_launch (launch[v], &err);
  if (p->pipe == NULL) {
    fprintf (stderr, "pipeline: %s\n", err->message);
    g_error_free (err);
    return FALSE;
  }
  p->src = (BenchSrc *) gst_bin_get_by_name (GST_BIN (p->pipe), "src");
  caps = g_strdup_printf ("other/tensors,format=static,num_tensors=1,"
      "types=float32,dimensions=(string)%zu:%zu,framerate=(fraction)0/1",
      ring->dim, ring->tpb);
  p->src->caps = gst_caps_from_string (caps);
  g_free (caps);
  p->src->ring = ring;
  p->src->nbuf = nbuf;
  p->src->dur = ring->tpb * GST_MSECOND;
  p->src->pool = ring_pool_new (ring, p->src->caps);
  if (p->src->pool == NULL) {
    fprintf (stderr, "could not start the ring pool\n");
    return FALSE;
  }
  return gst_element_set_state (p->pipe, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE;
}

/* Waits for EOS (dropping the element's messages) and tears down; *t0 and
 * *t1 (may be NULL) get the clock at buffer 1 and after the last buffer. */
static double
pipe_finish (Pipe * p, double *t0, double *t1)
{
  GstBus *bus = gst_element_get_bus (p->pipe);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  double t = p->src->t1 - p->src->t0;

  if (t0 != NULL)
    *t0 = p->src->t0;
  if (t1 != NULL)
    *t1 = p->src->t1;
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    gst_message_parse_error (msg, &err, NULL);
    fprintf (stderr, "pipeline error: %s\n", err->message);
    g_error_free (err);
    t = -1.0;
  }
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (p->pipe, GST_STATE_NULL);
  gst_object_unref (p->src);
  gst_object_unref (p->pipe);
  return t;
}

static double
run_variant (Ring * ring, enum variant v, guint64 nbuf)
{
  Pipe p;

  ring_restore (ring);
  if (v == V_ENGINE)
    return run_engine (ring, nbuf);
  if (!pipe_start (&p, ring, v, nbuf)) {
    if (p.pipe != NULL) {
      gst_element_set_state (p.pipe, GST_STATE_NULL);
      gst_object_unref (p.pipe);
    }
    return -1.0;
  }
  return pipe_finish (&p, NULL, NULL);
}

/* The element must have run every buffer in place, exactly as the engine
 * did: one pass over the ring through each, and the rings compared. */
static gboolean
same_as_engine (Ring * ring)
{
  const gsize n = ring->nslices * ring->slice_floats;
  gfloat *want = g_new (gfloat, n);
  gboolean same;

  if (run_variant (ring, V_ENGINE, ring->nslices) < 0) {
    g_free (want);
    return FALSE;
  }
  memcpy (want, ring->data, n * sizeof (gfloat));
  same = run_variant (ring, V_BITTTT, ring->nslices) >= 0
      && memcmp (want, ring->data, n * sizeof (gfloat)) == 0;
  if (!same)
    fprintf (stderr, "D=%zu N=%zu: the pipeline's ring differs from the "
        "engine's (buffers copied, not processed in place?)\n", ring->dim,
        ring->tpb);
  g_free (want);
  return same;
}

/* Buffers for one run of about TARGET_RUN_S, from a warm-up run (which is
 * itself not counted). */
static guint64
calibrate (Ring * ring, enum variant v)
{
  guint64 nbuf = MAX (3, 4096 / ring->tpb);
  double t;

  for (;;) {
    t = run_variant (ring, v, nbuf);
    if (t < 0)
      return 0;
    if (t >= 0.05)
      break;
    nbuf *= 4;
  }
  return MAX (nbuf, (guint64) ((nbuf - 1) * TARGET_RUN_S / t) + 1);
}

static int
cmp_double (const void *a, const void *b)
{
  const double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
median (double *v, int n)
{
  qsort (v, (size_t) n, sizeof v[0], cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- the table ------------------------------------------------------------ */

typedef struct
{
  gsize dim, tpb;
  double tok_s[NVARIANTS];      /* medians */
  double buf_ns[NVARIANTS];
  /* medians of the ratios within each round of runs (a round times every
   * variant back to back, so a slow spell of a shared machine mostly
   * cancels out) */
  double bt_eng, btm_eng, bt_id, bt_minus_id_ns;
  double bt_eng_lo, bt_eng_hi;  /* quartiles of bitttt/engine */
  double short_runs;            /* runs under MIN_RUN_S */
} Row;

static gboolean
measure (Row * row, int runs)
{
  Ring ring;
  guint64 nbuf[NVARIANTS];
  double t[NVARIANTS][MAX_RUNS], q[4][MAX_RUNS];
  int v, r;

  if (!ring_init (&ring, row->dim, row->tpb, 0x2545f491u ^ row->dim))
    return FALSE;
  if (!same_as_engine (&ring))
    return FALSE;
  row->short_runs = 0;
  for (v = 0; v < NVARIANTS; v++)
    if ((nbuf[v] = calibrate (&ring, v)) == 0)
      return FALSE;
  /* variants interleaved, so a noisy neighbour hits them alike */
  for (r = 0; r < runs; r++)
    for (v = 0; v < NVARIANTS; v++) {
      double s = run_variant (&ring, v, nbuf[v]);
      /* the machine sped up since calibration: a longer run instead */
      while (s > 0 && s < MIN_RUN_S) {
        row->short_runs++;
        nbuf[v] = (guint64) (nbuf[v] * TARGET_RUN_S / s) + 1;
        s = run_variant (&ring, v, nbuf[v]);
      }
      if (s <= 0)
        return FALSE;
      t[v][r] = s / (double) (nbuf[v] - 1);     /* seconds per buffer */
    }
  for (r = 0; r < runs; r++) {
    q[0][r] = t[V_ENGINE][r] / t[V_BITTTT][r];
    q[1][r] = t[V_ENGINE][r] / t[V_BITTTT_MSG][r];
    q[2][r] = t[V_BITTTT][r] / t[V_IDENTITY][r];
    q[3][r] = 1e9 * (t[V_BITTTT][r] - t[V_IDENTITY][r]);
  }
  row->bt_eng = median (q[0], runs);     /* sorts q[0] */
  row->bt_eng_lo = q[0][runs / 4];
  row->bt_eng_hi = q[0][runs - 1 - runs / 4];
  row->btm_eng = median (q[1], runs);
  row->bt_id = median (q[2], runs);
  row->bt_minus_id_ns = median (q[3], runs);
  for (v = 0; v < NVARIANTS; v++) {
    row->buf_ns[v] = 1e9 * median (t[v], runs);
    row->tok_s[v] = row->tpb * 1e9 / row->buf_ns[v];
  }
  ring_clear (&ring);
  return TRUE;
}

static void
print_header (void)
{
  printf ("%5s %5s | %10s %10s %10s %11s | %8s %8s | %6s %10s %7s | %9s %6s"
      "\n", "D", "N", "engine", "bitttt", "bitttt+msg", "identity",
      "bitttt", "identity", "bt/eng", "(quartiles)", "btm/eng", "bt-id ns",
      "bt/id");
  printf ("%5s %5s | %10s %10s %10s %11s | %8s %8s | %6s %10s %7s | %9s %6s"
      "\n", "", "tok/buf", "tok/s", "tok/s", "tok/s", "tok/s", "buf/s",
      "buf/s", "", "", "", "per buf", "");
}

static void
print_row (const Row * w)
{
  printf ("%5zu %5zu | %10.0f %10.0f %10.0f %11.0f | %8.0f %8.0f | "
      "%5.1f%% %4.0f-%4.0f%% %6.1f%% | %9.0f %6.2f\n", w->dim, w->tpb,
      w->tok_s[V_ENGINE], w->tok_s[V_BITTTT], w->tok_s[V_BITTTT_MSG],
      w->tok_s[V_IDENTITY], 1e9 / w->buf_ns[V_BITTTT],
      1e9 / w->buf_ns[V_IDENTITY],
      100.0 * w->bt_eng, 100.0 * w->bt_eng_lo, 100.0 * w->bt_eng_hi,
      100.0 * w->btm_eng, w->bt_minus_id_ns, w->bt_id);
  fflush (stdout);
}

/* ---- several streams at once ---------------------------------------------- */

typedef struct
{
  Ring *ring;
  guint64 nbuf;
  double t0, t1;
  gboolean ok;
} EngineJob;

static gpointer
engine_thread (gpointer data)
{
  EngineJob *j = data;
  double s;

  j->t0 = now_s ();
  s = run_engine (j->ring, j->nbuf);
  j->t1 = now_s ();
  j->ok = s > 0;
  return NULL;
}

/* Aggregate tokens/s of S streams started together: all tokens over the
 * wall time from the first start to the last end (conservative: a stream
 * finishing early leaves the others running alone). */
static double
run_streams (Ring * rings, int S, enum variant v, guint64 nbuf)
{
  double t0 = G_MAXDOUBLE, t1 = 0.0;
  gboolean ok = TRUE;
  int i;

  for (i = 0; i < S; i++)
    ring_restore (&rings[i]);
  if (v == V_ENGINE) {
    EngineJob job[8];
    GThread *th[8];
    for (i = 0; i < S; i++) {
      job[i] = (EngineJob) {
      &rings[i], nbuf, 0, 0, FALSE};
      th[i] = g_thread_new ("engine", engine_thread, &job[i]);
    }
    for (i = 0; i < S; i++) {
      g_thread_join (th[i]);
      ok = ok && job[i].ok;
      t0 = MIN (t0, job[i].t0);
      t1 = MAX (t1, job[i].t1);
    }
  } else {
    Pipe p[8];
    for (i = 0; i < S; i++)
      ok = ok && pipe_start (&p[i], &rings[i], v, nbuf);
    if (!ok)
      return -1.0;
    for (i = 0; i < S; i++) {
      double s0, s1;
      ok = pipe_finish (&p[i], &s0, &s1) > 0 && ok;
      t0 = MIN (t0, s0);
      t1 = MAX (t1, s1);
    }
  }
  if (!ok)
    return -1.0;
  return S * (double) (nbuf - 1) * rings[0].tpb / (t1 - t0);
}

/* One stream against S at once, engine and bitttt, for a few shapes. */
static gboolean
streams_table (int S, int runs)
{
  static const gsize shapes[][2] = { {64, 256}, {128, 256}, {1024, 256},
  {128, 1}
  };
  static const enum variant vs[] = { V_ENGINE, V_BITTTT };
  gsize k;
  int i, r, vi;

  printf ("\n# %d streams at once vs one: aggregate tokens/s (median of %d),"
      " each stream its own model, ring and thread\n", S, runs);
  printf ("%5s %5s %-8s | %12s %12s | %7s\n", "D", "N", "", "1 stream",
      "aggregate", "scaling");
  printf ("%5s %5s %-8s | %12s %12s | %7s\n", "", "tok/buf", "", "tok/s",
      "tok/s", "(median of rounds)");
  for (k = 0; k < G_N_ELEMENTS (shapes); k++)
    for (vi = 0; vi < 2; vi++) {
      Ring rings[8];
      double one[MAX_RUNS], many[MAX_RUNS], scale[MAX_RUNS];
      guint64 nbuf;

      for (i = 0; i < S; i++)
        if (!ring_init (&rings[i], shapes[k][0], shapes[k][1],
                0x9e3779b9u + (guint32) i))
          return FALSE;
      if ((nbuf = calibrate (&rings[0], vs[vi])) == 0)
        return FALSE;
      for (r = 0; r < runs; r++) {
        one[r] = run_streams (rings, 1, vs[vi], nbuf);
        many[r] = run_streams (rings, S, vs[vi], nbuf);
        if (one[r] <= 0 || many[r] <= 0)
          return FALSE;
        scale[r] = many[r] / one[r];
      }
      {
        const double a = median (one, runs), b = median (many, runs);
        printf ("%5zu %5zu %-8s | %12.0f %12.0f | %6.2fx\n", shapes[k][0],
            shapes[k][1], variant_name[vs[vi]], a, b, median (scale, runs));
        fflush (stdout);
      }
      for (i = 0; i < S; i++)
        ring_clear (&rings[i]);
    }
  return TRUE;
}

int
main (int argc, char **argv)
{
  static const gsize dims_full[] = { 64, 128, 1024 }, dims_quick[] = {
  64, 1024};
  static const gsize tpb_full[] = { 1, 16, 256, 4096 }, tpb_quick[] = {
  1, 256};
  const gsize *dims = dims_full, *tpbs = tpb_full;
  gsize ndims = 3, ntpb = 4, i, j, one_dim[1] = { 0 }, one_tpb[1] = { 0 };
  int quick = 0, check = 0, streams = 0, runs = 9, a, fails = 0;
  const gchar *dir = g_getenv ("BITTTT_PLUGIN_DIR");
  GstPluginFeature *f;
  Row *rows;

  for (a = 1; a < argc; a++) {
    if (!strcmp (argv[a], "--quick"))
      quick = 1;
    else if (!strcmp (argv[a], "--check"))
      check = 1;
    else if (!strcmp (argv[a], "--streams") && a + 1 < argc)
      streams = atoi (argv[++a]);
    else if (!strcmp (argv[a], "--runs") && a + 1 < argc)
      runs = atoi (argv[++a]);
    else if (!strcmp (argv[a], "--streams-only"))
      ntpb = 0;
    else if (!strcmp (argv[a], "--cpu-clock"))
      bench_clock = CLOCK_THREAD_CPUTIME_ID;
    else if (!strcmp (argv[a], "--dim") && a + 1 < argc)
      one_dim[0] = (gsize) atoi (argv[++a]);
    else if (!strcmp (argv[a], "--tpb") && a + 1 < argc)
      one_tpb[0] = (gsize) atoi (argv[++a]);
    else {
      fprintf (stderr, "usage: %s [--quick] [--check] [--streams S] "
          "[--runs R] [--dim D] [--tpb N] [--cpu-clock] [--streams-only]\n", argv[0]);
      return 2;
    }
  }
  if (quick && ntpb > 0) {
    dims = dims_quick;
    tpbs = tpb_quick;
    ndims = ntpb = 2;
    runs = 5;
  }
  if (one_dim[0] > 0) {
    dims = one_dim;
    ndims = 1;
  }
  if (one_tpb[0] > 0 && ntpb > 0) {
    tpbs = one_tpb;
    ntpb = 1;
  }
  runs = CLAMP (runs, 5, MAX_RUNS);
  streams = CLAMP (streams, 0, 8);

  gst_init (&argc, &argv);
#ifdef BITTTT_PLUGIN_BUILD_DIR
  if (dir == NULL)
    dir = BITTTT_PLUGIN_BUILD_DIR;
#endif
  if (dir != NULL)
    gst_registry_scan_path (gst_registry_get (), dir);
  gst_element_register (NULL, "benchsrc", GST_RANK_NONE, bench_src_get_type ());
  f = gst_registry_lookup_feature (gst_registry_get (), "bitttt");
  if (f == NULL) {
    fprintf (stderr, "bitttt not found (plugin dir %s)\n", dir ? dir : "?");
    return 1;
  }
  printf ("# bitttt from %s\n", gst_plugin_feature_get_plugin_name (f));
  gst_object_unref (f);

  rows = g_new0 (Row, MAX (ndims * ntpb, 1));
  if (ntpb > 0)
    printf ("# median of %d runs (>= %.1f s each) after a warm-up; ring %u MiB"
      "; bitttt+msg = element defaults, 1 ms stream time per token; %s\n",
      runs, MIN_RUN_S, RING_BYTES >> 20,
      bench_clock == CLOCK_MONOTONIC ? "wall clock" : "thread CPU clock");
  if (ntpb > 0)
    print_header ();
  for (i = 0; i < ndims; i++)
    for (j = 0; j < ntpb; j++) {
      Row *w = &rows[i * ntpb + j];
      w->dim = dims[i];
      w->tpb = tpbs[j];
      if (!measure (w, runs)) {
        fprintf (stderr, "measurement failed at D=%zu N=%zu\n", w->dim,
            w->tpb);
        return 1;
      }
      print_row (w);
      if (w->short_runs > 0)
        printf ("#   (%g runs under %.1f s were run again, longer)\n",
            w->short_runs, MIN_RUN_S);
    }
  bench_clock = CLOCK_MONOTONIC;
  if (streams > 1 && !streams_table (streams, runs)) {
    fprintf (stderr, "the streams measurement failed\n");
    return 1;
  }

  if (check) {
    for (i = 0; i < ndims * ntpb; i++) {
      const Row *w = &rows[i];
      if (w->tpb >= 256) {
        const double r = w->bt_eng;
        const int ok = r >= 0.9;
        printf ("%s: D=%zu N=%zu bitttt/engine tokens/s %.1f%% (>= 90%%)\n",
            ok ? "PASS" : "FAIL", w->dim, w->tpb, 100 * r);
        fails += !ok;
      }
      if (w->tpb == 1 && w->dim == 64) {
        const double r = w->bt_id;
        const int ok = r <= 2.0;
        printf ("%s: D=%zu N=1 bitttt/identity per-buffer cost %.2fx "
            "(<= 2x)\n", ok ? "PASS" : "FAIL", w->dim, r);
        fails += !ok;
      }
    }
  }
  g_free (rows);
  return fails ? 1 : 0;
}
