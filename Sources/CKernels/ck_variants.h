// The table of a kernel's variants, indexed by ck_isa (baseline, avx2, avx512), for the files
// that route calls to them. Off x86-64 only the baseline is built, so it fills every slot.
#ifndef CK_VARIANTS_H
#define CK_VARIANTS_H
#if defined(__x86_64__)
#define CK_VARIANTS(name) {ck_baseline_##name, ck_avx2_##name, ck_avx512_##name}
#else
#define CK_VARIANTS(name) {ck_baseline_##name, ck_baseline_##name, ck_baseline_##name}
#endif
#endif
