/*
 * CPU feature detection and the ISA override: the only place that knows
 * about cpuid, XGETBV, the aarch64 HWCAPs and TTT_FORCE_ISA.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "platform.h"

#if defined(TTT_HAVE_X86)
#include <cpuid.h>

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* Both the CPU and the OS must agree: the OS has to save the wider registers
 * on context switch (XCR0), or using them corrupts other threads. */
static unsigned detect(int *vnni, int *avxvnni)
{
    unsigned a, b, c, d;
    *vnni = *avxvnni = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return TTT_ISA_SCALAR;
    const int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx || !fma)
        return TTT_ISA_SCALAR;
    const uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6)
        return TTT_ISA_SCALAR;
    if (__get_cpuid_max(0, NULL) < 7)
        return TTT_ISA_SCALAR;
    __cpuid_count(7, 0, a, b, c, d);
    const int avx2 = (b >> 5) & 1;
    if (!avx2)
        return TTT_ISA_SCALAR;
    /* AVX-VNNI (VEX vpdpbusd, ymm state only): leaf 7 subleaf 1, EAX bit 4 */
    if (a >= 1) {
        unsigned a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        *avxvnni = (a1 >> 4) & 1;
    }
    const int f = (b >> 16) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    if (f && bw && vl && (xcr0 & 0xe6) == 0xe6) {
        *vnni = (c >> 11) & 1;
        return TTT_ISA_AVX512;
    }
    return TTT_ISA_AVX2;
}
#endif

#if defined(TTT_HAVE_AARCH64)
#if defined(__linux__)
#include <sys/auxv.h>
/* the bits of <asm/hwcap.h>, fixed by the kernel ABI; older headers lack DP */
#define TTT_HWCAP_ASIMD (1ul << 1)
#define TTT_HWCAP_ASIMDDP (1ul << 20)
#endif

static unsigned detect_aarch64(void)
{
#if defined(__linux__)
    const unsigned long hw = getauxval(AT_HWCAP);
    if (!(hw & TTT_HWCAP_ASIMD))
        return TTT_ISA_SCALAR;
    return hw & TTT_HWCAP_ASIMDDP ? TTT_ISA_NEON_DOTPROD : TTT_ISA_NEON;
#else
    return TTT_ISA_NEON; /* Advanced SIMD is part of every aarch64 CPU */
#endif
}
#endif

/* isa limited by cap; a cap naming another architecture's level (an x86
 * level on aarch64 or the reverse) leaves isa as it is */
static unsigned apply_cap(unsigned isa, unsigned cap)
{
    const int arm_cap = cap >= TTT_ISA_NEON, arm_isa = isa >= TTT_ISA_NEON;
    if (cap == TTT_ISA_AUTO || cap >= isa)
        return isa;
    return cap == TTT_ISA_SCALAR || arm_cap == arm_isa ? cap : isa;
}

static unsigned g_isa = TTT_ISA_SCALAR;
#if defined(TTT_HAVE_X86)
static int g_vnni, g_avxvnni;
#endif
static ttt_once g_once = TTT_ONCE_INIT;

static void init_isa(void)
{
#if defined(TTT_HAVE_X86)
    g_isa = detect(&g_vnni, &g_avxvnni);
#elif defined(TTT_HAVE_AARCH64)
    g_isa = detect_aarch64();
#endif
    /* like libjpeg-turbo's JSIMD_FORCE*: a cap for tests and for users who
     * need to rule the SIMD paths out; it can lower the level, never raise it */
    const char *force = getenv("TTT_FORCE_ISA");
    if (force) {
        unsigned cap = g_isa;
        if (!strcmp(force, "scalar") || !strcmp(force, "c"))
            cap = TTT_ISA_SCALAR;
        else if (!strcmp(force, "avx2"))
            cap = TTT_ISA_AVX2;
        else if (!strcmp(force, "avx512"))
            cap = TTT_ISA_AVX512;
        else if (!strcmp(force, "neon"))
            cap = TTT_ISA_NEON;
        else if (!strcmp(force, "neon-dotprod"))
            cap = TTT_ISA_NEON_DOTPROD;
        g_isa = apply_cap(g_isa, cap);
    }
}

ttt_isa ttt_cpu_isa(void)
{
    ttt_once_run(&g_once, init_isa);
    return (ttt_isa)g_isa;
}

size_t ttt_kernels_candidates(unsigned max_isa, const ttt_kernels **out)
{
    const unsigned isa = apply_cap(ttt_cpu_isa(), max_isa);
    size_t n = 0;
    out[n++] = &ttt_kernels_scalar;
#if defined(TTT_HAVE_X86)
    if (isa >= TTT_ISA_AVX2) {
        out[n++] = &ttt_kernels_avx2;
        if (g_avxvnni)
            out[n++] = &ttt_kernels_avx2vnni;
    }
    if (isa >= TTT_ISA_AVX512) {
        out[n++] = &ttt_kernels_avx512;
        if (g_vnni)
            out[n++] = &ttt_kernels_avx512vnni;
    }
#elif defined(TTT_HAVE_AARCH64)
    if (isa >= TTT_ISA_NEON)
        out[n++] = &ttt_kernels_neon;
    if (isa >= TTT_ISA_NEON_DOTPROD)
        out[n++] = &ttt_kernels_neon_dotprod;
#else
    (void)isa; /* other architectures (armhf, ...) have the scalar kernels alone */
#endif
    return n;
}

const ttt_kernels *ttt_kernels_select(unsigned max_isa)
{
    const ttt_kernels *k[TTT_MAX_TABLES];
    return k[ttt_kernels_candidates(max_isa, k) - 1];
}
