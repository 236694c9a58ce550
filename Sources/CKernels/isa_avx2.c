// The AVX2 + FMA variant of every per-ISA kernel (Haswell, Zen and later); see isa_baseline.c.
#include "CKernels.h"
#include <math.h>     // the system headers outside the target attribute: only the kernels carry it
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#define CK_FN(name) ck_avx2_##name
#define CK_VW 8
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#include "skinny_template.h"
#include "planes_template.h"
#include "attention_template.h"
#include "activation_template.h"
#include "self_attention_template.h"
#pragma clang attribute pop
#endif
