/*
 * Weight files: load, bad files, save round trip, and the projection hash a
 * state records. The files are written here by hand from docs/SPEC.md
 * ("Weight file"), not by the engine, except where the engine's own
 * writer is under test.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bitttt/bitttt.h>

#include "tap.h"

#define HD 8
#define SD 4
#define NTOK 64
#define MAXF (1 << 16)

/* The base file: D = 8, d = 4, RECONSTRUCT; data down 32 B, up 32 B, two scales */
static const char base_json[] =
    "{\"__metadata__\":{\"format\":\"bitttt-weights\",\"format_version\":\"1\","
    "\"hidden_dim\":\"8\",\"state_dim\":\"4\",\"objective\":\"reconstruct\","
    "\"feature_norm\":\"l2\",\"residual\":\"0\",\"training_data\":\"hand-made\"},"
    "\"down\":{\"dtype\":\"I8\",\"shape\":[4,8],\"data_offsets\":[0,32]},"
    "\"up\":{\"dtype\":\"I8\",\"shape\":[8,4],\"data_offsets\":[32,64]},"
    "\"down_scale\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[64,68]},"
    "\"up_scale\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[68,72]}}";

#define BASE_DATA 72

static unsigned char base_data[BASE_DATA];

static void put_f32(unsigned char *p, float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(b >> (8 * i));
}

static void init_base(void)
{
    for (int i = 0; i < 32; i++) {
        base_data[i] = (unsigned char)(signed char)((i * 7) % 3 - 1);
        base_data[32 + i] = (unsigned char)(signed char)((i * 5 + 1) % 3 - 1);
    }
    put_f32(base_data + 64, 0.5f);
    put_f32(base_data + 68, 0.25f);
}

/* u64 header length, the header padded with pad spaces, then the data */
static size_t assemble(unsigned char *out, const char *json, size_t pad, const unsigned char *data, size_t nd)
{
    const size_t n = strlen(json) + pad;
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(out + 8, json, strlen(json));
    memset(out + 8 + strlen(json), ' ', pad);
    memcpy(out + 8 + n, data, nd);
    return 8 + n + nd;
}

static int edit_missed;

/* json with the first occurrence of from replaced by to; the result of
 * one edit may be edited again (two buffers take turns) */
static const char *edit(const char *json, const char *from, const char *to)
{
    static char bufs[2][4096];
    static int turn;
    char *buf = bufs[turn ^= 1];
    const char *at = strstr(json, from);
    if (!at) {
        edit_missed++;
        return "edit: pattern not found";
    }
    snprintf(buf, sizeof bufs[0], "%.*s%s%s", (int)(at - json), json, to, at + strlen(from));
    return buf;
}

static ttt_model *make(size_t D, size_t d, uint32_t objective, uint32_t norm, int residual)
{
    ttt_config c;
    ttt_model *m;
    ttt_config_default(&c);
    c.hidden_dim = D;
    c.state_dim = d;
    c.objective = objective;
    c.feature_norm = norm;
    c.residual = residual;
    c.inner_lr = 0.5f;
    return ttt_create_ex(&c, &m) == TTT_OK ? m : NULL;
}

static ttt_model *make_base(void)
{
    return make(HD, SD, TTT_OBJECTIVE_RECONSTRUCT, TTT_FEATURE_NORM_AUTO, 0);
}

static int load_json(const char *json, const unsigned char *data, size_t nd)
{
    static unsigned char f[MAXF];
    ttt_model *m = make_base();
    const int rc = ttt_load_weights_mem(m, f, assemble(f, json, 0, data, nd));
    ttt_destroy(m);
    return rc;
}

static size_t state_of(ttt_model *m, unsigned char *buf, size_t cap)
{
    size_t n = 0;
    return ttt_state_save(m, buf, cap, &n) == TTT_OK ? n : 0;
}

/* a file of this process: the scalar run of this test runs at the same time */
static const char *temp_file(const char *name)
{
    static char path[2][128];
    static int turn;
    char *p = path[turn ^= 1];
    snprintf(p, sizeof path[0], "%s-%ld.safetensors", name, (long)getpid());
    return p;
}

static int write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(p, 1, n, f) == n;
    return (f && fclose(f) == 0) && ok;
}

static void test_unsupported(void)
{
    static unsigned char f[MAXF];
    ttt_model *m = make_base();
    const size_t n = assemble(f, base_json, 0, base_data, BASE_DATA);
    tap_ok(ttt_load_weights_mem(m, f, n) == TTT_ERR_UNSUPPORTED, "without json-c: load from memory unsupported");
    tap_ok(ttt_load_weights(m, "x.safetensors") == TTT_ERR_UNSUPPORTED, "without json-c: load file unsupported");
    tap_ok(ttt_save_weights(m, "x.safetensors", NULL) == TTT_ERR_UNSUPPORTED, "without json-c: save unsupported");
    tap_ok(ttt_load_weights_mem(NULL, f, n) == TTT_ERR_INVALID_ARG, "without json-c: NULL model invalid");
    tap_ok(strstr(ttt_strerror(TTT_ERR_UNSUPPORTED), "json-c") != NULL, "unsupported message names json-c");
    ttt_destroy(m);
}

