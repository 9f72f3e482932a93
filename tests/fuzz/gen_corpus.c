/*
 * Writes the seed corpora of the fuzz targets into <dir>/forward,
 * <dir>/state and <dir>/weights (which must exist; weights needs json-c). The committed files in corpus/ came from
 *   ninja -C <build> tests/fuzz/gen_corpus && <build>/tests/fuzz/gen_corpus tests/fuzz/corpus
 * Seeds only need to be valid enough to lead the fuzzer into deep paths:
 * streams that make W learn, and state files that pass every check.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bitttt/bitttt.h>

static uint64_t rng = 0x2545f4914f6cdd1du;

static float rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) / 8388608.0 - 1.0);
}

static int write_file(const char *dir, const char *name, const void *a, size_t na,
                      const void *b, size_t nb)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(a, 1, na, f) != na || (nb && fwrite(b, 1, nb, f) != nb) || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        return 1;
    }
    return 0;
}

/* kinds of token: 0 noise, 1 period-4 pattern, 2 constant, 3 specials */
static float value(int kind, size_t t, size_t i)
{
    static const float special[] = {NAN, INFINITY, -INFINITY, 1e-40f, 0.0f, -0.0f, 1e30f, -3e38f, 1e-30f, 1.0f};
    switch (kind) {
    case 0: return rnd();
    case 1: return sinf(0.7f * (float)(i + 1) * (float)(t % 4 + 1));
    case 2: return 0.25f + 0.01f * (float)i;
    default: return special[(t * 3 + i) % 10];
    }
}

static int stream(const char *dir, const char *name, const unsigned char hdr[5],
                  const unsigned char *splits, size_t nsplit, size_t ntok, int kind)
{
    const size_t D = 4 * (1 + (size_t)hdr[0] % 64);
    size_t n = 6 + nsplit + 4 * D * ntok;
    unsigned char *buf = malloc(n);
    if (!buf)
        return 1;
    memcpy(buf, hdr, 5);
    buf[5] = (unsigned char)nsplit;
    memcpy(buf + 6, splits, nsplit);
    for (size_t t = 0; t < ntok; t++) {
        for (size_t i = 0; i < D; i++) {
            const float v = value(kind, t, i);
            memcpy(buf + 6 + nsplit + 4 * (t * D + i), &v, 4); /* little-endian host */
        }
    }
    int err = write_file(dir, name, buf, n, NULL, 0);
    free(buf);
    return err;
}

/* A learned state of a model, behind the mode byte of fuzz_state. */
static int state(const char *dir, const char *name, unsigned char mode, size_t D, size_t sd,
                 uint64_t seed, size_t ntok, size_t keep)
{
    ttt_config c;
    ttt_model *m;
    ttt_config_default(&c);
    c.hidden_dim = D;
    c.state_dim = sd;
    c.seed = seed;
    c.inner_lr = 0.3f;
    if (ttt_create_ex(&c, &m) != TTT_OK)
        return 1;
    float *x = malloc(ntok * D * sizeof *x);
    size_t n = ttt_state_size(m);
    unsigned char *buf = malloc(n);
    int err = !x || !buf;
    if (!err) {
        for (size_t i = 0; i < ntok * D; i++)
            x[i] = value(i % 3 == 0 ? 0 : 1, i / D, i % D);
        x[D] = NAN; /* one skipped token: non-zero counters of both kinds */
        err = ttt_forward(m, x, ntok, x) != TTT_OK || ttt_state_save(m, buf, n, NULL) != TTT_OK;
    }
    if (!err)
        err = write_file(dir, name, &mode, 1, buf, keep && keep < n ? keep : n);
    free(x);
    free(buf);
    ttt_destroy(m);
    return err;
}

/* A weight file exported from the model that the mode byte of fuzz_weights
 * selects (its bits as there), behind that byte. */
static int weights(const char *dir, const char *name, unsigned char mode, const char *text)
{
    ttt_config c;
    ttt_model *m;
    ttt_config_default(&c);
    c.objective = mode % 4 == 3 ? TTT_OBJECTIVE_RECONSTRUCT : mode % 4;
    c.feature_norm = mode & 4 ? TTT_FEATURE_NORM_NONE : TTT_FEATURE_NORM_AUTO;
    c.update = TTT_UPDATE_NLMS;
    c.residual = (mode & 8) && c.objective == TTT_OBJECTIVE_MULTIVIEW;
    c.hidden_dim = mode & 16 ? 16 : 8;
    c.state_dim = mode & 32 ? 2 : 4;
    if (ttt_create_ex(&c, &m) != TTT_OK)
        return 1;
    const char *tmp = "gen_corpus.tmp.safetensors";
    unsigned char buf[4096];
    int err = ttt_save_weights(m, tmp, text) != TTT_OK;
    ttt_destroy(m);
    FILE *f = err ? NULL : fopen(tmp, "rb");
    const size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    remove(tmp);
    return err || !n || write_file(dir, name, &mode, 1, buf, n);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
        return 2;
    }
    char fdir[4096], sdir[4096], wdir[4096];
    snprintf(fdir, sizeof fdir, "%s/forward", argv[1]);
    snprintf(sdir, sizeof sdir, "%s/state", argv[1]);
    snprintf(wdir, sizeof wdir, "%s/weights", argv[1]);
    static const unsigned char sp3[] = {5, 31, 40}, sp2[] = {3, 33}, sp1[] = {33};
    /* header: D selector, state_dim, eta, flags, repeats */
    static const unsigned char h1[] = {3, 0, 4, 0, 2}, h2[] = {15, 0, 2, 4, 1},
        h3[] = {0, 64, 1, 8, 3}, h4[] = {31, 7, 255, 2, 0}, h5[] = {7, 0, 130, 9, 3},
        h6[] = {63, 0, 1, 8, 1}, h7[] = {15, 16, 0, 8, 3};
    int err = 0;
    err |= stream(fdir, "noise-d16", h1, sp3, 3, 40, 0);
    err |= stream(fdir, "periodic-d64-eta2-inplace", h2, sp2, 2, 20, 1);
    err |= stream(fdir, "specials-d4-sd64-cross", h3, NULL, 0, 30, 3);
    err |= stream(fdir, "periodic-d128-scalar", h4, sp1, 1, 12, 1);
    err |= stream(fdir, "constant-d32-frozen-cross", h5, sp2, 2, 10, 2);
    err |= stream(fdir, "specials-d256-cross", h6, NULL, 0, 4, 3);
    err |= stream(fdir, "periodic-d64-eta0-cross", h7, sp3, 3, 8, 1);
    err |= state(sdir, "valid-d16", 0, 16, 0, TTT_DEFAULT_SEED, 50, 0);
    err |= state(sdir, "valid-d32-sd8-seed-resealed", 7, 32, 8, 12345, 70, 0);
    err |= state(sdir, "valid-d64-sd16-resealed", 4, 64, 16, TTT_DEFAULT_SEED, 40, 0);
    err |= state(sdir, "truncated-d16", 0, 16, 0, TTT_DEFAULT_SEED, 10, 40);
    err |= state(sdir, "valid-d256-sd1", 6, 256, 1, 7, 35, 0);
    err |= weights(wdir, "reconstruct-d8", 0, "");
    err |= weights(wdir, "reconstruct-none-d16-sd2", 4 | 16 | 32, "noise");
    err |= weights(wdir, "multiview-residual-d8", 1 | 4 | 8, "espeak-ng \"hello\"");
    err |= weights(wdir, "multiview-l2-d16", 1 | 16, "");
    err |= weights(wdir, "next-d8-sd2", 2 | 32, "sensor set");
    return err;
}
