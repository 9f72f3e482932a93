/*
 * Engine throughput, single thread, against this machine's compute roofline.
 *
 * For each ISA the CPU runs (forced through cfg.max_isa) and each D, it times
 * ttt_forward() on 1000 tokens (median of several runs after a warm-up, and
 * the best run) and
 * compares tokens/s with the roofline measured in the same run: a token
 * costs 2*D*d int8 MACs (Down and Up) and 2*d*d fp32 FMAs (update and
 * prediction), so at best it takes 2Dd / peak_mac + 2d^2 / peak_fma seconds.
 * The peaks come from microbenchmarks that run the kernels' own inner-loop
 * instructions (maddubs + add, vpdpbusd, fma) on independent chains,
 * before the first D and after each; the best of those measurements counts,
 * and the table is printed at the end (progress goes to stderr). A
 * second bound adds what the roofline leaves out, W's reads in the
 * engine's order: from beyond L1 once per block of 32 tokens below d = 512
 * (learn_run, a band of rows at a time) and all of it per token from L1
 * (a band of 32 KiB), twice per 32 tokens from 512 on (the chunked order),
 * each at the measured read bandwidth of a buffer of that size:
 * max(fp32 work, W's reads). (The SPEC's per-token order as written,
 * all of W per token, is the third column.)
 *
 * Each D runs every forced table (cfg.max_isa, cfg.dispatch = ISA: one
 * table whole), then AUTO (the default: kernels chosen per slot by
 * measurement, engine/src/dispatch.c), printed with its mix and its ratio
 * to the best forced table (by median), measured side by side: the two
 * models' calls alternate, and the ratio is the median over the rounds.
 *
 *   bench_engine [--quick] [--check]
 *     --quick  fewer sizes and runs (what `meson test --benchmark` runs)
 *     --check  print PASS/FAIL for the targets (issue 11); exit 1 unless
 *              AUTO at D=128 reaches 8,000,000 tokens/s with AVX-512 VNNI,
 *              6,500,000 with AVX2 (TTT_FORCE_ISA=avx2 to check that here)
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bitttt/bitttt.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

#define TOKENS 1000

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static volatile int64_t g_sink;

/* ---- roofline microbenchmarks: operations per second ---- */

#if HAVE_X86
/* The empty asm makes the operands opaque before every product, so the
 * compiler can neither hoist the loop-invariant products nor merge the eight
 * identical ones into one (which would time the adds alone), nor drop the
 * loop. */
__attribute__((target("avx2"))) static double mac_avx2(long iters)
{
    __m256i a[8], w = _mm256_set1_epi8(1), v = _mm256_set1_epi8(3);
    for (int k = 0; k < 8; k++)
        a[k] = _mm256_setzero_si256();
    for (long i = 0; i < iters; i++) {
        for (int k = 0; k < 8; k++) {
            __asm__ volatile("" : "+x"(w));
            a[k] = _mm256_add_epi16(a[k], _mm256_maddubs_epi16(w, v));
        }
    }
    for (int k = 1; k < 8; k++)
        a[0] = _mm256_add_epi16(a[0], a[k]);
    g_sink += _mm256_extract_epi16(a[0], 0);
    return (double)iters * 8 * 32;
}

__attribute__((target("avx512f,avx512bw"))) static double mac_avx512(long iters)
{
    __m512i a[8], w = _mm512_set1_epi8(1), v = _mm512_set1_epi8(3);
    for (int k = 0; k < 8; k++)
        a[k] = _mm512_setzero_si512();
    for (long i = 0; i < iters; i++) {
        for (int k = 0; k < 8; k++) {
            __asm__ volatile("" : "+v"(w));
            a[k] = _mm512_add_epi16(a[k], _mm512_maddubs_epi16(w, v));
        }
    }
    for (int k = 1; k < 8; k++)
        a[0] = _mm512_add_epi16(a[0], a[k]);
    g_sink += _mm_extract_epi16(_mm512_castsi512_si128(a[0]), 0);
    return (double)iters * 8 * 64;
}

