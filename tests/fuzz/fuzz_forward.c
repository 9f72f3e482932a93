/*
 * Fuzz target: forward on arbitrary shapes, rates and token bit patterns.
 *
 * Input layout:
 *   [0] D = 4 * (1 + b % 64)          [1] state_dim = b % 65 (0: D / 4)
 *   [2] eta: 0, 1, 2 exactly for b < 3, else 2 * (b - 3) / 252
 *   [3] flags: 1 learning off, 2 scalar kernels, 4 split run in place,
 *       8 also run a scalar model and compare within a loose bound
 *   [4] the token data is fed 1 + b % 4 times (so W gets to learn)
 *   [5] nsplit = b % 16, then nsplit bytes: call lengths 1 + b % 70, cycled
 *   rest: tokens, raw f32 bit patterns (NaN, Inf, denormals and all)
 *
 * The stream goes through model A in one call and through model B in the
 * fuzzed calls. Checked: the exact invariants of docs/SPEC.md (split
 * invariance, NaN policy, counters, output = input when skipped) and the
 * bounds that follow from 0 <= eta <= 2: ||W - I|| <= 1, so |W| <= 2 and
 * surprise <= 1 / d, with a little slack for rounding.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <bitttt/bitttt.h>

#include "fuzz.h"
#include "state_view.h"

/* Many short runs find more than a few long ones: cap the floats per run. */
#define MAX_FLOATS 16384
#define SLACK 1e-3f