static void test_bad_files(void)
{
    static unsigned char f[MAXF], g[MAXF], d2[BASE_DATA];
    tap_ok(load_json(base_json, base_data, BASE_DATA) == TTT_OK, "the base file loads");
    ttt_model *m = make_base();
    size_t n = assemble(f, base_json, 5, base_data, BASE_DATA);
    tap_ok(ttt_load_weights_mem(m, f, n) == TTT_OK, "header padded with spaces loads");

    int all = 1;
    for (size_t cut = 0; cut < n; cut++)
        all &= ttt_load_weights_mem(m, f, cut) == TTT_ERR_WEIGHTS;
    tap_ok(all, "every truncation (0 .. %zu bytes) is TTT_ERR_WEIGHTS", n - 1);
    f[n] = 0;
    tap_ok(ttt_load_weights_mem(m, f, n + 1) == TTT_ERR_WEIGHTS, "a trailing byte");
    memcpy(g, f, n);
    g[8 + strlen(base_json) + 2] = 0;
    tap_ok(ttt_load_weights_mem(m, g, n) == TTT_ERR_WEIGHTS, "a NUL in the padding");
    tap_ok(ttt_load_weights_mem(m, NULL, n) == TTT_ERR_INVALID_ARG && ttt_load_weights_mem(NULL, f, n) == TTT_ERR_INVALID_ARG,
           "NULL buffer or model: TTT_ERR_INVALID_ARG");

    /* header length fields that cannot be */
    memcpy(g, f, n);
    g[5] = 1; /* N = 2^40 + ... */
    tap_ok(ttt_load_weights_mem(m, g, n) == TTT_ERR_WEIGHTS, "header length 2^40");
    memset(g, 0xff, 8);
    tap_ok(ttt_load_weights_mem(m, g, n) == TTT_ERR_WEIGHTS, "header length 2^64 - 1");
    {
        /* a real header of 1 MiB + 1 byte: valid JSON, padded, still refused */
        const size_t big = ((size_t)1 << 20) + 1 - strlen(base_json);
        unsigned char *h = malloc(8 + strlen(base_json) + big + BASE_DATA);
        const size_t hn = assemble(h, base_json, big, base_data, BASE_DATA);
        tap_ok(ttt_load_weights_mem(m, h, hn) == TTT_ERR_WEIGHTS, "header over 1 MiB refused");
        const size_t ok_n = assemble(h, base_json, big - 1, base_data, BASE_DATA);
        tap_ok(ttt_load_weights_mem(m, h, ok_n) == TTT_OK, "header of exactly 1 MiB loads");
        free(h);
    }

    static const struct {
        const char *what, *from, *to;
        int expect;
    } cases[] = {
        {"not JSON", "{\"__metadata__\"", "[\"__metadata__\"", TTT_ERR_WEIGHTS},
        {"garbage after the JSON", "[68,72]}}", "[68,72]}}x", TTT_ERR_WEIGHTS},
        {"a second JSON value", "[68,72]}}", "[68,72]}} {}", TTT_ERR_WEIGHTS},
        {"trailing comma", "[68,72]}}", "[68,72]},}", TTT_ERR_WEIGHTS},
        {"down shape transposed", "[4,8]", "[8,4]", TTT_ERR_WEIGHTS},
        {"down shape of rank 3", "[4,8]", "[4,8,1]", TTT_ERR_WEIGHTS},
        {"down shape of rank 1", "[4,8]", "[32]", TTT_ERR_WEIGHTS},
        {"shape with a float", "[4,8]", "[4.0,8]", TTT_ERR_WEIGHTS},
        {"shape with a negative", "[4,8]", "[-4,8]", TTT_ERR_WEIGHTS},
        {"scale shape [2]", "\"shape\":[1],\"data_offsets\":[64,68]", "\"shape\":[2],\"data_offsets\":[64,68]", TTT_ERR_WEIGHTS},
        {"down dtype U8", "\"I8\"", "\"U8\"", TTT_ERR_WEIGHTS},
        {"down dtype F32", "\"I8\"", "\"F32\"", TTT_ERR_WEIGHTS},
        {"scale dtype F16", "\"F32\"", "\"F16\"", TTT_ERR_WEIGHTS},
        {"dtype not a string", "\"I8\"", "8", TTT_ERR_WEIGHTS},
        {"an extra field in a tensor", "\"dtype\":\"I8\",", "\"dtype\":\"I8\",\"x\":1,", TTT_ERR_WEIGHTS},
        {"overlapping data (up over down)", "[32,64]", "[0,32]", TTT_ERR_WEIGHTS},
        {"data beyond the buffer", "[68,72]", "[100,104]", TTT_ERR_WEIGHTS},
        {"offsets spanning the wrong size", "[0,32]", "[0,31]", TTT_ERR_WEIGHTS},
        {"offsets reversed", "[68,72]", "[72,68]", TTT_ERR_WEIGHTS},
        {"offset 2^64 - 1", "[68,72]", "[18446744073709551615,72]", TTT_ERR_WEIGHTS},
        {"offset beyond 2^64", "[68,72]", "[99999999999999999999999,72]", TTT_ERR_WEIGHTS},
        {"one offset", "[68,72]", "[68]", TTT_ERR_WEIGHTS},
        {"unknown tensor", "\"up_scale\"", "\"up_scales\"", TTT_ERR_WEIGHTS},
        {"down_v without MULTIVIEW", "\"up_scale\"", "\"down_v_scale\"", TTT_ERR_WEIGHTS},
        {"no metadata", "__metadata__", "__metadata", TTT_ERR_WEIGHTS},
        {"metadata not an object", "{\"format\":\"bitttt-weights\"", "[\"format\",\"bitttt-weights\"", TTT_ERR_WEIGHTS},
        {"wrong format", "\"bitttt-weights\"", "\"bitttt-weight\"", TTT_ERR_WEIGHTS},
        {"format with a NUL", "\"bitttt-weights\"", "\"bitttt-weights\\u0000x\"", TTT_ERR_WEIGHTS},
        {"no format version", "\"format_version\":\"1\",", "", TTT_ERR_WEIGHTS},
        {"format version 2", "\"format_version\":\"1\"", "\"format_version\":\"2\"", TTT_ERR_VERSION},
        {"hidden_dim as a number", "\"hidden_dim\":\"8\"", "\"hidden_dim\":8", TTT_ERR_WEIGHTS},
        {"hidden_dim 08", "\"hidden_dim\":\"8\"", "\"hidden_dim\":\"08\"", TTT_ERR_WEIGHTS},
        {"hidden_dim 8x", "\"hidden_dim\":\"8\"", "\"hidden_dim\":\"8x\"", TTT_ERR_WEIGHTS},
        {"hidden_dim 6 (not a multiple of 4)", "\"hidden_dim\":\"8\"", "\"hidden_dim\":\"6\"", TTT_ERR_WEIGHTS},
        {"hidden_dim 2^17", "\"hidden_dim\":\"8\"", "\"hidden_dim\":\"131072\"", TTT_ERR_WEIGHTS},
        {"state_dim 0", "\"state_dim\":\"4\"", "\"state_dim\":\"0\"", TTT_ERR_WEIGHTS},
        {"state_dim disagrees with the shapes", "\"state_dim\":\"4\"", "\"state_dim\":\"2\"", TTT_ERR_WEIGHTS},
        {"no state_dim", "\"state_dim\":\"4\",", "", TTT_ERR_WEIGHTS},
        {"unknown objective", "\"reconstruct\"", "\"predict\"", TTT_ERR_WEIGHTS},
        {"feature_norm L2 (case)", "\"l2\"", "\"L2\"", TTT_ERR_WEIGHTS},
        {"residual 2", "\"residual\":\"0\"", "\"residual\":\"2\"", TTT_ERR_WEIGHTS},
        {"residual without MULTIVIEW", "\"residual\":\"0\"", "\"residual\":\"1\"", TTT_ERR_WEIGHTS},
        {"training_data not a string", "\"hand-made\"", "null", TTT_ERR_WEIGHTS},
        {"no training_data: fine", ",\"training_data\":\"hand-made\"", "", TTT_OK},
        {"an extra metadata key: fine", "\"residual\":\"0\"", "\"residual\":\"0\",\"loss\":\"0.5\"", TTT_OK},
        {"feature_norm auto resolves to l2: fine", "\"l2\"", "\"auto\"", TTT_OK},
        {"feature_norm none: other model", "\"l2\"", "\"none\"", TTT_ERR_WEIGHTS_MISMATCH},
        {"objective next: other model", "\"reconstruct\"", "\"next\"", TTT_ERR_WEIGHTS_MISMATCH},
        {"non-UTF-8 text", "hand-made", "hand-\xff\xfe", TTT_ERR_WEIGHTS},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *json = edit(base_json, cases[k].from, cases[k].to);
        const int rc = load_json(json, base_data, BASE_DATA);
        tap_ok(rc == cases[k].expect, "%s: %s (%d)", cases[k].what, ttt_strerror(rc), rc);
    }

    /* a missing tensor: the entry and its bytes gone, so only its absence is wrong */
    tap_ok(load_json(edit(base_json, ",\"up_scale\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[68,72]}", ""),
                     base_data, BASE_DATA - 4) == TTT_ERR_WEIGHTS, "missing up_scale");
    tap_ok(load_json(edit(base_json, "\"down\":{\"dtype\":\"I8\",\"shape\":[4,8],\"data_offsets\":[0,32]},", ""),
                     base_data, BASE_DATA) == TTT_ERR_WEIGHTS, "missing down");
    /* up moved to the end: order in the buffer is free */
    {
        unsigned char moved[BASE_DATA];
        memcpy(moved, base_data, 32);
        memcpy(moved + 32, base_data + 64, 8);
        memcpy(moved + 40, base_data + 32, 32);
        const char *j = edit(base_json, "[32,64]", "[40,72]");
        j = edit(j, "[64,68]", "[32,36]");
        tap_ok(load_json(edit(j, "[68,72]", "[36,40]"), moved, BASE_DATA) == TTT_OK, "tensors in another order load");
    }

    static const struct {
        const char *what;
        size_t at;
        int byte;
        float scale;
    } values[] = {
        {"down value 2", 3, 2, 0},
        {"down value -2", 31, 0xfe, 0},
        {"up value 127", 40, 127, 0},
        {"up value -128", 63, 0x80, 0},
        {"down_scale NaN", 64, -1, NAN},
        {"up_scale -0.5", 68, -1, -0.5f},
        {"down_scale 0", 64, -1, 0.0f},
        {"down_scale -0", 64, -1, -0.0f},
        {"up_scale +Inf", 68, -1, INFINITY},
        {"up_scale 1e6 (over 65536)", 68, -1, 1e6f},
    };
    for (size_t k = 0; k < sizeof values / sizeof values[0]; k++) {
        memcpy(d2, base_data, BASE_DATA);
        if (values[k].byte >= 0)
            d2[values[k].at] = (unsigned char)values[k].byte;
        else
            put_f32(d2 + values[k].at, values[k].scale);
        const int rc = load_json(base_json, d2, BASE_DATA);
        tap_ok(rc == TTT_ERR_WEIGHTS, "%s: %s (%d)", values[k].what, ttt_strerror(rc), rc);
    }
    memcpy(d2, base_data, BASE_DATA);
    put_f32(d2 + 68, 65536.0f);
    put_f32(d2 + 64, 1e-30f);
    tap_ok(load_json(base_json, d2, BASE_DATA) == TTT_OK, "scales 1e-30 and 65536 load");

    /* shapes against the model */
    ttt_model *wide = make(12, SD, TTT_OBJECTIVE_RECONSTRUCT, TTT_FEATURE_NORM_AUTO, 0);
    ttt_model *deep = make(HD, 2, TTT_OBJECTIVE_RECONSTRUCT, TTT_FEATURE_NORM_AUTO, 0);
    ttt_model *mv = make(HD, SD, TTT_OBJECTIVE_MULTIVIEW, TTT_FEATURE_NORM_AUTO, 0);
    n = assemble(f, base_json, 0, base_data, BASE_DATA);
    tap_ok(ttt_load_weights_mem(wide, f, n) == TTT_ERR_WEIGHTS_MISMATCH, "D 8 into a D 12 model: mismatch");
    tap_ok(ttt_load_weights_mem(deep, f, n) == TTT_ERR_WEIGHTS_MISMATCH, "d 4 into a d 2 model: mismatch");
    tap_ok(ttt_load_weights_mem(mv, f, n) == TTT_ERR_WEIGHTS_MISMATCH, "RECONSTRUCT into MULTIVIEW: mismatch");
    ttt_destroy(wide);
    ttt_destroy(deep);
    ttt_destroy(mv);
    ttt_destroy(m);
}

