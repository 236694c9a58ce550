// The AVX2 + FMA GELU / softmax / self-attention variant.
#include "ck_activation.h"
#include <math.h>     // outside the target attribute: only the kernels carry it
#include <string.h>
#if defined(__x86_64__)
#define CK_FN(name) ck_avx2_##name
#define CK_VW 8
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#include "activation_template.h"
#include "self_attention_template.h"
#pragma clang attribute pop
#endif
