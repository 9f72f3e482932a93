/*
 * Fuzz target: the bitttt element driven through a GstHarness.
 *
 * The element's sources are compiled into this program and registered
 * statically (gst_plugin_bitttt_register), so libFuzzer sees coverage of the
 * element and no plugin is loaded from disk.
 *
 * Input layout:
 *   [0] flags: 1 audio, 2 learning, 4 surprise-meta, 8 post-messages,
 *       16|32 state: 0/3 none, 1 a file holding fuzzed bytes, 2 a path in a
 *       missing directory (refused at negotiation), 64 set hidden-dim,
 *       128 interval of 1..256 ns (a message per buffer)
 *   [1] inner-lr = 2 * b / 255          [2] reset-on flags (low 4 bits)
 *   then the first caps (see read_caps), then with state 1: a 16-bit length
 *   and that many bytes of state file, then operations, one byte each plus
 *   their arguments (see the switch in LLVMFuzzerTestOneInput): buffers of
 *   arbitrary sizes and float bit patterns, flushes, segments, EOS, caps
 *   changes, property changes, the reset signal, stream-start, latency.
 *
 * Checked: nothing crashes (ASan, UBSan, LeakSanitizer watch the rest); a
 * push returning GST_FLOW_ERROR has posted an ERROR message; every buffer
 * accepted (GST_FLOW_OK) comes out exactly once, in order, with its size
 * (tensors; audio comes out in whole floats); for tensors of a known width, a token holding
 * NaN/Inf comes out bit for bit, every other token comes out finite, the meta
 * (when on) counts the tokens and the skipped ones, and tokens-processed /
 * tokens-skipped equal the tokens pushed; a state file that failed to load
 * is left exactly as it was.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/check/gstharness.h>

#include "fuzz.h"

/* from GST_PLUGIN_DEFINE in gst/gstbitttt.c, compiled into this program */
void gst_plugin_bitttt_register(void);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* keeps one run short: floats pushed in all, operations */
#define MAX_TOTAL_FLOATS (1 << 18)
#define MAX_OPS 48
/* widest tensor token made on purpose; an arbitrary dimensions string is
 * held to it too, since D = 65536 means a 1 GiB state (audio: 8 channels x
 * 64 frames at most) */
#define MAX_DIM 256

typedef struct {
    const uint8_t *p;
    size_t n, i;
} reader;

static uint8_t u8(reader *r)
{
    return r->i < r->n ? r->p[r->i++] : 0;
}

static uint16_t u16(reader *r)
{
    uint16_t lo = u8(r);
    return (uint16_t)(lo | (uint16_t)u8(r) << 8);
}

static uint32_t u32(reader *r)
{
    uint32_t lo = u16(r);
    return lo | (uint32_t)u16(r) << 16;
}

static gchar *tmp_dir, *state_path, *missing_path;

