// The AVX-512 variant of the compact-cache attention kernels (16 lanes).
#include "ck_attention.h"
#if defined(__x86_64__)
#define CK_FN(name) ck_avx512_##name
#define CK_VW 16
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"))), apply_to = function)
#include "attention_template.h"
#pragma clang attribute pop
#endif
