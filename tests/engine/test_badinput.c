/* Bad input gets a clear error, never a crash, and loses nothing. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <bitttt/bitttt.h>

#include "tap.h"

#define D 32
#define N 100

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* W must stay finite: read it back through the state format (offset 64). */
static int state_finite(ttt_model *m)
{
    static unsigned char buf[1 << 16];
    size_t n;
    if (ttt_state_save(m, buf, sizeof buf, &n) != TTT_OK)
        return 0;
    for (size_t off = 64; off + 8 < n; off += 4) {
        float f;
        memcpy(&f, buf + off, 4);
        if (!isfinite(f))
            return 0;
    }
    return 1;
}

int main(void)
{
    static float in[N * D], out[N * D], ref[N * D], s[N];
    test_fill(in, N * D);

    /* creation */
    const size_t dims[] = {0, 1, 2, 3, 6, 66, TTT_MAX_HIDDEN_DIM + 4, SIZE_MAX, SIZE_MAX - 3};
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++)
        tap_ok(ttt_create(dims[i], 0.01f) == NULL, "ttt_create(%zu) is NULL", dims[i]);
    const float lrs[] = {-0.001f, 2.001f, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof lrs / sizeof *lrs; i++)
        tap_ok(ttt_create(8, lrs[i]) == NULL, "ttt_create(8, %g) is NULL", lrs[i]);
    void *ok = ttt_create(8, 2.0f);
    tap_ok(ok != NULL, "eta 2 is accepted");
    ttt_destroy(ok);

    ttt_config cfg;
    ttt_model *m = (ttt_model *)&cfg; /* must be overwritten with NULL on failure */
    tap_ok(ttt_create_ex(NULL, &m) == TTT_ERR_INVALID_ARG && m == NULL, "create_ex(NULL cfg)");
    ttt_config_default(&cfg);
    cfg.hidden_dim = 16;
    tap_ok(ttt_create_ex(&cfg, NULL) == TTT_ERR_INVALID_ARG, "create_ex(NULL out)");
    cfg.struct_size = 4;
    tap_ok(ttt_create_ex(&cfg, &m) == TTT_ERR_INVALID_ARG && m == NULL, "create_ex with a short struct_size");
    ttt_config_default(&cfg);
    cfg.hidden_dim = 16;
    cfg.state_dim = TTT_MAX_STATE_DIM + 1;
    tap_ok(ttt_create_ex(&cfg, &m) == TTT_ERR_INVALID_ARG, "state_dim too large");
    cfg.state_dim = 0;
    cfg.max_isa = 99;
    tap_ok(ttt_create_ex(&cfg, &m) == TTT_ERR_INVALID_ARG, "unknown isa");
    ttt_config_default(NULL);

    /* forward arguments; nothing changes on error */
    ttt_config_default(&cfg);
    cfg.hidden_dim = D;
    tap_ok(ttt_create_ex(&cfg, &m) == TTT_OK, "create D 32");
    tap_ok(ttt_forward(NULL, in, 1, out) == TTT_ERR_INVALID_ARG, "forward(NULL model)");
    tap_ok(ttt_forward(m, NULL, 1, out) == TTT_ERR_INVALID_ARG, "forward(NULL input)");
    tap_ok(ttt_forward(m, in, 1, NULL) == TTT_ERR_INVALID_ARG, "forward(NULL output)");
    tap_ok(ttt_forward(m, in, 0, out) == TTT_ERR_INVALID_ARG, "forward(seq_len 0)");
    tap_ok(ttt_forward(m, in, SIZE_MAX / 2, out) == TTT_ERR_OVERFLOW, "forward(seq_len * D overflows)");
    tap_ok(ttt_forward(m, in, 2, in + 1) == TTT_ERR_INVALID_ARG, "forward with partly overlapping buffers");
    ttt_stats st;
    ttt_get_stats(m, &st);
    tap_ok(st.tokens_seen == 0, "failed calls processed nothing");

    /* NaN and Inf tokens: skipped, output = input, surprise NaN, state untouched */
    ttt_model *clean;
    ttt_create_ex(&cfg, &clean);
    ttt_forward_ex(clean, in, N, ref, NULL);
    static float bad[(N + 3) * D], bad_out[(N + 3) * D], bs[N + 3];
    const float poison[3] = {NAN, INFINITY, -INFINITY};
    /* tokens 0..9, NaN, 10..49, +Inf, 50..79, -Inf, 80..99 */
    const size_t at[3] = {10, 51, 82};
    for (size_t t = 0, src = 0; t < N + 3; t++) {
        int k = t == at[0] ? 0 : t == at[1] ? 1 : t == at[2] ? 2 : -1;
        if (k >= 0) {
            memcpy(bad + t * D, in, D * sizeof(float));
            bad[t * D + 5] = poison[k];
        } else {
            memcpy(bad + t * D, in + src++ * D, D * sizeof(float));
        }
    }
    tap_ok(ttt_forward_ex(m, bad, N + 3, bad_out, bs) == TTT_OK, "a stream with NaN/Inf tokens is accepted");
    int same = 1, passthrough = 1, nan_s = 1;
    for (size_t t = 0, src = 0; t < N + 3; t++) {
        if (t == at[0] || t == at[1] || t == at[2]) {
            passthrough &= !memcmp(bad + t * D, bad_out + t * D, D * sizeof(float));
            nan_s &= isnan(bs[t]);
        } else {
            same &= !memcmp(ref + src++ * D, bad_out + t * D, D * sizeof(float));
        }
    }
    tap_ok(passthrough, "non-finite tokens pass through unchanged (payload kept)");
    tap_ok(nan_s, "their surprise is NaN");
    tap_ok(same, "every other output equals a run that never saw them: the state was untouched");
    ttt_get_stats(m, &st);
    tap_ok(st.tokens_seen == N + 3 && st.tokens_skipped == 3, "counters: %llu seen, %llu skipped",
           (unsigned long long)st.tokens_seen, (unsigned long long)st.tokens_skipped);

    /* huge and tiny finite values */
    const float extremes[] = {1e30f, FLT_MAX, -FLT_MAX, 1e-40f, FLT_MIN, 1e-30f, 1e-38f};
    for (size_t k = 0; k < sizeof extremes / sizeof *extremes; k++) {
        for (int t = 0; t < N; t++)
            for (int i = 0; i < D; i++)
                bad[t * D + i] = extremes[k] * (in[t * D + i] > 0 ? 1.0f : -0.5f);
        ttt_forward_ex(m, bad, N, bad_out, s);
        tap_ok(all_finite(bad_out, N * D) && all_finite(s, N) && state_finite(m),
               "%g: outputs, surprises and state finite", extremes[k]);
    }
    /* mixed magnitudes inside one token */
    for (int i = 0; i < D; i++)
        bad[i] = i % 2 ? FLT_MAX : 1e-40f;
    ttt_forward_ex(m, bad, 1, bad_out, s);
    tap_ok(all_finite(bad_out, D) && state_finite(m), "FLT_MAX beside denormals: finite");

    /* settings */
    tap_ok(ttt_set_inner_lr(m, NAN) == TTT_ERR_INVALID_ARG && ttt_set_inner_lr(m, 3.0f) == TTT_ERR_INVALID_ARG &&
               ttt_get_inner_lr(m) == cfg.inner_lr,
           "bad eta rejected, eta unchanged");
    tap_ok(ttt_set_inner_lr(NULL, 0.1f) == TTT_ERR_INVALID_ARG && isnan(ttt_get_inner_lr(NULL)), "eta on NULL");
    tap_ok(ttt_set_learning(NULL, 1) == TTT_ERR_INVALID_ARG && ttt_get_learning(NULL) == 0, "learning on NULL");
    tap_ok(ttt_reset(NULL) == TTT_ERR_INVALID_ARG, "reset(NULL)");
    tap_ok(ttt_get_config(NULL, &cfg) == TTT_ERR_INVALID_ARG && ttt_get_config(m, NULL) == TTT_ERR_INVALID_ARG, "get_config NULLs");
    tap_ok(ttt_get_stats(NULL, &st) == TTT_ERR_INVALID_ARG && ttt_get_stats(m, NULL) == TTT_ERR_INVALID_ARG, "get_stats NULLs");
    tap_ok(ttt_get_kernel_name(NULL) != NULL && ttt_state_size(NULL) == 0, "NULL model getters");
    int named = 1;
    for (int e = 0; e >= -8; e--)
        named &= strcmp(ttt_strerror(e), "unknown error") != 0;
    tap_ok(named && !strcmp(ttt_strerror(12345), "unknown error"), "every error code has a message");
    ttt_destroy(NULL);
    tap_ok(1, "ttt_destroy(NULL) is a no-op");

    ttt_destroy(m);
    ttt_destroy(clean);
    return tap_done();
}
