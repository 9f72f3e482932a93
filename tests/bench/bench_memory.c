/*
 * What the memory remembers, per objective (docs/MEMORY.md).
 *
 *   bench_memory [--quick] [--D n] [--eta x]
 *
 * Three measurements, each printed as a Markdown table, each beside its
 * control: the same pipeline with learning off and W = 0, whose surprise is
 * ||v||^2 / d, the novelty of the target's magnitude alone. An objective
 * earns its place only where it beats that control.
 *
 * 1. Inertness: the original objective's surprise on fresh random tokens
 *    after N random tokens, relative to a fresh model's.
 * 2. Seen vs unseen: M random tokens presented R = 5 times in a fixed order
 *    with learning on; then, learning off, the surprise of those M tokens
 *    (replayed in the same order) against U fresh ones. AUC is the
 *    Mann-Whitney P(s_unseen > s_seen) + P(equal) / 2, averaged over trials:
 *    0.5 is no memory, 1 is perfect recall. AUC is blind to scale, so the
 *    unseen tokens' surprise relative to the control's is printed too.
 * 3. Regime switch: tokens from a rank-4 subspace A, then another one B,
 *    then A at 10x the level, then A again (600 tokens each, plus noise).
 *    At each switch: the spike (mean surprise of the 10 tokens after over
 *    the 100 before) and the tokens until the 10-token moving average is
 *    back within 2x of the level before the switch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bitttt/bitttt.h>

#define R_PRESENT 5
#define U_FRESH 256
#define SEG 600
#define RANK 4
#define MAXD 4096

typedef struct objective {
    const char *name;
    uint32_t objective, feature_norm, update;
    int residual;
} objective;

static const objective g_obj[] = {
    { "reconstruct-l2 (original)", TTT_OBJECTIVE_RECONSTRUCT, TTT_FEATURE_NORM_L2, TTT_UPDATE_GRADIENT, 0 },
    { "reconstruct-none-nlms", TTT_OBJECTIVE_RECONSTRUCT, TTT_FEATURE_NORM_NONE, TTT_UPDATE_NLMS, 0 },
    { "multiview", TTT_OBJECTIVE_MULTIVIEW, TTT_FEATURE_NORM_NONE, TTT_UPDATE_GRADIENT, 0 },
    { "multiview-l2", TTT_OBJECTIVE_MULTIVIEW, TTT_FEATURE_NORM_L2, TTT_UPDATE_GRADIENT, 0 },
    { "multiview-residual", TTT_OBJECTIVE_MULTIVIEW, TTT_FEATURE_NORM_NONE, TTT_UPDATE_GRADIENT, 1 },
    { "next", TTT_OBJECTIVE_NEXT, TTT_FEATURE_NORM_NONE, TTT_UPDATE_GRADIENT, 0 },
};
#define NOBJ (sizeof g_obj / sizeof g_obj[0])

static size_t g_D = 128;
static float g_eta = 0.5f;

/* ---- random numbers: splitmix64, Gaussians by Box-Muller ---- */

static uint64_t g_rng = 12345;