static void test_multiview(void)
{
    static unsigned char f[MAXF], data[BASE_DATA + 36];
    const char *json = edit(base_json, "\"reconstruct\",\"feature_norm\":\"l2\",\"residual\":\"0\"",
                            "\"multiview\",\"feature_norm\":\"none\",\"residual\":\"1\"");
    json = edit(json, "[64,68]}", "[64,68]},\"down_v\":{\"dtype\":\"I8\",\"shape\":[4,8],\"data_offsets\":[72,104]},"
                                  "\"down_v_scale\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[104,108]}");
    memcpy(data, base_data, BASE_DATA);
    for (int i = 0; i < 32; i++)
        data[BASE_DATA + i] = (unsigned char)(signed char)((i * 11 + 2) % 3 - 1);
    put_f32(data + BASE_DATA + 32, 0.125f);
    ttt_model *m = make(HD, SD, TTT_OBJECTIVE_MULTIVIEW, TTT_FEATURE_NORM_NONE, 1);
    ttt_model *plain = make(HD, SD, TTT_OBJECTIVE_MULTIVIEW, TTT_FEATURE_NORM_NONE, 0);
    const size_t n = assemble(f, json, 0, data, sizeof data);
    tap_ok(ttt_load_weights_mem(m, f, n) == TTT_OK, "MULTIVIEW with residual loads");
    tap_ok(ttt_load_weights_mem(plain, f, n) == TTT_ERR_WEIGHTS_MISMATCH, "residual file into a plain MULTIVIEW: mismatch");
    data[BASE_DATA + 5] = 3;
    tap_ok(ttt_load_weights_mem(m, f, assemble(f, json, 0, data, sizeof data)) == TTT_ERR_WEIGHTS, "down_v value 3");
    data[BASE_DATA + 5] = 0;
    put_f32(data + BASE_DATA + 32, NAN);
    tap_ok(ttt_load_weights_mem(m, f, assemble(f, json, 0, data, sizeof data)) == TTT_ERR_WEIGHTS, "down_v_scale NaN");
    const char *nov = edit(json, ",\"down_v_scale\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[104,108]}", "");
    tap_ok(ttt_load_weights_mem(m, f, assemble(f, nov, 0, data, sizeof data - 4)) == TTT_ERR_WEIGHTS, "MULTIVIEW without down_v_scale");
    ttt_destroy(m);
    ttt_destroy(plain);
}

