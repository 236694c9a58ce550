// The streaming weight-product kernels, written once with vector extensions and compiled once
// per ISA: each isa_<isa>.c defines CK_FN(name), CK_VW (vector lanes: 8 or 16) and wraps
// this file in a target attribute, so the compiler emits SSE2, AVX2+FMA or AVX-512 code from
// the same source. Buffer shapes are documented in CKernels.h.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CK_INLINE static inline __attribute__((always_inline))

typedef float vf __attribute__((vector_size(CK_VW * 4), aligned(4)));
typedef int32_t vi __attribute__((vector_size(CK_VW * 4), aligned(4)));
typedef int8_t vb __attribute__((vector_size(CK_VW), aligned(1)));
typedef float vf8 __attribute__((vector_size(32), aligned(4)));
typedef uint32_t vu8 __attribute__((vector_size(32), aligned(4)));

CK_INLINE vf load_f(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }

/// The lanes' sum as a tree of half-width adds: log2(CK_VW) dependent adds, not a CK_VW-long
/// chain, which dominated short rows (a LoRA B factor's k = r = 8..64).
CK_INLINE float hsum(vf v) {
#if CK_VW == 16
    vf8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
#else
    vf8 a = v;
#endif
    typedef float vf4 __attribute__((vector_size(16), aligned(4)));
    vf4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    return (b[0] + b[2]) + (b[1] + b[3]);
}

/// Words per 8-word block of every layout, and where block `b` of row `j` starts.
CK_INLINE const uint32_t *row_base(const uint32_t *w, long j, long per_row, int paneled) {
    return paneled ? w + (j / 4) * 4 * per_row + (j % 4) * 8 : w + j * per_row;
}

/// Weights c..c+CK_VW of a row (c a multiple of CK_VW), as F32, in the order the activations
/// were arranged in: logical for F32 and BF16, the stored byte order for INT8 (whose
/// activations are permuted to match, so a widening is one sign-extending load).
CK_INLINE vf load_w(const int layout, const uint32_t *base, long block_stride, long c) {
    if (layout == CK_LAYOUT_F32) return load_f((const float *)base + c);
    if (layout == CK_LAYOUT_BF16) {
        vu8 words;
        memcpy(&words, base + (c / 16) * block_stride, sizeof words);
        vu8 lo = words << 16, hi = words & 0xFFFF0000u;
#if CK_VW == 16
        return (vf)__builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
#else
        return (c / 8) % 2 ? (vf)hi : (vf)lo;
#endif
    }
    vb bytes;
    memcpy(&bytes, (const int8_t *)(base + (c / 32) * block_stride) + c % 32, sizeof bytes);
    return __builtin_convertvector(__builtin_convertvector(bytes, vi), vf);
}

/// Bytes of a row already in flight ahead of the kernel. Unpaneled rows are 4 separate streams
/// per worker, which the hardware prefetcher follows less well than one: int8 decode (8 tokens
/// in, 64 out, full-size model) took 1.64-2.12 s without this and 1.20-1.33 s with it.
#define CK_PREFETCH_BYTES 1024

/// Asks for the line CK_PREFETCH_BYTES ahead of weight c of an unpaneled row, once per 64 bytes.
CK_INLINE void prefetch_ahead(const int layout, const uint32_t *base, long c) {
    const long bytes = layout == CK_LAYOUT_F32 ? 4 * c : layout == CK_LAYOUT_BF16 ? 2 * c : c;
    if (bytes % 64 < (layout == CK_LAYOUT_F32 ? 4 : layout == CK_LAYOUT_BF16 ? 2 : 1) * CK_VW)
        __builtin_prefetch((const char *)base + bytes + CK_PREFETCH_BYTES, 0, 0);
}

CK_INLINE long words_per_row(const int layout, long k) {
    return layout == CK_LAYOUT_F32 ? k : layout == CK_LAYOUT_BF16 ? k / 2 : k / 4;
}

/// Column c's position in the INT8 layout's byte order within its 32-block.
CK_INLINE long int8_position(long c) { return (c & ~31L) + 4 * (c % 8) + (c % 32) / 8; }

