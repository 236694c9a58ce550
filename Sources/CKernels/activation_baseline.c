// The portable GELU / softmax / self-attention variant: plain x86-64 (SSE2) or any other CPU.
#include "ck_activation.h"
#define CK_FN(name) ck_baseline_##name
#define CK_VW 8
#include "activation_template.h"
#include "self_attention_template.h"