static float bits_to_float(const uint8_t *p)
{
    uint32_t b = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static ttt_model *make(size_t D, size_t sd, float eta, int learning, ttt_isa isa)
{
    ttt_config c;
    ttt_model *m = NULL;
    ttt_config_default(&c);
    c.hidden_dim = D;
    c.state_dim = sd;
    c.inner_lr = eta;
    c.learning = learning;
    c.max_isa = isa;
    FUZZ_CHECK(ttt_create_ex(&c, &m) == TTT_OK && m);
    return m;
}

/* Save m's state into buf (the size of ttt_state_size) and check W. */
static void save_and_check(ttt_model *m, unsigned char *buf, size_t n, size_t d)
{
    size_t written = 0;
    float mx;
    FUZZ_CHECK(ttt_state_save(m, buf, n, &written) == TTT_OK && written == n);
    FUZZ_CHECK(sv_w_scan(buf, d, &mx));
    FUZZ_CHECK(mx <= 2.0f + SLACK);
}

static void check_outputs(const float *in, const float *out, const float *s,
                          const unsigned char *bad, size_t ntok, size_t D, size_t d)
{
    for (size_t t = 0; t < ntok; t++) {
        const float *x = in + t * D, *o = out + t * D;
        FUZZ_CHECK(isnan(s[t]) == bad[t]);
        if (bad[t]) {
            FUZZ_CHECK(memcmp(x, o, D * sizeof *x) == 0);
            continue;
        }
        FUZZ_CHECK(s[t] >= 0.0f && s[t] * (float)d <= 1.0f + SLACK);
        for (size_t i = 0; i < D; i++)
            FUZZ_CHECK(isfinite(o[i]));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6)
        return 0;
    const size_t D = 4 * (1 + (size_t)data[0] % 64);
    const size_t sd = data[1] % 65;
    const size_t d = sd ? sd : D / 4;
    const float eta = data[2] < 3 ? (float)data[2] : 2.0f * (float)(data[2] - 3) / 252.0f;
    const int learning = !(data[3] & 1);
    const ttt_isa isa = (data[3] & 2) ? TTT_ISA_SCALAR : TTT_ISA_AUTO;
    const int in_place = (data[3] & 4) != 0;
    const int cross = (data[3] & 8) && isa == TTT_ISA_AUTO;
    const size_t reps = 1 + (size_t)data[4] % 4;
    const size_t nsplit = data[5] % 16;
    if (size < 6 + nsplit)
        return 0;
    const uint8_t *splits = data + 6;
    const uint8_t *tok = splits + nsplit;
    size_t ntok0 = (size - 6 - nsplit) / (4 * D);
    if (ntok0 * reps * D > MAX_FLOATS)
        ntok0 = MAX_FLOATS / (reps * D);
    if (ntok0 == 0)
        return 0;
    const size_t ntok = ntok0 * reps, nf = ntok * D;

    float *in = malloc(nf * sizeof *in), *outA = malloc(nf * sizeof *in);
    float *outB = malloc(nf * sizeof *in), *sA = malloc(ntok * sizeof *sA);
    float *sB = malloc(ntok * sizeof *sB);
    unsigned char *bad = malloc(ntok);
    FUZZ_CHECK(in && outA && outB && sA && sB && bad);
    size_t nbad = 0;
    for (size_t t = 0; t < ntok; t++) {
        bad[t] = 0;
        for (size_t i = 0; i < D; i++) {
            const float v = bits_to_float(tok + 4 * ((t % ntok0) * D + i));
            in[t * D + i] = v;
            if (!isfinite(v))
                bad[t] = 1;
        }
        nbad += bad[t];
    }

    ttt_model *A = make(D, sd, eta, learning, isa), *B = make(D, sd, eta, learning, isa);
    FUZZ_CHECK(ttt_forward_ex(A, in, ntok, outA, sA) == TTT_OK);
    if (in_place)
        memcpy(outB, in, nf * sizeof *in);
    for (size_t t = 0, k = 0; t < ntok; k++) {
        size_t len = nsplit ? 1 + (size_t)splits[k % nsplit] % 70 : 1;
        if (len > ntok - t)
            len = ntok - t;
        const float *src = in_place ? outB + t * D : in + t * D;
        FUZZ_CHECK(ttt_forward_ex(B, src, len, outB + t * D, sB + t) == TTT_OK);
        t += len;
    }

    /* split invariance: the same bits, whatever the calls */
    FUZZ_CHECK(memcmp(outA, outB, nf * sizeof *outA) == 0);
    FUZZ_CHECK(memcmp(sA, sB, ntok * sizeof *sA) == 0);
    check_outputs(in, outA, sA, bad, ntok, D, d);

    ttt_stats st;
    FUZZ_CHECK(ttt_get_stats(A, &st) == TTT_OK);
    FUZZ_CHECK(st.tokens_seen == ntok && st.tokens_skipped == nbad);
    const size_t n = ttt_state_size(A);
    unsigned char *bufA = malloc(n), *bufB = malloc(n);
    FUZZ_CHECK(bufA && bufB);
    save_and_check(A, bufA, n, d);
    save_and_check(B, bufB, n, d);
    FUZZ_CHECK(memcmp(bufA, bufB, n) == 0);
    if (!learning || eta == 0.0f) {
        /* nothing may have been learned */
        for (size_t i = 0; i < 4 * d * d; i++)
            FUZZ_CHECK(bufA[SV_HEADER + i] == 0);
    }

    if (cross) {
        /* Other ISAs round the f32 sums differently; a quantised prediction
         * may then move by one step per entry: at most d * g with
         * g <= 2 * s_up / 127, i.e. about 0.016 * sqrt(d) on an output. */
        ttt_model *C = make(D, sd, eta, learning, TTT_ISA_SCALAR);
        FUZZ_CHECK(ttt_forward_ex(C, in, ntok, outB, sB) == TTT_OK);
        check_outputs(in, outB, sB, bad, ntok, D, d);
        const float tol = 0.05f * sqrtf((float)d);
        for (size_t i = 0; i < nf; i++) {
            if (bad[i / D])
                continue;
            FUZZ_CHECK(fabsf(outA[i] - outB[i]) <= tol + 1e-6f * fabsf(in[i]));
        }
        save_and_check(C, bufB, n, d);
        ttt_destroy(C);
    }

    ttt_destroy(A);
    ttt_destroy(B);
    free(in);
    free(outA);
    free(outB);
    free(sA);
    free(sB);
    free(bad);
    free(bufA);
    free(bufB);
    return 0;
}
