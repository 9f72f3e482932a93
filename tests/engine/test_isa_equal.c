/*
 * Whole forward passes, scalar against every SIMD level the CPU has, bit for
 * bit: outputs, surprises, counters and saved states, through every
 * objective, odd state widths (every tail of every kernel), the chunked
 * recurrence (d >= 512), forgetting, learning switched off and on, NaN and
 * Inf tokens, and streams cut into calls of every length around TTT_BLOCK.
 * checkasm compares the kernels one by one; this compares what the user
 * gets, and it is the test tests/emu/avx512-bochs.sh runs on an emulated
 * AVX-512 CPU, where the SIMD tables cannot otherwise run here.
 *
 * TTT_TEST_SMALL=1 shortens the streams (for the emulator, ~100x slower);
 * every case and every path stays.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bitttt/bitttt.h>

#include "tap.h"

typedef struct isa_case {
    const char *name;
    size_t D, d;
    uint32_t objective, feature_norm, update;
    float forget;
    int residual;
} isa_case;

static const isa_case g_cases[] = {
    { "D=4 d=1 reconstruct", 4, 0, TTT_OBJECTIVE_RECONSTRUCT, 0, 0, 0.0f, 0 },
    { "D=12 d=3 multiview residual forget", 12, 3, TTT_OBJECTIVE_MULTIVIEW, 0, 0, 0.01f, 1 },
    { "D=68 d=17 next nlms", 68, 17, TTT_OBJECTIVE_NEXT, 0, TTT_UPDATE_NLMS, 0.0f, 0 },
    { "D=132 d=33 reconstruct none nlms forget", 132, 33, TTT_OBJECTIVE_RECONSTRUCT, TTT_FEATURE_NORM_NONE,
      TTT_UPDATE_NLMS, 1e-6f, 0 },
    { "D=260 d=65 reconstruct forget", 260, 0, TTT_OBJECTIVE_RECONSTRUCT, 0, 0, 0.5f, 0 },
    { "D=200 d=127 multiview l2 nlms", 200, 127, TTT_OBJECTIVE_MULTIVIEW, TTT_FEATURE_NORM_L2, TTT_UPDATE_NLMS,
      0.0f, 0 },
    /* the chunked recurrence */
    { "D=128 d=515 reconstruct (chunked)", 128, 515, TTT_OBJECTIVE_RECONSTRUCT, 0, 0, 0.0f, 0 },
    { "D=516 d=512 multiview residual forget (chunked)", 516, 512, TTT_OBJECTIVE_MULTIVIEW, 0, 0, 0.01f, 1 },
    { "D=2052 d=513 next nlms forget (chunked)", 2052, 0, TTT_OBJECTIVE_NEXT, TTT_FEATURE_NORM_L2,
      TTT_UPDATE_NLMS, 0.01f, 0 },
};
#define NCASES (sizeof g_cases / sizeof g_cases[0])

static ttt_model *make(const isa_case *c, unsigned isa)
{
    ttt_config cfg;
    ttt_model *m = NULL;
    ttt_config_default(&cfg);
    cfg.hidden_dim = c->D;
    cfg.state_dim = c->d;
    cfg.max_isa = isa;
    cfg.inner_lr = 0.2f;
    cfg.objective = c->objective;
    cfg.feature_norm = c->feature_norm;
    cfg.update = c->update;
    cfg.forget = c->forget;
    cfg.residual = c->residual;
    return ttt_create_ex(&cfg, &m) == TTT_OK ? m : NULL;
}

static size_t first_diff(const void *a, const void *b, size_t n, size_t size)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (memcmp(x + i * size, y + i * size, size) != 0)
            return i;
    return n;
}

/*
 * One stream through the scalar model and the model capped at isa, in the
 * same calls; learning off for a stretch and back on, NaN and Inf tokens
 * in the middle of blocks. Returns 1 when everything matched; prints the
 * first difference.
 */