/* What a load does to a model: untouched on failure; W reset and the
 * loaded projections in use on success. */
static void test_effect(void)
{
    static unsigned char f[MAXF], zero_up[BASE_DATA], s0[4096], s1[4096];
    static float in[NTOK * HD], out[NTOK * HD], out2[NTOK * HD];
    for (size_t t = 0; t < NTOK; t++)
        for (size_t i = 0; i < HD; i++)
            in[t * HD + i] = sinf(0.9f * (float)(i + 1) * (float)(t % 3 + 1)); /* repeats: W learns */

    ttt_model *m = make_base();
    ttt_forward(m, in, NTOK, out);
    const size_t n0 = state_of(m, s0, sizeof s0);
    memcpy(zero_up, base_data, BASE_DATA);
    zero_up[40] = 9;
    size_t n = assemble(f, base_json, 0, zero_up, BASE_DATA);
    tap_ok(ttt_load_weights_mem(m, f, n) == TTT_ERR_WEIGHTS, "a bad value is refused ...");
    tap_ok(state_of(m, s1, sizeof s1) == n0 && !memcmp(s0, s1, n0), "... and the learned state is untouched");

    /* Up all zero: the layer adds nothing, whatever W has learned */
    memset(zero_up + 32, 0, 32);
    n = assemble(f, base_json, 0, zero_up, BASE_DATA);
    tap_ok(ttt_load_weights_mem(m, f, n) == TTT_OK, "a file with Up = 0 loads");
    ttt_stats st;
    ttt_get_stats(m, &st);
    tap_ok(st.tokens_seen == 0, "loading reset the counters (W with them)");
    ttt_forward(m, in, NTOK, out);
    ttt_get_stats(m, &st);
    tap_ok(!memcmp(in, out, sizeof in) && st.tokens_seen == NTOK, "with Up = 0 every output equals its input");

    /* the base file's Up does change the outputs once W has learned */
    n = assemble(f, base_json, 0, base_data, BASE_DATA);
    tap_ok(ttt_load_weights_mem(m, f, n) == TTT_OK, "the base file loads over it");
    ttt_forward(m, in, NTOK, out);
    tap_ok(memcmp(in, out, sizeof in) != 0, "with the base file's Up the outputs move");
    /* and not like the seed-drawn layer */
    ttt_model *seeded = make_base();
    ttt_forward(seeded, in, NTOK, out2);
    tap_ok(memcmp(out, out2, sizeof out) != 0, "loaded projections differ from the seed-drawn ones");
    ttt_destroy(seeded);
    ttt_destroy(m);
}