/* vpdpbusd adds into its chain: 12 chains cover its latency x throughput
 * (8 measured 402 GMAC/s on Zen 5, 12 and 16 both 461: two a cycle) */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static double mac_vnni(long iters)
{
    __m512i a[12], w = _mm512_set1_epi8(1), v = _mm512_set1_epi8(3);
    for (int k = 0; k < 12; k++)
        a[k] = _mm512_setzero_si512();
    for (long i = 0; i < iters; i++) {
        __asm__ volatile("" : "+v"(w), "+v"(v));
        for (int k = 0; k < 12; k++)
            a[k] = _mm512_dpbusd_epi32(a[k], w, v);
    }
    for (int k = 1; k < 12; k++)
        a[0] = _mm512_add_epi32(a[0], a[k]);
    g_sink += _mm_cvtsi128_si32(_mm512_castsi512_si128(a[0]));
    return (double)iters * 12 * 64;
}

/* 12 chains cover FMA latency x throughput on current cores (4 x 2, 4 x 3) */
__attribute__((target("avx2,fma"))) static double fma_avx2(long iters)
{
    __m256 a[12], m = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.001f);
    for (int k = 0; k < 12; k++)
        a[k] = _mm256_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 12; k++)
            a[k] = _mm256_fmadd_ps(a[k], m, b);
    for (int k = 1; k < 12; k++)
        a[0] = _mm256_add_ps(a[0], a[k]);
    g_sink += (int64_t)_mm256_cvtss_f32(a[0]);
    return (double)iters * 12 * 8;
}

__attribute__((target("avx512f"))) static double fma_avx512(long iters)
{
    __m512 a[12], m = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
    for (int k = 0; k < 12; k++)
        a[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 12; k++)
            a[k] = _mm512_fmadd_ps(a[k], m, b);
    for (int k = 1; k < 12; k++)
        a[0] = _mm512_add_ps(a[0], a[k]);
    g_sink += (int64_t)_mm512_cvtss_f32(a[0]);
    return (double)iters * 12 * 16;
}
#endif

/* portable fallbacks, for a machine without the SIMD kernels */
static double mac_c(long iters)
{
    int32_t a[8] = { 0 };
    volatile int8_t v = 3;
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 8; k++)
            a[k] += v * (k + 1);
    g_sink += a[0] + a[7];
    return (double)iters * 8;
}

static double fma_c(long iters)
{
    float a[8];
    volatile float m = 0.999f;
    for (int k = 0; k < 8; k++)
        a[k] = (float)k;
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < 8; k++)
            a[k] = a[k] * m + 0.001f;
    g_sink += (int64_t)(a[0] + a[7]);
    return (double)iters * 8;
}

/* best of 3 runs of at least 30 ms each */
static double rate(double (*fn)(long))
{
    long iters = 1 << 16;
    double best = 0.0;
    for (int runs = 0; runs < 3;) {
        const double t0 = now(), ops = fn(iters), dt = now() - t0;
        if (dt < 0.03) { /* too short to time: grow, don't count */
            iters *= 2;
            continue;
        }
        if (ops / dt > best)
            best = ops / dt;
        runs++;
    }
    return best;
}

/* ---- the bandwidth W's traffic gets ---- */

static unsigned char *g_buf;
static size_t g_buf_bytes;

/* reads g_buf whole, `iters` times, into 8 independent sums; bytes read.
 * The loop's shape matters: with a byte index beside the pointer the same
 * loads read L2 at 117 GB/s instead of 170 on Zen 5 (the rate that
 * update_predict's reads reach). */
