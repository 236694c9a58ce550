// The AVX-512 GELU / softmax / self-attention variant (16 lanes).
#include "ck_activation.h"
#include <math.h>     // outside the target attribute: only the kernels carry it
#include <string.h>
#if defined(__x86_64__)
#define CK_FN(name) ck_avx512_##name
#define CK_VW 16
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"))), apply_to = function)
#include "activation_template.h"
#include "self_attention_template.h"
#pragma clang attribute pop
#endif
