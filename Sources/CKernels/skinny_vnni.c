// The int8 decode product on AVX-512 VNNI: activation rows quantised to u8 (as for prefill, in
// the stored byte order) meet the s8 weights in vpdpbusd, 64 multiply-adds per instruction into
// exact s32 sums, instead of widening every weight to F32 for a float FMA.
#include "CKernels.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

/// One 64-byte step: a += qx[c..c+64] . w[c..c+64] in groups of 4 bytes.
static inline __attribute__((always_inline)) VNNI __m512i step(__m512i a, const uint8_t *x, const int8_t *w) {
    return _mm512_dpbusd_epi32(a, _mm512_loadu_si512(x), _mm512_loadu_si512(w));
}

/// The s32 dot product of a u8 row with 4 weight rows, k a multiple of 32.
static inline __attribute__((always_inline)) VNNI void dot4(const uint8_t *x, const int8_t *w0, const int8_t *w1, const int8_t *w2,
                             const int8_t *w3, long k, int32_t out[4]) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    long c = 0;
    for (; c + 64 <= k; c += 64) {
        _mm_prefetch((const char *)w0 + c + 1024, _MM_HINT_NTA); _mm_prefetch((const char *)w1 + c + 1024, _MM_HINT_NTA);
        _mm_prefetch((const char *)w2 + c + 1024, _MM_HINT_NTA); _mm_prefetch((const char *)w3 + c + 1024, _MM_HINT_NTA);
        a0 = step(a0, x + c, w0 + c); a1 = step(a1, x + c, w1 + c);
        a2 = step(a2, x + c, w2 + c); a3 = step(a3, x + c, w3 + c);
    }
    int32_t tail[4] = {0, 0, 0, 0};
    if (c < k) {   // 32 bytes left
        __m256i xv = _mm256_loadu_si256((const __m256i *)(x + c)), z = _mm256_setzero_si256();
        tail[0] = _mm512_reduce_add_epi32(_mm512_zextsi256_si512(_mm256_dpbusd_epi32(z, xv, _mm256_loadu_si256((const __m256i *)(w0 + c)))));
        tail[1] = _mm512_reduce_add_epi32(_mm512_zextsi256_si512(_mm256_dpbusd_epi32(z, xv, _mm256_loadu_si256((const __m256i *)(w1 + c)))));
        tail[2] = _mm512_reduce_add_epi32(_mm512_zextsi256_si512(_mm256_dpbusd_epi32(z, xv, _mm256_loadu_si256((const __m256i *)(w2 + c)))));
        tail[3] = _mm512_reduce_add_epi32(_mm512_zextsi256_si512(_mm256_dpbusd_epi32(z, xv, _mm256_loadu_si256((const __m256i *)(w3 + c)))));
    }
    out[0] = _mm512_reduce_add_epi32(a0) + tail[0]; out[1] = _mm512_reduce_add_epi32(a1) + tail[1];
    out[2] = _mm512_reduce_add_epi32(a2) + tail[2]; out[3] = _mm512_reduce_add_epi32(a3) + tail[3];
}

static inline __attribute__((always_inline)) VNNI void product(const uint8_t *qx, const float *x_scale, const int32_t *x_zero, long m, long k,
                         const int8_t *w, const int32_t *w_sum, const float *w_scale, long j0, long j1,
                         float *y, long ldy) {
    long j = j0;
    for (; j < j1; j += 4) {
        // Rows past the end repeat the last row (their results are not stored).
        const int8_t *r0 = w + j * k;
        const int8_t *r1 = w + (j + 1 < j1 ? j + 1 : j) * k;
        const int8_t *r2 = w + (j + 2 < j1 ? j + 2 : j) * k;
        const int8_t *r3 = w + (j + 3 < j1 ? j + 3 : j) * k;
        for (long r = 0; r < m; r++) {
            int32_t acc[4];
            dot4(qx + r * k, r0, r1, r2, r3, k, acc);
            for (int t = 0; t < 4 && j + t < j1; t++)
                y[r * ldy + j + t] = x_scale[r] * w_scale[j + t] * (float)(acc[t] - x_zero[r] * w_sum[j + t]);
        }
    }
}

int ck_vnni_supported(void) {
    ck_cpu_features f = ck_detect_cpu_features();
    return ck_isa_supported(CK_ISA_AVX512) && f.avx512_vnni;
}

VNNI void ck_avx512_vnni_int8_product(const uint8_t *qx, const float *x_scale, const int32_t *x_zero, long m, long k,
                                      const int8_t *w, const int32_t *w_sum, const float *w_scale, long row_start,
                                      long row_end, float *y, long ldy) {
    product(qx, x_scale, x_zero, m, k, w, w_sum, w_scale, row_start, row_end, y, ldy);
}
#else
int ck_vnni_supported(void) { return 0; }
void ck_avx512_vnni_int8_product(const uint8_t *qx, const float *x_scale, const int32_t *x_zero, long m, long k,
                                 const int8_t *w, const int32_t *w_sum, const float *w_scale, long row_start,
                                 long row_end, float *y, long ldy) {
    (void)qx; (void)x_scale; (void)x_zero; (void)m; (void)k; (void)w; (void)w_sum; (void)w_scale;
    (void)row_start; (void)row_end; (void)y; (void)ldy;
}
#endif