#if HAVE_X86
__attribute__((target("avx2"))) static double read_avx2(long iters)
{
    __m256i a[8];
    for (int k = 0; k < 8; k++)
        a[k] = _mm256_setzero_si256();
    for (long i = 0; i < iters; i++) {
        const unsigned char *b = g_buf;
        __asm__ volatile("" : "+r"(b)); /* every pass loads again */
        for (const unsigned char *e = b + g_buf_bytes; b < e; b += 256)
            for (int k = 0; k < 8; k++)
                a[k] = _mm256_add_epi64(a[k], _mm256_load_si256((const __m256i *)(b + 32 * k)));
    }
    for (int k = 1; k < 8; k++)
        a[0] = _mm256_add_epi64(a[0], a[k]);
    g_sink += _mm256_extract_epi64(a[0], 0);
    return (double)iters * (double)g_buf_bytes;
}

__attribute__((target("avx512f"))) static double read_avx512(long iters)
{
    __m512i a[8];
    for (int k = 0; k < 8; k++)
        a[k] = _mm512_setzero_si512();
    for (long i = 0; i < iters; i++) {
        const unsigned char *b = g_buf;
        __asm__ volatile("" : "+r"(b));
        for (const unsigned char *e = b + g_buf_bytes; b < e; b += 512)
            for (int k = 0; k < 8; k++)
                a[k] = _mm512_add_epi64(a[k], _mm512_load_si512(b + 64 * k));
    }
    for (int k = 1; k < 8; k++)
        a[0] = _mm512_add_epi64(a[0], a[k]);
    g_sink += _mm_cvtsi128_si64(_mm512_castsi512_si128(a[0]));
    return (double)iters * (double)g_buf_bytes;
}
#endif

static double read_c(long iters)
{
    uint64_t a[8] = { 0 };
    for (long i = 0; i < iters; i++) {
        const unsigned char *b = g_buf;
        __asm__ volatile("" : "+r"(b));
        for (size_t j = 0; j < g_buf_bytes; j += 64)
            for (int k = 0; k < 8; k++) {
                uint64_t v;
                memcpy(&v, b + j + 8 * k, sizeof v);
                a[k] += v;
            }
    }
    g_sink += (int64_t)(a[0] ^ a[7]);
    return (double)iters * (double)g_buf_bytes;
}

/* bytes per second read from a buffer of `bytes` (a multiple of 512):
 * from L1, L2 or L3 as its size puts it; 0 when out of memory */
static double read_rate(ttt_isa isa, size_t bytes)
{
    unsigned char *mem = malloc(bytes + 64);
    if (!mem)
        return 0.0;
    g_buf = mem + (64 - (uintptr_t)mem % 64);
    g_buf_bytes = bytes;
    memset(g_buf, 1, bytes);
    double r = 0.0;
    (void)isa; /* without x86 there is only the C loop */
#if HAVE_X86
    if (isa >= TTT_ISA_AVX512)
        r = rate(read_avx512);
    else if (isa >= TTT_ISA_AVX2)
        r = rate(read_avx2);
#endif
    if (r == 0.0)
        r = rate(read_c);
    free(mem);
    return r;
}

/* ---- engine timing ---- */

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* a model with its own 1000-token input and output */
typedef struct {
    ttt_model *m;
    float *in, *out;
} bench_t;

static void bench_free(bench_t *b)
{
    free(b->in), free(b->out), ttt_destroy(b->m);
}

static int bench_init(bench_t *b, unsigned isa, uint32_t dispatch, size_t D)
{
    ttt_config cfg;
    ttt_config_default(&cfg);
    cfg.hidden_dim = D;
    cfg.max_isa = isa;
    cfg.dispatch = dispatch;
    b->m = NULL;
    b->in = malloc((size_t)TOKENS * D * sizeof *b->in);
    b->out = malloc((size_t)TOKENS * D * sizeof *b->out);
    if (!b->in || !b->out || ttt_create_ex(&cfg, &b->m) != TTT_OK) {
        bench_free(b);
        return -1;
    }
    /* a few repeating patterns with noise: W learns, as in real use */
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < (size_t)TOKENS * D; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        const float noise = (float)(int32_t)(s >> 32) * (1.0f / 2147483648.0f);
        b->in[i] = (float)((i % (8 * D)) % 7) - 3.0f + 0.2f * noise;
    }
    for (int w = 0; w < 2; w++)
        ttt_forward(b->m, b->in, TOKENS, b->out);
    return 0;
}

