/*
 * Whole forwards into a file, for comparing two builds bit for bit: the
 * outputs, surprises and saved states of a few fixed streams (every
 * objective, odd widths, forgetting, the chunked recurrence, NaN tokens).
 * cross/test-aarch64.sh writes the file with the x86 build's scalar kernels
 * (TTT_FORCE_ISA=scalar), the reference, and again under qemu with each
 * aarch64 table, and compares them with cmp: numpy's reference cannot load
 * the emulated library, so this ties the aarch64 tables to the reference
 * through the x86 scalar kernels, which tests/reference checks against it.
 *
 * NaN outputs (tokens with NaN or Inf) are written as one quiet NaN: the
 * pattern an operation makes differs between architectures (x86's default
 * NaN has the sign set, Arm's has not), and the SPEC only asks for a NaN.
 *
 *   golden FILE      writes FILE, prints its FNV-1a hash and the kernels used
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bitttt/bitttt.h>

#include "tap.h"

typedef struct golden_case {
    size_t D, d;
    uint32_t objective, feature_norm, update;
    float forget;
    int residual;
} golden_case;

static const golden_case g_cases[] = {
    { 4, 0, TTT_OBJECTIVE_RECONSTRUCT, 0, 0, 0.0f, 0 },
    { 68, 17, TTT_OBJECTIVE_NEXT, 0, TTT_UPDATE_NLMS, 0.0f, 0 },
    { 132, 33, TTT_OBJECTIVE_RECONSTRUCT, TTT_FEATURE_NORM_NONE, TTT_UPDATE_NLMS, 1e-6f, 0 },
    { 128, 0, TTT_OBJECTIVE_MULTIVIEW, 0, 0, 0.01f, 1 },
    { 260, 65, TTT_OBJECTIVE_RECONSTRUCT, 0, 0, 0.5f, 0 },
    { 128, 515, TTT_OBJECTIVE_RECONSTRUCT, 0, 0, 0.0f, 0 },              /* chunked */
    { 516, 512, TTT_OBJECTIVE_MULTIVIEW, 0, 0, 0.01f, 1 },               /* chunked */
};

static void canonical_nan(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (x[i] != x[i])
            x[i] = NAN;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return h;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: golden FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "wb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    static const size_t calls[] = { 1, 3, 32, 37, 5, 64, 2 };
    const size_t T = 144, maxn = 64;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    int ok = 1;
    const char *kname = "none";
    for (size_t k = 0; ok && k < sizeof g_cases / sizeof g_cases[0]; k++) {
        const golden_case *c = &g_cases[k];
        ttt_config cfg;
        ttt_config_default(&cfg);
        cfg.hidden_dim = c->D;
        cfg.state_dim = c->d;
        cfg.inner_lr = 0.2f;
        cfg.objective = c->objective;
        cfg.feature_norm = c->feature_norm;
        cfg.update = c->update;
        cfg.forget = c->forget;
        cfg.residual = c->residual;
        ttt_model *m = NULL;
        float *x = malloc(maxn * c->D * sizeof *x), *y = malloc(maxn * c->D * sizeof *y);
        float *s = malloc(maxn * sizeof *s);
        ok = x && y && s && ttt_create_ex(&cfg, &m) == TTT_OK;
        if (ok)
            kname = ttt_get_kernel_name(m);
        test_rng = 0x9e3779b97f4a7c15u + k;
        for (size_t t = 0, call = 0; ok && t < T; call++) {
            size_t n = calls[call % (sizeof calls / sizeof calls[0])];
            n = n > T - t ? T - t : n;
            test_fill(x, n * c->D);
            if (call % 3 == 2) /* a skipped token */
                x[(n / 2) * c->D + t % c->D] = call % 6 == 2 ? NAN : INFINITY;
            ok = ttt_forward_ex(m, x, n, y, s) == TTT_OK;
            canonical_nan(y, n * c->D);
            canonical_nan(s, n);
            ok = ok && fwrite(y, sizeof *y, n * c->D, f) == n * c->D &&
                 fwrite(s, sizeof *s, n, f) == n;
            h = fnv(fnv(h, y, n * c->D * sizeof *y), s, n * sizeof *s);
            t += n;
        }
        const size_t len = ok ? ttt_state_size(m) : 0;
        unsigned char *st = malloc(len ? len : 1);
        ok = ok && st && ttt_state_save(m, st, len, NULL) == TTT_OK && fwrite(st, 1, len, f) == len;
        if (ok)
            h = fnv(h, st, len);
        free(st);
        ttt_destroy(m);
        free(x), free(y), free(s);
    }
    if (fclose(f) != 0 || !ok) {
        fprintf(stderr, "golden: a forward, save or write failed\n");
        return 1;
    }
    printf("%016llx %s\n", (unsigned long long)h, kname);
    return 0;
}