CK_INLINE void skinny(const int layout, const float *x, long m, long k, const uint32_t *w, int paneled,
                      const float *row_scale, long j0, long j1, float *y, long ldy) {
    const long per_row = words_per_row(layout, k);
    const long block_stride = paneled ? 32 : 8;
    // F32 rows may end in a partial vector (k is a multiple of 8); the others are whole blocks.
    const long kv = k / CK_VW * CK_VW;
    const float *xs = x;
    float *permuted = NULL;
    if (layout == CK_LAYOUT_INT8) {
        permuted = malloc(sizeof(float) * m * k);   // (m, k) in stored byte order
        for (long r = 0; r < m; r++)
            for (long c = 0; c < k; c++) permuted[r * k + int8_position(c)] = x[r * k + c];
        xs = permuted;
    }
    long j = j0;
    for (; j + 4 <= j1; j += 4) {
        const uint32_t *b0 = row_base(w, j, per_row, paneled), *b1 = row_base(w, j + 1, per_row, paneled);
        const uint32_t *b2 = row_base(w, j + 2, per_row, paneled), *b3 = row_base(w, j + 3, per_row, paneled);
        float s0 = row_scale ? row_scale[j] : 1, s1 = row_scale ? row_scale[j + 1] : 1;
        float s2 = row_scale ? row_scale[j + 2] : 1, s3 = row_scale ? row_scale[j + 3] : 1;
        long r = 0;
        // Two activation rows per pass: each widened weight vector feeds both.
        for (; r + 2 <= m; r += 2) {
            const float *u = xs + r * k, *v = u + k;
            vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};
            for (long c = 0; c < kv; c += CK_VW) {
                if (!paneled) {
                    prefetch_ahead(layout, b0, c); prefetch_ahead(layout, b1, c);
                    prefetch_ahead(layout, b2, c); prefetch_ahead(layout, b3, c);
                }
                vf w0 = load_w(layout, b0, block_stride, c), w1 = load_w(layout, b1, block_stride, c);
                vf w2 = load_w(layout, b2, block_stride, c), w3 = load_w(layout, b3, block_stride, c);
                vf xu = load_f(u + c), xv = load_f(v + c);
                a0 += w0 * xu; a1 += w1 * xu; a2 += w2 * xu; a3 += w3 * xu;
                c0 += w0 * xv; c1 += w1 * xv; c2 += w2 * xv; c3 += w3 * xv;
            }
            float t[8] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3), hsum(c0), hsum(c1), hsum(c2), hsum(c3)};
            for (long c = kv; c < k; c++) {   // F32 tail only
                const float *f0 = (const float *)b0, *f1 = (const float *)b1, *f2 = (const float *)b2, *f3 = (const float *)b3;
                t[0] += f0[c] * u[c]; t[1] += f1[c] * u[c]; t[2] += f2[c] * u[c]; t[3] += f3[c] * u[c];
                t[4] += f0[c] * v[c]; t[5] += f1[c] * v[c]; t[6] += f2[c] * v[c]; t[7] += f3[c] * v[c];
            }
            float *y0 = y + r * ldy + j, *y1 = y0 + ldy;
            y0[0] = t[0] * s0; y0[1] = t[1] * s1; y0[2] = t[2] * s2; y0[3] = t[3] * s3;
            y1[0] = t[4] * s0; y1[1] = t[5] * s1; y1[2] = t[6] * s2; y1[3] = t[7] * s3;
        }
        if (r < m) {
            const float *u = xs + r * k;
            vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
            for (long c = 0; c < kv; c += CK_VW) {
                if (!paneled) {
                    prefetch_ahead(layout, b0, c); prefetch_ahead(layout, b1, c);
                    prefetch_ahead(layout, b2, c); prefetch_ahead(layout, b3, c);
                }
                vf xu = load_f(u + c);
                a0 += load_w(layout, b0, block_stride, c) * xu;
                a1 += load_w(layout, b1, block_stride, c) * xu;
                a2 += load_w(layout, b2, block_stride, c) * xu;
                a3 += load_w(layout, b3, block_stride, c) * xu;
            }
            float t[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};
            for (long c = kv; c < k; c++) {
                t[0] += ((const float *)b0)[c] * u[c]; t[1] += ((const float *)b1)[c] * u[c];
                t[2] += ((const float *)b2)[c] * u[c]; t[3] += ((const float *)b3)[c] * u[c];
            }
            float *y0 = y + r * ldy + j;
            y0[0] = t[0] * s0; y0[1] = t[1] * s1; y0[2] = t[2] * s2; y0[3] = t[3] * s3;
        }
    }
    for (; j < j1; j++) {
        const uint32_t *b = row_base(w, j, per_row, paneled);
        float s = row_scale ? row_scale[j] : 1;
        for (long r = 0; r < m; r++) {
            const float *u = xs + r * k;
            vf a = {0};
            for (long c = 0; c < kv; c += CK_VW) a += load_w(layout, b, block_stride, c) * load_f(u + c);
            float t = hsum(a);
            for (long c = kv; c < k; c++) t += ((const float *)b)[c] * u[c];
            y[r * ldy + j] = t * s;
        }
    }
    free(permuted);
}