static void cleanup(void)
{
    if (state_path)
        g_unlink(state_path);
    if (tmp_dir)
        g_rmdir(tmp_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static gboolean done;
    if (done)
        return 0;
    done = TRUE;
    /* no plugin from disk is needed: never scan, never write a registry */
    g_setenv("GST_REGISTRY_UPDATE", "no", FALSE);
    gst_registry_fork_set_enabled(FALSE);
    gst_init(argc, argv);
    /* a critical is a broken precondition inside GStreamer: a finding */
    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
    gst_plugin_bitttt_register();
    tmp_dir = g_dir_make_tmp("fuzz-element-XXXXXX", NULL);
    FUZZ_CHECK(tmp_dir != NULL);
    state_path = g_build_filename(tmp_dir, "state", NULL);
    missing_path = g_build_filename(tmp_dir, "missing", "state", NULL);
    atexit(cleanup);
    return 0;
}

/* what the harness believes about the current caps */
typedef struct {
    gboolean audio;
    guint dim;      /* tensor token width when the caps are well formed, else 0 */
    guint channels; /* audio, when well formed */
} caps_info;

/* Returns NULL when the bytes make no caps at all. */
static GstCaps *read_caps(reader *r, gboolean audio, caps_info *ci)
{
    gchar *s;
    uint8_t b = u8(r);
    memset(ci, 0, sizeof *ci);
    ci->audio = audio;
    if (audio) {
        static const gint rates[] = {8000, 1, 44100, 48000, 0, G_MAXINT, 16000, 3};
        static const guint chans[] = {1, 2, 4, 8, 3, 5, 0, 6};
        const guint ch = chans[b & 7];
        const gint rate = rates[(b >> 3) & 7];
        const char *fmt = (b & 0x40) ? "S16LE" : "F32LE";
        s = g_strdup_printf("audio/x-raw,format=%s,layout=%s,rate=%d,channels=%u", fmt,
                            (b & 0x80) ? "non-interleaved" : "interleaved", rate, ch);
        if (ch > 0 && rate > 0 && !(b & 0xc0))
            ci->channels = ch;
    } else {
        const char *fr = (b & 0x10) ? ",framerate=(fraction)25/1" : "";
        guint d = 4 * (1 + u8(r) % (MAX_DIM / 4)), n = 1 + u8(r) % 16;
        switch (b % 8) {
        default:
            s = g_strdup_printf("other/tensors,format=static,num_tensors=1,types=float32,"
                                "dimensions=(string)%u:%u%s%s", d, n,
                                (b & 0x20) ? ":1:2" : "", fr);
            ci->dim = d;
            break;
        case 5: {
            static const char *const bad[] = {"0:1", "3:4", "6:2", "65540:1", "99999999999:1",
                                              "16:0", "16:4294967296", ":", "", "16:",
                                              "-16:2", "16:2:3:4:5:6:7:8:9:10:11:12:13:14:15:16:17",
                                              " 16 : 2 ", "1e2:1", "16:70000:70000", "x"};
            s = g_strdup_printf("other/tensors,format=static,num_tensors=1,types=float32,"
                                "dimensions=(string)\"%s\"%s", bad[n - 1], fr);
            break;
        }
        case 6: {
            /* an arbitrary string over the characters the parser cares about */
            static const char cs[] = "0123456789:: -+x";
            char str[24];
            guint len = n, k;
            guint64 first;
            for (k = 0; k < len; k++)
                str[k] = cs[u8(r) % 16];
            str[len] = '\0';
            first = g_ascii_strtoull(str, NULL, 10);
            if (first > MAX_DIM && first <= 65536)
                return NULL;
            s = g_strdup_printf("other/tensors,format=static,num_tensors=1,types=float32,"
                                "dimensions=(string)\"%s\"%s", str, fr);
            break;
        }
        case 7: {
            static const char *const odd[] = {
                "other/tensors,format=static,num_tensors=1,types=float32",
                "other/tensors,format=static,num_tensors=2,types=float32,dimensions=(string)16:1",
                "other/tensors,format=static,num_tensors=1,types=float64,dimensions=(string)16:1",
                "other/tensors,format=flexible,num_tensors=1,types=float32,dimensions=(string)16:1",
                "other/tensors,format=static,num_tensors=1,types=float32,dimensions=(int)16",
                "video/x-raw,format=GRAY8,width=4,height=4",
                "other/tensors,format=static,num_tensors=1,types=float32,dimensions=(string)16:1,framerate=(fraction)0/0",
                "other/tensors,format=static,num_tensors=1,types=float32,dimensions=(string)16:1,framerate=(fraction)-1/1",
            };
            s = g_strdup(odd[n % 8]);
            break;
        }
        }
    }
    GstCaps *caps = gst_caps_from_string(s);
    g_free(s);
    return caps;
}

static float special(uint32_t k)
{
    static const uint32_t bits[] = {0x7fc00000u, 0xffc00000u, 0x7f800000u, 0xff800000u,
                                    0x80000000u, 0x00000001u, 0x007fffffu, 0x7f7fffffu,
                                    0xff7fffffu, 0x7f800001u, 0x3f800000u, 0x00000000u};
    float f;
    memcpy(&f, &bits[k % 12], 4);
    return f;
}

static void fill(reader *r, float *x, size_t n)
{
    const uint8_t mode = u8(r);
    uint32_t seed = u32(r) | 1u;
    size_t i;
    for (i = 0; i < n; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        switch (mode % 4) {
        case 0:
            x[i] = (float)((seed >> 8) / 8388608.0 - 1.0);
            break;
        case 1: /* raw bit patterns straight from the input */
            if (r->n > 0) {
                uint32_t v = 0;
                size_t k;
                for (k = 0; k < 4; k++)
                    v |= (uint32_t)r->p[(r->i + 4 * i + k) % r->n] << (8 * k);
                memcpy(&x[i], &v, 4);
            } else {
                x[i] = 0.0f;
            }
            break;
        case 2: /* mostly noise with specials sprinkled in */
            x[i] = (seed & 0xf0) ? (float)((seed >> 8) / 8388608.0 - 1.0) : special(seed >> 8);
            break;
        default:
            x[i] = special(mode >> 2);
            break;
        }
    }
}

typedef struct {
    GstHarness *h;
    GstBus *bus;
    GQueue pushed;        /* expected outputs, one per accepted buffer */
    guint64 seq;
    guint errors;         /* ERROR messages seen */
    gboolean load_error;  /* RESOURCE/READ posted */
    gboolean meta;        /* surprise-meta as last set */
    gboolean exact;       /* every accepted buffer had a known tensor width */
    guint64 tokens, skipped;
    /* every caps pushed, with what the harness knows of it: a caps event
     * may be dropped (while flushing) or held back (after EOS) and land
     * later, so the caps a buffer met are looked up after the push */
    GstCaps *caps[MAX_OPS + 1];
    caps_info info[MAX_OPS + 1];
    guint ncaps;
} run;

typedef struct {
    guint64 seq;
    gsize size;
    guint dim;            /* tensor width, 0: unchecked */
    gboolean meta;
    float *in;            /* input copy when dim > 0 */
} expect;

static void drain_bus(run *st)
{
    GstMessage *m;
    while ((m = gst_bus_pop(st->bus)) != NULL) {
        if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
            GError *err = NULL;
            gst_message_parse_error(m, &err, NULL);
            st->errors++;
            if (err->domain == GST_RESOURCE_ERROR && err->code == GST_RESOURCE_ERROR_READ)
                st->load_error = TRUE;
            /* every error the element posts says what went wrong */
            FUZZ_CHECK(err->message != NULL && err->message[0] != '\0');
            g_error_free(err);
        }
        gst_message_unref(m);
    }
}

