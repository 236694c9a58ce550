#ifndef CK_ATTENTION_H
#define CK_ATTENTION_H
/// Single-query attention over compact cross-attention caches (a decoder step reading the
/// keys/values the encoder output produced once per request), per ISA like the weight kernels,
/// each beside a plain scalar reference. Imported by Numerics only (through the CKernels module).
#include "CKernels.h"

/// How a cache row is stored: `inner` = heads * dkv values per cached position.
/// BF16: uint16 bf16 bits (round to nearest even), columns in order.
/// INT8: int8 with one scale per (position, head): x ~= scale[j * heads + h] * q.
/// F32: plain floats (the caches of F32 weights; the kernels below read them too, so every
/// format shares one score and value loop, but there is nothing to pack).
typedef enum { CK_KV_F32 = 0, CK_KV_BF16 = 1, CK_KV_INT8 = 2 } ck_kv_format;

/// Packs rows x (rows, ldx; the first heads * dkv columns) into out ((rows, heads * dkv) in
/// `format`) and, for INT8, scale (rows, heads). Plain C, one arithmetic for every machine.
void ck_kv_pack(ck_kv_format format, const float *x, long rows, long ldx, long heads, long dkv,
                void *out, float *scale);

/// scores[(h - h0) * tk + j] = q[h*dkv ..] . key_j[h*dkv ..] (times key_scale[j * heads + h] for
/// INT8) for heads h in [h0, h1) and positions j < tk. keys (tk, heads * dkv) in `format`;
/// scores (h1 - h0, tk).
void ck_kv_scores(ck_isa isa, ck_kv_format format, const float *q, const void *keys, const float *key_scale,
                  long tk, long heads, long dkv, long h0, long h1, float *scores);

/// ctx[h*dkv + d] = sum_j probs[(h - h0) * tk + j] * value_j[h*dkv + d] (times value_scale[j *
/// heads + h] for INT8) for heads h in [h0, h1); other columns of ctx are left alone.
void ck_kv_weighted_values(ck_isa isa, ck_kv_format format, const float *probs, const void *values,
                           const float *value_scale, long tk, long heads, long dkv, long h0, long h1, float *ctx);

/// The plain scalar references the variants are tested against (same contracts).
void ck_kv_scores_reference(ck_kv_format format, const float *q, const void *keys, const float *key_scale,
                            long tk, long heads, long dkv, long h0, long h1, float *scores);
void ck_kv_weighted_values_reference(ck_kv_format format, const float *probs, const void *values,
                                     const float *value_scale, long tk, long heads, long dkv, long h0, long h1,
                                     float *ctx);
#endif