/* seconds for one call of 1000 tokens */
static double bench_call(bench_t *b)
{
    const double t0 = now();
    ttt_forward(b->m, b->in, TOKENS, b->out);
    return now() - t0;
}

/* median tokens/s of `runs` timed calls (and in *best the fastest call:
 * on a shared machine the least disturbed one), or a negative value on error */
static double time_engine(unsigned isa, uint32_t dispatch, size_t D, int runs, const char **kname, double *best)
{
    bench_t b;
    double t[64];
    if (runs > 64 || bench_init(&b, isa, dispatch, D))
        return -1.0;
    *kname = ttt_get_kernel_name(b.m);
    for (int r = 0; r < runs; r++)
        t[r] = bench_call(&b);
    qsort(t, (size_t)runs, sizeof t[0], cmp_double);
    bench_free(&b);
    *best = TOKENS / t[0];
    return TOKENS / t[runs / 2];
}

/*
 * AUTO's speed over the forced table `isa`, side by side: the two models'
 * calls alternate (the order swapped every round) and the ratio is the
 * median of the rounds' ratios, so that a slow spell, which on a shared
 * machine moves a figure by 2x within minutes, slows both sides of a
 * round alike. Timed one after the other, identical kernels came out at
 * 0.72 in one run.
 */
static double auto_vs_forced(unsigned isa, size_t D, int rounds)
{
    bench_t a, f;
    double r[64];
    if (rounds > 64 || bench_init(&a, TTT_ISA_AUTO, TTT_DISPATCH_MEASURE, D))
        return -1.0;
    if (bench_init(&f, isa, TTT_DISPATCH_ISA, D)) {
        bench_free(&a);
        return -1.0;
    }
    for (int i = 0; i < rounds; i++) {
        double ta, tf;
        if (i & 1) {
            tf = bench_call(&f);
            ta = bench_call(&a);
        } else {
            ta = bench_call(&a);
            tf = bench_call(&f);
        }
        r[i] = tf / ta;
    }
    bench_free(&a), bench_free(&f);
    qsort(r, (size_t)rounds, sizeof r[0], cmp_double);
    return r[rounds / 2];
}

/* the int8 and fp32 peaks of the best ISA's instructions, each kept at the
 * higher of its old value and a new measurement; names the instructions */
static const char *peaks(ttt_isa best, double *mac, double *fma)
{
    double m = 0.0, f = 0.0;
    const char *how = "scalar C";
    (void)best;
#if HAVE_X86
    if (best >= TTT_ISA_AVX512) {
        f = rate(fma_avx512);
        if (__builtin_cpu_supports("avx512vnni"))
            m = rate(mac_vnni), how = "vpdpbusd zmm, vfmadd zmm";
        else
            m = rate(mac_avx512), how = "vpmaddubsw+vpaddw zmm, vfmadd zmm";
    } else if (best >= TTT_ISA_AVX2) {
        m = rate(mac_avx2), f = rate(fma_avx2);
        how = "vpmaddubsw+vpaddw ymm, vfmadd ymm";
    }
#endif
    if (m == 0.0)
        m = rate(mac_c), f = rate(fma_c);
    *mac = m > *mac ? m : *mac;
    *fma = f > *fma ? f : *fma;
    return how;
}

/* one line of the table: a forced table's run, or AUTO's */
typedef struct {
    const char *kname;
    double tps, best;
} row;