static void test_files(void)
{
    static unsigned char f[MAXF];
    const char *path = temp_file("test_weights");
    ttt_model *m = make_base();
    const size_t n = assemble(f, base_json, 3, base_data, BASE_DATA);
    tap_ok(ttt_load_weights(m, "no/such/file.safetensors") == TTT_ERR_IO, "a missing file: TTT_ERR_IO");
    tap_ok(ttt_load_weights(m, NULL) == TTT_ERR_INVALID_ARG, "NULL path: TTT_ERR_INVALID_ARG");
    tap_ok(write_bytes(path, f, n) && ttt_load_weights(m, path) == TTT_OK, "a file loads");
    tap_ok(write_bytes(path, f, n - 1) && ttt_load_weights(m, path) == TTT_ERR_WEIGHTS, "a file one byte short");
    tap_ok(write_bytes(path, f, 20) && ttt_load_weights(m, path) == TTT_ERR_WEIGHTS, "a file cut in the header");
    tap_ok(write_bytes(path, f, 3) && ttt_load_weights(m, path) == TTT_ERR_WEIGHTS, "a file of 3 bytes");
    f[n] = 1;
    tap_ok(write_bytes(path, f, n + 1) && ttt_load_weights(m, path) == TTT_ERR_WEIGHTS, "a file one byte long");
    f[7] = 0x7f;
    tap_ok(write_bytes(path, f, n) && ttt_load_weights(m, path) == TTT_ERR_WEIGHTS, "a file claiming a 2^63 byte header");
    ttt_model *wide = make(12, SD, TTT_OBJECTIVE_RECONSTRUCT, TTT_FEATURE_NORM_AUTO, 0);
    assemble(f, base_json, 3, base_data, BASE_DATA);
    tap_ok(write_bytes(path, f, n) && ttt_load_weights(wide, path) == TTT_ERR_WEIGHTS_MISMATCH, "a file for another D: mismatch");
    remove(path);
    ttt_destroy(wide);
    ttt_destroy(m);
}