static int run_case(const isa_case *c, unsigned isa, size_t T, char *kname, size_t kname_len)
{
    ttt_model *a = make(c, TTT_ISA_SCALAR), *b = make(c, isa);
    if (!a || !b) {
        printf("# %s: create failed\n", c->name);
        ttt_destroy(a);
        ttt_destroy(b);
        return 0;
    }
    snprintf(kname, kname_len, "%s", ttt_get_kernel_name(b));
    static const size_t calls[] = { 1, 3, 32, 1, 37, 5, 64, 31, 33, 2, 70 };
    const size_t D = c->D, P = 6, maxn = 70;
    float *proto = malloc(P * D * sizeof(float)), *x = malloc(maxn * D * sizeof(float));
    float *oa = malloc(maxn * D * sizeof(float)), *ob = malloc(maxn * D * sizeof(float));
    float *sa = malloc(maxn * sizeof(float)), *sb = malloc(maxn * sizeof(float));
    int ok = proto && x && oa && ob && sa && sb;
    if (ok)
        test_fill(proto, P * D);
    size_t t = 0;
    for (size_t call = 0; ok && t < T; call++) {
        size_t n = calls[call % (sizeof calls / sizeof calls[0])];
        if (n > T - t)
            n = T - t;
        /* repeated patterns plus noise: W learns, so predictions are not 0 */
        for (size_t u = 0; u < n; u++) {
            const float *pr = proto + (size_t)((test_randf() + 1.0f) * 0.5f * (float)P) % P * D;
            for (size_t i = 0; i < D; i++)
                x[u * D + i] = pr[i] + 0.1f * test_randf();
        }
        if (call % 4 == 2) /* a skipped token mid-call */
            x[(n / 2) * D + (t % D)] = call % 8 == 2 ? 0.0f / 0.0f : 1.0f / 0.0f;
        if (call == 6 || call == 9) { /* a stretch with W frozen, then learning again */
            const int on = call == 9;
            ok = ttt_set_learning(a, on) == TTT_OK && ttt_set_learning(b, on) == TTT_OK;
        }
        if (!ok || ttt_forward_ex(a, x, n, oa, sa) != TTT_OK || ttt_forward_ex(b, x, n, ob, sb) != TTT_OK) {
            printf("# %s %s: forward failed at token %zu\n", c->name, kname, t);
            ok = 0;
            break;
        }
        const size_t io = first_diff(oa, ob, n * D, sizeof(float)), is = first_diff(sa, sb, n, sizeof(float));
        if (io < n * D) {
            printf("# %s %s: token %zu out[%zu] %.9g vs scalar %.9g\n", c->name, kname, t + io / D, io % D,
                   ob[io], oa[io]);
            ok = 0;
        } else if (is < n) {
            printf("# %s %s: token %zu surprise %.9g vs scalar %.9g\n", c->name, kname, t + is, sb[is], sa[is]);
            ok = 0;
        }
        t += n;
    }
    ttt_stats xa, xb;
    if (ok && (ttt_get_stats(a, &xa) != TTT_OK || ttt_get_stats(b, &xb) != TTT_OK ||
               memcmp(&xa, &xb, sizeof xa) != 0 || xa.tokens_skipped == 0)) {
        printf("# %s %s: counters differ (or no token was skipped)\n", c->name, kname);
        ok = 0;
    }
    if (ok) { /* the saved state holds W, with the open chunk applied */
        const size_t len = ttt_state_size(a);
        unsigned char *ba = malloc(len), *bb = malloc(len);
        ok = ba && bb && len == ttt_state_size(b) && ttt_state_save(a, ba, len, NULL) == TTT_OK &&
             ttt_state_save(b, bb, len, NULL) == TTT_OK && memcmp(ba, bb, len) == 0;
        if (!ok)
            printf("# %s %s: saved states differ\n", c->name, kname);
        free(ba);
        free(bb);
    }
    ttt_destroy(a);
    ttt_destroy(b);
    free(proto), free(x), free(oa), free(ob), free(sa), free(sb);
    return ok;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
/* AVX-VNNI (leaf 7 subleaf 1, EAX bit 4), asked of the CPU here rather than
 * of the engine, so that a wrong detection fails; clang 14's
 * __builtin_cpu_supports does not know it */
static int has_avxvnni(void)
{
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    if (a < 1)
        return 0;
    __cpuid_count(7, 1, a, b, c, d);
    return (a >> 4) & 1;
}
#endif

/* a kernel name: one table, or "slot=table" words, every table among
 * those the CPU runs up to best, and "learn_run=none" last when the
 * recurrence runs token by token */
static int names_ok(const char *kn, ttt_isa best)
{
#if defined(__aarch64__)
    static const char *tables[] = { "scalar", "neon", "neon-dotprod" };
    const size_t ntab = best >= TTT_ISA_NEON_DOTPROD ? 3 : best >= TTT_ISA_NEON ? 2 : 1;
#else
    static const char *tables[] = { "scalar", "avx2", "avx2-vnni", "avx512", "avx512-vnni" };
    const size_t ntab = best >= TTT_ISA_AVX512 ? 5 : best >= TTT_ISA_AVX2 ? 3 : 1;
#endif
    char buf[512];
    snprintf(buf, sizeof buf, "%s", kn);
    int words = 0;
    for (char *w = strtok(buf, " "); w; w = strtok(NULL, " "), words++) {
        char *eq = strchr(w, '=');
        if (!strcmp(w, "learn_run=none"))
            return words > 0 && !strtok(NULL, " ");
        if (eq)
            w = eq + 1;
        else if (words || strchr(kn, ' '))
            return 0;
        int found = 0;
        for (size_t i = 0; i < ntab; i++)
            found |= !strcmp(w, tables[i]);
        if (!found)
            return 0;
    }
    return words > 0;
}

int main(void)
{
    const char *small = getenv("TTT_TEST_SMALL");
    const size_t T = small && *small && strcmp(small, "0") != 0 ? 150 : 600;
    const ttt_isa best = ttt_cpu_isa();
    static const char *isa_names[] = { "auto", "scalar", "avx2", "avx512", "neon", "neon-dotprod" };
    printf("# CPU ISA %s, %zu tokens per case\n", isa_names[best], T);

    /* the kernel set AUTO picks names the CPU's level (and VNNI) */
    const char *want = "scalar";
#if defined(__x86_64__) && defined(__GNUC__)
    if (best >= TTT_ISA_AVX512)
        want = __builtin_cpu_supports("avx512vnni") ? "avx512-vnni" : "avx512";
    else if (best >= TTT_ISA_AVX2)
        want = has_avxvnni() ? "avx2-vnni" : "avx2";
#elif defined(__aarch64__)
    if (best >= TTT_ISA_NEON)
        want = best >= TTT_ISA_NEON_DOTPROD ? "neon-dotprod" : "neon";
#endif
    /* by ISA: that table whole; measured or mixed: "slot=table ..." with
     * tables the CPU runs */
    const char *mode = getenv("TTT_DISPATCH");
    for (size_t i = 0; i < NCASES; i++) {
        ttt_model *m = make(&g_cases[i], TTT_ISA_AUTO);
        const char *kn = m ? ttt_get_kernel_name(m) : "no model";
        if (mode && !strcmp(mode, "isa"))
            tap_ok(m && strcmp(kn, want) == 0, "AUTO by ISA uses the %s kernels (got %s), %s", want, kn,
                   g_cases[i].name);
        else
            tap_ok(m && names_ok(kn, best), "AUTO kernels %s, %s", kn, g_cases[i].name);
        ttt_destroy(m);
    }

    /* an outside statement of what the (emulated) CPU has, so that a wrong
     * detection fails: cross/test-aarch64.sh sets it per qemu CPU */
    const char *expect = getenv("TTT_EXPECT_ISA");
    if (expect && *expect)
        tap_ok(strcmp(isa_names[best], expect) == 0, "the CPU's ISA is %s (detected %s)", expect,
               isa_names[best]);

#if defined(__aarch64__)
    const unsigned first = TTT_ISA_NEON, last = TTT_ISA_NEON_DOTPROD;
#else
    const unsigned first = TTT_ISA_AVX2, last = TTT_ISA_AVX512;
#endif
    for (unsigned isa = first; isa <= last; isa++) {
        if (isa > (unsigned)best) {
            char why[64];
            snprintf(why, sizeof why, "no %s on this CPU", isa_names[isa]);
            for (size_t i = 0; i < NCASES; i++)
                tap_skip(why);
            continue;
        }
        for (size_t i = 0; i < NCASES; i++) {
            char kname[512];
            const int ok = run_case(&g_cases[i], isa, T, kname, sizeof kname);
            tap_ok(ok, "%s == scalar bit for bit, %s", kname, g_cases[i].name);
        }
    }
    return tap_done();
}
