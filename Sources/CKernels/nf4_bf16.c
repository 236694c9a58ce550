// The NF4 decode product in bf16, as QLoRA computes at inference (bnb_4bit_compute_dtype=bf16):
// each block's weights become bf16(code * absmax), what bitsandbytes' dequantize_4bit gives when
// its output is cast to bf16, and meet the activations rounded to bf16 in vdpbf16ps (32
// multiply-adds per instruction, fp32 sums). The fp32 kernels (nf4_avx512.c) are instruction-
// bound at one row: ~16 uops per 64 weights, where this one needs ~9 (a table build, a zero-
// extending load, a shift, two vpermw, two vdpbf16ps), so a batch-1 step streams the nibbles at
// memory speed instead. Chosen over an integer (vpdpbusd) variant, which was as fast from memory
// on two cores (both memory-bound there), because these are QLoRA's own numerics and its extra
// error is half as large (a code rounded to 8 bits of mantissa, not to 1/127 of absmax).
// Every AVX-512 helper is always_inline, so that code sits inside the ck_avx512_* symbol
// (scripts/checks/baseline-isa.sh); the activation rounding below is portable C.
#include "CKernels.h"
#include <string.h>

/// fp32 -> bf16 rounding to nearest, ties to even (what torch's .to(bfloat16) and vcvtneps2bf16
/// do for normal numbers); a NaN stays a (quiet) NaN.
static inline uint16_t bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

void ck_nf4_permute_activations_bf16(const float *x, long m, long k, uint16_t *xb) {
    for (long r = 0; r < m; r++)
        for (long b = 0; b < k / 64; b++) {
            const float *src = x + r * k + b * 64;
            uint16_t *dst = xb + r * k + b * 64;
            for (int i = 0; i < 32; i++) { dst[i] = bf16_round(src[2 * i]); dst[32 + i] = bf16_round(src[2 * i + 1]); }
        }
}

#if defined(__x86_64__)
#include <immintrin.h>

int ck_nf4_bf16_supported(void) {
    return ck_isa_supported(CK_ISA_AVX512) && ck_detect_cpu_features().avx512_bf16;
}

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma"))), apply_to = function)
#define NF4_INLINE static inline __attribute__((always_inline))

/// Block b's 32 words of bf16(code * absmax[b]), the 16 values twice: vpermw reads 5 index
/// bits, so a byte's low nibble (bit 4 = the high nibble's lowest bit) needs no mask.
NF4_INLINE __m512i nf4_bf16_table(const __m512 code, float absmax) {
    const __m512 t = _mm512_mul_ps(code, _mm512_set1_ps(absmax));
    return (__m512i)_mm512_cvtne2ps_pbh(t, t);
}

/// One block's 32 bytes as 32 words, its even weights (high nibbles) and odd ones (low).
NF4_INLINE void nf4_bf16_weights(const uint8_t *p, const __m512i table, __m512i *even, __m512i *odd) {
    const __m512i v = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)p));
    *even = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 4), table);
    *odd = _mm512_permutexvar_epi16(v, table);
}

NF4_INLINE __m512 nf4_bf16_dot(__m512 acc, __m512i w, const uint16_t *x) {
    return _mm512_dpbf16_ps(acc, (__m512bh)w, (__m512bh)_mm512_loadu_si512(x));
}

/// Weight row p against activation rows xb[0..R) (xb row stride k). U = 2 keeps a second pair
/// of accumulators per row for odd blocks, so few rows do not wait on one vdpbf16ps chain.
NF4_INLINE void nf4_bf16_row(const int R, const int U, const uint16_t *xb, long k, const uint8_t *p, const float *am,
                             const __m512 code, float *y, long ldy) {
    __m512 acc[8][4];
    for (int r = 0; r < R; r++)
        for (int u = 0; u < 2 * U; u++) acc[r][u] = _mm512_setzero_ps();
    const long blocks = k / 64;
    long b = 0;
    for (; b + U <= blocks; b += U)
        for (int u = 0; u < U; u++) {
            // The nibbles stream from memory once: fetch ~4 KiB ahead (crossing into the next rows).
            _mm_prefetch((const char *)(p + (b + u) * 32 + 4096), _MM_HINT_T0);
            __m512i even, odd;
            nf4_bf16_weights(p + (b + u) * 32, nf4_bf16_table(code, am[b + u]), &even, &odd);
            for (int r = 0; r < R; r++) {
                const uint16_t *x = xb + r * k + (b + u) * 64;
                acc[r][2 * u] = nf4_bf16_dot(acc[r][2 * u], even, x);
                acc[r][2 * u + 1] = nf4_bf16_dot(acc[r][2 * u + 1], odd, x + 32);
            }
        }
    for (; b < blocks; b++) {   // an odd block left when U = 2
        __m512i even, odd;
        nf4_bf16_weights(p + b * 32, nf4_bf16_table(code, am[b]), &even, &odd);
        for (int r = 0; r < R; r++) {
            const uint16_t *x = xb + r * k + b * 64;
            acc[r][0] = nf4_bf16_dot(acc[r][0], even, x);
            acc[r][1] = nf4_bf16_dot(acc[r][1], odd, x + 32);
        }
    }
    for (int r = 0; r < R; r++) {
        __m512 s = _mm512_add_ps(acc[r][0], acc[r][1]);
        if (U == 2) s = _mm512_add_ps(s, _mm512_add_ps(acc[r][2], acc[r][3]));
        y[r * ldy] = _mm512_reduce_add_ps(s);
    }
}

void ck_avx512_nf4_product_bf16(const uint16_t *xb, long m, long k, const uint8_t *packed, const float *absmax,
                                long j0, long j1, float *y, long ldy) {
    const __m512 code = _mm512_loadu_ps(ck_nf4_code);
    const long blocks = k / 64;
    for (long j = j0; j < j1; j++) {
        const uint8_t *p = packed + j * (k / 2);
        const float *am = absmax + j * blocks;
        // Activation rows in chunks of up to 8 (16 accumulators), each chunk a constant count;
        // up to 4 rows get two accumulator pairs each.
        for (long r = 0; r < m;) {
            const uint16_t *x = xb + r * k;
            float *yr = y + r * ldy + j;
            switch (m - r >= 8 ? 8 : m - r) {
            case 8: nf4_bf16_row(8, 1, x, k, p, am, code, yr, ldy); r += 8; break;
            case 7: nf4_bf16_row(7, 1, x, k, p, am, code, yr, ldy); r += 7; break;
            case 6: nf4_bf16_row(6, 1, x, k, p, am, code, yr, ldy); r += 6; break;
            case 5: nf4_bf16_row(5, 1, x, k, p, am, code, yr, ldy); r += 5; break;
            case 4: nf4_bf16_row(4, 2, x, k, p, am, code, yr, ldy); r += 4; break;
            case 3: nf4_bf16_row(3, 2, x, k, p, am, code, yr, ldy); r += 3; break;
            case 2: nf4_bf16_row(2, 2, x, k, p, am, code, yr, ldy); r += 2; break;
            default: nf4_bf16_row(1, 2, x, k, p, am, code, yr, ldy); r += 1; break;
            }
        }
    }
}

#pragma clang attribute pop
#else
int ck_nf4_bf16_supported(void) { return 0; }
void ck_avx512_nf4_product_bf16(const uint16_t *xb, long m, long k, const uint8_t *packed, const float *absmax,
                                long j0, long j1, float *y, long ldy) {
    (void)xb; (void)m; (void)k; (void)packed; (void)absmax; (void)j0; (void)j1; (void)y; (void)ldy;
}
#endif
