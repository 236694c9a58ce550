// Single-query attention over compact (bf16 / int8) caches, written once with vector
// extensions and compiled per ISA beside the weight kernels (isa_<isa>.c defines CK_FN and
// CK_VW and wraps the templates in its target attribute). Contracts in include/ck_attention.h.
#include <stdint.h>
#include <string.h>

#define CK_INLINE static inline __attribute__((always_inline))

typedef float avf __attribute__((vector_size(CK_VW * 4), aligned(4)));
typedef int32_t avi __attribute__((vector_size(CK_VW * 4), aligned(4)));
typedef uint32_t avu __attribute__((vector_size(CK_VW * 4), aligned(4)));
typedef uint16_t avh __attribute__((vector_size(CK_VW * 2), aligned(2)));
typedef int8_t avb __attribute__((vector_size(CK_VW), aligned(1)));

CK_INLINE avf aload_f(const float *p) { avf v; memcpy(&v, p, sizeof v); return v; }
CK_INLINE void astore_f(float *p, avf v) { memcpy(p, &v, sizeof v); }

/// CK_VW cached values from column c of a row, widened to F32 (without the int8 scale).
CK_INLINE avf aload_kv(const int format, const void *row, long c) {
    if (format == CK_KV_F32) return aload_f((const float *)row + c);
    if (format == CK_KV_BF16) {
        avh h;
        memcpy(&h, (const uint16_t *)row + c, sizeof h);
        return (avf)(__builtin_convertvector(h, avu) << 16);
    }
    avb b;
    memcpy(&b, (const int8_t *)row + c, sizeof b);
    return __builtin_convertvector(__builtin_convertvector(b, avi), avf);
}

