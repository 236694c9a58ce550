// CPU feature detection (cpuid + xgetbv) and the one-time choice of kernel variant.
#include "CKernels.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

ck_cpu_features ck_detect_cpu_features(void) {
    ck_cpu_features f;
    memset(&f, 0, sizeof f);
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    f.sse42 = (c >> 20) & 1;
    int osxsave = (c >> 27) & 1;
    int avx_hw = (c >> 28) & 1, fma_hw = (c >> 12) & 1, f16c_hw = (c >> 29) & 1;
    uint64_t xcr0 = osxsave ? read_xcr0() : 0;
    int os_ymm = (xcr0 & 0x6) == 0x6;              // SSE and AVX state
    int os_zmm = os_ymm && (xcr0 & 0xE0) == 0xE0;  // opmask, ZMM_Hi256, Hi16_ZMM
    f.avx = avx_hw && os_ymm;
    f.fma = fma_hw && os_ymm;
    f.f16c = f16c_hw && os_ymm;
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f.avx2 = ((b >> 5) & 1) && os_ymm;
        f.avx512f = ((b >> 16) & 1) && os_zmm;
        f.avx512dq = ((b >> 17) & 1) && os_zmm;
        f.avx512bw = ((b >> 30) & 1) && os_zmm;
        f.avx512vl = ((b >> 31) & 1) && os_zmm;
        f.avx512_vnni = ((c >> 11) & 1) && os_zmm;
        __cpuid_count(7, 1, a, b, c, d);
        f.avx_vnni = ((a >> 4) & 1) && os_ymm;
        f.avx512_bf16 = ((a >> 5) & 1) && os_zmm;
    }
    return f;
}
#else
ck_cpu_features ck_detect_cpu_features(void) {
    ck_cpu_features f;
    memset(&f, 0, sizeof f);
    return f;
}
#endif

int ck_isa_supported(ck_isa isa) {
    ck_cpu_features f = ck_detect_cpu_features();
    switch (isa) {
    case CK_ISA_BASELINE: return 1;
    case CK_ISA_AVX2: return f.avx2 && f.fma;
    case CK_ISA_AVX512: return f.avx2 && f.fma && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
    }
    return 0;
}

const char *ck_isa_name(ck_isa isa) {
    switch (isa) {
    case CK_ISA_BASELINE: return "baseline";
    case CK_ISA_AVX2: return "avx2";
    case CK_ISA_AVX512: return "avx512";
    }
    return "unknown";
}

static ck_isa selected = CK_ISA_BASELINE;
static char note[160];

static void select_once(void) {
    ck_isa best = CK_ISA_BASELINE;
    if (ck_isa_supported(CK_ISA_AVX2)) best = CK_ISA_AVX2;
    if (ck_isa_supported(CK_ISA_AVX512)) best = CK_ISA_AVX512;
    selected = best;
    const char *env = getenv("ADAPTER_SERVE_ISA");
    if (!env || !*env) return;
    int found = 0;
    for (int i = CK_ISA_BASELINE; i <= CK_ISA_AVX512; i++) {
        if (strcmp(env, ck_isa_name((ck_isa)i)) != 0) continue;
        found = 1;
        if (ck_isa_supported((ck_isa)i)) {
            selected = (ck_isa)i;
            snprintf(note, sizeof note, "forced by ADAPTER_SERVE_ISA=%s", env);
        } else {
            snprintf(note, sizeof note, "ADAPTER_SERVE_ISA=%s is not supported by this CPU; using %s", env,
                     ck_isa_name(best));
        }
    }
    if (!found)
        snprintf(note, sizeof note, "ADAPTER_SERVE_ISA=%s is not one of baseline, avx2, avx512; using %s", env,
                 ck_isa_name(best));
}

#include <pthread.h>
static pthread_once_t once = PTHREAD_ONCE_INIT;

ck_isa ck_selected_isa(void) {
    pthread_once(&once, select_once);
    return selected;
}

const char *ck_selection_note(void) {
    pthread_once(&once, select_once);
    return note;
}
