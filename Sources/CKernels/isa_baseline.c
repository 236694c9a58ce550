// The portable variant of every per-ISA kernel: plain x86-64 (SSE2) or any other CPU. Each
// isa_<isa>.c defines CK_FN(name) and CK_VW (vector lanes: 8 or 16), wraps the templates in its
// target attribute, and includes them all: the weight products and the compact-cache attention,
// then GELU/softmax and the F32 self-attention built on that softmax.
#include "CKernels.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#define CK_FN(name) ck_baseline_##name
#define CK_VW 8
#include "skinny_template.h"
#include "planes_template.h"
#include "attention_template.h"
#include "activation_template.h"
#include "self_attention_template.h"
