/*
 * Fuzz target: ttt_state_load on arbitrary bytes.
 *
 * Byte 0 picks how much the harness helps the fuzzer past the outer checks,
 * so that it can explore the field validation behind them:
 *   1: resize the payload to the length its header's state_dim implies
 *   2: copy the model's projection hash into the header
 *   4: recompute the FNV-1a 64 trailer (last, over the patched bytes)
 * The rest is the state. The model takes D, state_dim and seed from the
 * header when they are plausible (small enough to be fast), else D = 32.
 *
 * Checked: load returns a documented code; on error the model is exactly as
 * before (same saved state, same counters, and it continues bit for bit
 * like an untouched twin, pending update included); on success the counters
 * are the header's, W is finite, save gives back the bytes that were loaded
 * (the reserved field aside, which is written as 0) and later tokens still
 * give finite outputs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <bitttt/bitttt.h>

#include "fuzz.h"
#include "state_view.h"

#define MAX_D 256
#define MAX_SD 64
#define NTOK 40

static uint64_t rng_state;

static ttt_model *make(size_t D, size_t sd, uint64_t seed)
{
    ttt_config c;
    ttt_model *m = NULL;
    ttt_config_default(&c);
    c.hidden_dim = D;
    c.state_dim = sd;
    c.seed = seed;
    c.inner_lr = 0.5f;
    FUZZ_CHECK(ttt_create_ex(&c, &m) == TTT_OK && m);
    return m;
}

static int same_stats(ttt_model *a, ttt_model *b)
{
    ttt_stats x, y;
    FUZZ_CHECK(ttt_get_stats(a, &x) == TTT_OK && ttt_get_stats(b, &y) == TTT_OK);
    return x.tokens_seen == y.tokens_seen && x.tokens_skipped == y.tokens_skipped;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const unsigned mode = data[0];
    size_t len = size - 1;
    unsigned char *st = malloc(len > 72 + 4 * MAX_SD * MAX_SD ? len : 72 + 4 * MAX_SD * MAX_SD);
    FUZZ_CHECK(st);
    memcpy(st, data + 1, len);

    size_t D = 32, sd = 0;
    uint64_t seed = TTT_DEFAULT_SEED;
    if (len >= SV_HEADER) {
        const uint32_t hD = sv_get32(st + 16), hd = sv_get32(st + 20);
        if (hD >= 4 && hD <= MAX_D && hD % 4 == 0 && hd >= 1 && hd <= MAX_SD) {
            D = hD;
            sd = hd;
            seed = sv_get64(st + 24);
            if (mode & 1)
                len = 72 + 4 * (size_t)hd * hd; /* grown bytes are 0 */
        }
    }
    if (len > size - 1)
        memset(st + size - 1, 0, len - (size - 1));

    ttt_model *m = make(D, sd, seed), *twin = make(D, sd, seed);
    ttt_config cfg;
    ttt_config_default(&cfg); /* struct_size: how much get_config may write */
    FUZZ_CHECK(ttt_get_config(m, &cfg) == TTT_OK);
    const size_t d = cfg.state_dim;
    float in[NTOK * MAX_D], out1[NTOK * MAX_D], out2[NTOK * MAX_D], s1[NTOK], s2[NTOK];
    rng_state = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < 5 * D; i++)
        in[i] = fuzz_rnd(&rng_state);
    /* a learned W and a pending update: what a failed load must preserve */
    FUZZ_CHECK(ttt_forward(m, in, 5, out1) == TTT_OK && ttt_forward(twin, in, 5, out2) == TTT_OK);
    size_t n0, n1;
    unsigned char *before = fuzz_save_state(m, &n0);
    free(fuzz_save_state(twin, &n1));
    if ((mode & 2) && len >= SV_HEADER)
        memcpy(st + 32, before + 32, 8);
    if ((mode & 4) && len >= 8)
        sv_reseal(st, len);
    for (size_t i = 0; i < NTOK * D; i++)
        in[i] = fuzz_rnd(&rng_state) * (i % 7 == 0 ? 1e6f : 1.0f);

    const int rc = ttt_state_load(m, st, len);
    FUZZ_CHECK(rc == TTT_OK || rc == TTT_ERR_FORMAT || rc == TTT_ERR_VERSION || rc == TTT_ERR_MISMATCH);
    if (rc != TTT_OK) {
        unsigned char *after = fuzz_save_state(m, &n1);
        FUZZ_CHECK(n0 == n1 && memcmp(before, after, n0) == 0 && same_stats(m, twin));
        free(after);
        FUZZ_CHECK(ttt_forward_ex(m, in, NTOK, out1, s1) == TTT_OK);
        FUZZ_CHECK(ttt_forward_ex(twin, in, NTOK, out2, s2) == TTT_OK);
        FUZZ_CHECK(memcmp(out1, out2, NTOK * D * sizeof *out1) == 0);
        FUZZ_CHECK(memcmp(s1, s2, sizeof s1) == 0);
    } else {
        ttt_stats stats;
        FUZZ_CHECK(ttt_get_stats(m, &stats) == TTT_OK);
        FUZZ_CHECK(stats.tokens_seen == sv_get64(st + 40) && stats.tokens_skipped == sv_get64(st + 48));
        FUZZ_CHECK(stats.tokens_skipped <= stats.tokens_seen);
        unsigned char *again = fuzz_save_state(m, &n1);
        float mx;
        FUZZ_CHECK(n1 == len && sv_w_scan(again, d, &mx));
        memset(st + 56, 0, 8);
        sv_reseal(st, len);
        FUZZ_CHECK(memcmp(again, st, len) == 0);

        ttt_model *fresh = make(D, sd, seed);
        FUZZ_CHECK(ttt_state_load(fresh, again, n1) == TTT_OK);
        unsigned char *third = fuzz_save_state(fresh, &n1);
        FUZZ_CHECK(memcmp(again, third, len) == 0);
        free(third);
        ttt_destroy(fresh);

        /* a loaded W may be huge, yet it must never poison the outputs */
        FUZZ_CHECK(ttt_forward_ex(m, in, NTOK, out1, s1) == TTT_OK);
        for (size_t t = 0; t < NTOK; t++) {
            for (size_t i = 0; i < D; i++)
                FUZZ_CHECK(isfinite(out1[t * D + i]));
            FUZZ_CHECK(isnan(s1[t]) || (s1[t] >= 0.0f && isfinite(s1[t])));
        }
        free(again);
        again = fuzz_save_state(m, &n1);
        FUZZ_CHECK(sv_w_scan(again, d, &mx));
        free(again);
    }

    free(before);
    free(st);
    ttt_destroy(m);
    ttt_destroy(twin);
    return 0;
}
