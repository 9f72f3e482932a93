/* The public API's contracts, with expectations derived from the SPEC's maths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bitttt/bitttt.h>

#include "tap.h"

#define D 64
#define N 300

static void run_split(void *m, const float *in, float *out, float *s, const size_t *cuts)
{
    size_t t = 0;
    for (const size_t *c = cuts; t < N; c++) {
        size_t n = *c ? *c : N - t;
        if (n > N - t)
            n = N - t;
        ttt_forward_ex(m, in + t * D, n, out + t * D, s + t);
        t += n;
    }
}

int main(void)
{
    static float in[N * D], out[N * D], out2[N * D], s[N], s2[N];
    test_fill(in, N * D);

    ttt_config cfg;
    ttt_config_default(&cfg);
    void *m = ttt_create(D, 0.01f);
    tap_ok(m != NULL, "ttt_create(64, 0.01) succeeds");
    tap_ok(ttt_get_config(m, &cfg) == TTT_OK && cfg.hidden_dim == D && cfg.state_dim == D / 4 &&
               cfg.inner_lr == 0.01f && cfg.learning == 1 && cfg.seed == TTT_DEFAULT_SEED,
           "effective config: D 64, d 16, eta 0.01, learning, default seed");
    tap_ok(ttt_version() == TTT_VERSION, "ttt_version() matches the header");
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", TTT_VERSION_MAJOR, TTT_VERSION_MINOR, TTT_VERSION_PATCH);
    tap_ok(!strcmp(v, ttt_version_string()), "version string %s", ttt_version_string());
    tap_ok(strlen(ttt_get_kernel_name(m)) > 0, "kernel in use: %s", ttt_get_kernel_name(m));

    /* fresh model: W = 0, so p = 0 and the output is the input bit for bit;
     * the surprise is ||f||^2 / d = 1 / d */
    float first[D], fs;
    ttt_forward_ex(m, in, 1, first, &fs);
    tap_ok(!memcmp(first, in, sizeof first), "first output equals its input bit for bit");
    tap_ok(fabsf(fs - 1.0f / (D / 4)) < 1e-6f, "first surprise is 1/d (%g)", fs);
    ttt_stats st;
    tap_ok(ttt_get_stats(m, &st) == TTT_OK && st.tokens_seen == 1 && st.tokens_skipped == 0, "counters: 1 seen");

    /* the memory effect: the second appearance of a token differs from it */
    float seq[6 * D], so[6 * D];
    for (int t = 0; t < 6; t++)
        memcpy(seq + t * D, in + (t % 3) * D, D * sizeof(float));
    ttt_reset(m);
    ttt_forward(m, seq, 6, so);
    double diff = 0;
    for (int i = 0; i < D; i++)
        diff += fabs(so[3 * D + i] - seq[3 * D + i]);
    tap_ok(!memcmp(so, seq, D * sizeof(float)) && diff > 1e-3, "memory effect: token 0 again differs by %g", diff);

    /* one call of N == N calls of 1 == uneven splits, bit for bit */
    static const size_t one[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    static const size_t uneven[] = {7, 31, 32, 33, 1, 64, 2, 0};
    ttt_reset(m);
    ttt_forward_ex(m, in, N, out, s);
    void *m1 = ttt_create(D, 0.01f);
    run_split(m1, in, out2, s2, one);
    tap_ok(!memcmp(out, out2, sizeof out) && !memcmp(s, s2, sizeof s), "1 x %d == %d x 1 ... (tail in one call)", N, 128);
    ttt_reset(m1);
    run_split(m1, in, out2, s2, uneven);
    tap_ok(!memcmp(out, out2, sizeof out) && !memcmp(s, s2, sizeof s), "uneven splits 7,31,32,33,1,64,2,rest");

    /* in place gives the same as out of place */
    memcpy(out2, in, sizeof in);
    ttt_reset(m1);
    ttt_forward_ex(m1, out2, N, out2, s2);
    tap_ok(!memcmp(out, out2, sizeof out), "in place == out of place");

    /* reset forgets: the replay equals a fresh run */
    ttt_reset(m1);
    ttt_forward_ex(m1, in, N, out2, s2);
    tap_ok(!memcmp(out, out2, sizeof out) && ttt_get_stats(m1, &st) == TTT_OK && st.tokens_seen == N,
           "reset then replay == first run; counters restart");

    /* identical seeds, identical layers; another seed, another layer */
    ttt_config c2;
    ttt_model *ma, *mb;
    ttt_config_default(&c2);
    c2.hidden_dim = D;
    c2.seed = 7;
    ttt_create_ex(&c2, &ma);
    c2.seed = 8;
    ttt_create_ex(&c2, &mb);
    ttt_forward_ex(ma, in, N, out2, NULL);
    ttt_forward_ex(mb, in, N, out, NULL);
    tap_ok(memcmp(out, out2, sizeof out) != 0, "seed 7 and seed 8 give different outputs");
    ttt_destroy(mb);
    c2.seed = 7;
    ttt_create_ex(&c2, &mb);
    ttt_forward_ex(mb, in, N, out, NULL);
    tap_ok(!memcmp(out, out2, sizeof out), "seed 7 twice gives identical outputs");
    ttt_destroy(ma);
    ttt_destroy(mb);

    /* eta = 1 on one repeated token: W = f f^T after one step, so the next
     * prediction is f and the surprise vanishes; eta = 0.5 halves the error,
     * leaving a surprise of 0.25 / d */
    const float etas[] = {1.0f, 0.5f};
    const float expect[] = {0.0f, 0.25f / (D / 4)};
    for (int k = 0; k < 2; k++) {
        ttt_reset(m);
        ttt_set_inner_lr(m, etas[k]);
        float two[2 * D], s_two[2];
        memcpy(two, in, D * sizeof(float));
        memcpy(two + D, in, D * sizeof(float));
        ttt_forward_ex(m, two, 2, two, s_two);
        tap_ok(fabsf(s_two[1] - expect[k]) < 1e-6f, "eta %.1f: surprise on the repeat is %g (expect %g)", etas[k], s_two[1], expect[k]);
    }

    /* eta = 0 and learning off: W stays 0, every output is its input */
    ttt_reset(m);
    tap_ok(ttt_set_inner_lr(m, 0.0f) == TTT_OK && ttt_get_inner_lr(m) == 0.0f, "set eta 0");
    ttt_forward_ex(m, in, N, out, NULL);
    tap_ok(!memcmp(out, in, sizeof out), "eta 0: outputs equal inputs");
    ttt_reset(m);
    ttt_set_inner_lr(m, 0.5f);
    tap_ok(ttt_set_learning(m, 0) == TTT_OK && ttt_get_learning(m) == 0, "learning off");
    ttt_forward_ex(m, in, N, out, NULL);
    tap_ok(!memcmp(out, in, sizeof out), "learning off on a fresh model: outputs equal inputs");

    /* learning off freezes a learned W: a repeated token transforms the same way */
    ttt_set_learning(m, 1);
    ttt_forward_ex(m, in, N, out, NULL);
    ttt_set_learning(m, 0);
    float r1[D], r2[D];
    ttt_forward_ex(m, in, 1, r1, NULL);
    ttt_forward_ex(m, in, 1, r2, NULL);
    tap_ok(!memcmp(r1, r2, sizeof r1) && memcmp(r1, in, sizeof r1) != 0, "frozen W: same token, same (non-trivial) output");

    /* a zero token has no direction: f = 0, p = 0, output 0 */
    float z[D] = {0}, zo[D];
    ttt_set_learning(m, 1);
    ttt_forward_ex(m, z, 1, zo, &fs);
    tap_ok(!memcmp(z, zo, sizeof z) && fs == 0.0f, "zero token: output 0, surprise 0");

    /* a chosen state_dim and the scalar cap */
    ttt_config c3;
    ttt_model *m3;
    ttt_config_default(&c3);
    c3.hidden_dim = 12;
    c3.state_dim = 7;
    c3.max_isa = TTT_ISA_SCALAR;
    tap_ok(ttt_create_ex(&c3, &m3) == TTT_OK && !strcmp(ttt_get_kernel_name(m3), "scalar"),
           "D 12, d 7, scalar cap: kernel 'scalar'");
    tap_ok(ttt_get_config(m3, &c3) == TTT_OK && c3.state_dim == 7, "state_dim 7 kept");
    ttt_destroy(m3);
    /* a caller built against the 1.0 header passes the shorter struct */
    struct {
        ttt_config cfg;
        unsigned char canary[64];
    } old;
    memset(&old, 0xa5, sizeof old);
    ttt_config_default(&old.cfg);
    old.cfg.struct_size = (uint32_t)TTT_CONFIG_SIZE_1_0;
    old.cfg.hidden_dim = 16;
    memset((char *)&old.cfg + TTT_CONFIG_SIZE_1_0, 0xa5, sizeof old.cfg - TTT_CONFIG_SIZE_1_0);
    tap_ok(ttt_create_ex(&old.cfg, &m3) == TTT_OK, "a 1.0-sized config is accepted (new fields default)");
    ttt_config back;
    memset(&back, 0xa5, sizeof back);
    back.struct_size = (uint32_t)TTT_CONFIG_SIZE_1_0;
    const int got = ttt_get_config(m3, &back);
    int untouched = 1;
    for (size_t i = TTT_CONFIG_SIZE_1_0; i < sizeof back; i++)
        untouched &= ((unsigned char *)&back)[i] == 0xa5;
    tap_ok(got == TTT_OK && back.hidden_dim == 16 && untouched,
           "get_config writes only struct_size bytes");
    ttt_destroy(m3);
    back.struct_size = 0;
    tap_ok(ttt_get_config(m, &back) == TTT_ERR_INVALID_ARG, "get_config without struct_size is refused");

    tap_ok(ttt_cpu_isa() >= TTT_ISA_SCALAR && ttt_cpu_isa() <= TTT_ISA_NEON_DOTPROD, "cpu isa %d", (int)ttt_cpu_isa());
    if (getenv("TTT_FORCE_ISA") && !strcmp(getenv("TTT_FORCE_ISA"), "scalar"))
        tap_ok(ttt_cpu_isa() == TTT_ISA_SCALAR && !strcmp(ttt_get_kernel_name(m), "scalar"), "TTT_FORCE_ISA=scalar honoured");

    ttt_destroy(m);
    ttt_destroy(m1);
    return tap_done();
}
