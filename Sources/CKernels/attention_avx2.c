// The AVX2 + FMA variant of the compact-cache attention kernels.
#include "ck_attention.h"
#if defined(__x86_64__)
#define CK_FN(name) ck_avx2_##name
#define CK_VW 8
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#include "attention_template.h"
#pragma clang attribute pop
#endif
