/*
 * The weight file: parse, validate, hash (through ttt_install_projections)
 * and write. A safetensors file (docs/SPEC.md, "Weight file"):
 *   u64 N (little-endian), N bytes of JSON header (trailing spaces allowed),
 *   then the data buffer, which the tensors fill exactly, without overlap.
 * Tensors: down I8 [d, D], up I8 [D, d], down_v I8 [d, D] (MULTIVIEW only),
 * down_scale, up_scale, down_v_scale F32 [1]. The header is read by json-c;
 * every byte of the file is caller data, so every field is checked before
 * the model changes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef TTT_HAVE_JSONC
#include <json-c/json.h>

/* Far above any header this format needs (a few hundred bytes), small
 * enough that a hostile one costs little to reject. */
#define HEADER_MAX ((size_t)1 << 20)
/* The nesting the format uses is 3 (tensor, shape); json-c stops deeper. */
#define JSON_DEPTH 4
/* Scales above this are no projection scale: with int8 activations and
 * D <= 65536 they keep s * 127 * D far inside f32. */
#define SCALE_MAX 65536.0f

enum { T_DOWN, T_UP, T_DOWN_V, T_DOWN_SCALE, T_UP_SCALE, T_DOWN_V_SCALE, N_TENSORS };

static const char *const tensor_name[N_TENSORS] = {
    "down", "up", "down_v", "down_scale", "up_scale", "down_v_scale",
};
static const char *const objective_name[] = {"reconstruct", "multiview", "next"};
static const char *const norm_name[] = {"auto", "l2", "none"};

/* What the header says, once it passed every check that needs no data. */
typedef struct header {
    size_t D, d;
    uint32_t objective, feature_norm; /* feature_norm resolved, never AUTO */
    int residual;
    int present[N_TENSORS];
    size_t begin[N_TENSORS], end[N_TENSORS]; /* within the data buffer */
    size_t data_len;                         /* the sum of the tensors' sizes */
} header;

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int lookup(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

/* A metadata value: a string, as safetensors requires of them all. */
static const char *meta_str(json_object *meta, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(meta, key, &v) ? json_object_get_string(v) : NULL;
}

/* A decimal dimension in [lo, hi]: digits only, no sign, no leading zero. */
static int parse_dim(const char *s, size_t lo, size_t hi, size_t *out)
{
    size_t v = 0;
    if (!s || !*s || (s[0] == '0' && s[1]) || strlen(s) > 6)
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        v = v * 10 + (size_t)(*s - '0');
    }
    *out = v;
    return v >= lo && v <= hi;
}

/* A non-negative JSON integer at most max (json-c clamps huge ones, which
 * then fail the bound). */
static int get_uint(json_object *v, size_t max, size_t *out)
{
    if (!json_object_is_type(v, json_type_int))
        return 0;
    const int64_t i = json_object_get_int64(v);
    if (i < 0 || (uint64_t)i > max)
        return 0;
    *out = (size_t)i;
    return 1;
}

static int parse_meta(json_object *meta, header *h)
{
    if (!json_object_is_type(meta, json_type_object))
        return TTT_ERR_WEIGHTS;
    json_object_object_foreach(meta, key, val) {
        (void)key;
        /* a string holding NUL would compare equal to its prefix */
        if (!json_object_is_type(val, json_type_string) ||
            strlen(json_object_get_string(val)) != (size_t)json_object_get_string_len(val))
            return TTT_ERR_WEIGHTS;
    }
    const char *format = meta_str(meta, "format"), *version = meta_str(meta, "format_version");
    if (!format || strcmp(format, "bitttt-weights") || !version)
        return TTT_ERR_WEIGHTS;
    if (strcmp(version, "1"))
        return TTT_ERR_VERSION;
    const char *obj = meta_str(meta, "objective"), *norm = meta_str(meta, "feature_norm");
    const char *res = meta_str(meta, "residual");
    const int o = obj ? lookup(obj, objective_name, 3) : -1;
    const int f = norm ? lookup(norm, norm_name, 3) : -1;
    if (!parse_dim(meta_str(meta, "hidden_dim"), 4, TTT_MAX_HIDDEN_DIM, &h->D) || h->D % 4 ||
        !parse_dim(meta_str(meta, "state_dim"), 1, TTT_MAX_STATE_DIM, &h->d) || o < 0 || f < 0 ||
        !res || (strcmp(res, "0") && strcmp(res, "1")))
        return TTT_ERR_WEIGHTS;
    h->objective = (uint32_t)o;
    h->feature_norm = f != TTT_FEATURE_NORM_AUTO ? (uint32_t)f
                      : o == TTT_OBJECTIVE_RECONSTRUCT ? TTT_FEATURE_NORM_L2
                                                       : TTT_FEATURE_NORM_NONE;
    h->residual = res[0] == '1';
    if (h->residual && o != TTT_OBJECTIVE_MULTIVIEW)
        return TTT_ERR_WEIGHTS;
    return TTT_OK;
}

