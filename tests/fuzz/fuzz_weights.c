/*
 * Fuzz target: ttt_load_weights_mem on arbitrary bytes.
 *
 * Byte 0 picks the model the file is loaded into, so that files of every
 * kind can get past the comparison with the model:
 *   bits 0-1 objective (3: RECONSTRUCT)  bit 2 feature_norm NONE (else AUTO)
 *   bit 3 residual (MULTIVIEW only)      bit 4 D = 16 (else 8)
 *   bit 5 state_dim 2 (else 4)
 * The rest is the file.
 *
 * Checked: load returns a documented code; on error the model is exactly as
 * before (same saved state, and it continues bit for bit like an untouched
 * twin, pending update included); on success W and the counters are 0, and
 * tokens give finite outputs, finite surprises and a finite W.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <bitttt/bitttt.h>

#include "fuzz.h"
#include "state_view.h"

#define NTOK 40
#define MAX_D 16

static uint64_t rng_state;

static ttt_model *make(unsigned mode)
{
    ttt_config c;
    ttt_model *m = NULL;
    ttt_config_default(&c);
    c.objective = mode % 4 == 3 ? TTT_OBJECTIVE_RECONSTRUCT : mode % 4;
    c.feature_norm = mode & 4 ? TTT_FEATURE_NORM_NONE : TTT_FEATURE_NORM_AUTO;
    c.update = TTT_UPDATE_NLMS; /* RECONSTRUCT with NONE needs it; fine for all */
    c.residual = (mode & 8) && c.objective == TTT_OBJECTIVE_MULTIVIEW;
    c.hidden_dim = mode & 16 ? 16 : 8;
    c.state_dim = mode & 32 ? 2 : 4;
    c.inner_lr = 0.5f;
    FUZZ_CHECK(ttt_create_ex(&c, &m) == TTT_OK && m);
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const unsigned mode = data[0];
    ttt_model *m = make(mode), *twin = make(mode);
    ttt_config cfg;
    ttt_config_default(&cfg);
    FUZZ_CHECK(ttt_get_config(m, &cfg) == TTT_OK);
    const size_t D = cfg.hidden_dim, d = cfg.state_dim;
    float in[NTOK * MAX_D], out1[NTOK * MAX_D], out2[NTOK * MAX_D], s1[NTOK], s2[NTOK];
    rng_state = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < NTOK * D; i++)
        in[i] = fuzz_rnd(&rng_state) * (i % 7 == 0 ? 1e3f : 1.0f);
    /* a learned W and a pending update: what a failed load must preserve */
    FUZZ_CHECK(ttt_forward(m, in, 5, out1) == TTT_OK && ttt_forward(twin, in, 5, out2) == TTT_OK);
    size_t n0, n1;
    unsigned char *before = fuzz_save_state(m, &n0);
    free(fuzz_save_state(twin, &n1));

    /* a copy of exactly the input's bytes: ASan sees any read past them */
    const size_t len = size - 1;
    unsigned char *file = malloc(len ? len : 1);
    FUZZ_CHECK(file);
    memcpy(file, data + 1, len);
    const int rc = ttt_load_weights_mem(m, file, len);
    free(file);
    FUZZ_CHECK(rc == TTT_OK || rc == TTT_ERR_WEIGHTS || rc == TTT_ERR_WEIGHTS_MISMATCH ||
               rc == TTT_ERR_VERSION || rc == TTT_ERR_NOMEM);
    if (rc != TTT_OK) {
        unsigned char *after = fuzz_save_state(m, &n1);
        FUZZ_CHECK(n0 == n1 && memcmp(before, after, n0) == 0);
        free(after);
        FUZZ_CHECK(ttt_forward_ex(m, in, NTOK, out1, s1) == TTT_OK);
        FUZZ_CHECK(ttt_forward_ex(twin, in, NTOK, out2, s2) == TTT_OK);
        FUZZ_CHECK(memcmp(out1, out2, NTOK * D * sizeof *out1) == 0);
        FUZZ_CHECK(memcmp(s1, s2, sizeof s1) == 0);
    } else {
        ttt_stats st;
        float mx;
        FUZZ_CHECK(ttt_get_stats(m, &st) == TTT_OK && st.tokens_seen == 0 && st.tokens_skipped == 0);
        unsigned char *after = fuzz_save_state(m, &n1);
        FUZZ_CHECK(sv_w_scan(after, d, &mx) && mx == 0.0f);
        free(after);
        FUZZ_CHECK(ttt_forward_ex(m, in, NTOK, out1, s1) == TTT_OK);
        for (size_t t = 0; t < NTOK; t++) {
            for (size_t i = 0; i < D; i++)
                FUZZ_CHECK(isfinite(out1[t * D + i]));
            FUZZ_CHECK(s1[t] >= 0.0f && isfinite(s1[t]));
        }
        after = fuzz_save_state(m, &n1);
        FUZZ_CHECK(sv_w_scan(after, d, &mx));
        free(after);
    }
    free(before);
    ttt_destroy(m);
    ttt_destroy(twin);
    return 0;
}