static gboolean token_finite(const float *t, guint dim)
{
    guint k;
    for (k = 0; k < dim; k++)
        if (!isfinite(t[k]))
            return FALSE;
    return TRUE;
}

static void check_tensor(const expect *e, GstBuffer *out)
{
    GstMapInfo map;
    const guint ntok = (guint)(e->size / (4 * e->dim));
    guint t, nonfinite = 0;
    FUZZ_CHECK(gst_buffer_map(out, &map, GST_MAP_READ));
    for (t = 0; t < ntok; t++) {
        const float *in = e->in + (gsize)t * e->dim;
        const float *o = (const float *)(void *)map.data + (gsize)t * e->dim;
        if (token_finite(in, e->dim)) {
            FUZZ_CHECK(token_finite(o, e->dim));
        } else {
            nonfinite++;
            FUZZ_CHECK(memcmp(in, o, e->dim * sizeof(float)) == 0);
        }
    }
    gst_buffer_unmap(out, &map);

    GstCustomMeta *cm = gst_buffer_get_custom_meta(out, "GstBitTTTSurpriseMeta");
    FUZZ_CHECK((cm != NULL) == e->meta);
    if (cm) {
        GstStructure *s = gst_custom_meta_get_structure(cm);
        guint tokens = 0, skipped = 0;
        FUZZ_CHECK(gst_structure_get_uint(s, "tokens", &tokens) && tokens == ntok);
        FUZZ_CHECK(gst_structure_get_uint(s, "skipped", &skipped) && skipped == nonfinite);
    }
}

