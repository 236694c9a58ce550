// GELU, softmax and the vector exp/tanh under them, written once with vector extensions and
// compiled once per ISA: each isa_<isa>.c defines CK_FN(name) and CK_VW (lanes: 8 or 16)
// and wraps this file in its target attribute. Plain `a * b + c` is contracted to one FMA where
// the target has it (clang's default -ffp-contract=on), so the AVX2/AVX-512 variants fuse and
// the baseline does not. Contracts in include/ck_activation.h.
#include <math.h>
#include <stdint.h>
#include <string.h>

#define EV_INLINE static inline __attribute__((always_inline))

typedef float evf __attribute__((vector_size(CK_VW * 4), aligned(4)));
typedef int32_t evi __attribute__((vector_size(CK_VW * 4), aligned(4)));

EV_INLINE evf ev_splat(float f) { return (evf){0} + f; }
EV_INLINE evf ev_load(const float *p) { evf v; memcpy(&v, p, sizeof v); return v; }
EV_INLINE void ev_store(float *p, evf v) { memcpy(p, &v, sizeof v); }

/// The first `count` (< CK_VW) floats at p, the other lanes `fill`: a row's tail goes through
/// the same vector arithmetic as its body, so every element gets the same rounding.
EV_INLINE evf ev_load_part(const float *p, long count, float fill) {
    evf v = ev_splat(fill);
    memcpy(&v, p, sizeof(float) * count);
    return v;
}
EV_INLINE void ev_store_part(float *p, long count, evf v) { memcpy(p, &v, sizeof(float) * count); }

/// Lane-wise select: where mask (all ones) then a else b.
EV_INLINE evf ev_select(evi mask, evf a, evf b) { return (evf)(((evi)a & mask) | ((evi)b & ~mask)); }
/// Lane-wise max/min as a compare and a select (a NaN in `a` stays).
EV_INLINE evf ev_max(evf a, evf b) { return ev_select(a < b, b, a); }
EV_INLINE evf ev_min(evf a, evf b) { return ev_select(b < a, b, a); }

typedef float ev8 __attribute__((vector_size(32), aligned(4)));
typedef float ev4 __attribute__((vector_size(16), aligned(4)));

/// The lanes folded in halves down to 4 (a tree, not a chain of CK_VW dependent adds: the
/// attention takes one per score).
EV_INLINE ev4 ev_fold_sum(evf v) {
#if CK_VW == 16
    const ev8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                  __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
#else
    const ev8 a = v;
#endif
    return __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
}

EV_INLINE float ev_hsum(evf v) {
    const ev4 b = ev_fold_sum(v);
    return (b[0] + b[2]) + (b[1] + b[3]);
}

EV_INLINE float ev_hmax(evf v) {
    float m = v[0];
    for (int i = 1; i < CK_VW; i++) m = v[i] > m ? v[i] : m;
    return m;
}

/// e^x: x = n ln2 + r with |r| <= ln2 / 2 (n rounded by the 1.5 * 2^23 trick, ln2 in two parts so
/// n ln2 is exact), Cephes' expf polynomial for e^r, then 2^n applied as two halves so results
/// down to the subnormals come out right (one rounding) and -inf gives 0.
EV_INLINE evf ev_exp(evf x) {
    x = ev_min(ev_max(x, ev_splat(-104.0f)), ev_splat(89.0f));
    const evf shifted = x * 1.44269504088896341f + 12582912.0f;
    const evf n = shifted - 12582912.0f;
    const evf r = x - n * 0.693359375f + n * 2.12194440e-4f;
    evf p = ev_splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const evf y = p * (r * r) + r + 1.0f;
    const evi k = (evi)shifted - 0x4B400000, k1 = k >> 1, k2 = k - k1;
    return y * (evf)((k1 + 127) << 23) * (evf)((k2 + 127) << 23);
}

/// tanh: Cephes tanhf's odd polynomial below |x| = 0.625 (where 1 - 2 / (e^2x + 1) would cancel),
/// that formula above, saturating at |x| = 10 (tanhf is +-1 in F32 from about 9.01; at 9 it is not).
EV_INLINE evf ev_tanh(evf x) {
    const evi sign = (evi)x & (int32_t)0x80000000u;
    const evf ax = (evf)((evi)x & 0x7FFFFFFF);
    const evf z = x * x;
    evf p = ev_splat(-5.70498872745e-3f);
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    const evf small = p * z * x + x;
    const evf c = ev_min(ax, ev_splat(10.0f));
    const evf big = 1.0f - 2.0f / (ev_exp(c + c) + 1.0f);   // of |x|
    return (evf)((evi)ev_select(ax < 0.625f, small, big) | sign);   // the sign OR keeps tanh(-0) = -0
}

EV_INLINE evf ev_gelu(evf v) {
    const evf inner = 0.7978845608028654f * (v + 0.044715f * v * v * v);
    return 0.5f * v * (1.0f + ev_tanh(inner));
}

/// Softmax of one row of n in place, after adding bias (n, or NULL).
EV_INLINE void ev_softmax_row(float *x, long n, const float *bias) {
    if (n <= 0) return;
    const long nv = n / CK_VW * CK_VW, rem = n - nv;
    evf mv = ev_splat(-INFINITY);
    for (long i = 0; i < nv; i += CK_VW) {
        evf v = ev_load(x + i);
        if (bias) { v += ev_load(bias + i); ev_store(x + i, v); }
        mv = ev_max(mv, v);
    }
    if (rem) {
        evf v = ev_load_part(x + nv, rem, -INFINITY);
        if (bias) { v += ev_load_part(bias + nv, rem, 0); ev_store_part(x + nv, rem, v); }
        mv = ev_max(mv, v);
    }
    const evf m = ev_splat(ev_hmax(mv));
    evf sv = {0};
    for (long i = 0; i < nv; i += CK_VW) {
        const evf e = ev_exp(ev_load(x + i) - m);
        ev_store(x + i, e);
        sv += e;
    }
    if (rem) {
        const evf e = ev_exp(ev_load_part(x + nv, rem, -INFINITY) - m);   // the fill lanes give 0
        ev_store_part(x + nv, rem, e);
        sv += e;
    }
    const evf inv = ev_splat(1.0f / ev_hsum(sv));
    for (long i = 0; i < nv; i += CK_VW) ev_store(x + i, ev_load(x + i) * inv);
    if (rem) ev_store_part(x + nv, rem, ev_load_part(x + nv, rem, 0) * inv);
}

/// Applies f to x[0..n) in place, the tail through the same vector code.
#define EV_MAP(f, x, n)                                                                 \
    do {                                                                                \
        const long nv_ = (n) / CK_VW * CK_VW;                                           \
        for (long i_ = 0; i_ < nv_; i_ += CK_VW) ev_store((x) + i_, f(ev_load((x) + i_))); \
        if ((n) > nv_) ev_store_part((x) + nv_, (n) - nv_, f(ev_load_part((x) + nv_, (n) - nv_, 0))); \
    } while (0)

void CK_FN(exp_inplace)(float *x, long n) { EV_MAP(ev_exp, x, n); }
void CK_FN(tanh_inplace)(float *x, long n) { EV_MAP(ev_tanh, x, n); }
void CK_FN(gelu_tanh)(float *x, long n) { EV_MAP(ev_gelu, x, n); }

void CK_FN(softmax_rows)(float *x, long rows, long n, const float *bias) {
    for (long r = 0; r < rows; r++) ev_softmax_row(x + r * n, n, bias ? bias + r * n : NULL);
}
