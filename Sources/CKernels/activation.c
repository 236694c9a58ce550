// GELU and softmax: the route to each variant, and the plain references.
#include "ck_activation.h"
#include "ck_variants.h"
#include <math.h>

typedef void (*map_fn)(float *, long);
typedef void (*softmax_fn)(float *, long, long, const float *);

#define DECLARE_ACT(isa) \
    void ck_##isa##_exp_inplace(float *, long); \
    void ck_##isa##_tanh_inplace(float *, long); \
    void ck_##isa##_gelu_tanh(float *, long); \
    void ck_##isa##_softmax_rows(float *, long, long, const float *);
DECLARE_ACT(baseline)
#if defined(__x86_64__)
DECLARE_ACT(avx2)
DECLARE_ACT(avx512)
#endif
static const map_fn exp_table[3] = CK_VARIANTS(exp_inplace);
static const map_fn tanh_table[3] = CK_VARIANTS(tanh_inplace);
static const map_fn gelu_table[3] = CK_VARIANTS(gelu_tanh);
static const softmax_fn softmax_table[3] = CK_VARIANTS(softmax_rows);

void ck_exp_inplace(ck_isa isa, float *x, long n) { exp_table[isa](x, n); }
void ck_tanh_inplace(ck_isa isa, float *x, long n) { tanh_table[isa](x, n); }
void ck_gelu_tanh(ck_isa isa, float *x, long n) { gelu_table[isa](x, n); }
void ck_softmax_rows(ck_isa isa, float *x, long rows, long n, const float *bias) {
    softmax_table[isa](x, rows, n, bias);
}

void ck_gelu_tanh_reference(float *x, long n) {
    for (long i = 0; i < n; i++) {
        const double v = x[i];
        x[i] = (float)(0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))));
    }
}

void ck_softmax_rows_reference(float *x, long rows, long n, const float *bias) {
    for (long r = 0; r < rows; r++) {
        float *row = x + r * n;
        if (bias)
            for (long i = 0; i < n; i++) row[i] += bias[r * n + i];
        double m = -INFINITY, s = 0;
        for (long i = 0; i < n; i++) m = row[i] > m ? row[i] : m;
        for (long i = 0; i < n; i++) s += exp((double)row[i] - m);
        for (long i = 0; i < n; i++) row[i] = (float)(exp((double)row[i] - m) / s);
    }
}
