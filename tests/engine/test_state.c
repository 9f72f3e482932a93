/* State persistence: format, round trip, validation, atomic files. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bitttt/bitttt.h>

#include "tap.h"

#define D 64
#define d (D / 4)
#define N 200
#define SIZE (64 + 4 * d * d + 8)

/* FNV-1a 64 written here from its definition, not taken from the engine */
static uint64_t fnv(const unsigned char *p, size_t n)
{
    uint64_t h = 14695981039346656037u;
    while (n--) {
        h ^= *p++;
        h *= 1099511628211u;
    }
    return h;
}

static uint32_t rd32(const unsigned char *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void reseal(unsigned char *buf, size_t n)
{
    uint64_t h = fnv(buf, n - 8);
    for (int i = 0; i < 8; i++)
        buf[n - 8 + i] = (unsigned char)(h >> (8 * i));
}

static ttt_model *make(size_t hd, size_t sd, uint64_t seed)
{
    ttt_config c;
    ttt_model *m;
    ttt_config_default(&c);
    c.hidden_dim = hd;
    c.state_dim = sd;
    c.seed = seed;
    return ttt_create_ex(&c, &m) == TTT_OK ? m : NULL;
}

/* Does m continue exactly like ref on the same tokens? Consumes both. */
static int continues_like(ttt_model *m, ttt_model *ref, const float *in)
{
    static float a[N * D], b[N * D];
    ttt_forward(m, in, N, a);
    ttt_forward(ref, in, N, b);
    return !memcmp(a, b, sizeof a);
}

static int file_equals(const char *path, const unsigned char *buf, size_t n)
{
    static unsigned char got[SIZE + 16];
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t r = fread(got, 1, sizeof got, f);
    fclose(f);
    return r == n && !memcmp(got, buf, n);
}

int main(void)
{
    static float in[N * D], out[N * D];
    static unsigned char buf[SIZE], bad[SIZE];
    test_fill(in, N * D);

    ttt_model *a = make(D, 0, 5), *b = make(D, 0, 5), *c = make(D, 0, 5);
    tap_ok(ttt_state_size(a) == SIZE, "state size is 64 + 4 d^2 + 8 = %d", SIZE);
    size_t written = 0;
    tap_ok(ttt_state_save(a, buf, 10, &written) == TTT_ERR_BUFFER_SMALL && written == SIZE,
           "a small buffer is refused and the size reported");

    ttt_forward(a, in, N, out);
    ttt_forward(c, in, N, out);
    tap_ok(ttt_state_save(a, buf, sizeof buf, &written) == TTT_OK && written == SIZE, "save to memory");
    tap_ok(!memcmp(buf, "BTTTSTAT", 8) && rd32(buf + 8) == 1 && rd32(buf + 12) == 64 && rd32(buf + 16) == D &&
               rd32(buf + 20) == d && rd32(buf + 24) == 5 && rd32(buf + 40) == N,
           "header fields at the SPEC's offsets");
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--)
        h = h << 8 | buf[SIZE - 8 + i];
    tap_ok(h == fnv(buf, SIZE - 8), "trailing FNV-1a 64 checksum");

    tap_ok(ttt_state_load(b, buf, SIZE) == TTT_OK, "load into a fresh model with the same shape and seed");
    ttt_stats st;
    ttt_get_stats(b, &st);
    tap_ok(st.tokens_seen == N, "counters restored");
    /* saving flushed a's pending update; c never saved: all three must agree */
    tap_ok(continues_like(b, c, in), "loaded model continues exactly like one that never stopped");
    ttt_forward(a, in, N, out); /* catch up with b */
    tap_ok(continues_like(a, b, in), "saving does not disturb the saved model");

    /* every kind of damage is refused and leaves the model as it was */
    ttt_model *victim = make(D, 0, 5), *twin = make(D, 0, 5);
    ttt_forward(victim, in, N, out);
    ttt_forward(twin, in, N, out);
    ttt_state_save(a, buf, sizeof buf, NULL);
    struct {
        const char *what;
        size_t off;
        int resealed;
        int expect;
        unsigned char val;
    } cases[] = {
        {"bad magic", 0, 1, TTT_ERR_FORMAT, 'X'},
        {"version 2", 8, 1, TTT_ERR_VERSION, 2},
        {"header size", 12, 1, TTT_ERR_FORMAT, 65},
        {"flipped W byte", 64 + 37, 0, TTT_ERR_FORMAT, 0x5a},
        {"flipped checksum", SIZE - 1, 0, TTT_ERR_FORMAT, 0xff},
        {"other D", 16, 1, TTT_ERR_MISMATCH, D + 4},
        {"other seed", 24, 1, TTT_ERR_MISMATCH, 6},
        {"other projections", 32, 1, TTT_ERR_MISMATCH, 0x11},
        {"skipped > seen", 48 + 7, 1, TTT_ERR_FORMAT, 0x7f},
        {"NaN in W", 64 + 3, 1, TTT_ERR_FORMAT, 0x7f},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        memcpy(bad, buf, SIZE);
        bad[cases[k].off] ^= cases[k].val;
        if (!strcmp(cases[k].what, "NaN in W"))
            bad[64 + 2] = 0xc0, bad[64 + 3] = 0x7f;
        if (cases[k].resealed)
            reseal(bad, SIZE);
        int err = ttt_state_load(victim, bad, SIZE);
        tap_ok(err == cases[k].expect, "%s: %s", cases[k].what, ttt_strerror(err));
    }
    int err = ttt_state_load(victim, buf, SIZE - 1);
    tap_ok(err == TTT_ERR_FORMAT, "truncated by one byte: %s", ttt_strerror(err));
    tap_ok(ttt_state_load(victim, buf, 8) == TTT_ERR_FORMAT, "truncated to the magic");
    ttt_model *other_d = make(D, 7, 5);
    tap_ok(ttt_state_load(other_d, buf, SIZE) == TTT_ERR_FORMAT || ttt_state_load(other_d, buf, SIZE) == TTT_ERR_MISMATCH,
           "another state_dim is refused");
    ttt_destroy(other_d);
    tap_ok(continues_like(victim, twin, in), "after all refused loads the model is untouched");

    /* files */
    char dir[] = "/tmp/bitttt-state-XXXXXX";
    tap_ok(mkdtemp(dir) != NULL, "temp dir");
    char path[128];
    snprintf(path, sizeof path, "%s/model.state", dir);
    ttt_model *f1 = make(D, 0, 5), *f2 = make(D, 0, 5), *f3 = make(D, 0, 5);
    ttt_forward(f1, in, N, out);
    ttt_forward(f3, in, N, out);
    tap_ok(ttt_state_save_file(f1, path) == TTT_OK, "save to %s", path);
    ttt_state_save(f1, buf, sizeof buf, NULL);
    tap_ok(file_equals(path, buf, SIZE), "the file holds exactly the memory format");
    tap_ok(ttt_state_load_file(f2, path) == TTT_OK && continues_like(f2, f3, in), "file round trip continues identically");
    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    tap_ok(ttt_state_load_file(f2, missing) == TTT_ERR_IO, "missing file: TTT_ERR_IO");
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.state", dir);
    tap_ok(ttt_state_save_file(f2, missing) == TTT_ERR_IO, "unwritable location: TTT_ERR_IO");

    /* a corrupt file is refused and left as it was */
    memcpy(bad, buf, SIZE);
    bad[100] ^= 1;
    FILE *fp = fopen(path, "wb");
    const int bad_written = fp && fwrite(bad, 1, SIZE, fp) == SIZE;
    if (fp)
        fclose(fp);
    tap_ok(bad_written && ttt_state_load_file(f2, path) == TTT_ERR_FORMAT && file_equals(path, bad, SIZE),
           "corrupt file refused, file unchanged");

    /* a full disk (here: a file size limit) fails cleanly and keeps the old file */
    ttt_state_save_file(f1, path);
    ttt_state_save(f1, buf, sizeof buf, NULL);
    ttt_forward(f1, in, N, out); /* the next save would differ */
    struct rlimit old, lim = {512, 512};
    getrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_IGN);
    lim.rlim_max = old.rlim_max;
    setrlimit(RLIMIT_FSIZE, &lim);
    err = ttt_state_save_file(f1, path);
    setrlimit(RLIMIT_FSIZE, &old);
    tap_ok(err == TTT_ERR_IO && file_equals(path, buf, SIZE), "write failure: TTT_ERR_IO, old file intact");
    char cmd[200];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp", dir);
    FILE *ls = popen(cmd, "r");
    int leftovers = -1;
    if (ls && fscanf(ls, "%d", &leftovers) != 1)
        leftovers = -1;
    if (ls)
        pclose(ls);
    tap_ok(leftovers == 0, "no temporary file left behind");
    unlink(path);
    rmdir(dir);

    ttt_destroy(a);
    ttt_destroy(b);
    ttt_destroy(c);
    ttt_destroy(victim);
    ttt_destroy(twin);
    ttt_destroy(f1);
    ttt_destroy(f2);
    ttt_destroy(f3);
    return tap_done();
}