/* One tensor entry: its dtype and shape as the format fixes them, and its
 * data_offsets, which must span exactly its size. */
static int parse_tensor(json_object *t, int which, header *h)
{
    const int scale = which >= T_DOWN_SCALE;
    const size_t rows = which == T_UP ? h->D : h->d, cols = which == T_UP ? h->d : h->D;
    json_object *dtype, *shape, *offs;
    if (!json_object_is_type(t, json_type_object) || json_object_object_length(t) != 3 ||
        !json_object_object_get_ex(t, "dtype", &dtype) ||
        !json_object_object_get_ex(t, "shape", &shape) ||
        !json_object_object_get_ex(t, "data_offsets", &offs) ||
        !json_object_is_type(dtype, json_type_string) ||
        strcmp(json_object_get_string(dtype), scale ? "F32" : "I8") ||
        !json_object_is_type(shape, json_type_array) || !json_object_is_type(offs, json_type_array) ||
        json_object_array_length(shape) != (scale ? 1u : 2u) || json_object_array_length(offs) != 2)
        return TTT_ERR_WEIGHTS;
    size_t s0, s1 = 0, b, e;
    if (!get_uint(json_object_array_get_idx(shape, 0), TTT_MAX_HIDDEN_DIM, &s0) ||
        (!scale && !get_uint(json_object_array_get_idx(shape, 1), TTT_MAX_HIDDEN_DIM, &s1)) ||
        !get_uint(json_object_array_get_idx(offs, 0), SIZE_MAX, &b) ||
        !get_uint(json_object_array_get_idx(offs, 1), SIZE_MAX, &e))
        return TTT_ERR_WEIGHTS;
    if (scale ? s0 != 1 : (s0 != rows || s1 != cols))
        return TTT_ERR_WEIGHTS;
    /* dims are bounded (2^16 x 2^14), so the size cannot overflow */
    const size_t size = scale ? 4 : rows * cols;
    if (e < b || e - b != size)
        return TTT_ERR_WEIGHTS;
    h->present[which] = 1;
    h->begin[which] = b;
    h->end[which] = e;
    h->data_len += size;
    return TTT_OK;
}

static int parse_header(const char *text, size_t n, header *h)
{
    memset(h, 0, sizeof *h);
    if (n < 2 || text[0] != '{')
        return TTT_ERR_WEIGHTS;
    json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
    if (!tok)
        return TTT_ERR_NOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = json_tokener_parse_ex(tok, text, (int)n);
    int err = TTT_ERR_WEIGHTS;
    if (!root || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_is_type(root, json_type_object))
        goto out;
    for (size_t i = json_tokener_get_parse_end(tok); i < n; i++)
        if (text[i] != ' ')
            goto out; /* safetensors pads the header with spaces, nothing else */

    json_object *meta, *tensors[N_TENSORS] = {0};
    if (!json_object_object_get_ex(root, "__metadata__", &meta) || (err = parse_meta(meta, h)))
        goto out;
    err = TTT_ERR_WEIGHTS;
    json_object_object_foreach(root, key, val) {
        if (!strcmp(key, "__metadata__"))
            continue;
        const int which = lookup(key, tensor_name, N_TENSORS);
        if (which < 0)
            goto out; /* no tensor this format does not define */
        tensors[which] = val;
    }
    const int multiview = h->objective == TTT_OBJECTIVE_MULTIVIEW;
    for (int i = 0; i < N_TENSORS; i++) {
        const int wanted = multiview || (i != T_DOWN_V && i != T_DOWN_V_SCALE);
        err = !tensors[i] != !wanted ? TTT_ERR_WEIGHTS : wanted ? parse_tensor(tensors[i], i, h) : TTT_OK;
        if (err)
            goto out;
    }
    err = TTT_ERR_WEIGHTS;
    for (int i = 0; i < N_TENSORS; i++)
        for (int j = i + 1; j < N_TENSORS; j++)
            if (h->present[i] && h->present[j] && h->begin[i] < h->end[j] && h->begin[j] < h->end[i])
                goto out; /* overlapping data */
    err = TTT_OK;
out:
    json_object_put(root);
    json_tokener_free(tok);
    return err;
}

