// The AVX-512 variant (16 lanes: one BF16 block or half an INT8 block per vector).
#include "CKernels.h"
#if defined(__x86_64__)
#define CK_FN(name) ck_avx512_##name
#define CK_VW 16
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"))), apply_to = function)
#include "skinny_template.h"
#include "attention_template.h"
#pragma clang attribute pop
#endif
