// The AVX-512 NF4 variant: the 16-value table sits in one register, scaled by each block's
// absmax, and one vpermps turns 16 four-bit codes into 16 weights (exactly code * absmax, as
// bitsandbytes dequantises). Activations arrive rearranged (ck_nf4_permute_activations) so the
// high nibbles of 16 bytes meet 16 consecutive floats and the low nibbles the next ones: no
// interleave in the loop. Every helper is always_inline, so all AVX-512 code sits inside the
// ck_avx512_* symbols (scripts/checks/baseline-isa.sh).
#include "CKernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma"))), apply_to = function)

#define NF4_INLINE static inline __attribute__((always_inline))

/// Weight row j against activation rows r0..r0+R of xp: two accumulators per row (even and odd
/// columns), so one row's FMA chain is half as long.
NF4_INLINE void nf4_row(const int R, const float *xp, long k, const uint8_t *p, const float *am, const __m512 code,
                        float *y, long ldy) {
    __m512 ae[8], ao[8];
    for (int r = 0; r < R; r++) { ae[r] = _mm512_setzero_ps(); ao[r] = _mm512_setzero_ps(); }
    const long blocks = k / 64;
    for (long b = 0; b < blocks; b++) {
        const __m512 t = _mm512_mul_ps(code, _mm512_set1_ps(am[b]));   // this block's 16 weights
        const __m512i v0 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + b * 32)));
        const __m512i v1 = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + b * 32 + 16)));
        // vpermps reads the low 4 bits of each index: the low nibble needs no mask.
        const __m512 e0 = _mm512_permutexvar_ps(_mm512_srli_epi32(v0, 4), t), o0 = _mm512_permutexvar_ps(v0, t);
        const __m512 e1 = _mm512_permutexvar_ps(_mm512_srli_epi32(v1, 4), t), o1 = _mm512_permutexvar_ps(v1, t);
        for (int r = 0; r < R; r++) {
            const float *x = xp + r * k + b * 64;
            ae[r] = _mm512_fmadd_ps(e0, _mm512_loadu_ps(x), ae[r]);
            ao[r] = _mm512_fmadd_ps(o0, _mm512_loadu_ps(x + 32), ao[r]);
            ae[r] = _mm512_fmadd_ps(e1, _mm512_loadu_ps(x + 16), ae[r]);
            ao[r] = _mm512_fmadd_ps(o1, _mm512_loadu_ps(x + 48), ao[r]);
        }
    }
    for (int r = 0; r < R; r++) y[r * ldy] = _mm512_reduce_add_ps(_mm512_add_ps(ae[r], ao[r]));
}

void ck_avx512_nf4_product(const float *xp, long m, long k, const uint8_t *packed, const float *absmax, long j0,
                           long j1, float *y, long ldy) {
    const __m512 code = _mm512_loadu_ps(ck_nf4_code);
    const long blocks = k / 64;
    for (long j = j0; j < j1; j++) {
        const uint8_t *p = packed + j * (k / 2);
        const float *am = absmax + j * blocks;
        // Activation rows in chunks of up to 8 (16 accumulators), each chunk a constant count.
        for (long r = 0; r < m;) {
            const float *x = xp + r * k;
            float *yr = y + r * ldy + j;
            switch (m - r >= 8 ? 8 : m - r) {
            case 8: nf4_row(8, x, k, p, am, code, yr, ldy); r += 8; break;
            case 7: nf4_row(7, x, k, p, am, code, yr, ldy); r += 7; break;
            case 6: nf4_row(6, x, k, p, am, code, yr, ldy); r += 6; break;
            case 5: nf4_row(5, x, k, p, am, code, yr, ldy); r += 5; break;
            case 4: nf4_row(4, x, k, p, am, code, yr, ldy); r += 4; break;
            case 3: nf4_row(3, x, k, p, am, code, yr, ldy); r += 3; break;
            case 2: nf4_row(2, x, k, p, am, code, yr, ldy); r += 2; break;
            default: nf4_row(1, x, k, p, am, code, yr, ldy); r += 1; break;
            }
        }
    }
}

void ck_avx512_nf4_widen_rows(const uint8_t *packed, const float *absmax, long k, long j0, long j1, int permuted,
                              float *out) {
    const __m512 code = _mm512_loadu_ps(ck_nf4_code);
    const long blocks = k / 64;
    // Interleaves (e_i, o_i) pairs back to logical order: e0 o0 e1 o1 ...
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    for (long j = j0; j < j1; j++)
        for (long b = 0; b < blocks; b++) {
            const uint8_t *p = packed + j * (k / 2) + b * 32;
            const __m512 t = _mm512_mul_ps(code, _mm512_set1_ps(absmax[j * blocks + b]));
            float *o = out + (j - j0) * k + b * 64;
            for (int h = 0; h < 2; h++) {
                const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + 16 * h)));
                const __m512 e = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), t), d = _mm512_permutexvar_ps(v, t);
                if (permuted) {
                    _mm512_storeu_ps(o + 16 * h, e);
                    _mm512_storeu_ps(o + 32 + 16 * h, d);
                } else {
                    _mm512_storeu_ps(o + 32 * h, _mm512_permutex2var_ps(e, lo, d));
                    _mm512_storeu_ps(o + 32 * h + 16, _mm512_permutex2var_ps(e, hi, d));
                }
            }
        }
}

#pragma clang attribute pop
#endif