/* ---- the engine's writer, and the hash a state records ---- */

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static float le_f32(const unsigned char *p)
{
    const uint32_t b = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* SPEC "Projections", written here from the text: splitmix64 per matrix */
static signed char *draw(uint64_t seed, unsigned matrix, size_t rows, size_t cols)
{
    signed char *w = malloc(rows * cols);
    uint64_t st = seed ^ ((uint64_t)(matrix + 1) * UINT64_C(0xD1B54A32D192ED03));
    for (size_t i = 0; i < rows * cols; i++) {
        uint64_t z = (st += UINT64_C(0x9E3779B97F4A7C15));
        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        z ^= z >> 31;
        w[i] = (signed char)((((z >> 32) * 3) >> 32) - 1);
    }
    return w;
}

static size_t read_file(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    const size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* The data of a saved file holds each tensor where its header says: found
 * by name in the JSON text (the engine's own parser is not asked). */
static const unsigned char *tensor_at(const unsigned char *file, const char *name)
{
    static char key[64];
    const size_t n = (size_t)le64(file);
    snprintf(key, sizeof key, "\"%s\":{", name);
    char *hdr = malloc(n + 1);
    memcpy(hdr, file + 8, n);
    hdr[n] = 0;
    const char *at = strstr(hdr, key);
    const char *offs = at ? strstr(at, "\"data_offsets\":[") : NULL;
    const unsigned char *p = offs ? file + 8 + n + strtoul(offs + 16, NULL, 10) : NULL;
    free(hdr);
    return p;
}

static void test_save(void)
{
    static unsigned char f[MAXF], g[MAXF];
    static float in[NTOK * 16], a[NTOK * 16], b[NTOK * 16];
    const char *path = temp_file("test_weights_save");
    const size_t D = 16, d = 4;
    test_fill(in, NTOK * D);
    static const struct {
        uint32_t objective, norm;
        int residual;
        const char *meta;
    } kinds[] = {
        {TTT_OBJECTIVE_RECONSTRUCT, TTT_FEATURE_NORM_AUTO, 0, "\"objective\":\"reconstruct\",\"feature_norm\":\"l2\",\"residual\":\"0\""},
        {TTT_OBJECTIVE_MULTIVIEW, TTT_FEATURE_NORM_NONE, 1, "\"objective\":\"multiview\",\"feature_norm\":\"none\",\"residual\":\"1\""},
        {TTT_OBJECTIVE_NEXT, TTT_FEATURE_NORM_AUTO, 0, "\"objective\":\"next\",\"feature_norm\":\"none\",\"residual\":\"0\""},
    };
    for (size_t k = 0; k < 3; k++) {
        ttt_model *m = make(D, d, kinds[k].objective, kinds[k].norm, kinds[k].residual);
        tap_ok(ttt_save_weights(m, path, "sensor set \"A\"\n, caf\xc3\xa9") == TTT_OK, "%s: seed-drawn model saved", kinds[k].meta);
        const size_t n = read_file(path, f, sizeof f);
        const size_t hn = (size_t)le64(f);
        const int mv = kinds[k].objective == TTT_OBJECTIVE_MULTIVIEW;
        const size_t want = 8 + hn + (mv ? 3 : 2) * D * d + (mv ? 12 : 8);
        char *hdr = malloc(hn + 1);
        memcpy(hdr, f + 8, hn);
        hdr[hn] = 0;
        tap_ok(n == want && hn % 8 == 0, "  size %zu = 8 + header %zu (8-aligned) + tensors", n, hn);
        tap_ok(strstr(hdr, kinds[k].meta) && strstr(hdr, "\"format\":\"bitttt-weights\"") &&
               strstr(hdr, "\"format_version\":\"1\"") && strstr(hdr, "\"hidden_dim\":\"16\"") &&
               strstr(hdr, "\"state_dim\":\"4\"") &&
               strstr(hdr, "\"training_data\":\"sensor set \\\"A\\\"\\n, caf\xc3\xa9\""),
               "  metadata as SPEC says, the text escaped");
        free(hdr);
        signed char *dn = draw(TTT_DEFAULT_SEED, 0, d, D), *up = draw(TTT_DEFAULT_SEED, 1, D, d);
        signed char *dv = draw(TTT_DEFAULT_SEED, 2, d, D);
        const unsigned char *pd = tensor_at(f, "down"), *pu = tensor_at(f, "up"), *pv = tensor_at(f, "down_v");
        const unsigned char *sd = tensor_at(f, "down_scale"), *su = tensor_at(f, "up_scale");
        const unsigned char *sv = tensor_at(f, "down_v_scale");
        tap_ok(pd && pu && !memcmp(pd, dn, d * D) && !memcmp(pu, up, D * d) &&
               (mv ? pv && !memcmp(pv, dv, d * D) : !pv), "  the tensors are the SPEC's seed-drawn matrices");
        tap_ok(sd && su && le_f32(sd) == (float)sqrt(1.5 / 16) && le_f32(su) == (float)sqrt(1.5 / 4) &&
               (mv ? sv && le_f32(sv) == (float)sqrt(1.5 / 16) : !sv), "  and scales");
        free(dn);
        free(up);
        free(dv);

        /* an export is the same layer: into a model of another seed, the
         * outputs are the exporter's bit for bit */
        ttt_config c;
        ttt_config_default(&c);
        ttt_get_config(m, &c);
        c.seed = 12345;
        ttt_model *other, *twin;
        ttt_create_ex(&c, &other);
        ttt_forward(other, in, NTOK, b);
        tap_ok(ttt_load_weights(other, path) == TTT_OK, "  loads into a model of another seed");
        ttt_forward(m, in, NTOK, a);
        ttt_forward(other, in, NTOK, b);
        tap_ok(!memcmp(a, b, NTOK * D * sizeof *a), "  which then computes the exporter's outputs exactly");
        /* saving a loaded model writes its file back */
        tap_ok(ttt_save_weights(other, path, "sensor set \"A\"\n, caf\xc3\xa9") == TTT_OK &&
               read_file(path, g, sizeof g) == n && !memcmp(f, g, n), "  saving the loaded model gives the same bytes");
        /* a state from the exporter loads where the seed agrees too */
        c.seed = TTT_DEFAULT_SEED;
        ttt_create_ex(&c, &twin);
        static unsigned char st[8192];
        const size_t sn = state_of(m, st, sizeof st);
        tap_ok(ttt_load_weights(twin, path) == TTT_OK && ttt_state_load(twin, st, sn) == TTT_OK,
               "  its state loads into a model with the exported weights");
        ttt_destroy(twin);
        ttt_destroy(other);
        ttt_destroy(m);
    }

    ttt_model *m = make_base();
    tap_ok(ttt_save_weights(m, path, NULL) == TTT_OK && read_file(path, f, sizeof f) > 8 &&
           strstr((const char *)f + 8, "\"training_data\":\"\""), "NULL training_data saves \"\"");
    tap_ok(ttt_save_weights(m, path, "bad \xff text") == TTT_ERR_INVALID_ARG, "non-UTF-8 training_data: TTT_ERR_INVALID_ARG");
    tap_ok(ttt_save_weights(m, "no/such/dir/w.safetensors", "x") == TTT_ERR_IO, "an unwritable path: TTT_ERR_IO");
    tap_ok(ttt_save_weights(m, NULL, "x") == TTT_ERR_INVALID_ARG && ttt_save_weights(NULL, path, "x") == TTT_ERR_INVALID_ARG &&
           ttt_save_weights(m, "", "x") == TTT_ERR_INVALID_ARG, "NULL model, NULL or empty path: TTT_ERR_INVALID_ARG");
    /* a loaded hand-made file saves back its tensors */
    const size_t n = assemble(g, base_json, 0, base_data, BASE_DATA);
    tap_ok(ttt_load_weights_mem(m, g, n) == TTT_OK && ttt_save_weights(m, path, "hand-made") == TTT_OK &&
           read_file(path, f, sizeof f) && tensor_at(f, "down") && !memcmp(tensor_at(f, "down"), base_data, 32) &&
           !memcmp(tensor_at(f, "up"), base_data + 32, 32) && le_f32(tensor_at(f, "down_scale")) == 0.5f &&
           le_f32(tensor_at(f, "up_scale")) == 0.25f, "a loaded file saves back its tensors and scales");
    remove(path);
    ttt_destroy(m);
}

/* FNV-1a 64 written here from its definition */
static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
    while (n--) {
        h ^= *p++;
        h *= 1099511628211u;
    }
    return h;
}

/* SPEC "Projection hash": the padded biased rows, then the scales when
 * they are not the seed-drawn ones */
static uint64_t spec_hash(const unsigned char *data, int scales)
{
    unsigned char row[64];
    uint64_t h = 14695981039346656037u;
    for (int r = 0; r < SD; r++) { /* down: 4 rows of 8, padded to 64 */
        memset(row, 1, 64);
        for (int c = 0; c < HD; c++)
            row[c] = (unsigned char)(data[r * HD + c] + 1);
        h = fnv(h, row, 64);
    }
    for (int r = 0; r < HD; r++) { /* up: 8 rows of 4, padded to 64 */
        memset(row, 1, 64);
        for (int c = 0; c < SD; c++)
            row[c] = (unsigned char)(data[32 + r * SD + c] + 1);
        h = fnv(h, row, 64);
    }
    return scales ? fnv(h, data + 64, 8) : h;
}

static void test_state_hash(void)
{
    static unsigned char f[MAXF], data2[BASE_DATA], data3[BASE_DATA], st[4096], st2[4096];
    static float in[NTOK * HD], a[NTOK * HD], b[NTOK * HD];
    test_fill(in, NTOK * HD);
    ttt_model *m1 = make_base(), *m1b = make_base(), *m2 = make_base(), *m3 = make_base(), *seeded = make_base();
    memcpy(data2, base_data, BASE_DATA);
    data2[17] = (unsigned char)(data2[17] == 1 ? 0 : 1); /* one weight differs */
    memcpy(data3, base_data, BASE_DATA);
    put_f32(data3 + 68, 0.375f); /* only a scale differs */
    tap_ok(ttt_load_weights_mem(m1, f, assemble(f, base_json, 0, base_data, BASE_DATA)) == TTT_OK &&
           ttt_load_weights_mem(m1b, f, assemble(f, base_json, 0, base_data, BASE_DATA)) == TTT_OK &&
           ttt_load_weights_mem(m2, f, assemble(f, base_json, 0, data2, BASE_DATA)) == TTT_OK &&
           ttt_load_weights_mem(m3, f, assemble(f, base_json, 0, data3, BASE_DATA)) == TTT_OK,
           "four models load three weight files");
    ttt_forward(m1, in, NTOK, a);
    const size_t n = state_of(m1, st, sizeof st);
    tap_ok(n > 40 && le64(st + 32) == spec_hash(base_data, 1), "the state records the SPEC's hash of the loaded weights");
    const size_t ns = state_of(seeded, st2, sizeof st2);
    tap_ok(le64(st + 32) != le64(st2 + 32), "which is not the seed-drawn hash");
    int rc = ttt_state_load(m2, st, n);
    tap_ok(rc == TTT_ERR_MISMATCH, "into other weights (one entry differs): %s", ttt_strerror(rc));
    rc = ttt_state_load(m3, st, n);
    tap_ok(rc == TTT_ERR_MISMATCH, "into other scales: %s", ttt_strerror(rc));
    rc = ttt_state_load(seeded, st, n);
    tap_ok(rc == TTT_ERR_MISMATCH, "into the seed-drawn model: %s", ttt_strerror(rc));
    rc = ttt_state_load(m1, st2, ns);
    tap_ok(rc == TTT_ERR_MISMATCH, "a seed-drawn state into loaded weights: %s", ttt_strerror(rc));
    tap_ok(ttt_state_load(m1b, st, n) == TTT_OK, "into the same weights it loads");
    ttt_forward(m1, in, NTOK, a);
    ttt_forward(m1b, in, NTOK, b);
    tap_ok(!memcmp(a, b, sizeof a), "and continues exactly like the model that learned it");
    /* loading the weights again forgets what was learned */
    ttt_load_weights_mem(m1b, f, assemble(f, base_json, 0, base_data, BASE_DATA));
    const size_t n2 = state_of(m1b, st2, sizeof st2);
    int zero = n2 == n;
    for (size_t i = 64; zero && i < n2 - 8; i++)
        zero = st2[i] == 0;
    tap_ok(zero && le64(st2 + 40) == 0, "a load resets W and the counters");
    ttt_destroy(m1);
    ttt_destroy(m1b);
    ttt_destroy(m2);
    ttt_destroy(m3);
    ttt_destroy(seeded);
}

int main(void)
{
    init_base();
#ifdef TTT_TEST_JSONC
    const int have_jsonc = 1;
#else
    const int have_jsonc = 0;
#endif
    if (!have_jsonc) {
        test_unsupported();
        return tap_done();
    }
    test_bad_files();
    test_multiview();
    test_effect();
    test_files();
    test_save();
    test_state_hash();
    tap_ok(!edit_missed, "every edit found its pattern (%d missed)", edit_missed);
    return tap_done();
}
