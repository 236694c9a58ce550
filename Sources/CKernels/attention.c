// Compact cross-attention caches: packing, the plain references, and the route to each variant.
#include "ck_attention.h"
#include "ck_variants.h"
#include <math.h>
#include <string.h>

typedef void (*kv_scores_fn)(int, const float *, const void *, const float *, long, long, long, long, long, float *);
typedef void (*kv_values_fn)(int, const float *, const void *, const float *, long, long, long, long, long, float *);

#define DECLARE_KV(isa) \
    void ck_##isa##_kv_scores(int, const float *, const void *, const float *, long, long, long, long, long, float *); \
    void ck_##isa##_kv_weighted_values(int, const float *, const void *, const float *, long, long, long, long, long, \
                                       float *);
DECLARE_KV(baseline)
#if defined(__x86_64__)
DECLARE_KV(avx2)
DECLARE_KV(avx512)
#endif
static const kv_scores_fn scores_table[3] = CK_VARIANTS(kv_scores);
static const kv_values_fn values_table[3] = CK_VARIANTS(kv_weighted_values);

void ck_kv_scores(ck_isa isa, ck_kv_format format, const float *q, const void *keys, const float *key_scale, long tk,
                  long heads, long dkv, long h0, long h1, float *scores) {
    scores_table[isa](format, q, keys, key_scale, tk, heads, dkv, h0, h1, scores);
}

void ck_kv_weighted_values(ck_isa isa, ck_kv_format format, const float *probs, const void *values,
                           const float *value_scale, long tk, long heads, long dkv, long h0, long h1, float *ctx) {
    values_table[isa](format, probs, values, value_scale, tk, heads, dkv, h0, h1, ctx);
}

/// F32 to bf16 bits, rounding to nearest even (NaN stays NaN).
static uint16_t to_bf16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((bits >> 16) | 0x40);
    return (uint16_t)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

void ck_kv_pack(ck_kv_format format, const float *x, long rows, long ldx, long heads, long dkv, void *out,
                float *scale) {
    const long inner = heads * dkv;
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * ldx;
        if (format == CK_KV_F32) {
            memcpy((float *)out + r * inner, row, sizeof(float) * inner);
            continue;
        }
        if (format == CK_KV_BF16) {
            uint16_t *o = (uint16_t *)out + r * inner;
            for (long c = 0; c < inner; c++) o[c] = to_bf16(row[c]);
            continue;
        }
        int8_t *o = (int8_t *)out + r * inner;
        for (long h = 0; h < heads; h++) {
            float m = 0;
            for (long d = 0; d < dkv; d++) m = fmaxf(m, fabsf(row[h * dkv + d]));
            const float s = m > 0 ? m / 127 : 1;
            scale[r * heads + h] = s;
            // |x / s| <= 127: adding and subtracting 1.5 * 2^23 rounds it to the nearest integer,
            // ties to even, exactly as nearbyintf does in the default mode, but in a loop that
            // vectorises (nearbyintf is a libm call on the x86-64 baseline).
            const float magic = 12582912.0f;
            for (long d = 0; d < dkv; d++) {
                const float v = (row[h * dkv + d] / s + magic) - magic;
                o[h * dkv + d] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
            }
        }
    }
}

static float kv_value(ck_kv_format format, const void *cache, long index) {
    if (format == CK_KV_F32) return ((const float *)cache)[index];
    if (format == CK_KV_BF16) {
        uint32_t bits = (uint32_t)((const uint16_t *)cache)[index] << 16;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
    return (float)((const int8_t *)cache)[index];
}

void ck_kv_scores_reference(ck_kv_format format, const float *q, const void *keys, const float *key_scale, long tk,
                            long heads, long dkv, long h0, long h1, float *scores) {
    const long inner = heads * dkv;
    for (long h = h0; h < h1; h++)
        for (long j = 0; j < tk; j++) {
            double s = 0;
            for (long d = 0; d < dkv; d++) s += (double)q[h * dkv + d] * kv_value(format, keys, j * inner + h * dkv + d);
            if (format == CK_KV_INT8) s *= key_scale[j * heads + h];
            scores[(h - h0) * tk + j] = (float)s;
        }
}

void ck_kv_weighted_values_reference(ck_kv_format format, const float *probs, const void *values,
                                     const float *value_scale, long tk, long heads, long dkv, long h0, long h1,
                                     float *ctx) {
    const long inner = heads * dkv;
    for (long h = h0; h < h1; h++)
        for (long d = 0; d < dkv; d++) {
            double s = 0;
            for (long j = 0; j < tk; j++) {
                double p = probs[(h - h0) * tk + j];
                if (format == CK_KV_INT8) p *= value_scale[j * heads + h];
                s += p * kv_value(format, values, j * inner + h * dkv + d);
            }
            ctx[h * dkv + d] = (float)s;
        }
}
