// Single-query attention over F32 caches: the route to each variant, and the plain reference.
#include "ck_activation.h"
#include "ck_variants.h"
#include <math.h>
#include <stdlib.h>

typedef void (*self_attention_fn)(const float *, const float *, const float *, long, long, long, const float *, long,
                                  long, float *, float *);
#define DECLARE_SELF_ATTENTION(isa) \
    void ck_##isa##_self_attention(const float *, const float *, const float *, long, long, long, const float *, \
                                   long, long, float *, float *);
DECLARE_SELF_ATTENTION(baseline)
#if defined(__x86_64__)
DECLARE_SELF_ATTENTION(avx2)
DECLARE_SELF_ATTENTION(avx512)
#endif
static const self_attention_fn self_attention_table[3] = CK_VARIANTS(self_attention);

void ck_self_attention(ck_isa isa, const float *q, const float *keys, const float *values, long tk, long heads,
                       long dkv, const float *bias, long h0, long h1, float *scores, float *ctx) {
    self_attention_table[isa](q, keys, values, tk, heads, dkv, bias, h0, h1, scores, ctx);
}

void ck_self_attention_reference(const float *q, const float *keys, const float *values, long tk, long heads,
                                 long dkv, const float *bias, long h0, long h1, float *ctx) {
    const long inner = heads * dkv;
    double *p = malloc(sizeof(double) * (tk > 0 ? tk : 1));
    for (long h = h0; h < h1; h++) {
        double m = -INFINITY, z = 0;
        for (long j = 0; j < tk; j++) {
            double s = bias ? bias[h * tk + j] : 0;
            for (long d = 0; d < dkv; d++) s += (double)q[h * dkv + d] * keys[j * inner + h * dkv + d];
            p[j] = s;
            m = s > m ? s : m;
        }
        for (long j = 0; j < tk; j++) { p[j] = exp(p[j] - m); z += p[j]; }
        for (long d = 0; d < dkv; d++) {
            double c = 0;
            for (long j = 0; j < tk; j++) c += p[j] / z * values[j * inner + h * dkv + d];
            ctx[h * dkv + d] = (float)c;
        }
    }
    free(p);
}