static int check_model(const ttt_model *m, const header *h)
{
    if (h->D != m->D || h->d != m->d || h->objective != m->cfg.objective ||
        h->feature_norm != m->cfg.feature_norm || h->residual != m->cfg.residual)
        return TTT_ERR_WEIGHTS_MISMATCH;
    return TTT_OK;
}

/* A scale: f32 little-endian, finite, in (0, SCALE_MAX]. */
static int get_scale(const unsigned char *p, float *s)
{
    const uint32_t b = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    memcpy(s, &b, 4);
    return *s > 0.0f && *s <= SCALE_MAX; /* false for NaN */
}

/* rows x cols int8 ternary values into the biased layout (stride, padded
 * with 1) that ttt_install_projections takes; 0 on a value outside {-1, 0, 1} */
static int get_ternary(const unsigned char *p, size_t rows, size_t cols, uint8_t *w, size_t stride)
{
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < cols; c++) {
            const unsigned char v = p[r * cols + c];
            if (v != 0 && v != 1 && v != 0xff)
                return 0;
            w[r * stride + c] = (uint8_t)(v + 1); /* 0xff wraps to 0 */
        }
        memset(w + r * stride + cols, 1, stride - cols);
    }
    return 1;
}

int ttt_load_weights_mem(ttt_model *m, const void *buf, size_t len)
{
    if (!m || !buf)
        return TTT_ERR_INVALID_ARG;
    const unsigned char *p = buf;
    if (len < 8)
        return TTT_ERR_WEIGHTS;
    const uint64_t n64 = get64(p);
    if (n64 > HEADER_MAX || n64 > len - 8)
        return TTT_ERR_WEIGHTS;
    const size_t n = (size_t)n64;
    header h;
    int err;
    if ((err = parse_header((const char *)p + 8, n, &h)) || (err = check_model(m, &h)))
        return err;
    /* the tensors lie inside the buffer, do not overlap, and sum to its
     * size: together they fill it exactly */
    const unsigned char *data = p + 8 + n;
    const size_t data_len = len - 8 - n;
    if (h.data_len != data_len)
        return TTT_ERR_WEIGHTS;
    for (int i = 0; i < N_TENSORS; i++)
        if (h.present[i] && h.end[i] > data_len)
            return TTT_ERR_WEIGHTS;
    float s_down, s_up, s_down_v = 0.0f;
    if (!get_scale(data + h.begin[T_DOWN_SCALE], &s_down) || !get_scale(data + h.begin[T_UP_SCALE], &s_up) ||
        (h.present[T_DOWN_V_SCALE] && !get_scale(data + h.begin[T_DOWN_V_SCALE], &s_down_v)))
        return TTT_ERR_WEIGHTS;

    const size_t D = m->D, d = m->d;
    uint8_t *down = ttt_aligned_alloc(m->nd * m->Dq), *up = ttt_aligned_alloc(D * m->dq);
    err = TTT_ERR_NOMEM;
    if (!down || !up)
        goto fail;
    err = TTT_ERR_WEIGHTS;
    if (!get_ternary(data + h.begin[T_DOWN], d, D, down, m->Dq) ||
        !get_ternary(data + h.begin[T_UP], D, d, up, m->dq) ||
        (m->nd > d && !get_ternary(data + h.begin[T_DOWN_V], d, D, down + d * m->Dq, m->Dq)))
        goto fail;

    /* everything is valid: only now touch the model */
    ttt_install_projections(m, down, up, s_down, s_up, s_down_v);
    ttt_aligned_free(m->src_down);
    ttt_aligned_free(m->src_up);
    m->src_down = down;
    m->src_up = up;
    return ttt_reset(m);
fail:
    ttt_aligned_free(down);
    ttt_aligned_free(up);
    return err;
}

/* Reads n bytes; 0 if the file ends first. */
static int read_exact(FILE *f, void *p, size_t n)
{
    return fread(p, 1, n, f) == n;
}

