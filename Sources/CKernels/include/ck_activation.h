#ifndef CK_ACTIVATION_H
#define CK_ACTIVATION_H
/// The per-step element-wise work of the model (GELU, softmax) and the decoder's single-query
/// self-attention over F32 caches, per ISA like the weight kernels: the Swift modules build for
/// baseline x86-64, so in Swift these ran without FMA or wide vectors. Each has a plain double
/// precision reference on libm that the variants are tested against. Imported by Numerics only
/// (through the CKernels module).
#include "CKernels.h"

/// x[i] = e^x[i] for i < n, the vector exponential the softmax uses (a Cephes polynomial; FMA in
/// the AVX2/AVX-512 variants): within a few ULP of libm's expf for normal results, subnormal
/// results to within one subnormal step, 0 at -inf and below about -104, +inf above about 88.72.
void ck_exp_inplace(ck_isa isa, float *x, long n);

/// x[i] = tanh(x[i]) for i < n, the vector tanh gelu_new uses: an odd polynomial for |x| < 0.625
/// (Cephes tanhf), 1 - 2 / (e^2x + 1) above, exactly +-1 from about |x| = 9.01 (as tanhf in F32).
void ck_tanh_inplace(ck_isa isa, float *x, long n);

/// gelu_new in place: x[i] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) for i < n.
void ck_gelu_tanh(ck_isa isa, float *x, long n);

/// Row-wise softmax in place over x (rows, n), each row numerically stable (minus its max);
/// with bias (rows, n, not NULL) each row is x + bias before the softmax (T5's position bias),
/// which x then holds. A -inf entry (masked) gets probability 0; a row of only -inf gives NaN, as
/// torch's softmax does.
void ck_softmax_rows(ck_isa isa, float *x, long rows, long n, const float *bias);

/// Attention of one query row over F32 cached rows (a decoder step's self-attention): for heads
/// h in [h0, h1), ctx[h*dkv ..] = softmax(q[h*dkv ..] . key_j[h*dkv ..] + bias[h*tk + j])_j .
/// value_j[h*dkv ..]. q (heads * dkv); keys, values (tk, heads * dkv); bias (heads, tk) or NULL;
/// scores is scratch for (h1 - h0, tk); ctx (heads * dkv), only the columns of [h0, h1) written.
/// Keys and values are walked row by row (all heads of the range at once): a cached row is one
/// contiguous stretch of memory, where per-head walks would stride through it.
void ck_self_attention(ck_isa isa, const float *q, const float *keys, const float *values, long tk, long heads,
                       long dkv, const float *bias, long h0, long h1, float *scores, float *ctx);

/// The plain references (double precision on libm's exp and tanh, rounded to F32 at the end),
/// same contracts as above.
void ck_gelu_tanh_reference(float *x, long n);
void ck_softmax_rows_reference(float *x, long rows, long n, const float *bias);
void ck_self_attention_reference(const float *q, const float *keys, const float *values, long tk, long heads,
                                 long dkv, const float *bias, long h0, long h1, float *ctx);
#endif