static double urand(void) /* (0, 1) */
{
    uint64_t z = (g_rng += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static float gauss(void)
{
    return (float)(sqrt(-2.0 * log(urand())) * cos(6.283185307179586 * urand()));
}

static void fill_gauss(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = gauss();
}

/* ---- models ---- */

static ttt_model *make(const objective *o, float forget, int learning)
{
    ttt_config c;
    ttt_model *m = NULL;
    ttt_config_default(&c);
    c.hidden_dim = g_D;
    c.inner_lr = g_eta;
    c.objective = o->objective;
    c.feature_norm = o->feature_norm;
    c.update = o->update;
    c.residual = o->residual;
    c.forget = forget;
    c.learning = learning;
    if (ttt_create_ex(&c, &m) != TTT_OK) {
        fprintf(stderr, "bench_memory: cannot create %s (forget %g)\n", o->name, (double)forget);
        exit(1);
    }
    return m;
}

/* surprise of n tokens; out is scratch */
static void run(ttt_model *m, const float *x, size_t n, float *out, float *s)
{
    if (ttt_forward_ex(m, x, n, out, s) != TTT_OK) {
        fprintf(stderr, "bench_memory: forward failed\n");
        exit(1);
    }
}

static double mean(const float *s, size_t n)
{
    double a = 0.0;
    for (size_t i = 0; i < n; i++)
        a += s[i];
    return a / (double)n;
}

/* Mann-Whitney: P(unseen > seen) + P(equal) / 2 over all pairs */
static double auc(const float *seen, size_t ns, const float *unseen, size_t nu)
{
    double w = 0.0;
    for (size_t i = 0; i < ns; i++)
        for (size_t j = 0; j < nu; j++)
            w += unseen[j] > seen[i] ? 1.0 : unseen[j] == seen[i] ? 0.5 : 0.0;
    return w / ((double)ns * (double)nu);
}

/* ---- 1. inertness ---- */

static void bench_inert(int quick)
{
    static const size_t Ns[] = { 0, 100, 1000, 10000, 30000 };
    const size_t nN = quick ? 4 : 5, chunk = 1000, nf = 200;
    float *x = malloc(chunk * g_D * sizeof(float)), *out = malloc(chunk * g_D * sizeof(float));
    float *fresh = malloc(nf * g_D * sizeof(float)), s[1000];
    fill_gauss(fresh, nf * g_D);
    printf("\n### Inertness: fresh random tokens after N random tokens (D=%zu, eta %g and 0.01)\n\n",
           g_D, (double)g_eta);
    printf("Mean surprise of %zu fresh tokens (learning off), over that of a fresh model.\n\n", nf);
    printf("| objective | eta |");
    for (size_t k = 0; k < nN; k++)
        printf(" N=%zu |", Ns[k]);
    printf("\n| --- | --- |");
    for (size_t k = 0; k < nN; k++)
        printf(" --- |");
    printf("\n");
    for (size_t oi = 0; oi < NOBJ; oi++) {
        for (int e = 0; e < 2; e++) {
            const float eta_save = g_eta;
            if (e == 1)
                g_eta = 0.01f;
            double base = 0.0;
            printf("| %s | %g |", g_obj[oi].name, (double)g_eta);
            for (size_t k = 0; k < nN; k++) {
                ttt_model *m = make(&g_obj[oi], 0.0f, 1);
                for (size_t done = 0; done < Ns[k]; done += chunk) {
                    fill_gauss(x, chunk * g_D);
                    run(m, x, chunk, out, s);
                }
                ttt_set_learning(m, 0);
                run(m, fresh, nf, out, s);
                const double ms = mean(s, nf);
                if (k == 0)
                    base = ms;
                printf(" %.3g |", ms / base);
                ttt_destroy(m);
            }
            printf("\n");
            g_eta = eta_save;
        }
    }
    free(x), free(out), free(fresh);
}

/* ---- 2. seen vs unseen ---- */

#define NRATIO 5
#define NFORGET 2

static void bench_auc(int quick)
{
    const size_t d = g_D / 4, trials = quick ? 4 : 20;
    static const double ratios[NRATIO] = { 0.25, 0.5, 1.0, 2.0, 4.0 };
    static const float forgets[NFORGET] = { 0.0f, 0.01f };
    const size_t maxM = 4 * d, nbuf = maxM > U_FRESH ? maxM : U_FRESH;
    float *seen = malloc(maxM * g_D * sizeof(float)), *fresh = malloc(U_FRESH * g_D * sizeof(float));
    float *out = malloc(nbuf * g_D * sizeof(float));
    float *ss = malloc(maxM * sizeof(float)), *su = malloc(U_FRESH * sizeof(float));
    float *sc = malloc(U_FRESH * sizeof(float));
    /* per objective and forget: AUC and the unseen level for each M, and
     * the control's AUC at M/d = 1 */
    static double A[16][NFORGET][NRATIO + 1], L[16][NFORGET][NRATIO];
    for (size_t oi = 0; oi < NOBJ; oi++) {
        for (size_t fi = 0; fi < NFORGET; fi++) {
            for (size_t ri = 0; ri <= NRATIO; ri++) {
                const int control = ri == NRATIO;
                const size_t M = (size_t)(ratios[control ? 2 : ri] * (double)d + 0.5);
                double a = 0.0, lvl = 0.0;
                if (control && fi > 0)
                    continue;
                for (size_t t = 0; t < trials; t++) {
                    fill_gauss(seen, M * g_D);
                    fill_gauss(fresh, U_FRESH * g_D);
                    ttt_model *m = make(&g_obj[oi], forgets[fi], !control);
                    for (int r = 0; r < R_PRESENT; r++)
                        run(m, seen, M, out, ss);
                    ttt_set_learning(m, 0);
                    run(m, seen, M, out, ss);
                    run(m, fresh, U_FRESH, out, su);
                    a += auc(ss, M, su, U_FRESH);
                    ttt_destroy(m);
                    /* the unseen tokens through the control: their novelty */
                    m = make(&g_obj[oi], 0.0f, 0);
                    run(m, fresh, U_FRESH, out, sc);
                    lvl += mean(su, U_FRESH) / mean(sc, U_FRESH);
                    ttt_destroy(m);
                }
                A[oi][fi][ri] = a / (double)trials;
                if (!control)
                    L[oi][fi][ri] = lvl / (double)trials;
            }
        }
    }
    printf("\n### Seen vs unseen: AUC (D=%zu, d=%zu, eta %g, R=%d presentations, %zu trials)\n\n",
           g_D, d, (double)g_eta, R_PRESENT, trials);
    printf("AUC of the surprise separating M seen tokens from %d unseen ones; control:\n"
           "the same objective with learning off and W = 0.\n\n", U_FRESH);
    printf("| objective | forget | M/d=0.25 | 0.5 | 1 | 2 | 4 | control (M/d=1) |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (size_t oi = 0; oi < NOBJ; oi++)
        for (size_t fi = 0; fi < NFORGET; fi++) {
            printf("| %s | %g |", g_obj[oi].name, (double)forgets[fi]);
            for (size_t ri = 0; ri < NRATIO; ri++)
                printf(" %.2f |", A[oi][fi][ri]);
            if (fi == 0)
                printf(" %.2f |\n", A[oi][fi][NRATIO]);
            else
                printf(" |\n");
        }
    printf("\n### Seen vs unseen: how surprising the unseen tokens still are\n\n"
           "Mean surprise of the unseen tokens after learning, over their surprise in the\n"
           "control (1: full novelty signal; near 0: the memory has gone inert, and the\n"
           "AUC above ranks differences far below any realistic noise).\n\n");
    printf("| objective | forget | M/d=0.25 | 0.5 | 1 | 2 | 4 |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- |\n");
    for (size_t oi = 0; oi < NOBJ; oi++)
        for (size_t fi = 0; fi < NFORGET; fi++) {
            printf("| %s | %g |", g_obj[oi].name, (double)forgets[fi]);
            for (size_t ri = 0; ri < NRATIO; ri++)
                printf(" %.3g |", L[oi][fi][ri]);
            printf("\n");
        }
    free(seen), free(fresh), free(out), free(ss), free(su), free(sc);
}

/* ---- 3. regime switch ---- */

/* tokens x = U z + noise, z ~ N(0, I_RANK), scaled by level */
static void regime(float *x, size_t n, const float *U, float level)
{
    for (size_t t = 0; t < n; t++) {
        float z[RANK];
        for (size_t r = 0; r < RANK; r++)
            z[r] = gauss();
        for (size_t i = 0; i < g_D; i++) {
            float v = 0.05f * gauss();
            for (size_t r = 0; r < RANK; r++)
                v += U[i * RANK + r] * z[r];
            x[t * g_D + i] = level * v;
        }
    }
}

typedef struct switch_stat {
    double spike;  /* mean of 10 after / mean of 100 before */
    double adapt;  /* tokens until the 10-average is within 2x of before */
} switch_stat;

static void switch_stats(const float *s, switch_stat *st)
{
    for (int k = 0; k < 3; k++) {
        const size_t at = (size_t)(k + 1) * SEG;
        const double before = mean(s + at - 100, 100);
        st[k].spike = mean(s + at, 10) / before;
        st[k].adapt = SEG; /* never, within the segment */
        for (size_t t = at + 10; t <= at + SEG; t++) {
            if (mean(s + t - 10, 10) <= 2.0 * before) {
                st[k].adapt = (double)(t - at);
                break;
            }
        }
    }
}

static void bench_regime(int quick)
{
    const size_t n = 4 * SEG, seeds = quick ? 2 : 8;
    static const float forgets[] = { 0.0f, 0.01f, 0.05f };
    float *x = malloc(n * g_D * sizeof(float)), *out = malloc(n * g_D * sizeof(float));
    float *s = malloc(n * sizeof(float));
    float *UA = malloc(g_D * RANK * sizeof(float)), *UB = malloc(g_D * RANK * sizeof(float));
    printf("\n### Regime switch (D=%zu, eta %g, rank-%d subspaces, %zu seeds)\n\n", g_D, (double)g_eta,
           RANK, seeds);
    printf("A -> B: another subspace; B -> 10A: subspace A at 10x the level; 10A -> A: back.\n"
           "spike = mean surprise of the 10 tokens after the switch / the 100 before;\n"
           "adapt = tokens until the 10-token mean is within 2x of the level before\n"
           "(%d = not within the segment). Control: learning off, W = 0.\n\n", SEG);
    printf("| objective | forget | A->B spike | adapt | B->10A spike | adapt | 10A->A spike | adapt |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (size_t oi = 0; oi < NOBJ; oi++) {
        for (size_t fi = 0; fi <= sizeof forgets / sizeof forgets[0]; fi++) {
            const int control = fi == sizeof forgets / sizeof forgets[0];
            switch_stat acc[3] = { { 0, 0 }, { 0, 0 }, { 0, 0 } };
            for (size_t sd = 0; sd < seeds; sd++) {
                g_rng = 1000 + sd; /* every row sees the same streams */
                fill_gauss(UA, g_D * RANK);
                fill_gauss(UB, g_D * RANK);
                for (size_t i = 0; i < g_D * RANK; i++)
                    UA[i] *= 0.5f, UB[i] *= 0.5f; /* unit variance per value */
                regime(x, SEG, UA, 1.0f);
                regime(x + SEG * g_D, SEG, UB, 1.0f);
                regime(x + 2 * SEG * g_D, SEG, UA, 10.0f);
                regime(x + 3 * SEG * g_D, SEG, UA, 1.0f);
                ttt_model *m = make(&g_obj[oi], control ? 0.0f : forgets[fi], !control);
                run(m, x, n, out, s);
                ttt_destroy(m);
                switch_stat st[3];
                switch_stats(s, st);
                for (int k = 0; k < 3; k++)
                    acc[k].spike += st[k].spike / (double)seeds, acc[k].adapt += st[k].adapt / (double)seeds;
            }
            if (control)
                printf("| %s | control |", g_obj[oi].name);
            else
                printf("| %s | %g |", g_obj[oi].name, (double)forgets[fi]);
            for (int k = 0; k < 3; k++)
                printf(" %.3g | %.0f |", acc[k].spike, acc[k].adapt);
            printf("\n");
        }
    }
    free(x), free(out), free(s), free(UA), free(UB);
}

int main(int argc, char **argv)
{
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if (!strcmp(argv[i], "--D") && i + 1 < argc) {
            g_D = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--eta") && i + 1 < argc) {
            g_eta = strtof(argv[++i], NULL);
        } else {
            fprintf(stderr, "usage: %s [--quick] [--D n] [--eta x]\n", argv[0]);
            return 2;
        }
    }
    if (g_D < 16 || g_D % 4 || g_D > MAXD) {
        fprintf(stderr, "bench_memory: D must be a multiple of 4 in [16, %d]\n", MAXD);
        return 2;
    }
    printf("bitttt %s memory benchmark%s: D=%zu, d=%zu, eta %g\n", ttt_version_string(),
           quick ? " (quick)" : "", g_D, g_D / 4, (double)g_eta);
    bench_inert(quick);
    bench_auc(quick);
    bench_regime(quick);
    return 0;
}