int ttt_load_weights(ttt_model *m, const char *path)
{
    if (!m || !path)
        return TTT_ERR_INVALID_ARG;
    FILE *f = fopen(path, "rb");
    if (!f)
        return TTT_ERR_IO;
    /* The header first, checked against the model, so that a file that does
     * not fit is refused before its data is read, and the buffer is never
     * bigger than this model's projections. */
    unsigned char *buf = NULL;
    unsigned char n8[8];
    header h;
    int err = TTT_ERR_WEIGHTS;
    if (!read_exact(f, n8, 8))
        goto out;
    if (get64(n8) > HEADER_MAX)
        goto out;
    const size_t n = (size_t)get64(n8);
    err = TTT_ERR_NOMEM;
    if (!(buf = malloc(8 + n)))
        goto out;
    err = TTT_ERR_WEIGHTS;
    memcpy(buf, n8, 8);
    if (!read_exact(f, buf + 8, n))
        goto out;
    if ((err = parse_header((const char *)buf + 8, n, &h)) || (err = check_model(m, &h)))
        goto out;
    unsigned char *grown = realloc(buf, 8 + n + h.data_len + 1);
    err = TTT_ERR_NOMEM;
    if (!grown)
        goto out;
    buf = grown;
    /* one byte more than the tensors need: a longer file is no valid file */
    const size_t got = fread(buf + 8 + n, 1, h.data_len + 1, f);
    err = ferror(f) ? TTT_ERR_IO : ttt_load_weights_mem(m, buf, 8 + n + got);
out:
    free(buf);
    fclose(f);
    return err;
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Adds child (which may be NULL: a failed allocation) to parent under key,
 * or to the array parent when key is NULL; the parent owns it from then
 * on. Returns child, or NULL after putting it. */
static json_object *add(json_object *parent, const char *key, json_object *child)
{
    if (child && !(key ? json_object_object_add(parent, key, child) : json_object_array_add(parent, child)))
        return child;
    json_object_put(child);
    return NULL;
}

/* A tensor entry in the file's order: its data follows the one before. */
static int add_tensor(json_object *root, int which, size_t rows, size_t cols, size_t *off)
{
    const int scale = which >= T_DOWN_SCALE;
    const size_t size = scale ? 4 : rows * cols;
    json_object *t = add(root, tensor_name[which], json_object_new_object());
    json_object *shape = t && add(t, "dtype", json_object_new_string(scale ? "F32" : "I8"))
                         ? add(t, "shape", json_object_new_array()) : NULL;
    json_object *offs = shape ? add(t, "data_offsets", json_object_new_array()) : NULL;
    if (!offs || !add(shape, NULL, json_object_new_int64((int64_t)(scale ? 1 : rows))) ||
        (!scale && !add(shape, NULL, json_object_new_int64((int64_t)cols))) ||
        !add(offs, NULL, json_object_new_int64((int64_t)*off)) ||
        !add(offs, NULL, json_object_new_int64((int64_t)(*off + size))))
        return 0;
    *off += size;
    return 1;
}

/* The header of this model's file; NULL on allocation failure. The caller
 * puts the returned object. */
static json_object *make_header(const ttt_model *m, const char *training_data)
{
    json_object *root = json_object_new_object();
    json_object *meta = root ? add(root, "__metadata__", json_object_new_object()) : NULL;
    if (!meta) {
        json_object_put(root);
        return NULL;
    }
    char D[24], d[24];
    snprintf(D, sizeof D, "%zu", m->D);
    snprintf(d, sizeof d, "%zu", m->d);
    const char *const meta_kv[][2] = {
        {"format", "bitttt-weights"},
        {"format_version", "1"},
        {"hidden_dim", D},
        {"state_dim", d},
        {"objective", objective_name[m->cfg.objective]},
        {"feature_norm", norm_name[m->cfg.feature_norm]},
        {"residual", m->cfg.residual ? "1" : "0"},
        {"training_data", training_data ? training_data : ""},
    };
    int ok = 1;
    for (size_t i = 0; ok && i < sizeof meta_kv / sizeof meta_kv[0]; i++)
        ok = add(meta, meta_kv[i][0], json_object_new_string(meta_kv[i][1])) != NULL;
    const int mv = m->nd > m->d;
    size_t off = 0;
    ok = ok && add_tensor(root, T_DOWN, m->d, m->D, &off) && add_tensor(root, T_UP, m->D, m->d, &off) &&
         (!mv || add_tensor(root, T_DOWN_V, m->d, m->D, &off)) &&
         add_tensor(root, T_DOWN_SCALE, 1, 1, &off) && add_tensor(root, T_UP_SCALE, 1, 1, &off) &&
         (!mv || add_tensor(root, T_DOWN_V_SCALE, 1, 1, &off));
    if (!ok) {
        json_object_put(root);
        return NULL;
    }
    return root;
}

static void put_ternary(unsigned char *p, const uint8_t *w, size_t rows, size_t cols, size_t stride)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            p[r * cols + c] = (unsigned char)(w[r * stride + c] - 1); /* 0 wraps to 0xff: -1 */
}