CK_INLINE float akv_scalar(const int format, const void *row, long c) {
    if (format == CK_KV_F32) return ((const float *)row)[c];
    if (format == CK_KV_BF16) {
        uint32_t bits = (uint32_t)((const uint16_t *)row)[c] << 16;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
    return (float)((const int8_t *)row)[c];
}

/// The lanes' sum as a tree of half-width adds: log2(CK_VW) dependent adds instead of a
/// CK_VW-long chain (one per key and head, so the chain dominated the scores at d_kv = 64).
CK_INLINE float ahsum(avf v) {
#if CK_VW == 16
    typedef float h8 __attribute__((vector_size(32), aligned(4)));
    h8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
#else
    typedef float h8 __attribute__((vector_size(32), aligned(4)));
    h8 a = v;
#endif
    typedef float h4 __attribute__((vector_size(16), aligned(4)));
    h4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    return (b[0] + b[2]) + (b[1] + b[3]);
}

CK_INLINE long akv_bytes(const int format) { return format == CK_KV_F32 ? 4 : format == CK_KV_BF16 ? 2 : 1; }

/// Cached positions in flight ahead of the one being read. A step reads each layer's cache
/// once, long after the weights streamed through have evicted it, and the rows are a stride of
/// heads * dkv apart (one worker reads its heads' part of each): without asking ahead, one
/// query over 256 positions of F32 cache ran at 23 GB/s from memory, a third of a plain read.
#define AKV_AHEAD 8

/// Asks for the cache lines of `bytes` bytes at p (one request per 64-byte line).
CK_INLINE void akv_prefetch(const char *p, long bytes) {
    for (long o = 0; o < bytes; o += 64) __builtin_prefetch(p + o, 0, 3);
}

CK_INLINE void akv_scores(const int format, const float *q, const void *keys, const float *key_scale, long tk,
                          long heads, long dkv, long h0, long h1, float *scores) {
    const long inner = heads * dkv, dv = dkv / CK_VW * CK_VW, stride = inner * akv_bytes(format);
    const long part = h0 * dkv * akv_bytes(format), span = (h1 - h0) * dkv * akv_bytes(format);
    for (long j = 0; j < tk; j++) {
        const char *row = (const char *)keys + j * stride;
        if (j + AKV_AHEAD < tk) akv_prefetch(row + AKV_AHEAD * stride + part, span);
        for (long h = h0; h < h1; h++) {
            const float *qh = q + h * dkv;
            const void *kh = row + h * dkv * akv_bytes(format);
            avf acc = {0};
            long d = 0;
            for (; d < dv; d += CK_VW) acc += aload_f(qh + d) * aload_kv(format, kh, d);
            float s = ahsum(acc);
            for (; d < dkv; d++) s += qh[d] * akv_scalar(format, kh, d);
            scores[(h - h0) * tk + j] = format == CK_KV_INT8 ? s * key_scale[j * heads + h] : s;
        }
    }
}

/// ctx[h] = sum_j p[h, j] v[j, h] per head, the head's output held in registers across the keys
/// (4 vectors at a time) instead of read and written back once per key.
CK_INLINE void akv_values(const int format, const float *probs, const void *values, const float *value_scale,
                          long tk, long heads, long dkv, long h0, long h1, float *ctx) {
    const long inner = heads * dkv, dv = dkv / CK_VW * CK_VW, stride = inner * akv_bytes(format);
    for (long h = h0; h < h1; h++) {
        const float *ph = probs + (h - h0) * tk;
        const char *col = (const char *)values + h * dkv * akv_bytes(format);
        float *out = ctx + h * dkv;
        long d = 0;
        for (; d + 4 * CK_VW <= dv; d += 4 * CK_VW) {
            avf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
            for (long j = 0; j < tk; j++) {
                const float p = format == CK_KV_INT8 ? ph[j] * value_scale[j * heads + h] : ph[j];
                const avf pv = (avf){0} + p;
                const void *vh = col + j * stride;
                a0 += pv * aload_kv(format, vh, d); a1 += pv * aload_kv(format, vh, d + CK_VW);
                a2 += pv * aload_kv(format, vh, d + 2 * CK_VW); a3 += pv * aload_kv(format, vh, d + 3 * CK_VW);
            }
            astore_f(out + d, a0); astore_f(out + d + CK_VW, a1);
            astore_f(out + d + 2 * CK_VW, a2); astore_f(out + d + 3 * CK_VW, a3);
        }
        for (; d < dv; d += CK_VW) {
            avf a = {0};
            for (long j = 0; j < tk; j++) {
                const float p = format == CK_KV_INT8 ? ph[j] * value_scale[j * heads + h] : ph[j];
                a += ((avf){0} + p) * aload_kv(format, col + j * stride, d);
            }
            astore_f(out + d, a);
        }
        for (; d < dkv; d++) {
            float a = 0;
            for (long j = 0; j < tk; j++) {
                const float p = format == CK_KV_INT8 ? ph[j] * value_scale[j * heads + h] : ph[j];
                a += p * akv_scalar(format, col + j * stride, d);
            }
            out[d] = a;
        }
    }
}

void CK_FN(kv_scores)(int format, const float *q, const void *keys, const float *key_scale, long tk, long heads,
                      long dkv, long h0, long h1, float *scores) {
    if (format == CK_KV_F32) akv_scores(CK_KV_F32, q, keys, key_scale, tk, heads, dkv, h0, h1, scores);
    else if (format == CK_KV_BF16) akv_scores(CK_KV_BF16, q, keys, key_scale, tk, heads, dkv, h0, h1, scores);
    else akv_scores(CK_KV_INT8, q, keys, key_scale, tk, heads, dkv, h0, h1, scores);
}

void CK_FN(kv_weighted_values)(int format, const float *probs, const void *values, const float *value_scale, long tk,
                               long heads, long dkv, long h0, long h1, float *ctx) {
    if (format == CK_KV_F32) akv_values(CK_KV_F32, probs, values, value_scale, tk, heads, dkv, h0, h1, ctx);
    else if (format == CK_KV_BF16) akv_values(CK_KV_BF16, probs, values, value_scale, tk, heads, dkv, h0, h1, ctx);
    else akv_values(CK_KV_INT8, probs, values, value_scale, tk, heads, dkv, h0, h1, ctx);
}