/* Every output: an accepted tensor buffer (its sequence number in OFFSET)
 * in order, or audio (the delay line trims, drops, restamps and drains its
 * buffers: whole floats is all that is checked here; the sample counts are
 * the element tests' business). */
static void pull_all(run *st)
{
    GstBuffer *out;
    while ((out = gst_harness_try_pull(st->h)) != NULL) {
        expect *e = g_queue_peek_head(&st->pushed);
        if (e == NULL || e->seq != GST_BUFFER_OFFSET(out)) {
            FUZZ_CHECK(gst_buffer_get_size(out) % 4 == 0);
        } else {
            g_queue_pop_head(&st->pushed);
            FUZZ_CHECK(gst_buffer_get_size(out) == e->size);
            if (e->dim > 0)
                check_tensor(e, out);
            g_free(e->in);
            g_free(e);
        }
        gst_buffer_unref(out);
    }
}

static void remember_caps(run *st, GstCaps *caps, const caps_info *ci)
{
    st->caps[st->ncaps] = gst_caps_ref(caps);
    st->info[st->ncaps++] = *ci;
}

/* what the harness knows of the caps the element holds now */
static caps_info applied_caps(run *st)
{
    caps_info ci = {FALSE, 0, 0};
    GstPad *pad = gst_element_get_static_pad(st->h->element, "sink");
    GstCaps *cur = gst_pad_get_current_caps(pad);
    guint i;
    for (i = st->ncaps; cur && i-- > 0;)
        if (gst_caps_is_equal(cur, st->caps[i])) {
            ci = st->info[i];
            break;
        }
    if (cur)
        gst_caps_unref(cur);
    gst_object_unref(pad);
    return ci;
}

static void push_buffer(run *st, reader *r, const caps_info *ci, size_t *budget)
{
    const uint8_t how = u8(r), flags = u8(r);
    const uint16_t arg = u16(r);
    size_t bytes;
    switch (how % 4) {
    case 0: /* a whole number of tokens or frames for the current caps */
        if (ci->dim)
            bytes = (size_t)ci->dim * 4 * (arg % 9);
        else if (ci->channels)
            bytes = (size_t)ci->channels * 4 * (arg % 2048);
        else
            bytes = 4 * (size_t)(arg % 512);
        break;
    case 1: /* any number of floats */
        bytes = 4 * (size_t)(arg % 8192);
        break;
    case 2: /* any number of bytes */
        bytes = arg % 8192;
        break;
    default: /* one short of a whole number of tokens */
        bytes = ci->dim ? (size_t)ci->dim * 4 * (1 + arg % 4) - 4 : 4;
        break;
    }
    if (bytes / 4 > *budget)
        return;
    *budget -= bytes / 4;

    GstBuffer *buf = gst_buffer_new_allocate(NULL, bytes, NULL);
    GstMapInfo map;
    FUZZ_CHECK(gst_buffer_map(buf, &map, GST_MAP_WRITE));
    if (bytes >= 4)
        fill(r, (float *)(void *)map.data, bytes / 4);
    else if (bytes > 0)
        memset(map.data, 0x7f, bytes);
    expect *e = g_new0(expect, 1);
    e->seq = st->seq++;
    e->size = bytes;
    e->meta = st->meta;
    e->in = g_memdup2(map.data, bytes);
    gst_buffer_unmap(buf, &map);

    GST_BUFFER_OFFSET(buf) = e->seq;
    if (flags & 1)
        GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
    if (flags & 2)
        GST_BUFFER_PTS(buf) = e->seq * 10 * GST_MSECOND;
    if (flags & 4)
        GST_BUFFER_DURATION(buf) = (flags >> 4) * GST_MSECOND;
    /* a second reference makes it read-only: the element must copy */
    GstBuffer *extra = (flags & 8) ? gst_buffer_ref(buf) : NULL;

    GstFlowReturn ret = gst_harness_push(st->h, buf);
    if (extra)
        gst_buffer_unref(extra);
    drain_bus(st);
    if (ret == GST_FLOW_OK) {
        const caps_info now = applied_caps(st);
        /* a tensor buffer is accepted only as a whole number of tokens */
        FUZZ_CHECK(now.dim == 0 || bytes % (4 * (size_t)now.dim) == 0);
        e->dim = now.dim;
        if (e->dim) {
            const guint ntok = (guint)(bytes / (4 * e->dim));
            guint t;
            st->tokens += ntok;
            for (t = 0; t < ntok; t++)
                st->skipped += !token_finite(e->in + (gsize)t * e->dim, e->dim);
            g_queue_push_tail(&st->pushed, e);
        } else {
            st->exact = FALSE;
            g_free(e->in);
            g_free(e);
        }
    } else {
        /* an element error must have been posted with the failure */
        if (ret == GST_FLOW_ERROR)
            FUZZ_CHECK(st->errors > 0);
        g_free(e->in);
        g_free(e);
    }
    pull_all(st);
    /* in place, so a tensor buffer leaves at once */
    FUZZ_CHECK(g_queue_is_empty(&st->pushed));
}

