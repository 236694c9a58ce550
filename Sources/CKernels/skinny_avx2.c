// The AVX2 + FMA variant (Haswell, Zen and later).
#include "CKernels.h"
#if defined(__x86_64__)
#define CK_FN(name) ck_avx2_##name
#define CK_VW 8
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#include "skinny_template.h"
#include "attention_template.h"
#pragma clang attribute pop
#endif
