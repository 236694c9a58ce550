// The AVX2 + FMA NF4 variant: the 16-value table (scaled by each block's absmax) is two 8-float
// registers; vpermps on each picks by the code's low 3 bits and a blend on bit 3 (moved to the
// sign bit) chooses between them, so 8 four-bit codes become 8 weights, exactly code * absmax.
// Activations arrive rearranged as for AVX-512 (ck_nf4_permute_activations). Every helper is
// always_inline, so all AVX2 code sits inside the ck_avx2_* symbols.
#include "CKernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)

#define NF4_INLINE static inline __attribute__((always_inline))

/// 8 weights from 8 codes: idx's low 3 bits pick within a half, `sign`'s bit 31 picks the half.
NF4_INLINE __m256 nf4_lookup(__m256i idx, __m256i sign, __m256 tlo, __m256 thi) {
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(tlo, idx), _mm256_permutevar8x32_ps(thi, idx),
                            _mm256_castsi256_ps(sign));
}

/// The even (high-nibble) and odd (low-nibble) weights of 8 packed bytes.
NF4_INLINE void nf4_decode8(const uint8_t *p, __m256 tlo, __m256 thi, __m256 *e, __m256 *o) {
    const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
    *e = nf4_lookup(_mm256_srli_epi32(v, 4), _mm256_slli_epi32(v, 24), tlo, thi);
    *o = nf4_lookup(v, _mm256_slli_epi32(v, 28), tlo, thi);
}

/// Weight row j against activation rows r0..r0+R of xp, two accumulators per row.
NF4_INLINE void nf4_row(const int R, const float *xp, long k, const uint8_t *p, const float *am, __m256 clo,
                        __m256 chi, float *y, long ldy) {
    __m256 ae[4], ao[4];
    for (int r = 0; r < R; r++) { ae[r] = _mm256_setzero_ps(); ao[r] = _mm256_setzero_ps(); }
    const long blocks = k / 64;
    for (long b = 0; b < blocks; b++) {
        const __m256 a = _mm256_set1_ps(am[b]);
        const __m256 tlo = _mm256_mul_ps(clo, a), thi = _mm256_mul_ps(chi, a);
        for (int q = 0; q < 4; q++) {
            __m256 e, o;
            nf4_decode8(p + b * 32 + 8 * q, tlo, thi, &e, &o);
            for (int r = 0; r < R; r++) {
                const float *x = xp + r * k + b * 64 + 8 * q;
                ae[r] = _mm256_fmadd_ps(e, _mm256_loadu_ps(x), ae[r]);
                ao[r] = _mm256_fmadd_ps(o, _mm256_loadu_ps(x + 32), ao[r]);
            }
        }
    }
    for (int r = 0; r < R; r++) {
        const __m256 s = _mm256_add_ps(ae[r], ao[r]);
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        y[r * ldy] = _mm_cvtss_f32(h);
    }
}

void ck_avx2_nf4_product(const float *xp, long m, long k, const uint8_t *packed, const float *absmax, long j0,
                         long j1, float *y, long ldy) {
    const __m256 clo = _mm256_loadu_ps(ck_nf4_code), chi = _mm256_loadu_ps(ck_nf4_code + 8);
    const long blocks = k / 64;
    for (long j = j0; j < j1; j++) {
        const uint8_t *p = packed + j * (k / 2);
        const float *am = absmax + j * blocks;
        for (long r = 0; r < m;) {
            const float *x = xp + r * k;
            float *yr = y + r * ldy + j;
            switch (m - r >= 4 ? 4 : m - r) {
            case 4: nf4_row(4, x, k, p, am, clo, chi, yr, ldy); r += 4; break;
            case 3: nf4_row(3, x, k, p, am, clo, chi, yr, ldy); r += 3; break;
            case 2: nf4_row(2, x, k, p, am, clo, chi, yr, ldy); r += 2; break;
            default: nf4_row(1, x, k, p, am, clo, chi, yr, ldy); r += 1; break;
            }
        }
    }
}

void ck_avx2_nf4_widen_rows(const uint8_t *packed, const float *absmax, long k, long j0, long j1, int permuted,
                            float *out) {
    const __m256 clo = _mm256_loadu_ps(ck_nf4_code), chi = _mm256_loadu_ps(ck_nf4_code + 8);
    const long blocks = k / 64;
    for (long j = j0; j < j1; j++)
        for (long b = 0; b < blocks; b++) {
            const __m256 a = _mm256_set1_ps(absmax[j * blocks + b]);
            const __m256 tlo = _mm256_mul_ps(clo, a), thi = _mm256_mul_ps(chi, a);
            const uint8_t *p = packed + j * (k / 2) + b * 32;
            float *o = out + (j - j0) * k + b * 64;
            for (int q = 0; q < 4; q++) {
                __m256 e, d;
                nf4_decode8(p + 8 * q, tlo, thi, &e, &d);
                if (permuted) {
                    _mm256_storeu_ps(o + 8 * q, e);
                    _mm256_storeu_ps(o + 32 + 8 * q, d);
                } else {
                    // e0 d0 e1 d1 ... : unpack within 128-bit lanes, then put the lanes in order.
                    const __m256 l = _mm256_unpacklo_ps(e, d), h = _mm256_unpackhi_ps(e, d);
                    _mm256_storeu_ps(o + 16 * q, _mm256_permute2f128_ps(l, h, 0x20));
                    _mm256_storeu_ps(o + 16 * q + 8, _mm256_permute2f128_ps(l, h, 0x31));
                }
            }
        }
}

#pragma clang attribute pop
#endif