static void put_scale(unsigned char *p, float s)
{
    uint32_t b;
    memcpy(&b, &s, 4);
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(b >> (8 * i));
}

int ttt_save_weights(const ttt_model *m, const char *path, const char *training_data)
{
    if (!m || !path || !*path)
        return TTT_ERR_INVALID_ARG;
    uint8_t *down = m->src_down, *up = m->src_up, *drawn_down = NULL, *drawn_up = NULL;
    unsigned char *buf = NULL;
    char *tmp = NULL;
    FILE *f = NULL;
    json_object *root = NULL;
    int err;
    if (!down && (err = ttt_draw_projections(m, &drawn_down, &drawn_up)))
        return err;
    if (!down) {
        down = drawn_down;
        up = drawn_up;
    }
    err = TTT_ERR_NOMEM;
    if (!(root = make_header(m, training_data)))
        goto out;
    const char *json = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (!json)
        goto out;
    /* pad with spaces so the data starts 8-aligned, as safetensors does */
    const size_t jn = strlen(json), n = (jn + 7) / 8 * 8;
    const size_t D = m->D, d = m->d, nv = m->nd / d;
    const size_t data_len = nv * d * D + D * d + 4 * (nv + 1), total = 8 + n + data_len;
    if (!(buf = malloc(total)) || !(tmp = malloc(strlen(path) + 5)))
        goto out;
    put_u64(buf, n);
    memcpy(buf + 8, json, jn);
    memset(buf + 8 + jn, ' ', n - jn);
    unsigned char *p = buf + 8 + n;
    put_ternary(p, down, d, D, m->Dq);
    p += d * D;
    put_ternary(p, up, D, d, m->dq);
    p += D * d;
    if (nv > 1) {
        put_ternary(p, down + d * m->Dq, d, D, m->Dq);
        p += d * D;
    }
    put_scale(p, m->s_down);
    put_scale(p + 4, m->s_up);
    if (nv > 1)
        put_scale(p + 8, m->s_down_v);
    /* what it writes, it reads back: the one check that covers the
     * caller's text (json-c writes it unchecked; the reader wants UTF-8) */
    header h;
    err = parse_header((const char *)buf + 8, n, &h);
    if (err == TTT_ERR_WEIGHTS)
        err = TTT_ERR_INVALID_ARG;
    if (err)
        goto out;
    sprintf(tmp, "%s.tmp", path);
    err = TTT_ERR_IO;
    if (!(f = fopen(tmp, "wb")))
        goto out;
    const int bad = fwrite(buf, 1, total, f) != total;
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        remove(tmp);
        goto out;
    }
    err = TTT_OK;
out:
    json_object_put(root);
    ttt_aligned_free(drawn_down);
    ttt_aligned_free(drawn_up);
    free(buf);
    free(tmp);
    return err;
}

#else /* !TTT_HAVE_JSONC */

int ttt_load_weights_mem(ttt_model *m, const void *buf, size_t len)
{
    (void)len;
    return !m || !buf ? TTT_ERR_INVALID_ARG : TTT_ERR_UNSUPPORTED;
}

int ttt_load_weights(ttt_model *m, const char *path)
{
    return !m || !path ? TTT_ERR_INVALID_ARG : TTT_ERR_UNSUPPORTED;
}

int ttt_save_weights(const ttt_model *m, const char *path, const char *training_data)
{
    (void)training_data;
    return !m || !path || !*path ? TTT_ERR_INVALID_ARG : TTT_ERR_UNSUPPORTED;
}

#endif