static void set_property(run *st, reader *r)
{
    GstElement *el = st->h->element;
    const uint8_t which = u8(r), v = u8(r);
    switch (which % 9) {
    case 0:
        g_object_set(el, "inner-lr", 2.0f * v / 255.0f, NULL);
        break;
    case 1:
        g_object_set(el, "learning", (gboolean)(v & 1), NULL);
        break;
    case 2:
        g_object_set(el, "reset-on", (guint)(v & 15), NULL);
        break;
    case 3:
        st->meta = v & 1;
        g_object_set(el, "surprise-meta", st->meta, NULL);
        break;
    case 4:
        g_object_set(el, "post-messages", (gboolean)(v & 1), NULL);
        break;
    case 5:
        g_object_set(el, "interval", (guint64)1 + (guint64)v * v * 1000, NULL);
        break;
    case 6: /* READY-only settings changed while playing: read at the next caps */
        g_object_set(el, "frames-per-token", 1u + v % 64, NULL);
        break;
    case 7:
        g_object_set(el, "hidden-dim", 4u * (v % 65), NULL);
        break;
    default: {
        guint64 a = 0, b = 0;
        gchar *kernel = NULL;
        g_object_get(el, "tokens-processed", &a, "tokens-skipped", &b, "kernel", &kernel, NULL);
        FUZZ_CHECK(b <= a);
        g_free(kernel);
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, size, 0};
    run st;
    caps_info ci;
    size_t budget = MAX_TOTAL_FLOATS;
    gchar *file_bytes = NULL;
    gsize file_len = 0;
    guint ncaps = 0, op;

    LLVMFuzzerInitialize(NULL, NULL);
    if (size < 4)
        return 0;
    memset(&st, 0, sizeof st);
    g_queue_init(&st.pushed);
    st.exact = TRUE;

    const uint8_t flags = u8(&r), lr = u8(&r), reset_on = u8(&r);
    const gboolean audio = flags & 1;
    GstCaps *caps = read_caps(&r, audio, &ci);
    if (caps == NULL)
        return 0;

    st.h = gst_harness_new("bitttt");
    st.bus = gst_bus_new();
    gst_element_set_bus(st.h->element, st.bus);
    st.meta = (flags & 4) != 0;
    g_object_set(st.h->element, "learning", (gboolean)((flags & 2) != 0),
                 "surprise-meta", st.meta, "post-messages", (gboolean)((flags & 8) != 0),
                 "inner-lr", 2.0f * lr / 255.0f, "reset-on", (guint)(reset_on & 15),
                 "frames-per-token", 1u + (reset_on >> 4) * 3, NULL);
    if (flags & 64)
        g_object_set(st.h->element, "hidden-dim", ci.dim ? ci.dim : 48u, NULL);
    if (flags & 128)
        g_object_set(st.h->element, "interval", (guint64)1 + u8(&r), NULL);

    g_unlink(state_path);
    switch ((flags >> 4) & 3) {
    case 1:
        file_len = u16(&r) % 4096;
        file_bytes = g_malloc(file_len + 1);
        for (gsize k = 0; k < file_len; k++)
            file_bytes[k] = (gchar)u8(&r);
        FUZZ_CHECK(g_file_set_contents(state_path, file_bytes, file_len, NULL));
        g_object_set(st.h->element, "state-location", state_path, NULL);
        break;
    case 2:
        g_object_set(st.h->element, "state-location", missing_path, NULL);
        break;
    default:
        break;
    }

    remember_caps(&st, caps, &ci);
    gst_harness_set_src_caps(st.h, caps);
    ncaps++;
    drain_bus(&st);

    for (op = 0; op < MAX_OPS && r.i < r.n; op++) {
        const uint8_t code = u8(&r);
        switch (code % 12) {
        default: /* buffers are the common case */
            push_buffer(&st, &r, &ci, &budget);
            break;
        case 4:
            gst_harness_push_event(st.h, gst_event_new_flush_start());
            if (!(code & 0x80)) {
                /* as a source does: the flush dropped the segment */
                GstSegment seg;
                gst_harness_push_event(st.h, gst_event_new_flush_stop(code & 0x40));
                gst_segment_init(&seg, GST_FORMAT_TIME);
                gst_harness_push_event(st.h, gst_event_new_segment(&seg));
            }
            break;
        case 5: {
            GstSegment seg;
            gst_segment_init(&seg, (code & 0x80) ? GST_FORMAT_BYTES : GST_FORMAT_TIME);
            seg.start = (guint64)u8(&r) * GST_MSECOND;
            if (code & 0x40) {
                /* reverse playback needs a stop */
                seg.rate = -1.0;
                seg.stop = seg.start + GST_SECOND;
            }
            gst_harness_push_event(st.h, gst_event_new_segment(&seg));
            break;
        }
        case 6:
            gst_harness_push_event(st.h, gst_event_new_eos());
            break;
        case 7: {
            caps_info nci;
            GstCaps *c = read_caps(&r, (code & 0x80) != 0, &nci);
            if (c) {
                /* refused after EOS or while flushing, which
                 * gst_harness_set_src_caps would take for a failure */
                remember_caps(&st, c, &nci);
                gst_harness_push_event(st.h, gst_event_new_caps(c));
                gst_caps_unref(c);
                ci = nci;
                ncaps++;
            }
            break;
        }
        case 8:
            set_property(&st, &r);
            break;
        case 9:
            g_signal_emit_by_name(st.h->element, "reset");
            break;
        case 10:
            gst_harness_push_event(st.h, gst_event_new_stream_start((code & 0x80) ? "a" : "b"));
            break;
        case 11: {
            GstQuery *q = gst_query_new_latency();
            gst_pad_peer_query(st.h->sinkpad, q);
            gst_query_unref(q);
            break;
        }
        }
        drain_bus(&st);
        pull_all(&st);
    }

    if (st.exact && !audio && ncaps == 1) {
        guint64 a = 0, b = 0;
        g_object_get(st.h->element, "tokens-processed", &a, "tokens-skipped", &b, NULL);
        FUZZ_CHECK(a == st.tokens && b == st.skipped);
    }
    pull_all(&st);
    FUZZ_CHECK(g_queue_is_empty(&st.pushed));

    gst_harness_teardown(st.h);
    drain_bus(&st);
    gst_object_unref(st.bus);
    for (guint i = 0; i < st.ncaps; i++)
        gst_caps_unref(st.caps[i]);

    if (file_bytes) {
        /* a file that could not be loaded is never overwritten */
        if (st.load_error && ncaps == 1) {
            gchar *now = NULL;
            gsize now_len = 0;
            FUZZ_CHECK(g_file_get_contents(state_path, &now, &now_len, NULL));
            FUZZ_CHECK(now_len == file_len && memcmp(now, file_bytes, file_len) == 0);
            g_free(now);
        }
        g_free(file_bytes);
    }
    return 0;
}
