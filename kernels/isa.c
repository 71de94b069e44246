/* isa.c — which instruction-set level the kernels run at, and the cache sizes their blocking is sized from
 * (jn_kernels.h): sysfs first, cpuid's deterministic cache parameters when sysfs is not there. Both are read once
 * per process (pthread_once) and are constant afterwards. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jn_kernels.h"

int jn_k_isa_forced;

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int cpu_isa = JN_K_SSE2, env_isa; /* env_isa 0: JUNCTION_ISA unset or not understood */
static size_t l1d = 32 * 1024, l2 = 512 * 1024;

/* Size of the cache at /sys/devices/system/cpu/cpu0/cache/index<i> if it is a data or unified cache of `level`. */
static size_t sysfs_cache(int want_level)
{
    for (int i = 0; i < 8; i++) {
        char path[96], buf[32];
        int level = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        FILE *f = fopen(path, "r");
        if (!f)
            break;
        if (fscanf(f, "%d", &level) != 1)
            level = 0;
        fclose(f);
        if (level != want_level)
            continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        f = fopen(path, "r");
        if (!f || !fgets(buf, sizeof buf, f)) {
            if (f)
                fclose(f);
            continue;
        }
        fclose(f);
        if (strncmp(buf, "Data", 4) != 0 && strncmp(buf, "Unified", 7) != 0)
            continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        f = fopen(path, "r");
        unsigned long v = 0;
        char unit = 0;
        int got = f ? fscanf(f, "%lu%c", &v, &unit) : 0;
        if (f)
            fclose(f);
        if (got < 1 || v == 0)
            continue;
        if (got == 2 && (unit == 'M' || unit == 'm'))
            return (size_t)v << 20;
        return got == 2 && (unit == 'K' || unit == 'k') ? (size_t)v << 10 : (size_t)v;
    }
    return 0;
}

size_t jn_k__cpuid_cache(int want_level)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    /* The deterministic cache parameters: leaf 4 on Intel, 0x8000001D on AMD (topology extensions); one subleaf
     * per cache, type in EAX[4:0] (1 data, 3 unified, 0 = no more), level in EAX[7:5]. */
    unsigned a, b, c, d, leaf = 4;
    if (!__get_cpuid(0, &a, &b, &c, &d))
        return 0;
    if (b == 0x68747541) { /* "Auth"enticAMD */
        if (!__get_cpuid(0x80000001, &a, &b, &c, &d) || !(c & (1u << 22)))
            return 0;
        leaf = 0x8000001D;
    } else if (a < 4) {
        return 0;
    }
    for (unsigned sub = 0; sub < 16; sub++) {
        __cpuid_count(leaf, sub, a, b, c, d);
        unsigned type = a & 31, level = (a >> 5) & 7;
        if (type == 0)
            break;
        if ((type == 1 || type == 3) && (int)level == want_level)
            return (size_t)((b >> 22) + 1) * (((b >> 12) & 1023) + 1) * ((b & 4095) + 1) * ((size_t)c + 1);
    }
#else
    (void)want_level;
#endif
    return 0;
}

static void probe(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        cpu_isa = JN_K_AVX512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        cpu_isa = JN_K_AVX2;
#endif
    const char *e = getenv("JUNCTION_ISA");
    if (e && *e) {
        for (int i = JN_K_SSE2; i <= JN_K_AVX512; i++)
            if (strcmp(e, jn_k_isa_name(i)) == 0)
                env_isa = i;
        if (!env_isa)
            fprintf(stderr, "junction: JUNCTION_ISA=%s is not one of sse2, avx2, avx512: ignored\n", e);
    }
    size_t s = sysfs_cache(1);
    if (s < 4096) /* no sysfs (some containers): the CPU's own description */
        s = jn_k__cpuid_cache(1);
    if (s >= 4096)
        l1d = s;
    s = sysfs_cache(2);
    if (s < 65536)
        s = jn_k__cpuid_cache(2);
    if (s >= 65536)
        l2 = s;
}

int jn_k_isa_cpu(void)
{
    pthread_once(&probe_once, probe);
    return cpu_isa;
}

int jn_k_isa(void)
{
    int isa = jn_k_isa_cpu();
    if (env_isa && env_isa < isa)
        isa = env_isa;
    if (jn_k_isa_forced > 0 && jn_k_isa_forced < isa)
        isa = jn_k_isa_forced;
    return isa;
}

const char *jn_k_isa_name(int isa)
{
    return isa >= JN_K_AVX512 ? "avx512" : isa == JN_K_AVX2 ? "avx2" : "sse2";
}

size_t jn_k_cache_l1d(void)
{
    pthread_once(&probe_once, probe);
    return l1d;
}

size_t jn_k_cache_l2(void)
{
    pthread_once(&probe_once, probe);
    return l2;
}