int main(int argc, char **argv)
{
    int quick = 0, check = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--check"))
            check = 1;
        else {
            fprintf(stderr, "usage: %s [--quick] [--check]\n", argv[0]);
            return 2;
        }
    }
    const ttt_isa best = ttt_cpu_isa();
    static const size_t all_D[] = { 64, 128, 256, 512, 1024, 4096 };
    static const size_t quick_D[] = { 64, 128, 512, 1024 };
    const size_t *Ds = quick ? quick_D : all_D;
    const size_t nD = quick ? sizeof quick_D / sizeof quick_D[0] : sizeof all_D / sizeof all_D[0];
    const int runs = quick ? 5 : 9;

    /* Every peak is measured before the first D and after each: a slow
     * spell of a shared host during one measurement would otherwise lower
     * the roofline and flatter every figure against it (a run here once
     * passed D = 4096 at 92.5% that way). The best of them counts. */
    double peak_mac = 0.0, peak_fma = 0.0, bw[16] = { 0 };
    const char *how = peaks(best, &peak_mac, &peak_fma);
    const size_t band = 32768; /* learn_run's band of W: L1 */
    double bw_band = read_rate(best, band);
    row rows[16][TTT_ISA_NEON_DOTPROD + 2]; /* every forced level up to the best, and AUTO */
    size_t nrows[16] = { 0 };
    double vs_forced[16] = { 0 };
    for (size_t i = 0; i < nD; i++) {
        const size_t D = Ds[i], d = D / 4, wbytes = (d * d * sizeof(float) + 511) / 512 * 512;
        double best_forced = 0.0, r = read_rate(best, wbytes);
        unsigned best_isa = TTT_ISA_SCALAR;
        /* the forced tables, lowest first, then AUTO (isa 0) */
        for (unsigned isa = TTT_ISA_SCALAR;; isa++) {
            const int is_auto = isa > (unsigned)best;
            row *w = &rows[i][nrows[i]++];
            const uint32_t disp = is_auto ? TTT_DISPATCH_MEASURE : TTT_DISPATCH_ISA;
            w->kname = "?";
            w->tps = time_engine(is_auto ? TTT_ISA_AUTO : isa, disp, D, runs, &w->kname, &w->best);
            if (w->tps < 0) {
                fprintf(stderr, "D=%zu: model creation failed\n", D);
                return 2;
            }
            if (is_auto) {
                vs_forced[i] = auto_vs_forced(best_isa, D, 4 * runs);
                break;
            }
            if (w->tps > best_forced)
                best_forced = w->tps, best_isa = isa;
        }
        peaks(best, &peak_mac, &peak_fma);
        const double r2 = read_rate(best, wbytes);
        bw[i] = r2 > r ? r2 : r;
        const double rb = read_rate(best, band);
        bw_band = rb > bw_band ? rb : bw_band;
        fprintf(stderr, "D=%zu done\n", D);
    }

    printf("bitttt %s engine benchmark: 1 thread, %d tokens per call, %s\n", ttt_version_string(), TOKENS,
           quick ? "quick" : "full");
    printf("roofline peaks (%s; the best of %zu measurements): int8 %.1f GMAC/s, fp32 %.1f GFMA/s\n\n", how,
           nD + 1, peak_mac * 1e-9, peak_fma * 1e-9);
    printf("%-12s %6s %6s %14s %10s %14s %14s %9s %9s\n", "kernels", "D", "d", "tokens/s", "ns/token", "best tok/s",
           "roofline tok/s", "roofline", "/ forced");
    double auto128 = -1.0, frac_auto[16] = { 0 };
    for (size_t i = 0; i < nD; i++) {
        const size_t D = Ds[i], d = D / 4;
        const double roof = 1.0 / (2.0 * (double)D * (double)d / peak_mac + 2.0 * (double)d * (double)d / peak_fma);
        for (size_t k = 0; k < nrows[i]; k++) {
            const row *w = &rows[i][k];
            const int is_auto = k == nrows[i] - 1;
            printf("%-12s %6zu %6zu %14.0f %10.1f %14.0f %14.0f %8.1f%%", is_auto ? "AUTO" : w->kname, D, d, w->tps,
                   1e9 / w->tps, w->best, roof, 100.0 * w->tps / roof);
            if (is_auto)
                printf(" %9.3f", vs_forced[i]);
            printf("\n");
        }
        frac_auto[i] = rows[i][nrows[i] - 1].tps / roof;
        if (D == 128)
            auto128 = rows[i][nrows[i] - 1].tps;
    }
    printf("\nAUTO's kernels (ttt_get_kernel_name):\n");
    for (size_t i = 0; i < nD; i++)
        printf("  D=%-5zu %s\n", Ds[i], rows[i][nrows[i] - 1].kname);

    /* The roofline above counts operations only; W's reads have a bound
     * of their own where W leaves L1 (see the head of this file). */
    printf("\nW's reads in the engine's order, at the read bandwidth of a buffer of that size (best of %zu):\n",
           nD + 1);
    printf("%6s %6s %9s %16s %10s %14s %10s %14s %10s\n", "D", "d", "W KiB", "per token KiB", "GB/s", "from L1 KiB",
           "GB/s", "bound tok/s", "AUTO / it");
    for (size_t i = 0; i < nD; i++) {
        const size_t D = Ds[i], d = D / 4, wbytes = d * d * sizeof(float);
        const int banded = d < 512 && wbytes > band; /* below: all of W is one band, in L1 */
        const double far = d >= 512 ? 2.0 * (double)wbytes / 32.0 : banded ? (double)wbytes / 32.0 : (double)wbytes;
        const double near = banded ? (double)wbytes : 0.0;
        const double t_fp = 2.0 * (double)d * (double)d / peak_fma;
        const double t_w = (bw[i] > 0 ? far / bw[i] : 0.0) + (near > 0 ? near / bw_band : 0.0);
        const double bound = 1.0 / (2.0 * (double)D * (double)d / peak_mac + (t_w > t_fp ? t_w : t_fp));
        printf("%6zu %6zu %9.0f %16.1f %10.1f %14.1f %10.1f %14.0f %9.1f%%\n", D, d, wbytes / 1024.0, far / 1024.0,
               bw[i] * 1e-9, near / 1024.0, near > 0 ? bw_band * 1e-9 : 0.0, bound,
               100.0 * rows[i][nrows[i] - 1].tps / bound);
    }
    if (!check)
        return 0;
    printf("\n");
    int fail = 0;
