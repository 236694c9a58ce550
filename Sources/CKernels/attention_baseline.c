// The portable variant of the compact-cache attention kernels.
#include "ck_attention.h"
#define CK_FN(name) ck_baseline_##name
#define CK_VW 8
#include "attention_template.h"