void CK_FN(skinny_f32)(const float *x, long m, long k, const uint32_t *w, int paneled, const float *s,
                       long j0, long j1, float *y, long ldy) {
    skinny(CK_LAYOUT_F32, x, m, k, w, paneled, s, j0, j1, y, ldy);
}
void CK_FN(skinny_bf16)(const float *x, long m, long k, const uint32_t *w, int paneled, const float *s,
                        long j0, long j1, float *y, long ldy) {
    skinny(CK_LAYOUT_BF16, x, m, k, w, paneled, s, j0, j1, y, ldy);
}
void CK_FN(skinny_int8)(const float *x, long m, long k, const uint32_t *w, int paneled, const float *s,
                        long j0, long j1, float *y, long ldy) {
    skinny(CK_LAYOUT_INT8, x, m, k, w, paneled, s, j0, j1, y, ldy);
}

/// Rows as F32 in logical order (the prefill path hands them to a GEMM).
void CK_FN(widen_rows)(int layout, const uint32_t *w, long k, int paneled, const float *row_scale,
                       long j0, long j1, float *out) {
    const long per_row = words_per_row(layout, k), block_stride = paneled ? 32 : 8;
    for (long j = j0; j < j1; j++) {
        const uint32_t *b = row_base(w, j, per_row, paneled);
        float *o = out + (j - j0) * k;
        const float s = row_scale ? row_scale[j] : 1;
        if (layout == CK_LAYOUT_F32) {
            for (long c = 0; c < k; c++) o[c] = ((const float *)b)[c] * s;
        } else if (layout == CK_LAYOUT_BF16) {
            for (long blk = 0; blk < k / 16; blk++) {
                const uint32_t *src = b + blk * block_stride;
                for (int t = 0; t < 8; t++) {
                    uint32_t lo = src[t] << 16, hi = src[t] & 0xFFFF0000u;
                    float flo, fhi;
                    memcpy(&flo, &lo, 4); memcpy(&fhi, &hi, 4);
                    o[blk * 16 + t] = flo * s; o[blk * 16 + 8 + t] = fhi * s;
                }
            }
        } else {
            for (long blk = 0; blk < k / 32; blk++) {
                const int8_t *src = (const int8_t *)(b + blk * block_stride);
                for (int t = 0; t < 8; t++)
                    for (int q = 0; q < 4; q++) o[blk * 32 + 8 * q + t] = (float)src[4 * t + q] * s;
            }
        }
    }
}

/// The greatest lane, as a tree of half-width max like hsum (the least is -hmax(-v), exactly).
CK_INLINE float hmax(vf v) {
#if CK_VW == 16
    vf8 a = __builtin_elementwise_max(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7),
                                      __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15));
#else
    vf8 a = v;
#endif
    typedef float vf4 __attribute__((vector_size(16), aligned(4)));
    vf4 b = __builtin_elementwise_max(__builtin_shufflevector(a, a, 0, 1, 2, 3), __builtin_shufflevector(a, a, 4, 5, 6, 7));
    return __builtin_fmaxf(__builtin_fmaxf(b[0], b[2]), __builtin_fmaxf(b[1], b[3]));
}

typedef float q_f32x32 __attribute__((ext_vector_type(32)));
typedef int32_t q_i32x32 __attribute__((ext_vector_type(32)));
typedef uint8_t q_u8x32 __attribute__((ext_vector_type(32)));

