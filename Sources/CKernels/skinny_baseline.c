// The portable variant: plain x86-64 (SSE2) or any other CPU.
#include "CKernels.h"
#define CK_FN(name) ck_baseline_##name
#define CK_VW 8
#include "skinny_template.h"
#include "attention_template.h"