#if HAVE_X86
    const int vnni = best >= TTT_ISA_AVX512 && __builtin_cpu_supports("avx512vnni");
#else
    const int vnni = 0;
#endif
    if (best >= TTT_ISA_AVX2 && auto128 >= 0) {
        const double want = vnni ? 8e6 : best == TTT_ISA_AVX2 ? 6.5e6 : 0.0;
        fail = auto128 < want;
        printf("%s: D=128 AUTO %.0f tokens/s (target >= %.0f on %s)\n", fail ? "FAIL" : "PASS", auto128, want,
               vnni ? "AVX-512 VNNI" : best == TTT_ISA_AVX2 ? "AVX2" : "AVX-512 without VNNI: none");
    }
    for (size_t i = 0; i < nD; i++)
        printf("%s: D=%zu AUTO / best forced table %.3f (target >= 0.97)\n", vs_forced[i] >= 0.97 ? "PASS" : "FAIL",
               Ds[i], vs_forced[i]);
    for (size_t i = 0; i < nD; i++)
        if (Ds[i] >= 1024)
            printf("%s: D=%zu AUTO %.1f%% of roofline (target >= 90%%)\n", frac_auto[i] >= 0.9 ? "PASS" : "FAIL",
                   Ds[i], 100.0 * frac_auto[i]);
    return fail;
}