/// Activation rows to u8 for the int8 prefill (contract in CKernels.h), per ISA so the
/// rounding and the range scan vectorise.
void CK_FN(quantize_rows_u8)(const float *x, long m, long k, int bits, int permute32, uint8_t *q, float *scale,
                             int32_t *zero) {
    const float qmax = (float)((1 << bits) - 1);
    for (long r = 0; r < m; r++) {
        const float *xr = x + r * k;
        uint8_t *qr = q + r * k;
        // The range always holds 0, so zero padding and ReLU zeros quantise exactly.
        // Four running minima and maxima: one chain of NaN-aware min/max (a compare and a blend
        // each) made the scan, not the rounding, the quantiser's cost.
        vf lov = {0}, hiv = {0}, lo1 = {0}, hi1 = {0}, lo2 = {0}, hi2 = {0}, lo3 = {0}, hi3 = {0};
        long c = 0;
        for (; c + 4 * CK_VW <= k; c += 4 * CK_VW) {
            const vf v0 = load_f(xr + c), v1 = load_f(xr + c + CK_VW);
            const vf v2 = load_f(xr + c + 2 * CK_VW), v3 = load_f(xr + c + 3 * CK_VW);
            lov = __builtin_elementwise_min(lov, v0); hiv = __builtin_elementwise_max(hiv, v0);
            lo1 = __builtin_elementwise_min(lo1, v1); hi1 = __builtin_elementwise_max(hi1, v1);
            lo2 = __builtin_elementwise_min(lo2, v2); hi2 = __builtin_elementwise_max(hi2, v2);
            lo3 = __builtin_elementwise_min(lo3, v3); hi3 = __builtin_elementwise_max(hi3, v3);
        }
        lov = __builtin_elementwise_min(__builtin_elementwise_min(lov, lo1), __builtin_elementwise_min(lo2, lo3));
        hiv = __builtin_elementwise_max(__builtin_elementwise_max(hiv, hi1), __builtin_elementwise_max(hi2, hi3));
        for (; c + CK_VW <= k; c += CK_VW) {
            vf v = load_f(xr + c);
            lov = __builtin_elementwise_min(lov, v);
            hiv = __builtin_elementwise_max(hiv, v);
        }
        float lo = -hmax(-lov), hi = hmax(hiv);   // lo <= 0 <= hi: the lanes started at 0
        for (; c < k; c++) { lo = lo < xr[c] ? lo : xr[c]; hi = hi > xr[c] ? hi : xr[c]; }
        float s = (hi - lo) / qmax;
        if (!(s > 0)) s = 1;
        const float inv = 1 / s;
        const float z = __builtin_rintf(-lo * inv);
        c = 0;
        // Whole 32-column blocks as one vector: round (ties to even, as rintf in the default
        // mode), clamp, narrow, and for the stored order one constant byte shuffle instead of
        // 32 scattered stores.
        for (; c + 32 <= k; c += 32) {
            q_f32x32 v;
            memcpy(&v, xr + c, sizeof v);
            v = __builtin_elementwise_roundeven(v * inv) + z;
            v = __builtin_elementwise_min(__builtin_elementwise_max(v, (q_f32x32)0), (q_f32x32)qmax);
            q_i32x32 iv = __builtin_convertvector(v, q_i32x32);
            if (permute32)   // position 4a + b holds column 8b + a (int8_position)
                iv = __builtin_shufflevector(iv, iv, 0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27,
                                             4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31);
            const q_u8x32 t = __builtin_convertvector(iv, q_u8x32);
            memcpy(qr + c, &t, sizeof t);
        }
        for (; c < k; c++) {
            float v = __builtin_rintf(xr[c] * inv) + z;
            v = v < 0 ? 0 : v > qmax ? qmax : v;
            qr[permute32 ? int8_position(c) : c] = (uint8_t)(int32_t)v;
        }
        scale[r] = s;
        zero[r] = (int32_t)z;
    }
}

/// The s32 sums back to F32 (contract in CKernels.h).
void CK_FN(dequantize_s32)(const int32_t *c, long m, long n, long ldc, const float *a_scale, const int32_t *a_zero,
                           const int32_t *w_sum, const float *w_scale, float *y, long ldy) {
    for (long i = 0; i < m; i++) {
        const float sa = a_scale[i];
        const int32_t z = a_zero[i];
        const int32_t *ci = c + i * ldc;
        float *yi = y + i * ldy;
        for (long j = 0; j < n; j++) yi[j] = sa * w_scale[j] * (float)(ci[j] - z * w_sum[j]);
    }
}
